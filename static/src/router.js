// Hash router: #/inbox, #/task/123, #/wo/45, #/new, #/andon, #/dashboard, #/outbox, #/settings …
const routes = [];
let currentCleanup = null;
let renderSeq = 0;
let guard = null;
let afterRender = null;
// A view with unsaved work (the flow designer) asks before the hash moves on: fn(target) → true | Promise<boolean>.
let leaveGuard = null;
let shownHash = location.hash;

/** pattern like '/task/:id'; load returns (or resolves to) a view function (el, params, query) => cleanup? */
export function route(pattern, load, meta = {}) {
  const names = [];
  const re = new RegExp(
    '^' + pattern.replace(/:(\w+)/g, (_, n) => {
      names.push(n);
      return '([^/]+)';
    }) + '/?$',
  );
  routes.push({ pattern, re, names, load, meta });
}

export function setGuard(fn) {
  guard = fn;
}
export function setLeaveGuard(fn) {
  leaveGuard = fn;
}
export function setAfterRender(fn) {
  afterRender = fn;
}

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  return { path: path || '/', query: new URLSearchParams(qs || '') };
}

export function navigate(path, { replace = false } = {}) {
  const target = path.startsWith('#') ? path : `#${path}`;
  if (location.hash === target) {
    render();
    return;
  }
  if (replace) {
    history.replaceState(null, '', target);
    render();
  } else {
    location.hash = target;
  }
}

export function currentPath() {
  return parseHash().path;
}

export async function render(container = document.getElementById('main')) {
  const seq = ++renderSeq;
  shownHash = location.hash;
  const { path, query } = parseHash();
  let match = null;
  let params = {};
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) {
      match = r;
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
      break;
    }
  }
  if (guard) {
    const redirect = guard(match, path);
    if (redirect) {
      navigate(redirect, { replace: true });
      return;
    }
  }
  if (!match) {
    navigate('/inbox', { replace: true });
    return;
  }
  if (currentCleanup) {
    try {
      currentCleanup();
    } catch {
      /* view already gone */
    }
    currentCleanup = null;
  }
  let view;
  try {
    view = await match.load();
  } catch (err) {
    if (seq !== renderSeq) return;
    view = match.meta.onLoadError;
    if (!view) throw err;
  }
  if (seq !== renderSeq) return;
  container.replaceChildren();
  container.dataset.route = match.pattern;
  const cleanup = view(container, params, query);
  currentCleanup = typeof cleanup === 'function' ? cleanup : null;
  if (afterRender) afterRender(match, path);
}

export function start() {
  window.addEventListener('hashchange', () => {
    if (leaveGuard && location.hash !== shownHash) {
      const target = location.hash;
      const ask = leaveGuard;
      history.replaceState(null, '', shownHash);
      Promise.resolve(ask(target)).then((ok) => {
        if (!ok) return;
        leaveGuard = null;
        location.hash = target;
      });
      return;
    }
    render();
  });
  render();
}
