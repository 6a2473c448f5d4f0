import { h, icon, replace, uid } from '../ui/dom.js';
import { t, tMaybe, setLocale, getLocale, LOCALES, fmtDateTime } from '../i18n.js';
import * as session from '../session.js';
import { kvSet, kvDel } from '../core/store.js';
import { navigate } from '../router.js';
import { toast } from '../ui/toast.js';
import { errorText } from '../ui/errors.js';
import { confirmDialog } from '../ui/dialog.js';
import { pageHeader } from '../ui/parts.js';
import { personField } from '../ui/people.js';
import { counts } from '../outbox-client.js';
import { pushState, enablePush, disablePush, currentSubscription } from '../push.js';
import { pushErrorText } from './pushprompt.js';

/* global __APP_VERSION__ */

async function savePatch(body) {
  const res = await session.patch('/me', body);
  if (res && res.id) await session.setUser(res);
  else await session.refreshMe();
}

/** With shifts, on duty also needs a shift (docs/design.md §16): the one you are on, or when the next one starts. */
function shiftHint(me) {
  if (!me.shift) return null;
  if (me.on_duty_now) return h('p.hint.shift-hint', t('settings.shift_now', { end: fmtDateTime(me.shift.ends_at) }));
  if (new Date(me.shift.starts_at) > new Date()) return h('p.hint.shift-hint', t('settings.shift_next', { start: fmtDateTime(me.shift.starts_at) }));
  return null;
}

export default function settingsView(el) {
  const me = session.user() || {};
  const page = h('div.page.page-settings', pageHeader(t('settings.title')));
  el.append(page);

  // ---- profile
  page.append(h('section.section', { 'aria-labelledby': 'set-me' },
    h('h2#set-me.section-title', t('settings.profile')),
    h('p.profile-name', me.name || me.login || ''),
    h('p.muted', t('settings.login_as', { login: me.login || '' })),
    h('p.muted', (me.roles || []).map((r) => tMaybe(`role.${r}`, r)).join(' · '))));

  // ---- language
  const langGroup = h('fieldset.field.choices',
    h('legend', t('settings.language')),
    h('div.choice-list.choice-row', LOCALES.map((loc) => {
      const id = uid('lang');
      const r = h('input', { type: 'radio', name: 'locale', id, value: loc });
      r.checked = getLocale() === loc;
      r.addEventListener('change', async () => {
        await kvSet('locale_choice', loc);
        setLocale(loc);
        try {
          await savePatch({ locale: loc });
        } catch (err) {
          toast(errorText(err), 'error');
        }
      });
      return h('label.choice', { for: id, lang: loc }, r, h('span', t(`lang.${loc}`)));
    })));
  page.append(h('section.section', langGroup));

  // ---- availability
  const dutyId = uid('duty');
  const duty = h('input.switch', { type: 'checkbox', id: dutyId });
  duty.checked = me.on_duty !== false;
  // The stand-in is picked by name from the people directory (the API takes their login).
  const stand = personField(t('settings.delegate'), { initial: me.delegate || null, hint: t('settings.delegate_hint') });
  const delegateName = h('p.hint', me.delegate ? t('settings.delegate_now', { name: me.delegate.name }) : '');
  const delField = h('div', stand.field, delegateName);
  const qsId = uid('qs');
  const qeId = uid('qe');
  const qh = me.quiet_hours || {};
  const qStart = h('input.input', { id: qsId, type: 'time' });
  const qEnd = h('input.input', { id: qeId, type: 'time' });
  qStart.value = qh.start || '';
  qEnd.value = qh.end || '';
  const dutyText = h('span', duty.checked ? t('settings.on_duty') : t('settings.off_duty'));
  const syncDuty = () => {
    dutyText.textContent = duty.checked ? t('settings.on_duty') : t('settings.off_duty');
    delField.hidden = duty.checked;
  };
  syncDuty();
  duty.addEventListener('change', async () => {
    syncDuty();
    try {
      await savePatch({ on_duty: duty.checked });
      toast(duty.checked ? t('settings.now_on_duty') : t('settings.now_off_duty'), 'ok');
    } catch (err) {
      duty.checked = !duty.checked;
      syncDuty();
      toast(errorText(err), 'error');
    }
  });
  const saveAvail = h('button.btn.btn-secondary', { type: 'submit' }, t('common.save'));
  const availForm = h('form', { novalidate: true },
    h('div.field.field-check', h('label.check', { for: dutyId }, duty, dutyText), h('p.hint', t('settings.duty_hint')),
      // With shifts, on duty also needs a shift (docs/design.md §16): which one says so, or when the next starts.
      shiftHint(me)),
    delField,
    h('fieldset.field',
      h('legend', t('settings.quiet_hours')),
      h('div.input-pair',
        h('div', h('label', { for: qsId }, t('settings.quiet_from')), qStart),
        h('div', h('label', { for: qeId }, t('settings.quiet_to')), qEnd)),
      h('p.hint', t('settings.quiet_hint'))),
    saveAvail);
  availForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = stand.value();
    if ((qStart.value && !qEnd.value) || (!qStart.value && qEnd.value)) {
      toast(t('settings.quiet_both'), 'error');
      return;
    }
    saveAvail.disabled = true;
    try {
      await savePatch({
        delegate_id: d || null, // a login (or an id): the server names the person
        quiet_hours: qStart.value && qEnd.value ? { start: qStart.value, end: qEnd.value } : null,
      });
      const now = session.user() || {};
      delegateName.textContent = now.delegate ? t('settings.delegate_now', { name: now.delegate.name }) : '';
      toast(t('common.saved'), 'ok');
    } catch (err) {
      toast(errorText(err), 'error');
    } finally {
      saveAvail.disabled = false;
    }
  });
  page.append(h('section.section', { 'aria-labelledby': 'set-duty' }, h('h2#set-duty.section-title', t('settings.availability')), availForm));

  // ---- notifications
  const pushBox = h('div.push-settings');
  async function drawPush() {
    const st = pushState();
    if (st.needsInstall) {
      replace(pushBox, h('p', t('push.install_title')), h('p.hint', t('push.install_steps')));
      return;
    }
    if (!st.supported) {
      replace(pushBox, h('p', t('push.unsupported')));
      return;
    }
    if (st.permission === 'denied') {
      replace(pushBox, h('p', t('push.blocked')));
      return;
    }
    const sub = st.permission === 'granted' ? await currentSubscription() : null;
    const btn = h('button.btn', { type: 'button', class: sub ? 'btn-secondary' : 'btn-primary' }, sub ? t('push.turn_off') : t('push.turn_on'));
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        if (sub) {
          await disablePush();
          toast(t('push.disabled'), 'ok');
        } else {
          await enablePush();
          toast(t('push.enabled'), 'ok');
        }
      } catch (err) {
        toast(pushErrorText(err), 'error');
      }
      drawPush();
    });
    replace(pushBox, h('p', sub ? t('push.status_on') : t('push.status_off')), btn);
  }
  drawPush();
  page.append(h('section.section', { 'aria-labelledby': 'set-push' }, h('h2#set-push.section-title', t('settings.notifications')), pushBox));

  // ---- channels: the ones this server has set up, the person's identity on each, and a test message
  const channelBox = h('div.channel-list', h('p.muted', t('common.loading')));
  async function drawChannels() {
    let items;
    try {
      items = (await session.get('/me/channels')).items || [];
    } catch (err) {
      replace(channelBox, h('p.muted', errorText(err)));
      return;
    }
    if (!items.length) {
      replace(channelBox, h('p.muted', t('channels.none_set_up')));
      return;
    }
    replace(channelBox, h('ul.plain-list', items.map((c) => {
      const state = h('span.muted', t(`channels.state.${c.state}`));
      const result = h('p.hint', { role: 'status' });
      const who = c.channel === 'webpush'
        ? (c.devices ? t('channels.devices', { n: c.devices }) : t('channels.no_devices'))
        : (c.identity || t('channels.no_identity'));
      const test = h('button.btn.btn-secondary.btn-small', { type: 'button', disabled: !c.identity }, t('channels.test'));
      test.addEventListener('click', async () => {
        test.disabled = true;
        result.textContent = t('channels.testing');
        try {
          const r = await session.post('/me/channels/test', { channel: c.channel });
          result.textContent = t(`channels.result.${r.result}`) + (r.error ? ` (${r.error})` : '');
          state.textContent = t(`channels.state.${r.result === 'sent' ? 'ok' : r.result === 'gone' ? 'broken' : c.state}`);
        } catch (err) {
          result.textContent = errorText(err);
        } finally {
          test.disabled = false;
        }
      });
      return h('li.channel-row', { 'data-channel': c.channel },
        h('div', h('strong', t(`channels.name.${c.channel}`)), ' · ', state),
        h('p.muted', who),
        c.last_attempt ? h('p.hint', t('channels.last', { result: t(`channels.result.${c.last_attempt.result}`) })) : null,
        test, result);
    })));
  }
  drawChannels();
  page.append(h('section.section', { 'aria-labelledby': 'set-channels' },
    h('h2#set-channels.section-title', t('channels.title')), h('p.hint', t('channels.hint')), channelBox));

  // ---- outbox + sign out
  const { pending, failed } = counts();
  const signOut = h('button.btn.btn-danger.btn-block', { type: 'button' }, t('settings.sign_out'));
  signOut.addEventListener('click', async () => {
    const waiting = pending + failed;
    const ok = await confirmDialog(t('settings.sign_out'), waiting ? t('settings.sign_out_pending', { n: waiting }) : t('settings.sign_out_confirm'), { confirmLabel: t('settings.sign_out'), danger: true });
    if (!ok) return;
    try {
      await disablePush();
    } catch {
      /* offline: the server drops the dead endpoint later */
    }
    try {
      await caches.delete('baton-api-v1');
    } catch {
      /* no Cache Storage */
    }
    await kvDel('locale_choice');
    await session.logout();
    navigate('/signin', { replace: true });
  });
  page.append(h('section.section',
    h('a.list-link', { href: '#/outbox' }, icon('outbox'), h('span', t('nav.outbox')),
      pending + failed ? h('span.badge', String(pending + failed)) : null),
    h('a.list-link', { href: '#/notifications' }, icon('bell'), h('span', t('nav.notifications')))));
  page.append(h('section.section', signOut, h('p.muted.version', t('settings.version', { v: __APP_VERSION__ }))));
}
