import type { AllowedOrigins } from './allowed-origins.ts';
import type { HeaderMap } from './security-headers.ts';

const corsHeaders = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
] as const;

// The app's CORS answer may only narrow what the guard allows. A wildcard
// (with credentials it lets any site read a signed-in user's data; without,
// any site reads what needs no cookie), "null", a reflected foreign origin or
// several values all widen it: then every CORS header of the answer goes, so
// no partial grant is left behind. Returns true when something was removed.
export function removeWideningCors(
  headers: HeaderMap,
  origins: AllowedOrigins,
  host: string | undefined,
): boolean {
  const granted = headers['access-control-allow-origin'];
  if (granted === undefined) return false;
  const single = Array.isArray(granted) ? (granted.length === 1 ? granted[0] : undefined) : granted;
  if (single !== undefined && keeps(single.trim(), origins, host)) return false;
  for (const name of corsHeaders) delete headers[name];
  return true;
}

function keeps(value: string, origins: AllowedOrigins, host: string | undefined): boolean {
  if (value === '*' || value === 'null') return false;
  try {
    return origins.has(new URL(value).origin, host);
  } catch {
    return false;
  }
}
