import { describe, expect, it } from 'vitest';
import { normaliseTarget } from '../../policies/normalise-path.ts';

function pathOf(target: string): string | undefined {
  const result = normaliseTarget(target);
  return result.ok ? result.path : undefined;
}

// A bounded, seeded generator, so a failure names a path that can be replayed.
function* plainPaths(count: number): Generator<string> {
  const letters = 'aZ09_~-.Bq';
  let seed = 12345;
  const next = (below: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % below;
  };
  for (let index = 0; index < count; index += 1) {
    const segments: string[] = [];
    for (let segment = 0; segment <= next(4); segment += 1) {
      let text = letters.charAt(next(letters.length));
      for (let char = 0; char < next(6); char += 1) text += letters.charAt(next(letters.length));
      segments.push(text);
    }
    yield `/${segments.join('/')}`;
  }
}

describe('path normalisation', () => {
  it('folds the spellings an app resolves to one handler', () => {
    expect(pathOf('/API/Channels?x=1')).toBe('/api/channels');
    expect(pathOf('/')).toBe('/');
    expect(pathOf('/api//auth/./sign-in/')).toBe('/api/auth/sign-in');
    expect(pathOf('/api/x/../auth/%2e%2e/auth/sign-in')).toBe('/api/auth/sign-in');
    expect(pathOf('/api\\auth\\sign-in')).toBe('/api/auth/sign-in');
    expect(pathOf('/api/%61uth/sign%2Din')).toBe('/api/auth/sign-in');
    expect(pathOf('/.well-known/acme-challenge/Tok')).toBe('/.well-known/acme-challenge/tok');
  });

  it('refuses what cannot be read as a path', () => {
    expect(pathOf('*')).toBeUndefined();
    expect(pathOf('http://example.com/')).toBeUndefined();
    expect(pathOf('/a#b')).toBeUndefined();
    expect(pathOf('/a%zz')).toBeUndefined();
    expect(pathOf('/a%00b')).toBeUndefined();
    expect(pathOf('/a%ff')).toBeUndefined();
  });

  it('folds plain paths exactly as the full folding does', () => {
    // A trailing slash or a "./" segment sends the same path through the full
    // folding, which must agree with the shortcut plain paths take.
    for (const path of plainPaths(2000)) {
      const folded = pathOf(path);
      expect(folded, path).toBe(pathOf(`${path}/`));
      expect(folded, path).toBe(pathOf(`/.${path}`));
    }
  });
});
