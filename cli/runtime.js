// Plain JavaScript on purpose: this file must run on any Node.js, including
// the old ones it refuses, to say clearly why.

/** First release of each line with the fix for CVE-2026-58044 (headers past the
 * parser's count limit vanished while still framing the body: smuggling). */
const fixedReleases = { 22: [22, 23, 2], 24: [24, 18, 1] };

export const overrideFlag = '--allow-unsupported-runtime';
export const overrideEnv = 'OCOMMS_GUARD_ALLOW_UNSUPPORTED_RUNTIME';

/**
 * @param {string} version e.g. "24.21.0"
 * @returns {string | undefined} why this runtime is refused, or undefined
 */
export function runtimeProblem(version) {
  const parts = version.replace(/^v/, '').split('.').map(Number);
  const major = parts[0] ?? 0;
  /** @type {number[] | undefined} */
  const fixed = fixedReleases[/** @type {22 | 24} */ (major)];
  const wanted = 'Node.js 22.23.2+ or 24.18.1+';
  if (!fixed) {
    return `Node.js ${version} is not a supported line; ${wanted} is required`;
  }
  for (let index = 0; index < 3; index += 1) {
    const have = parts[index] ?? 0;
    const need = fixed[index] ?? 0;
    if (have > need) return undefined;
    if (have < need) {
      return `Node.js ${version} lacks the fix for CVE-2026-58044 (HTTP request smuggling); ${wanted} is required`;
    }
  }
  return undefined;
}

/** @returns {boolean} */
export function canStripTypes() {
  return Boolean(/** @type {{ typescript?: unknown }} */ (process.features).typescript);
}
