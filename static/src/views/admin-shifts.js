// The console's shifts (#/admin/shifts, docs/design.md §16): who works when, per person or group. The shifts of
// the coming two weeks by start, each removable; a form to plan one (a person picked by name, or a group; start and
// end in this device's time; whether claimed work not started goes back to the pool at its end); and an import from
// a CSV or XLSX file, checked first (every problem by row and column), then planned all at once.
import { h, replace } from '../ui/dom.js';
import { t, fmtDateTime } from '../i18n.js';
import * as session from '../session.js';
import { toast } from '../ui/toast.js';
import { errorText, fieldErrors } from '../ui/errors.js';
import { confirmDialog } from '../ui/dialog.js';
import { loading, emptyState, errorState } from '../ui/parts.js';
import { personField } from '../ui/people.js';
import { shell, textField, selectField, allOf } from './admin.js';

const DAY = 24 * 3600 * 1000;

/** A datetime-local value as an ISO time with this device's offset, which the API requires. */
function withOffset(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString();
}

function localInput(label, date) {
  const pad = (n) => String(n).padStart(2, '0');
  const value = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return textField(label, value, { type: 'datetime-local' });
}

export function shiftsView(el) {
  const list = h('div.shift-list');
  const formBox = h('section.card');
  const importBox = h('section.card');
  const cleanup = shell(el, 'shifts', h('p.hint', t('shifts.hint')), formBox, list, importBox);
  let people = [];
  let groups = [];

  const who = (s) => {
    if (s.user_id) {
      const p = people.find((x) => x.id === s.user_id);
      return p ? `${p.name} (${p.login})` : `#${s.user_id}`;
    }
    const g = groups.find((x) => x.id === s.group_id);
    return `${t('shifts.group')}: ${g ? g.name : `#${s.group_id}`}`;
  };

  async function load() {
    replace(list, loading());
    try {
      const from = new Date(Date.now() - DAY).toISOString();
      const until = new Date(Date.now() + 14 * DAY).toISOString();
      const res = await session.get(`/shifts?per_page=200&ends_after=${encodeURIComponent(from)}&starts_before=${encodeURIComponent(until)}`);
      if (!res.items.length) {
        replace(list, emptyState(t('shifts.none')));
        return;
      }
      replace(list, h('div.table-wrap', { tabindex: '0', role: 'region', 'aria-label': t('shifts.title') },
        h('table.data-table',
          h('thead', h('tr', h('th', t('shifts.who')), h('th', t('shifts.starts')), h('th', t('shifts.ends')),
            h('th', t('shifts.handover')), h('th', ''))),
          h('tbody', res.items.map((s) => {
            const remove = h('button.btn.btn-ghost.btn-small', { type: 'button' }, t('shifts.remove'));
            remove.addEventListener('click', async () => {
              if (!(await confirmDialog(t('shifts.remove_confirm', { who: who(s) }), null, { confirmLabel: t('shifts.remove'), danger: true }))) return;
              try {
                await session.del(`/shifts/${s.id}`);
                load();
              } catch (err) {
                toast(errorText(err), 'error');
              }
            });
            return h('tr', h('td', who(s)), h('td', fmtDateTime(s.starts_at)), h('td', fmtDateTime(s.ends_at)),
              h('td', s.handover ? t('common.yes') : t('common.no')), h('td', remove));
          })))));
    } catch (err) {
      replace(list, errorState(errorText(err), load));
    }
  }

  function form() {
    const person = personField(t('shifts.person'), { hint: t('shifts.person_hint') });
    const group = selectField(t('shifts.group'), [['', '—'], ...groups.map((g) => [String(g.id), g.name])], '');
    const start = new Date(Date.now() + DAY);
    start.setHours(8, 0, 0, 0);
    const starts = localInput(t('shifts.starts'), start);
    const ends = localInput(t('shifts.ends'), new Date(start.getTime() + 8 * 3600 * 1000));
    const handover = h('input', { type: 'checkbox', id: 'shift-handover' });
    const status = h('p.form-error', { role: 'alert', hidden: true });
    const submit = h('button.btn.btn-primary', { type: 'submit' }, t('shifts.plan'));
    const f = h('form.fields.admin-form', { novalidate: true }, h('h2', t('shifts.new')),
      person.field, group.field, starts.field, ends.field,
      h('div.field.field-check', handover, h('label', { for: 'shift-handover' }, t('shifts.handover_hint'))),
      status, h('div.button-row', submit));
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      status.hidden = true;
      const login = person.value();
      const match = login ? people.find((p) => p.login === login || p.name === login || `${p.name} (${p.login})` === login) : null;
      const body = {
        user_id: match ? match.id : null, group_id: group.select.value ? Number(group.select.value) : null,
        starts_at: withOffset(starts.input.value), ends_at: withOffset(ends.input.value), handover: handover.checked,
      };
      if (login && !match) {
        status.textContent = t('shifts.unknown_person');
        status.hidden = false;
        return;
      }
      submit.disabled = true;
      try {
        await session.post('/shifts', body);
        toast(t('shifts.planned'), 'ok');
        load();
      } catch (err) {
        const fields = fieldErrors(err);
        status.textContent = Object.keys(fields).length
          ? Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join(' · ') : errorText(err);
        status.hidden = false;
      } finally {
        submit.disabled = false;
      }
    });
    replace(formBox, f);
  }

  function importer() {
    const file = h('input.input', { type: 'file', accept: '.csv,.xlsx', 'aria-label': t('shifts.import_file') });
    const preview = h('div');
    const send = (dryRun) => {
      const data = new FormData();
      data.append('file', file.files[0], file.files[0].name);
      return session.api('POST', `/shifts/import?dry_run=${dryRun}`, { form: data }).then((r) => r.data);
    };
    file.addEventListener('change', async () => {
      if (!file.files || !file.files[0]) return;
      replace(preview, loading());
      try {
        const dry = await send(true);
        const go = h('button.btn.btn-primary', { type: 'button' }, t('shifts.import_confirm', { n: dry.created }));
        go.disabled = !dry.created;
        go.addEventListener('click', async () => {
          go.disabled = true;
          try {
            const done = await send(false);
            replace(preview, h('p.notice-info', t('shifts.imported', { n: done.created })));
            file.value = '';
            load();
          } catch (err) {
            toast(errorText(err), 'error', 8000);
            go.disabled = false;
          }
        });
        replace(preview, h('div.button-row', go));
      } catch (err) {
        const problems = (err && err.details && err.details.rows) || [];
        replace(preview, h('p.form-error', { role: 'alert' }, errorText(err)),
          problems.length ? h('div.table-wrap', h('table.data-table',
            h('thead', h('tr', h('th', t('admin.row')), h('th', t('shifts.column')), h('th', t('shifts.problem')))),
            h('tbody', problems.map((p) => h('tr', h('td', String(p.row)), h('td', p.column), h('td', p.message)))))) : null);
      }
    });
    replace(importBox, h('h2', t('shifts.import')), h('p.hint', t('shifts.import_hint')), file, preview);
  }

  (async () => {
    try {
      [people, groups] = await Promise.all([allOf('/users'), allOf('/groups')]);
    } catch (err) {
      replace(list, errorState(errorText(err)));
      return;
    }
    form();
    importer();
    load();
  })();
  return cleanup;
}
