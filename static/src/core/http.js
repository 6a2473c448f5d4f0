// Minimal JSON-over-HTTP client for the Baton API. DOM-free: used by the page and the
// service worker alike.
import { getLocale } from '../i18n.js';

export const API_BASE = '/api/v1';
export const CACHED_AT_HEADER = 'X-Baton-Cached-At';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details || {};
  }

  /** A failure worth retrying later with the same idempotency key. */
  get transient() {
    // `idempotency_in_progress`: the first send with this key is still running (or died with the database): wait.
    return this.status === 0 || this.status === 408 || this.status === 425 || this.status === 429 || this.status >= 500
      || this.code === 'idempotency_in_progress';
  }

  /** The server applied this action but lost its answer (the database went away after the commit): it is done. */
  get appliedButAnswerLost() {
    return this.code === 'idempotency_answer_lost';
  }
}

/**
 * A multipart/form-data body with a boundary derived from `seed`, so that a retry sends the
 * very same bytes (an Idempotency-Key replay must match the first request byte for byte).
 */
export function multipart(seed, fields, file) {
  const boundary = `----baton-${String(seed).replace(/[^A-Za-z0-9]/g, '')}`;
  const parts = [];
  for (const [name, value] of Object.entries(fields || {})) {
    parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  }
  if (file) {
    const safe = String(file.filename || 'photo.jpg').replace(/["\r\n\\]/g, '_');
    parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="${file.field || 'file'}"; filename="${safe}"\r\nContent-Type: ${file.blob.type || 'application/octet-stream'}\r\n\r\n`);
    parts.push(file.blob);
    parts.push('\r\n');
  }
  parts.push(`--${boundary}--\r\n`);
  return { body: new Blob(parts), type: `multipart/form-data; boundary=${boundary}` };
}

export function uuid() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Perform one API request.
 * @returns {Promise<{status:number, data:any, cachedAt:string|null}>}
 * @throws {ApiError} status 0 / code "network" when the network failed or timed out.
 */
export async function request(method, path, opts = {}) {
  const { body, form, raw, key, token, timeout = 20000 } = opts;
  const headers = { Accept: 'application/json' };
  // The server says its messages in the app's language. The service worker has no locale of its own: the browser's goes.
  if (globalThis.document) headers['Accept-Language'] = getLocale();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (key) headers['Idempotency-Key'] = key;
  let payload;
  if (raw) {
    headers['Content-Type'] = raw.type;
    payload = raw.body;
  } else if (form) {
    payload = form;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  let res;
  try {
    res = await fetch(API_BASE + path, {
      method,
      headers,
      body: payload,
      signal: ctrl.signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, 'network', String((err && err.message) || err));
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (res.status !== 204) {
    if (type.includes('json')) {
      try {
        data = await res.json();
      } catch {
        data = null;
      }
    } else {
      try {
        await res.text();
      } catch {
        /* ignore body */
      }
    }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || res.statusText, e.details);
  }
  return { status: res.status, data, cachedAt: res.headers.get(CACHED_AT_HEADER) };
}
