// Three-level cascading picker over a tree [{name, children: [...]}].
import { h, uid } from './dom.js';
import { t } from '../i18n.js';

/** Build a tree from level paths, e.g. templates' default classifications. */
export function treeFromPaths(paths) {
  const root = [];
  for (const path of paths) {
    let level = root;
    for (const name of (path || []).slice(0, 3)) {
      let node = level.find((n) => n.name === name);
      if (!node) level.push((node = { name, children: [] }));
      level = node.children;
    }
  }
  return root;
}

export function cascade(tree, labels, legend) {
  const selects = [];
  const fields = labels.map((label, level) => {
    const id = uid('lvl');
    const sel = h('select.input', { id, disabled: level > 0 });
    selects.push(sel);
    return h('div.field', h('label', { for: id }, label), sel);
  });
  const nodesAt = (level) => {
    let nodes = tree || [];
    for (let i = 0; i < level; i++) {
      const picked = nodes.find((n) => n.name === selects[i].value);
      nodes = (picked && picked.children) || [];
    }
    return nodes;
  };
  const fill = (level) => {
    for (let l = level; l < selects.length; l++) {
      const nodes = l === 0 || selects[l - 1].value ? nodesAt(l) : [];
      const sel = selects[l];
      const keep = sel.value;
      sel.replaceChildren(h('option', { value: '' }, nodes.length ? t('form.choose') : t('form.none_available')),
        ...nodes.map((n) => h('option', { value: n.name }, n.name)));
      sel.value = nodes.some((n) => n.name === keep) ? keep : '';
      sel.disabled = !nodes.length;
    }
  };
  selects.forEach((sel, i) => sel.addEventListener('change', () => fill(i + 1)));
  fill(0);
  const err = h('p.field-error', { hidden: true });
  return {
    el: h('fieldset.field.cascade', h('legend', legend), h('div.cascade-grid', fields), err),
    value: () => selects.map((s) => s.value).filter(Boolean),
    /** Pre-select a path (e.g. the template's default classification). */
    set(path = []) {
      selects.forEach((sel, i) => {
        fill(i);
        if (path[i] && [...sel.options].some((o) => o.value === path[i])) sel.value = path[i];
      });
      fill(path.length);
    },
    setError(msg) {
      err.textContent = msg || '';
      err.hidden = !msg;
    },
  };
}
