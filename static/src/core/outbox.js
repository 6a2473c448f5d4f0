// The outbox: actions taken on the device (claim, complete, return, comment) are stored in
// IndexedDB with a client-made Idempotency-Key and the device time, then sent in order.
// A replay always reuses the same key, so the server acts at most once.
// DOM-free: the page and the service worker (Background Sync) share this module.
import { request, uuid, multipart, ApiError } from './http.js';
import { outboxAll, outboxPut, outboxGet, outboxDel } from './store.js';

const KEEP_DONE = 30;
let seq = 0;

function newId() {
  seq = (seq + 1) % 1000;
  return `${String(Date.now()).padStart(15, '0')}-${String(seq).padStart(3, '0')}-${uuid().slice(0, 8)}`;
}

/**
 * Create and store a pending entry.
 * @param {object} spec {kind, user_id, task_id?, work_order_id?, label, body, photo?, photo_field?, files?}
 *   `files`: [{field, multi, blob, name}] — photos and signatures of the form, uploaded first (each with its own
 *   Idempotency-Key, kept across retries); their attachment ids then fill `body.data[field]` (a list when `multi`).
 */
export async function enqueue(spec) {
  const now = new Date().toISOString();
  const entry = {
    id: newId(),
    key: uuid(),
    status: 'pending',
    created_at: now,
    occurred_at: (spec.body && spec.body.occurred_at) || now,
    attempts: 0,
    photo: null,
    photo_key: null,
    attachment: null,
    ...spec,
  };
  if (entry.photo) entry.photo_key = uuid();
  entry.files = (entry.files || []).map((file) => ({ ...file, key: uuid(), attachment_id: null }));
  await outboxPut(entry);
  return entry;
}

function lock(fn) {
  const locks = globalThis.navigator && navigator.locks;
  if (locks && typeof locks.request === 'function') return locks.request('baton-outbox', fn);
  return fn();
}

/** Upload one file of a queued completion (the bytes are the same on every retry, so is the key). */
async function upload(entry, file, token, rekey) {
  const fields = entry.task_id ? { task_id: entry.task_id } : {};
  try {
    return (await request('POST', `/work-orders/${entry.work_order_id}/attachments`, {
      raw: multipart(file.key, fields, { blob: file.blob, filename: file.name }),
      key: file.key,
      token,
      timeout: 120000,
    })).data;
  } catch (err) {
    // A failed upload changed nothing; a fresh key keeps a stored 5xx from being replayed.
    if (err instanceof ApiError && err.status >= 500) {
      rekey();
      await outboxPut(entry);
    }
    throw err;
  }
}

async function send(entry, token) {
  const opts = (body, key) => ({ body, key, token, timeout: 30000 });
  switch (entry.kind) {
    case 'claim':
      return (await request('POST', `/tasks/${entry.task_id}/claim`, opts(entry.body, entry.key))).data;
    case 'return':
      return (await request('POST', `/tasks/${entry.task_id}/return`, opts(entry.body, entry.key))).data;
    case 'comment':
      return (await request('POST', `/work-orders/${entry.work_order_id}/comments`, opts(entry.body, entry.key))).data;
    case 'complete': {
      if (entry.photo && !entry.attachment) {
        const name = entry.photo_name || `photo-${entry.occurred_at.replace(/[^0-9]/g, '').slice(0, 14)}.jpg`;
        entry.attachment = await upload(entry, { key: entry.photo_key, blob: entry.photo, name }, token, () => { entry.photo_key = uuid(); });
        await outboxPut(entry);
      }
      for (const file of entry.files || []) {
        if (file.attachment_id) continue; // uploaded by an earlier try
        file.attachment_id = (await upload(entry, file, token, () => { file.key = uuid(); })).id;
        await outboxPut(entry);
      }
      const body = { ...entry.body, data: { ...(entry.body.data || {}) } };
      if (entry.attachment && entry.photo_field) body.data[typeof entry.photo_field === 'string' ? entry.photo_field : 'photo'] = entry.attachment.id;
      for (const file of entry.files || []) {
        if (file.multi) body.data[file.field] = [...(body.data[file.field] || []), file.attachment_id];
        else body.data[file.field] = file.attachment_id;
      }
      return (await request('POST', `/tasks/${entry.task_id}/complete`, opts(body, entry.key))).data;
    }
    default:
      throw new ApiError(400, 'unknown_action', `Unknown outbox action ${entry.kind}`);
  }
}

let running = null;
let followUp = null;

/**
 * Send every pending entry of `userId`, oldest first. Stops at the first transient failure
 * (network, 5xx, 429) so that order is kept; a refusal (4xx) marks that entry failed and
 * goes on. Returns {sent, failed, pending, stopped}.
 */
export function flushOutbox({ token, userId, onChange } = {}) {
  if (!token) return Promise.resolve({ sent: 0, failed: 0, pending: 0, stopped: 'signed_out' });
  if (running) {
    // Entries queued while a pass runs are picked up by one more pass right after it.
    if (!followUp) {
      followUp = running.catch(() => {}).then(() => {
        followUp = null;
        return flushOutbox({ token, userId, onChange });
      });
    }
    return followUp;
  }
  running = lock(async () => {
    const summary = { sent: 0, failed: 0, pending: 0, stopped: null };
    const all = await outboxAll();
    for (const stored of all) {
      if (stored.status !== 'pending' || stored.user_id !== userId) continue;
      // Another context (tab or service worker) may have sent it meanwhile.
      const entry = await outboxGet(stored.id);
      if (!entry || entry.status !== 'pending') continue;
      if (summary.stopped) {
        summary.pending++;
        continue;
      }
      entry.attempts = (entry.attempts || 0) + 1;
      entry.last_try_at = new Date().toISOString();
      try {
        const result = await send(entry, token);
        entry.status = 'done';
        entry.done_at = new Date().toISOString();
        entry.result = result && typeof result === 'object' ? { id: result.id, status: result.status } : null;
        entry.photo = null; // free the space: the photo is on the server now
        if (entry.files) entry.files = entry.files.map((file) => ({ ...file, blob: null }));
        entry.last_error = null;
        summary.sent++;
      } catch (err) {
        const e = err instanceof ApiError ? err : new ApiError(0, 'network', String(err));
        if (e.appliedButAnswerLost) {
          // Applied once on the server; only its answer is gone. Screens reload their data from the server.
          entry.status = 'done';
          entry.done_at = new Date().toISOString();
          entry.result = null;
          entry.photo = null;
          if (entry.files) entry.files = entry.files.map((file) => ({ ...file, blob: null }));
          entry.last_error = null;
          summary.sent++;
        } else if (e.transient || e.status === 401) {
          entry.last_error = { code: e.code, message: e.message, status: e.status };
          summary.stopped = e.status === 401 ? 'unauthorized' : 'transient';
          summary.pending++;
        } else {
          entry.status = 'failed';
          entry.done_at = new Date().toISOString();
          entry.error = { code: e.code, message: e.message, details: e.details, status: e.status };
          summary.failed++;
        }
      }
      await outboxPut(entry);
      if (onChange) onChange(entry);
    }
    await prune();
    return summary;
  }).finally(() => {
    running = null;
  });
  return running;
}

async function prune() {
  const done = (await outboxAll()).filter((e) => e.status === 'done');
  const extra = done.length - KEEP_DONE;
  for (let i = 0; i < extra; i++) await outboxDel(done[i].id);
}

export async function discard(id) {
  await outboxDel(id);
}

/** Put a failed entry back in the queue (same key: the server still acts only once). */
export async function retry(id) {
  const entry = await outboxGet(id);
  if (!entry) return;
  entry.status = 'pending';
  entry.error = null;
  await outboxPut(entry);
}

export { outboxAll };
