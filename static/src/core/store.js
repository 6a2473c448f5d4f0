// IndexedDB stores shared by the page and the service worker.
// `kv` holds the session (token, user, locale, preferences); `outbox` holds queued actions.
import { createStore, get, set, del, entries, clear } from 'idb-keyval';

export const kvStore = createStore('baton-kv', 'kv');
export const outboxStore = createStore('baton-outbox', 'entries');

export const kvGet = (key) => get(key, kvStore).catch(() => undefined);
export const kvSet = (key, value) => set(key, value, kvStore).catch(() => undefined);
export const kvDel = (key) => del(key, kvStore).catch(() => undefined);

export const outboxPut = (entry) => set(entry.id, entry, outboxStore);
export const outboxGet = (id) => get(id, outboxStore);
export const outboxDel = (id) => del(id, outboxStore);
export const outboxClear = () => clear(outboxStore);
/** All outbox entries, oldest first (keys sort by creation time). */
export const outboxAll = () =>
  entries(outboxStore).then((pairs) => pairs.map(([, v]) => v).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
