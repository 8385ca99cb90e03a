// Times in the console's configured zone (the API speaks UTC; operators read
// local wall time). The zone comes from the server (GET /api/session).
let zone = 'UTC';
let fmt = null;

export function setZone(z) {
  try { new Intl.DateTimeFormat('en', { timeZone: z }); zone = z; } catch { zone = 'UTC'; }
  fmt = null;
}

export function timeZone() { return zone; }

// "2026-12-04 22:30:05" in the zone, from a Date or an ISO string.
export function formatTime(d) {
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('sv-SE', {
      timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    });
  }
  return fmt.format(typeof d === 'string' ? new Date(d) : d);
}

// How far the zone is ahead of UTC at instant ms, in ms.
export function zoneOffset(ms) {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  return Date.parse(formatTime(d).replace(' ', 'T') + 'Z') - d.getTime();
}

// "YYYY-MM-DDTHH:MM[:SS]" (a datetime-local value) read as a wall time in the
// zone: ms since the epoch, NaN when malformed. The second pass settles a
// time near a change of the zone's offset.
export function parseZoned(s) {
  const asUtc = Date.parse(String(s).replace(' ', 'T') + 'Z');
  if (Number.isNaN(asUtc)) return NaN;
  return asUtc - zoneOffset(asUtc - zoneOffset(asUtc));
}
