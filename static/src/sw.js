/* Baton service worker: app-shell precache, network-first API reads with cache fallback,
 * Web Push (with "Claim" straight from the notification), Background Sync of the outbox. */
import { kvGet } from './core/store.js';
import { request, uuid, ApiError, CACHED_AT_HEADER } from './core/http.js';
import { flushOutbox, enqueue } from './core/outbox.js';
import en from './i18n/en.js';
import zhCN from './i18n/zh-CN.js';

/* global __PRECACHE__, __CACHE_VERSION__, __ZXING_WASM__ */
const PRECACHE = __PRECACHE__;
const SHELL_CACHE = `baton-shell-${__CACHE_VERSION__}`;
// The barcode decoder's WebAssembly (about 1 MB): not precached, kept once a scan fetched it, so scanning works offline.
const ZXING_WASM = __ZXING_WASM__;
const WASM_CACHE = 'baton-wasm';
const API_CACHE = 'baton-api-v1';
const NETWORK_TIMEOUT = 8000;
const PRECACHED = new Set(PRECACHE);
const CACHEABLE_API = [
  /^\/api\/v1\/me$/,
  /^\/api\/v1\/tasks\/inbox$/,
  /^\/api\/v1\/tasks\/\d+$/,
  /^\/api\/v1\/work-orders$/,
  /^\/api\/v1\/work-orders\/\d+$/,
  /^\/api\/v1\/templates$/,
  /^\/api\/v1\/classifications$/,
];

async function tr(key, params) {
  const locale = (await kvGet('locale')) || 'en';
  const dict = locale === 'zh-CN' ? zhCN : en;
  let s = dict[key] ?? en[key] ?? key;
  if (typeof s === 'object') s = s.other;
  return params ? s.replace(/\{(\w+)\}/g, (m, n) => (params[n] === undefined ? m : String(params[n]))) : s;
}

// ---------------------------------------------------------------- lifecycle
self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' })));
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((n) => n.startsWith('baton-shell-') && n !== SHELL_CACHE).map((n) => caches.delete(n)));
      if (names.includes(WASM_CACHE)) {
        const kept = await caches.open(WASM_CACHE);
        await Promise.all((await kept.keys()).filter((r) => new URL(r.url).pathname !== ZXING_WASM).map((r) => kept.delete(r)));
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('message', (event) => {
  const msg = event.data || {};
  if (msg.type === 'skip-waiting') self.skipWaiting();
  if (msg.type === 'sync-outbox') event.waitUntil(syncOutbox().catch(() => {}));
});

// ---------------------------------------------------------------- fetch
self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return; // never touch writes
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate') {
    if (url.pathname === '/' || url.pathname === '/index.html') event.respondWith(shell(req));
    return;
  }
  if (url.pathname.startsWith('/api/')) {
    if (CACHEABLE_API.some((re) => re.test(url.pathname))) event.respondWith(networkFirst(event));
    return;
  }
  if (PRECACHED.has(url.pathname)) event.respondWith(cacheFirst(req));
  else if (url.pathname === ZXING_WASM) event.respondWith(cacheFirst(req, WASM_CACHE));
});

async function shell(req) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match('/');
  if (hit) return hit;
  return fetch(req);
}

async function cacheFirst(req, name = SHELL_CACHE) {
  const cache = await caches.open(name);
  const hit = await cache.match(req, { ignoreSearch: true });
  if (hit) return hit;
  const res = await fetch(req);
  if (res.ok) cache.put(req, res.clone());
  return res;
}

async function stamp(res) {
  const headers = new Headers(res.headers);
  headers.set(CACHED_AT_HEADER, new Date().toISOString());
  const body = await res.blob();
  return new Response(body, { status: res.status, statusText: res.statusText, headers });
}

function networkFirst(event) {
  const req = event.request;
  const cacheKey = new Request(req.url);
  const network = (async () => {
    const res = await fetch(req);
    const cache = await caches.open(API_CACHE);
    if (res.ok) await cache.put(cacheKey, await stamp(res.clone()));
    else if (res.status === 401 || res.status === 403 || res.status === 404) await cache.delete(cacheKey);
    return res;
  })();
  event.waitUntil(network.catch(() => {}));
  return new Promise((resolve, reject) => {
    let settled = false;
    const fromCache = async () => {
      const cache = await caches.open(API_CACHE);
      return cache.match(cacheKey);
    };
    const timer = setTimeout(async () => {
      const hit = await fromCache();
      if (hit && !settled) {
        settled = true;
        resolve(hit);
      }
    }, NETWORK_TIMEOUT);
    network.then(
      (res) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          resolve(res);
        }
      },
      async (err) => {
        clearTimeout(timer);
        if (settled) return;
        const hit = await fromCache();
        settled = true;
        if (hit) resolve(hit);
        else reject(err);
      },
    );
  });
}

// ---------------------------------------------------------------- push
/** event.waitUntil, tolerant of script-dispatched (untrusted) events used in tests. */
function keepAlive(event, promise) {
  try {
    event.waitUntil(promise);
  } catch {
    /* a synthetic event cannot be extended; the promise still runs */
  }
  return promise;
}

async function tellClients(message) {
  const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  wins.forEach((c) => c.postMessage(message));
}

self.addEventListener('push', (event) => {
  let p = {};
  try {
    p = event.data ? event.data.json() : {};
  } catch {
    p = { body: event.data ? event.data.text() : '' };
  }
  keepAlive(
    event,
    (async () => {
      const title = p.title || (await tr('app.name'));
      const actions = Array.isArray(p.actions)
        ? p.actions.filter((a) => a && a.action && a.title).slice(0, 2).map((a) => ({ action: String(a.action), title: String(a.title) }))
        : [];
      const options = {
        body: p.body || '',
        icon: '/icons/icon-192.png',
        badge: '/icons/badge-96.png',
        data: { url: p.url || '/#/inbox', task_id: p.task_id ?? null, kind: p.kind || null, title, body: p.body || '' },
        actions,
      };
      if (p.tag) {
        options.tag = String(p.tag);
        options.renotify = Boolean(p.renotify);
      }
      await self.registration.showNotification(title, options);
      await tellClients({ type: 'push', payload: p });
    })(),
  );
});

async function openUrl(url) {
  const target = new URL(url || '/', self.location.origin);
  const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const same = wins.find((c) => new URL(c.url).origin === target.origin);
  if (same) {
    same.postMessage({ type: 'navigate', url: target.pathname + target.search + target.hash });
    try {
      return await same.focus();
    } catch {
      return same;
    }
  }
  return self.clients.openWindow(target.href);
}

async function claimFromNotification(notification) {
  const d = notification.data || {};
  const url = d.url || `/#/task/${d.task_id}`;
  const tag = notification.tag || `task-${d.task_id}`;
  const token = await kvGet('token');
  if (!token) return openUrl(url);
  const show = async (titleKey, bodyText) =>
    self.registration.showNotification(await tr(titleKey), {
      body: bodyText || d.title || '',
      tag,
      icon: '/icons/icon-192.png',
      badge: '/icons/badge-96.png',
      data: { url, task_id: d.task_id, kind: 'claim.result' },
    });
  try {
    await request('POST', `/tasks/${d.task_id}/claim`, {
      body: { occurred_at: new Date().toISOString() },
      key: uuid(),
      token,
    });
    await show('push.claimed_title', d.title);
    await tellClients({ type: 'push', payload: { kind: 'task.claimed', task_id: d.task_id } });
  } catch (err) {
    const e = err instanceof ApiError ? err : new ApiError(0, 'network', String(err));
    if (e.code === 'task_taken' || e.code === 'task_completed') {
      await show('push.taken_title', await tr('push.taken_body'));
    } else if (e.transient) {
      const user = await kvGet('user');
      await enqueue({
        kind: 'claim',
        user_id: user ? user.id : null,
        task_id: d.task_id,
        label: { title: d.title || '', step_title: d.body || '' },
        body: { occurred_at: new Date().toISOString() },
      });
      try {
        await self.registration.sync.register('baton-outbox');
      } catch {
        /* the app retries when opened */
      }
      await show('push.claim_queued_title', await tr('push.claim_queued_body'));
    } else if (e.status === 401) {
      await show('push.signin_title', await tr('push.signin_body'));
    } else {
      await show('push.claim_failed_title', await tr(`err.${e.code}`));
    }
    await tellClients({ type: 'push', payload: { kind: 'task.claim_failed', task_id: d.task_id } });
  }
  return null;
}

self.addEventListener('notificationclick', (event) => {
  const n = event.notification;
  const d = n.data || {};
  n.close();
  if (event.action === 'claim' && d.task_id !== null && d.task_id !== undefined) {
    keepAlive(event, claimFromNotification(n));
    return;
  }
  keepAlive(event, openUrl(d.url || '/#/inbox'));
});

// ---------------------------------------------------------------- background sync
async function syncOutbox() {
  const token = await kvGet('token');
  const user = await kvGet('user');
  if (!token || !user) return;
  const summary = await flushOutbox({ token, userId: user.id });
  await tellClients({ type: 'outbox' });
  if (summary.stopped === 'transient') throw new Error('retry later');
}

self.addEventListener('sync', (event) => {
  if (event.tag === 'baton-outbox') event.waitUntil(syncOutbox());
});
