// vigild's HTTP API. Sign-in is a session cookie the browser sends by itself
// (media elements included); a bearer token kept in localStorage is still
// honoured for scripted use and sent as a header only, never in URLs.
export function token() { return localStorage.getItem('vigil-token') || ''; }
export function setToken(t) { if (t) localStorage.setItem('vigil-token', t); else localStorage.removeItem('vigil-token'); }

export function headers() { return token() ? { Authorization: 'Bearer ' + token() } : {}; }

export async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...opts, headers: { ...headers(), ...(opts.headers || {}) } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(body.error || ('HTTP ' + r.status)); e.status = r.status; throw e; }
  return body;
}

// A URL for <video>/<img>/<a download>, which cannot send headers: with a
// session the cookie rides along; a legacy stored token rides in the query.
export function mediaUrl(url) {
  const t = token();
  return t ? url + (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(t) : url;
}
