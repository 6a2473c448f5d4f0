// Live screens: while the app is on screen, ask `GET /changes` every few seconds with the last ETag. The server
// answers 304 (no body) while nothing was told to this person; when something was (an offer made or taken by a
// colleague, a task transferred, returned, escalated), the open inbox, task screen and bell look again.
// A plain request, so it works on Lambda behind API Gateway, where a held connection would not; pushes, when they
// arrive, are faster still and do the same (app.js).
import { API_BASE, ApiError } from './core/http.js';
import * as session from './session.js';
import { bus } from './bus.js';

const MIN_MS = 1000;
const MAX_BACKOFF_MS = 60000;

let etag = null;
let every = 3000;
let timer = null;
let failures = 0;
let inFlight = false;

function visible() {
  return document.visibilityState === 'visible' && navigator.onLine !== false;
}

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(tick, ms);
}

async function tick() {
  if (!session.signedIn()) {
    etag = null;
    return; // restarted on the next sign-in
  }
  if (!visible() || inFlight) {
    schedule(every);
    return;
  }
  inFlight = true;
  const ctrl = new AbortController();
  const abort = setTimeout(() => ctrl.abort(), 10000);
  try {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${session.token()}` };
    if (etag) headers['If-None-Match'] = etag;
    const res = await fetch(`${API_BASE}/changes`, { headers, cache: 'no-store', credentials: 'same-origin', signal: ctrl.signal });
    if (res.status === 200) {
      const data = await res.json();
      const next = res.headers.get('ETag');
      if (data && Number(data.poll_seconds) > 0) every = Math.max(MIN_MS, Number(data.poll_seconds) * 1000);
      if (etag && next !== etag) bus.emit('changes', { cursor: data && data.cursor });
      etag = next;
      failures = 0;
    } else if (res.status === 304) {
      failures = 0;
    } else if (res.status === 401) {
      etag = null;
      session.sessionEnded(new ApiError(401, 'unauthorized', 'session ended'));
      return; // restarted on the next sign-in
    } else {
      failures += 1;
    }
  } catch {
    failures += 1;
  } finally {
    clearTimeout(abort);
    inFlight = false;
  }
  schedule(failures ? Math.min(MAX_BACKOFF_MS, every * 2 ** failures) : every);
}

/** Start (or restart, after a sign-in) asking for changes. */
export function startLive() {
  etag = null;
  failures = 0;
  schedule(0);
}

// Back on screen or back online: ask at once rather than at the next tick.
document.addEventListener('visibilitychange', () => {
  if (visible() && session.signedIn()) schedule(0);
});
window.addEventListener('online', () => session.signedIn() && schedule(0));

// What a change means for the screens that are open.
bus.on('changes', () => {
  bus.emit('inbox:refresh');
  bus.emit('notifications:changed');
});
