export type NormalisedTarget =
  | { ok: true; path: string; rawPath: string; hasQuery: boolean }
  | { ok: false; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Segments of letters, digits and unreserved marks, none empty and none
// starting with a dot: nothing below would change such a path but its case.
const plainPath = /^(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$/;

// One spelling per handler, for matching only: the original target is what the
// upstream receives. The app routes through the WHATWG URL parser, which turns
// "\" into "/" and resolves "." and ".." (also when written %2e); duplicate
// slashes, percent-encoding and letter case are folded too, so that no
// spelling the app would route to a handler can slip past a rule for it.
// Folding more than the app does only makes a rule apply more often.
export function normaliseTarget(target: string): NormalisedTarget {
  if (!target.startsWith('/')) return { ok: false, reason: 'request target is not a path' };
  if (target.includes('#')) return { ok: false, reason: 'request target has a fragment' };

  const queryAt = target.indexOf('?');
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  if (plainPath.test(rawPath)) {
    return { ok: true, path: rawPath.toLowerCase(), rawPath, hasQuery: queryAt !== -1 };
  }
  const decoded = percentDecode(rawPath);
  if (decoded === undefined) return { ok: false, reason: 'invalid percent-encoding in path' };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (/[\u0000-\u001f\u007f]/.test(decoded)) {
    return { ok: false, reason: 'control character in path' };
  }

  const path = resolveSegments(decoded.replaceAll('\\', '/')).toLowerCase();
  return { ok: true, path, rawPath, hasQuery: queryAt !== -1 };
}

function percentDecode(text: string): string | undefined {
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (char !== 0x25) {
      if (char > 0x7f) return undefined;
      bytes.push(char);
      continue;
    }
    const hex = text.slice(index + 1, index + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
    bytes.push(Number.parseInt(hex, 16));
    index += 2;
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

function resolveSegments(path: string): string {
  const output: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      output.pop();
      continue;
    }
    output.push(segment);
  }
  return `/${output.join('/')}`;
}
