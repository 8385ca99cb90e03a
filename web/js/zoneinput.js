// <input type="datetime-local"> values read as wall time in the console's
// zone (time.js), not the browser's: an operator types the time the incident
// happened where the cameras are, and the API is asked in UTC.
import { timeZone, formatTime } from './time.js';

// Minutes the zone is ahead of UTC at the instant ms.
function offsetAt(ms) {
  const p = {};
  for (const { type, value } of new Intl.DateTimeFormat('en-US', {
    timeZone: timeZone(), hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
    hour: 'numeric', minute: 'numeric', second: 'numeric',
  }).formatToParts(new Date(ms))) p[type] = Number(value);
  return (Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000) / 60000;
}

// "2026-12-05T07:30" (or with seconds) in the zone → Date, null when malformed.
export function fromZoneInput(v) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?$/.exec(v || '');
  if (!m) return null;
  const wall = Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  // The offset at the guess, then at the corrected instant (a zone that
  // changed its offset in between, e.g. daylight saving).
  let ms = wall - offsetAt(wall) * 60000;
  ms = wall - offsetAt(ms) * 60000;
  return new Date(ms);
}

// A Date → the input's value in the zone, to the second.
export function toZoneInput(d) { return formatTime(d).replace(' ', 'T'); }

// RFC 3339 UTC without milliseconds, as the API answers.
export function utc(d) { return d.toISOString().replace(/\.\d{3}Z$/, 'Z'); }
