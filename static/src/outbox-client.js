// Page side of the outbox: queue an action, try to send it now, keep retrying in order
// (on `online`, at start, every 30 s while something waits, on Background Sync), and tell
// the UI what is pending.
import { enqueue, flushOutbox, outboxAll, discard as coreDiscard, retry as coreRetry } from './core/outbox.js';
import { token, user, onSessionChange } from './session.js';

const listeners = new Set();
let cached = [];
let timer = null;

export function onOutboxChange(fn) {
  listeners.add(fn);
  fn(cached);
  return () => listeners.delete(fn);
}

async function refresh() {
  try {
    cached = await outboxAll();
  } catch {
    cached = [];
  }
  listeners.forEach((fn) => fn(cached));
  schedule();
  return cached;
}

export const entries = () => cached;
const myId = () => (user() ? user().id : null);

export function pendingFor(taskId) {
  return cached.filter((e) => e.status === 'pending' && e.user_id === myId() && String(e.task_id) === String(taskId));
}

export function counts() {
  const mine = cached.filter((e) => e.user_id === myId());
  return {
    pending: mine.filter((e) => e.status === 'pending').length,
    failed: mine.filter((e) => e.status === 'failed').length,
  };
}

export async function flush() {
  if (!token()) return null;
  const summary = await flushOutbox({ token: token(), userId: myId(), onChange: () => refresh() });
  await refresh();
  return summary;
}

function schedule() {
  const { pending } = counts();
  if (pending && !timer) {
    timer = setInterval(() => {
      if (navigator.onLine !== false) flush();
    }, 30000);
  } else if (!pending && timer) {
    clearInterval(timer);
    timer = null;
  }
}

async function registerSync() {
  try {
    const reg = await navigator.serviceWorker?.ready;
    if (reg && 'sync' in reg) await reg.sync.register('baton-outbox');
  } catch {
    /* Background Sync unsupported or denied: the page retries by itself */
  }
}

/**
 * Queue an action and try to deliver it right away.
 * Resolves {state: 'done', entry} | {state: 'failed', entry, error} | {state: 'queued', entry}.
 */
export async function perform(spec, { waitMs = 15000 } = {}) {
  const body = { ...(spec.body || {}) };
  if (spec.kind !== 'comment' && !body.occurred_at) body.occurred_at = new Date().toISOString();
  const entry = await enqueue({ ...spec, body, user_id: myId() });
  await refresh();
  registerSync();
  if (navigator.onLine === false) return { state: 'queued', entry };
  const outcome = flush().then(async () => {
    const now = cached.find((e) => e.id === entry.id) || entry;
    if (now.status === 'done') return { state: 'done', entry: now };
    if (now.status === 'failed') return { state: 'failed', entry: now, error: now.error };
    return { state: 'queued', entry: now };
  });
  const timeout = new Promise((resolve) => setTimeout(() => resolve({ state: 'queued', entry }), waitMs));
  return Promise.race([outcome, timeout]);
}

export async function discard(id) {
  await coreDiscard(id);
  await refresh();
}

export async function retry(id) {
  await coreRetry(id);
  await refresh();
  return flush();
}

export function startOutbox() {
  window.addEventListener('online', () => flush());
  navigator.serviceWorker?.addEventListener('message', (e) => {
    if (e.data && e.data.type === 'outbox') refresh();
  });
  // Signed in again (a new token): what waited on "session expired" goes now, not at the next 30 s tick.
  let lastToken = token();
  onSessionChange((st) => {
    const fresh = Boolean(st.token) && st.token !== lastToken;
    lastToken = st.token;
    refresh().then(() => (fresh && navigator.onLine !== false ? flush() : null));
  });
  refresh().then(() => flush());
}
