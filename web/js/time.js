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
