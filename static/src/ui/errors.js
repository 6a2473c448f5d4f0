// Plain-words explanations of API error codes.
import { t, tMaybe, fmtWhen } from '../i18n.js';

export function errorText(err) {
  if (!err) return t('err.unknown');
  const code = err.code || 'unknown';
  if (code === 'network' || err.status === 0) return t('err.network');
  if (code.startsWith('http_5') || (err.status >= 500 && !tMaybe(`err.${code}`, null))) return t('err.server');
  if (code === 'too_many_attempts' && err.details && Number(err.details.retry_after) > 0) {
    const seconds = Math.ceil(Number(err.details.retry_after));
    const wait = seconds < 120 ? t('err.wait_seconds', { n: seconds }) : t('err.wait_minutes', { n: Math.ceil(seconds / 60) });
    return t('err.too_many_attempts_wait', { wait });
  }
  // Who holds or finished the task, and when: the refusal says it in words (a retry could not succeed).
  const by = err.details && err.details.by && err.details.by.name;
  if (by && (code === 'task_taken' || code === 'task_completed')) {
    return t(`err.${code}_by`, { name: by, time: err.details.at ? fmtWhen(err.details.at) : '' });
  }
  const known = tMaybe(`err.${code}`, null);
  if (known) return known;
  // The server's own words, in the reader's language (http.js sends it); `http_*` codes came without any.
  if (err.message && err.status > 0 && !code.startsWith('http_')) return err.message;
  if (err.status === 403) return t('err.forbidden');
  if (err.status === 404) return t('err.not_found');
  if (err.status === 409) return t('err.conflict');
  if (err.status === 413) return t('err.file_too_large');
  if (err.status === 415) return t('err.unsupported_media_type');
  if (err.status === 422) return t('err.validation_error');
  if (err.status === 429) return t('err.too_many_requests');
  return err.message ? t('err.refused_with', { message: err.message }) : t('err.unknown');
}

/** Field-level messages from a 422 `details` object: {field: [msgs] | msg | {...}}. */
export function fieldErrors(err) {
  const out = {};
  const d = (err && err.details) || {};
  const walk = (obj, prefix) => {
    for (const [k, v] of Object.entries(obj)) {
      const name = prefix ? `${prefix}.${k}` : k;
      if (Array.isArray(v)) out[name] = v.map(String).join(' ');
      else if (v && typeof v === 'object') walk(v, name);
      else out[name] = String(v);
    }
  };
  if (d && typeof d === 'object') walk(d, '');
  return out;
}
