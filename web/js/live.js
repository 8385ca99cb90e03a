import { headers } from './api.js';

// Live video: live.mp4 through Media Source Extensions.
//
// vigild sends an endless fragmented MP4: ftyp+moov, then prft+moof+mdat per
// frame. The stream is read with fetch(), cut into top-level boxes, and
// appended to a SourceBuffer; each prft (NTP wall clock of a frame and its
// media time) maps the video's timeline to wall time, so the tile shows how far
// behind real time the picture on screen is. When vigild ends the response
// (the camera reconnected or changed format) the tile starts over.

function boxType(b, off) { return String.fromCharCode(b[off + 4], b[off + 5], b[off + 6], b[off + 7]); }
function u32(b, off) { return ((b[off] << 24) >>> 0) + (b[off + 1] << 16) + (b[off + 2] << 8) + b[off + 3]; }
function u64(b, off) { return u32(b, off) * 4294967296 + u32(b, off + 4); }
function find(b, type) {
  const t = [...type].map((c) => c.charCodeAt(0));
  for (let i = 4; i + 4 <= b.length; i++) {
    if (b[i] === t[0] && b[i + 1] === t[1] && b[i + 2] === t[2] && b[i + 3] === t[3]) return i - 4;
  }
  return -1;
}
const hex2 = (n) => n.toString(16).padStart(2, '0');

// The MSE type of an init segment: codec strings from its sample entries.
function mimeOf(init) {
  const codecs = [];
  const avcc = find(init, 'avcC');
  if (avcc >= 0) codecs.push('avc1.' + hex2(init[avcc + 9]) + hex2(init[avcc + 10]) + hex2(init[avcc + 11]));
  else if (find(init, 'hvcC') >= 0) codecs.push('hvc1.1.6.L93.B0');
  if (find(init, 'mp4a') >= 0) codecs.push('mp4a.40.2');
  return `video/mp4; codecs="${codecs.join(',')}"`;
}

// The video track's timescale (the first mdhd: track 1).
function timescaleOf(init) {
  const m = find(init, 'mdhd');
  if (m < 0) return 90000;
  return init[m + 8] === 1 ? u32(init, m + 28) : u32(init, m + 20);
}

async function liveSession(url, v, signal, onLatency) {
  const r = await fetch(url, { headers: headers(), credentials: 'same-origin', signal });
  if (!r.ok) throw new Error('live: HTTP ' + r.status);
  const ms = new MediaSource();
  v.src = URL.createObjectURL(ms);
  await new Promise((res) => ms.addEventListener('sourceopen', res, { once: true }));
  const reader = r.body.getReader();
  let buf = new Uint8Array(0), sb = null, timescale = 90000;
  const queue = [];
  let ref = null; // { wall (s), media (s) } of the latest video prft
  const pump = () => {
    // Stopped (the source detached from the video): nothing may be appended.
    if (!sb || sb.updating || !queue.length || ms.readyState !== 'open') return;
    // keep ~20 s behind the live edge in the buffer
    if (v.buffered.length && v.currentTime - v.buffered.start(0) > 30) {
      sb.remove(0, v.currentTime - 20);
      return;
    }
    sb.appendBuffer(queue.shift());
  };
  const timer = setInterval(() => {
    if (v.buffered.length) {
      const end = v.buffered.end(v.buffered.length - 1);
      if (end - v.currentTime > 1.5) v.currentTime = end - 0.3; // fell behind: to the live edge
      if (v.paused) v.play().catch(() => {});
    }
    if (ref && v.currentTime > 0) {
      const shown = ref.wall + (v.currentTime - ref.media);
      const lat = Date.now() / 1000 - shown;
      onLatency(lat);
    }
  }, 500);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const nb = new Uint8Array(buf.length + value.length);
      nb.set(buf);
      nb.set(value, buf.length);
      buf = nb;
      let off = 0, start = 0;
      while (off + 8 <= buf.length) {
        const size = u32(buf, off);
        if (size < 8 || off + size > buf.length) break;
        const type = boxType(buf, off);
        if (type === 'moov') {
          const init = buf.slice(0, off + size);
          timescale = timescaleOf(init);
          const mime = mimeOf(init);
          // A browser without a decoder for the camera's codec (H.265 in
          // most desktop browsers) can never play it: said as such, not as
          // the camera being offline.
          if (!MediaSource.isTypeSupported(mime)) {
            const e = new Error('live: this browser cannot play ' + mime);
            e.unsupported = mime.includes('hvc1') ? 'H.265' : mime;
            throw e;
          }
          sb = ms.addSourceBuffer(mime);
          sb.mode = 'segments';
          sb.addEventListener('updateend', pump);
          queue.push(init);
          start = off + size;
        } else if (type === 'prft') {
          if (u32(buf, off + 12) === 1) {
            const ntp = u64(buf, off + 16);
            ref = { wall: ntp / 4294967296 - 2208988800, media: u64(buf, off + 24) / timescale };
          }
        } else if (type === 'mdat') {
          queue.push(buf.slice(start, off + size)); // prft + moof + mdat
          start = off + size;
        }
        off += size;
      }
      buf = buf.slice(start);
      pump();
    }
  } finally {
    clearInterval(timer);
  }
}

// Play a camera's live.mp4 into a <video> until stop(): reconnects when a run
// ends. onLatency(seconds) reports how far behind wall time the picture is,
// onError(err) each failed attempt (null once playing again).
export function playLive(video, url, { onLatency = () => {}, onError = () => {} } = {}) {
  const ctl = new AbortController();
  (async () => {
    while (!ctl.signal.aborted) {
      try {
        await liveSession(url, video, ctl.signal, (l) => { onError(null); onLatency(l); });
      } catch (e) {
        if (ctl.signal.aborted) break;
        onError(e);
        // A codec the browser lacks: try again only when the camera may have
        // changed its stream, not every second.
        if (e.unsupported) { await new Promise((res) => setTimeout(res, 30000)); continue; }
      }
      await new Promise((res) => setTimeout(res, 1000)); // the run ended: reconnect
    }
  })();
  return { stop() { ctl.abort(); video.removeAttribute('src'); video.load(); } };
}
