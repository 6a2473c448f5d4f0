import { h, uid } from '../ui/dom.js';
import { t, setLocale, getLocale, LOCALES } from '../i18n.js';
import { login } from '../session.js';
import { kvSet } from '../core/store.js';
import { navigate } from '../router.js';
import { errorText } from '../ui/errors.js';
import { bus } from '../bus.js';

export default function signinView(el, params, query) {
  const loginId = uid('login');
  const pwId = uid('pw');
  const errBox = h('p.form-error', { role: 'alert', hidden: true });
  const loginInput = h('input.input', { id: loginId, name: 'login', type: 'text', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true });
  const pwInput = h('input.input', { id: pwId, name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const showBtn = h('button.btn.btn-ghost.btn-reveal', { type: 'button', 'aria-pressed': 'false', 'aria-controls': pwId }, t('signin.show_password'));
  showBtn.addEventListener('click', () => {
    const show = pwInput.type === 'password';
    pwInput.type = show ? 'text' : 'password';
    showBtn.setAttribute('aria-pressed', String(show));
    showBtn.textContent = show ? t('signin.hide_password') : t('signin.show_password');
  });
  const submit = h('button.btn.btn-primary.btn-block.btn-large', { type: 'submit' }, t('signin.submit'));
  const form = h('form.signin-form', { novalidate: true },
    h('div.field', h('label', { for: loginId }, t('signin.login')), loginInput, h('p.hint', t('signin.login_hint'))),
    h('div.field', h('label', { for: pwId }, t('signin.password')), h('div.input-row', pwInput, showBtn)),
    errBox,
    submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errBox.hidden = true;
    const name = loginInput.value.trim();
    const pw = pwInput.value;
    if (!name || !pw) {
      errBox.textContent = t('signin.missing');
      errBox.hidden = false;
      (name ? pwInput : loginInput).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t('signin.busy');
    try {
      await login(name, pw);
      bus.emit('signed-in');
      const next = query.get('next');
      navigate(next && next.startsWith('/') && next !== '/signin' ? next : '/inbox', { replace: true });
    } catch (err) {
      errBox.textContent = err.code === 'invalid_credentials' || err.status === 401 ? t('err.invalid_credentials') : errorText(err);
      errBox.hidden = false;
      submit.disabled = false;
      submit.textContent = t('signin.submit');
      pwInput.select();
      pwInput.focus();
    }
  });

  const langs = h('div.lang-switch', { role: 'group', 'aria-label': t('settings.language') },
    LOCALES.map((loc) => h('button.btn.btn-ghost', {
      type: 'button',
      lang: loc,
      'aria-pressed': String(getLocale() === loc),
      onclick: async () => {
        await kvSet('locale_choice', loc);
        setLocale(loc);
      },
    }, t(`lang.${loc}`))));

  el.append(h('div.page.page-signin',
    h('div.signin-brand',
      h('img.signin-logo', { src: '/icons/icon-192.png', alt: '', width: 72, height: 72 }),
      h('h1.page-title', { tabindex: '-1' }, t('signin.title')),
      h('p.signin-tagline', t('signin.tagline'))),
    form,
    langs));
  if (!matchMedia('(pointer: coarse)').matches) loginInput.focus();
}
