// The signed-in user, the token (kept in IndexedDB so the service worker can read it too),
// and the page's API helpers with 401 handling.
import { kvGet, kvSet, kvDel } from './core/store.js';
import { request, ApiError } from './core/http.js';

const state = { token: null, user: null };
const listeners = new Set();
const LS_TOKEN = 'baton.token';

export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
const emit = () => listeners.forEach((fn) => fn(state));

export async function restoreSession() {
  let token = await kvGet('token');
  if (!token) {
    try {
      token = localStorage.getItem(LS_TOKEN);
    } catch {
      token = null;
    }
  }
  state.token = token || null;
  state.user = state.token ? (await kvGet('user')) || null : null;
  return state;
}

export const token = () => state.token;
export const user = () => state.user;
export const signedIn = () => Boolean(state.token);

export function hasRole(...roles) {
  const r = (state.user && state.user.roles) || [];
  return roles.some((x) => r.includes(x));
}

export function can(permission) {
  const p = (state.user && state.user.permissions) || [];
  return p.includes(permission);
}

export const isLead = () => hasRole('lead', 'admin');
export const canAndon = () => can('andon.pull') || hasRole('quality', 'admin');

async function saveToken(tok) {
  state.token = tok;
  await kvSet('token', tok);
  try {
    if (tok) localStorage.setItem(LS_TOKEN, tok);
    else localStorage.removeItem(LS_TOKEN);
  } catch {
    /* private mode */
  }
}

export async function setUser(u) {
  state.user = u;
  await kvSet('user', u);
  emit();
}

export async function login(loginName, password) {
  const { data } = await request('POST', '/auth/login', { body: { login: loginName, password } });
  await saveToken(data.token);
  await setUser(data.user || null);
  try {
    await refreshMe();
  } catch {
    /* the login answer's user is enough to start */
  }
  return state.user;
}

export async function refreshMe() {
  const { data } = await api('GET', '/me');
  await setUser(data);
  return data;
}

/** Forget the session on this device (the caller clears caches and the outbox if asked). */
export async function logout() {
  await saveToken(null);
  await kvDel('user');
  state.user = null;
  emit();
}

let unauthorizedHandler = null;
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

/** A request made outside `api` (live.js) was answered 401: the session ended, as if `api` had seen it. */
export function sessionEnded(err) {
  if (state.token && unauthorizedHandler) unauthorizedHandler(err);
}

/** Authenticated request; returns {data, cachedAt}. A 401 signs the user out. */
export async function api(method, path, opts = {}) {
  try {
    return await request(method, path, { ...opts, token: state.token });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && state.token && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
}

export const get = (path, opts) => api('GET', path, opts).then((r) => r.data);
export const post = (path, body, opts = {}) => api('POST', path, { ...opts, body }).then((r) => r.data);
export const patch = (path, body, opts = {}) => api('PATCH', path, { ...opts, body }).then((r) => r.data);
export const del = (path, body, opts = {}) => api('DELETE', path, { ...opts, body }).then((r) => r.data);
