// Simulate (docs/design.md §11's dry run, from the designer): sample data for the template's form, an outcome per
// step, a start time and a department; the draft as it stands (published or not) goes to
// POST /templates/{key}/dry-run, and the answer is drawn on the graph (started, skipped, never reached; who would be
// offered each step; when it would be due and why) and listed in the panel.
import { h, uid } from '../ui/dom.js';
import { t, tMaybe, fmtDateTime } from '../i18n.js';
import * as session from '../session.js';
import { errorText } from '../ui/errors.js';
import { renderFields } from '../ui/fields.js';

const localNow = () => {
  const d = new Date();
  d.setSeconds(0, 0);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
};

/** A simulated step in a few words for its card: "Started · 3 people · due 2 Mar 10:00". */
export function simulatedLine(entry, people) {
  if (!entry) return '';
  if (entry.status !== 'started') return t(`designer.sim.status.${entry.status}`);
  const names = entry.candidates.map((id) => people.get(id) || `#${id}`);
  const who = names.length > 2 ? t('designer.sim.people_more', { names: names.slice(0, 2).join('、'), n: names.length - 2 }) : names.join('、');
  return [t('designer.sim.status.started'), who, entry.due_at ? t('designer.sim.due', { when: fmtDateTime(entry.due_at) }) : null]
    .filter(Boolean).join(' · ');
}

/**
 * The simulation panel. `draft()` answers the draft as it stands; `show(result)` draws a result on the graph
 * (null clears it); `close()` leaves the simulation.
 */
export function simulatePanel({ templateKey, draft, names, show, close }) {
  const body = draft();
  const sample = renderFields(body.form || [], { capture: false });
  const outcomeSelects = body.steps.filter((s) => (s.outcomes || ['done']).length > 1).map((s) => {
    const id = uid('simout');
    const sel = h(`select#${id}.input`, (s.outcomes || []).map((o) => h('option', { value: o }, tMaybe(`outcome.${o}`, o))));
    sel.dataset.step = s.key;
    return { key: s.key, sel, el: h('div.field', h('label', { for: id }, s.title || s.key), sel) };
  });
  const startId = uid('simstart');
  const start = h(`input#${startId}.input`, { type: 'datetime-local' });
  start.value = localNow();
  const deptId = uid('simdept');
  const dept = h(`select#${deptId}.input`, h('option', { value: '' }, t('designer.sim.owner_department')),
    names.departments.map((d) => h('option', { value: d.id }, d.name)));
  if (body.owner_department_id) dept.value = String(body.owner_department_id);
  const runBtn = h('button.btn.btn-primary', { type: 'submit' }, t('designer.sim.run'));
  const problems = h('ul.field-error.flow-sim-problems', { role: 'alert', hidden: true });
  const results = h('div.flow-sim-results', { 'aria-live': 'polite' });

  async function run(e) {
    e.preventDefault();
    runBtn.disabled = true;
    problems.hidden = true;
    try {
      const payload = {
        template: draft(),
        data: sample.collect(),
        outcomes: Object.fromEntries(outcomeSelects.map((o) => [o.key, o.sel.value])),
        start_at: start.value ? new Date(start.value).toISOString() : null,
        department_id: dept.value ? Number(dept.value) : null,
      };
      const answer = await session.post(`/templates/${encodeURIComponent(templateKey)}/dry-run`, payload);
      const people = new Map((answer.people || []).map((p) => [p.id, p.name]));
      show({ steps: new Map(answer.steps.map((s) => [s.key, s])), people });
      results.replaceChildren(h('h3.section-title', t('designer.sim.result')), h('ol.flow-sim-list', answer.steps.map((s) => h(
        `li.flow-sim-item.flow-sim-${s.status}`, { dataset: { step: s.key } },
        h('strong', s.title), ' ', h('span.chip', t(`designer.sim.status.${s.status}`)),
        s.status === 'started' ? h('p.flow-sim-who', t('designer.sim.offered', {
          names: s.candidates.map((id) => people.get(id) || `#${id}`).join('、') || '—' })) : null,
        s.due_at ? h('p.flow-sim-due', t('designer.sim.due', { when: fmtDateTime(s.due_at) })) : null,
        s.due_explained ? h('p.hint.flow-sim-why', s.due_explained) : null,
        s.status === 'skipped' && s.reason ? h('p.hint', reasonText(s.reason)) : null))));
    } catch (err) {
      show(null);
      results.replaceChildren();
      const details = err.status === 422 ? Object.entries(err.details || {}) : [];
      problems.replaceChildren(...(details.length ? details.map(([p, m]) => h('li', `${p}: ${[].concat(m).join(' ')}`))
        : [h('li', errorText(err))]));
      problems.hidden = false;
      if (err.status === 422) {
        const byField = {};
        for (const [p, m] of details) if (p.startsWith('data.')) byField[p.slice(5).split('.')[0]] = [].concat(m).join(' ');
        sample.setErrors(byField);
      }
    } finally {
      runBtn.disabled = false;
    }
  }

  return h('form.flow-panel-body.flow-sim', { novalidate: true, onsubmit: run },
    h('div.flow-sim-head', h('h2.section-title', t('designer.sim.title')),
      h('button.btn.btn-small.btn-secondary', { type: 'button', onclick: close }, t('designer.sim.close'))),
    h('p.hint', t('designer.sim.hint')),
    sample.count ? h('fieldset.field.flow-fieldset', h('legend', t('designer.sim.data')), sample.el) : null,
    outcomeSelects.length ? h('fieldset.field.flow-fieldset', h('legend', t('designer.sim.outcomes')), outcomeSelects.map((o) => o.el)) : null,
    h('div.flow-pair',
      h('div.field', h('label', { for: startId }, t('designer.sim.start')), start),
      h('div.field', h('label', { for: deptId }, t('designer.sim.department')), dept)),
    h('div.button-row', runBtn),
    problems, results);
}

function reasonText(reason) {
  if (reason.by === 'no_branch_taken') return t('designer.sim.why_no_branch');
  if (reason.by === 'default') return t('designer.sim.why_default', { steps: (reason.taken || []).join('、') });
  return t('designer.sim.why_when');
}
