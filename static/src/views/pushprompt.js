// Non-blocking banner offering notifications after sign-in (never a prompt on load).
import { h, replace } from '../ui/dom.js';
import { t } from '../i18n.js';
import { pushState, enablePush, promptDismissed, dismissPrompt } from '../push.js';
import { toast } from '../ui/toast.js';
import { errorText } from '../ui/errors.js';

export function pushErrorText(err) {
  const code = err && err.code;
  if (code === 'push_denied') return t('push.denied');
  if (code === 'push_timeout') return t('push.timeout');
  if (code === 'push_unsupported') return t('push.unsupported');
  if (code === 'push_install_first') return t('push.install_steps');
  return errorText(err);
}

export function pushPrompt() {
  const st = pushState();
  const box = h('section.banner.banner-push', { 'aria-label': t('push.banner_label') });
  if (promptDismissed() || navigator.onLine === false) return null;
  if (st.needsInstall) {
    replace(box,
      h('div.banner-text', h('strong', t('push.install_title')), h('p', t('push.install_steps'))),
      h('div.banner-actions', h('button.btn.btn-secondary', { type: 'button', onclick: () => { dismissPrompt(); box.remove(); } }, t('common.got_it'))));
    return box;
  }
  if (!st.supported || st.permission !== 'default') return null;
  const on = h('button.btn.btn-primary', { type: 'button' }, t('push.turn_on'));
  const later = h('button.btn.btn-ghost', { type: 'button', onclick: () => { dismissPrompt(); box.remove(); } }, t('common.not_now'));
  on.addEventListener('click', async () => {
    on.disabled = true;
    try {
      await enablePush();
      toast(t('push.enabled'), 'ok');
      box.remove();
    } catch (err) {
      toast(pushErrorText(err), 'error');
      on.disabled = false;
      if (err.code === 'push_denied') box.remove();
    }
  });
  replace(box,
    h('div.banner-text', h('strong', t('push.offer_title')), h('p', t('push.offer_body'))),
    h('div.banner-actions', later, on));
  return box;
}
