// Web Push opt-in. Never asks on first load: the user turns it on from a banner or Settings.
// On iPhone/iPad Safari outside a home-screen app, push cannot work: guide to install instead.
import { get, post, del } from './session.js';
import { kvGet, kvSet, kvDel } from './core/store.js';

const SUBSCRIBE_TIMEOUT = 15000;

function withTimeout(promise, ms, code = 'push_timeout') {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => {
      const e = new Error(code);
      e.code = code;
      reject(e);
    }, ms)),
  ]);
}

export function isIos() {
  const ua = navigator.userAgent || '';
  return /iPhone|iPad|iPod/.test(ua) || (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1);
}

export function isStandalone() {
  return (window.matchMedia && matchMedia('(display-mode: standalone)').matches) || navigator.standalone === true;
}

export function pushState() {
  const supported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  const needsInstall = isIos() && !isStandalone();
  return {
    supported,
    needsInstall,
    permission: 'Notification' in window ? Notification.permission : 'unsupported',
  };
}

function keyBytes(base64url) {
  const pad = '='.repeat((4 - (base64url.length % 4)) % 4);
  const b64 = (base64url + pad).replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function sameKey(a, b) {
  if (!a || !b) return false;
  const x = new Uint8Array(a);
  if (x.length !== b.length) return false;
  return x.every((v, i) => v === b[i]);
}

export async function currentSubscription() {
  if (!pushState().supported) return null;
  try {
    const reg = await withTimeout(navigator.serviceWorker.ready, 5000);
    return await reg.pushManager.getSubscription();
  } catch {
    return null;
  }
}

/** Ask permission (only ever from a user's tap), subscribe and register with the server. */
export async function enablePush() {
  const st = pushState();
  if (st.needsInstall) {
    const e = new Error('push_install_first');
    e.code = 'push_install_first';
    throw e;
  }
  if (!st.supported) {
    const e = new Error('push_unsupported');
    e.code = 'push_unsupported';
    throw e;
  }
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    const e = new Error('push_denied');
    e.code = 'push_denied';
    throw e;
  }
  return syncSubscription();
}

/** With permission granted: make sure this device's subscription is known to the server. */
export async function syncSubscription() {
  const reg = await withTimeout(navigator.serviceWorker.ready, 10000);
  const { public_key: publicKey } = await get('/push/vapid-public-key');
  const appKey = keyBytes(publicKey);
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub.options && sub.options.applicationServerKey, appKey)) {
    await sub.unsubscribe().catch(() => {});
    sub = null;
  }
  if (!sub) {
    sub = await withTimeout(reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: appKey }), SUBSCRIBE_TIMEOUT);
  }
  await post('/push/subscriptions', sub.toJSON());
  await kvSet('push_endpoint', sub.endpoint);
  return sub;
}

export async function disablePush() {
  const sub = await currentSubscription();
  const endpoint = (sub && sub.endpoint) || (await kvGet('push_endpoint'));
  if (endpoint) {
    try {
      await del('/push/subscriptions', { endpoint });
    } catch {
      /* the server forgets dead endpoints by itself */
    }
  }
  if (sub) await sub.unsubscribe().catch(() => {});
  await kvDel('push_endpoint');
}

const DISMISS_KEY = 'baton.pushPromptDismissed';
export function promptDismissed() {
  try {
    return localStorage.getItem(DISMISS_KEY) === '1';
  } catch {
    return false;
  }
}
export function dismissPrompt() {
  try {
    localStorage.setItem(DISMISS_KEY, '1');
  } catch {
    /* private mode */
  }
}
