import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblems, parseConfigText } from '../../config/load.ts';

const upstream = 'upstream:\n  url: http://127.0.0.1:3000\n';

function problemsOf(text: string): ConfigError {
  try {
    parseConfigText(text, 'test.yaml', {});
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

// The one problem a headers section gives, with its path, value and hint.
function oneProblem(headers: string) {
  const error = problemsOf(`${upstream}headers:\n${headers}\n`);
  expect(error.problems).toHaveLength(1);
  const [problem] = error.problems;
  expect(problem?.hint).toBeTruthy();
  return problem;
}

function accepts(headers: string) {
  return parseConfigText(`${upstream}headers:\n${headers}\n`, 'test.yaml', {}).headers;
}

describe('security header values', () => {
  it('refuses a misspelt X-Frame-Options and suggests the right one', () => {
    expect(oneProblem('  xFrameOptions: DENNY')).toMatchObject({
      path: 'headers.xFrameOptions',
      line: 4,
      found: '"DENNY"',
      hint: 'did you mean "DENY"?',
    });
    expect(oneProblem('  xFrameOptions: { value: same-origin, mode: keep }')).toMatchObject({
      path: 'headers.xFrameOptions.value',
      found: '"same-origin"',
      hint: 'did you mean "SAMEORIGIN"?',
    });
    expect(oneProblem('  xFrameOptions: ALLOW-FROM https://a.example')?.hint).toContain(
      'frame-ancestors',
    );
  });

  it('accepts the header values browsers know, in any case where the spec allows it', () => {
    const headers = accepts(
      [
        '  xFrameOptions: sameorigin',
        '  xContentTypeOptions: NoSniff',
        '  referrerPolicy: "no-referrer, strict-origin-when-cross-origin"',
        '  crossOriginOpenerPolicy: noopener-allow-popups',
        '  strictTransportSecurity: "Max-Age=63072000;INCLUDESUBDOMAINS; preload"',
        '  paths:',
        '    "/a/": { xFrameOptions: Deny, crossOriginOpenerPolicy: \'same-origin; report-to="c"\' }',
        '    "/b/": { referrerPolicy: { value: unsafe-url, mode: default } }',
      ].join('\n'),
    );
    expect(headers.xFrameOptions).toBe('sameorigin');
    expect(headers.paths['/b/']?.referrerPolicy).toEqual({ value: 'unsafe-url', mode: 'default' });
  });

  it('refuses X-Content-Type-Options other than nosniff', () => {
    expect(oneProblem('  xContentTypeOptions: no-sniff')).toMatchObject({
      path: 'headers.xContentTypeOptions',
      found: '"no-sniff"',
      hint: 'did you mean "nosniff"?',
    });
  });

  it('names each unknown Referrer-Policy token of a comma list', () => {
    const error = problemsOf(
      `${upstream}headers:\n  referrerPolicy: "no-referrer, strict-origin-when-crossorigin, Origin"\n`,
    );
    expect(error.problems.map((problem) => [problem.found, problem.hint])).toEqual([
      ['"strict-origin-when-crossorigin"', 'did you mean "strict-origin-when-cross-origin"?'],
      ['"Origin"', 'did you mean "origin"?'],
    ]);
    expect(error.problems[0]?.path).toBe('headers.referrerPolicy');
    expect(accepts('  referrerPolicy: "no-referrer, origin,"').referrerPolicy).toBeTruthy();
    expect(oneProblem('  referrerPolicy: ", "')?.message).toBe('Referrer-Policy needs a token');
  });

  it('refuses an unknown Cross-Origin-Opener-Policy', () => {
    expect(oneProblem('  crossOriginOpenerPolicy: same-origin-allow-popup')).toMatchObject({
      path: 'headers.crossOriginOpenerPolicy',
      found: '"same-origin-allow-popup"',
      hint: 'did you mean "same-origin-allow-popups"?',
    });
  });

  it('checks Strict-Transport-Security: max-age required, known directives, no values', () => {
    expect(oneProblem('  strictTransportSecurity: includeSubDomains')).toMatchObject({
      message: 'Strict-Transport-Security needs max-age=SECONDS',
      found: '"includeSubDomains"',
    });
    expect(oneProblem('  strictTransportSecurity: "max-age=1y"')).toMatchObject({
      found: '"max-age=1y"',
    });
    expect(oneProblem('  strictTransportSecurity: "max-age=60; includeSubdomain"')).toMatchObject({
      found: '"includeSubdomain"',
      hint: 'did you mean "includeSubDomains"?',
    });
    expect(oneProblem('  strictTransportSecurity: "max-age=60; preload=yes"')).toMatchObject({
      message: 'preload takes no value',
    });
    expect(oneProblem('  strictTransportSecurity: "max-age=60; max-age=90"')?.message).toContain(
      'twice',
    );
    expect(
      oneProblem('  strictTransportSecurity: "max-age=86400; includeSubDomains; preload"'),
    ).toMatchObject({
      message: 'preload needs includeSubDomains and a max-age of at least 31536000 (a year)',
    });
    expect(oneProblem('  strictTransportSecurity: "max-age=31536000; preload"')?.message).toContain(
      'includeSubDomains',
    );
    const preloaded = accepts(
      '  strictTransportSecurity: "max-age=63072000; includeSubDomains; preload"',
    );
    expect(preloaded.strictTransportSecurity).toBeTruthy();
  });

  it('refuses line breaks and control characters in any header value, overrides included', () => {
    const error = problemsOf(
      [
        upstream.trimEnd(),
        'headers:',
        '  cacheControl: "no-store\\r\\nSet-Cookie: a=b"',
        '  permissionsPolicy: "camera=()\\u0000"',
        '  paths:',
        '    "/api/":',
        '      xFrameOptions: "DENY\\n"',
        '      referrerPolicy: { value: "origin\\u2028" }',
        '      contentSecurityPolicy:',
        '        directives: { img-src: ["\'self\'", "data:\\n"] }',
      ].join('\n'),
    );
    const byPath = Object.fromEntries(error.problems.map((problem) => [problem.path, problem]));
    expect(Object.keys(byPath).sort()).toEqual([
      'headers.cacheControl',
      'headers.paths./api/.contentSecurityPolicy.directives.img-src.1',
      'headers.paths./api/.referrerPolicy.value',
      'headers.paths./api/.xFrameOptions',
      'headers.permissionsPolicy',
    ]);
    expect(byPath['headers.cacheControl']).toMatchObject({
      message: expect.stringContaining('U+000D'),
      found: '"no-store\\r\\nSet-Cookie: a=b"',
      hint: expect.stringContaining('one line'),
    });
    expect(byPath['headers.permissionsPolicy']?.message).toContain('U+0000');
    expect(byPath['headers.paths./api/.referrerPolicy.value']?.message).toContain('U+2028');
    for (const problem of error.problems) expect(problem.hint).toBeTruthy();
  });

  it('refuses a header name that is not a token in remove', () => {
    expect(oneProblem('  remove: ["X Powered By"]')).toMatchObject({
      path: 'headers.remove.0',
      found: '"X Powered By"',
    });
  });
});

describe('Content-Security-Policy directives', () => {
  it('refuses a misspelt directive name with a suggestion', () => {
    expect(
      oneProblem('  contentSecurityPolicy:\n    directives: { img-scr: "\'self\'" }'),
    ).toMatchObject({
      path: 'headers.contentSecurityPolicy.directives.img-scr',
      found: '"img-scr"',
      hint: 'did you mean "img-src"?',
    });
    expect(
      oneProblem('  contentSecurityPolicy:\n    directives: { prefetch-src: "\'self\'" }')?.message,
    ).toContain('obsolete');
  });

  it('refuses ";" and "," inside a source list, where they would split the policy', () => {
    const error = problemsOf(
      [
        upstream.trimEnd(),
        'headers:',
        '  contentSecurityPolicy:',
        '    directives:',
        '      script-src: "\'self\'; object-src *"',
        '      style-src: ["\'self\'", "https://a.example,https://b.example"]',
      ].join('\n'),
    );
    expect(error.problems.map((problem) => [problem.path, problem.line, problem.found])).toEqual([
      ['headers.contentSecurityPolicy.directives.script-src', 6, '"\'self\'; object-src *"'],
      [
        'headers.contentSecurityPolicy.directives.style-src.1',
        7,
        '"https://a.example,https://b.example"',
      ],
    ]);
    expect(error.problems[0]?.hint).toContain('own key');
  });

  it('refuses keywords, nonces and hashes without their quotes, and quoted hosts', () => {
    const error = problemsOf(
      [
        upstream.trimEnd(),
        'headers:',
        '  contentSecurityPolicy:',
        '    directives:',
        '      script-src: "self unsafe-inline"',
        '      img-src: ["\'self\'", "\'cdn.example\'", "data:"]',
        '      style-src: ["sha256-AbC+/9=", "\'nonce-abc\'"]',
        '      trusted-types: "none"',
      ].join('\n'),
    );
    expect(error.problems.map((problem) => [problem.path, problem.found])).toEqual([
      ['headers.contentSecurityPolicy.directives.script-src', '"self"'],
      ['headers.contentSecurityPolicy.directives.script-src', '"unsafe-inline"'],
      ['headers.contentSecurityPolicy.directives.img-src.1', '"\'cdn.example\'"'],
      ['headers.contentSecurityPolicy.directives.style-src.0', '"sha256-AbC+/9="'],
    ]);
    expect(error.problems[0]?.message).toContain('read as a host name');
    expect(error.problems[0]?.hint).toBe('write it quoted, as "\'self\'" in YAML');
    expect(error.problems[2]?.message).toContain('not a CSP source expression');
  });

  it('checks the sources of a policy written whole', () => {
    const problem = oneProblem(
      '  contentSecurityPolicy: "default-src \'self\'; frame-ancestors none; report-uri /r"',
    );
    expect(problem).toMatchObject({ path: 'headers.contentSecurityPolicy', found: '"none"' });
  });

  it('checks the directive names of a policy written whole', () => {
    const problem = oneProblem(
      "  contentSecurityPolicy: \"default-src 'self'; scriptsrc 'self'; img-src data:\"",
    );
    expect(problem).toMatchObject({
      path: 'headers.contentSecurityPolicy',
      found: '"scriptsrc"',
      hint: 'did you mean "script-src"?',
    });
  });

  it('accepts Level 3 directives in any case, lists, empty values and several policies', () => {
    const headers = accepts(
      [
        '  contentSecurityPolicy:',
        '    directives:',
        '      Script-Src-Elem: ["\'self\'", "https://cdn.example"]',
        '      upgrade-insecure-requests: ""',
        '      trusted-types: "default"',
        '      img-src: ""',
        '  paths:',
        '    "/embed/": { contentSecurityPolicy: "frame-ancestors \'self\', img-src data:" }',
      ].join('\n'),
    );
    expect(headers.paths['/embed/']?.contentSecurityPolicy).toContain('frame-ancestors');
  });

  it('accepts every keyword of the CSP grammar, nonces and hashes as sites write them', () => {
    const policy = [
      "default-src 'none'",
      "script-src 'self' 'nonce-rAnd0m+/==' 'strict-dynamic' 'trusted-types-eval' 'unsafe-hashes'",
      "script-src-elem 'sha384-Ab_c-9' 'report-sha256' 'report-sha384' 'report-sha512'",
      "connect-src 'self' wss: 'unsafe-webtransport-hashes'",
      "style-src 'SELF' 'report-sample' 'unsafe-allow-redirects' 'wasm-unsafe-eval'",
      "require-trusted-types-for 'script'; trusted-types default 'allow-duplicates'",
      'sandbox allow-scripts allow-forms; report-to csp-endpoint',
    ].join('; ');
    const headers = accepts(`  contentSecurityPolicy: "${policy}"`);
    expect(headers.contentSecurityPolicy).toBe(policy);
  });
});

describe('all at once', () => {
  it('reports every bad header value of a file together', () => {
    const error = problemsOf(
      [
        upstream.trimEnd(),
        'headers:',
        '  xFrameOptions: DENNY',
        '  xContentTypeOptions: sniff',
        '  crossOriginOpenerPolicy: same-orign',
        '  strictTransportSecurity: preload',
        '  contentSecurityPolicy: { directives: { scipt-src: "\'self\'" } }',
        '  xFrameOption: DENY',
      ].join('\n'),
    );
    expect(error.problems.map((problem) => problem.path)).toEqual([
      'headers.xFrameOptions',
      'headers.xContentTypeOptions',
      'headers.crossOriginOpenerPolicy',
      'headers.strictTransportSecurity',
      'headers.contentSecurityPolicy.directives.scipt-src',
      'headers.xFrameOption',
    ]);
    expect(formatProblems(error)).toContain(
      'headers.xFrameOptions (line 4): X-Frame-Options takes DENY, SAMEORIGIN; found "DENNY"; ' +
        'did you mean "DENY"?',
    );
  });
});

describe('a missing upstream', () => {
  const example = 'for example upstream: { url: http://127.0.0.1:3000 }';

  it('is named at upstream.url with an example, whether absent or empty', () => {
    for (const text of ['listen:\n  https: ":8443"\n', 'upstream:\n', 'upstream: {}\n', '']) {
      const error = problemsOf(text);
      expect(error.problems).toEqual([
        {
          path: 'upstream.url',
          line: undefined,
          message: 'required: the address of the app',
          found: 'nothing',
          hint: example,
        },
      ]);
    }
  });

  it('gives the example when upstream is written as a bare URL or a wrong one', () => {
    expect(problemsOf('upstream: http://127.0.0.1:3000\n').problems[0]).toMatchObject({
      path: 'upstream',
      hint: example,
    });
    expect(problemsOf('upstream:\n  url: localhost:3000\n').problems[0]).toMatchObject({
      path: 'upstream.url',
      found: '"localhost:3000"',
      hint: example,
    });
  });
});
