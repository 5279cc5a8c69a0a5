// Request headers that Next.js sets only between its own layers (its router,
// its middleware sandbox, its render workers, a hosting platform in front)
// and never from the browser. A client that sends one speaks for Next.js
// itself: with `x-middleware-subrequest` it skipped the app's middleware, and
// with it every check the middleware made (CVE-2025-29927, fixed in 12.3.5,
// 13.5.9, 14.2.25 and 15.2.3). The guard removes them before the app sees the
// request, so an app on a version with a similar flaw is not reachable by it.
//
// Not listed, because Next.js' own client sends them: `rsc`, `next-action`,
// `next-router-state-tree`, `next-router-prefetch`,
// `next-router-segment-prefetch`, `next-url`, `next-hmr-refresh` (App Router),
// `x-nextjs-data` and `x-middleware-prefetch` (Pages Router data requests),
// `purpose`, `prefer` and `x-deployment-id`.

export type HeaderNameList = {
  /** Lower-case names, compared exactly. */
  readonly names: readonly string[];
  /** Lower-case prefixes: every name that starts with one. */
  readonly prefixes: readonly string[];
};

export const nextjsInternalHeaders: HeaderNameList = {
  names: [
    // Marks a fetch made from inside the middleware, so that middleware does
    // not run again for it; the id is a per-process secret that patched
    // versions compare before they believe the mark.
    'x-middleware-subrequest',
    'x-middleware-subrequest-id',
    // The middleware's answer to the router: continue, rewrite, redirect,
    // cookies it set, request headers it replaced, or skip it altogether.
    'x-middleware-next',
    'x-middleware-rewrite',
    'x-middleware-redirect',
    'x-middleware-set-cookie',
    'x-middleware-override-headers',
    'x-middleware-skip',
    // Next.js 13.4 and 13.5 passed the route a request was resolved to, its
    // query and the outcome to a separate render worker in these.
    'x-middleware-invoke',
    'x-invoke-path',
    'x-invoke-query',
    'x-invoke-output',
    'x-invoke-status',
    'x-invoke-error',
    // Set by a hosting platform that resolved the route before Next.js did
    // (minimal mode): a forged one picks the page and its parameters.
    'x-matched-path',
    'x-now-route-matches',
    // Partial prerendering: the state a postponed render resumes from.
    'next-resume',
    'x-next-resume-state-length',
  ],
  // The middleware hands each request header it replaced to the router as
  // `x-middleware-request-<name>`.
  prefixes: ['x-middleware-request-'],
};
