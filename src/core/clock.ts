let cachedMs = -1;
let cachedIso = '';

/** The current time as ISO 8601 UTC; formatted once per millisecond, since every event asks for it. */
export function isoNow(): string {
  const ms = Date.now();
  if (ms !== cachedMs) {
    cachedMs = ms;
    cachedIso = new Date(ms).toISOString();
  }
  return cachedIso;
}
