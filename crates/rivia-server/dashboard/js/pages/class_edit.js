// Creates a class or edits its schema: one row per field (name, type, target, index
// flags); the server's message about a field definition appears under that field's row.

import { h, replace, options, uid } from '../dom.js';
import { ApiError, api, instancePath, seg, listAll } from '../api.js';
import { pageHead, fieldInput, showFormErrors, clearFormErrors, busy, FieldError, showError } from '../ui.js';
import { inInstance } from '../router.js';
import { FIELD_TYPES, TYPE_OPTIONS, FLAG_LABELS, CLASS_PERMISSIONS } from '../schema.js';

export const title = (p) => (p.class ? `Schema of ${p.class}` : 'New class');

/** One editable field definition. */
function schemaRow(field, targetsId, onRemove) {
  const nameId = uid('field-name');
  const typeId = uid('field-type');
  const targetId = uid('field-target');
  const errorId = uid('field-error');
  const name = h('input', { id: nameId, type: 'text', value: field.name || '', class: 'field-name', 'aria-describedby': errorId, autocomplete: 'off', spellcheck: 'false' });
  const type = h('select', { id: typeId, class: 'field-type', 'aria-describedby': errorId }, options(FIELD_TYPES, field.type || 'string'));
  const target = h('input', { id: targetId, type: 'text', value: field.target || '', list: targetsId, class: 'field-target', 'aria-describedby': errorId, placeholder: 'class, self or user' });
  const flags = Object.fromEntries(
    Object.keys(FLAG_LABELS).map((flag) => [flag, h('input', { type: 'checkbox', checked: Boolean(field[flag]), class: `flag-${flag}` })]),
  );
  const error = h('div', { class: 'field-error', id: errorId, role: 'status' });
  const remove = h('button', { type: 'button', class: 'small danger', 'aria-label': 'Remove this field' }, 'Remove');
  const row = h(
    'div',
    { class: 'schema-row' },
    h('div', { class: 'field' }, h('label', { for: nameId }, 'Field name'), name),
    h('div', { class: 'field' }, h('label', { for: typeId }, 'Type'), type),
    h('div', { class: 'field' }, h('label', { for: targetId }, 'Target'), target),
    h(
      'div',
      { class: 'flags' },
      Object.entries(flags).map(([flag, box]) => h('label', { class: 'check' }, box, FLAG_LABELS[flag])),
    ),
    h('div', {}, remove),
    error,
  );

  const sync = () => {
    const allowed = TYPE_OPTIONS[type.value] || [];
    target.disabled = !allowed.includes('target');
    for (const [flag, box] of Object.entries(flags)) {
      box.disabled = !allowed.includes(flag);
      if (box.disabled) box.checked = false;
    }
  };
  type.addEventListener('change', sync);
  remove.addEventListener('click', () => onRemove(row));
  sync();

  return {
    row,
    error,
    name,
    /** The definition the API expects (only the options the type allows). */
    value() {
      const allowed = TYPE_OPTIONS[type.value] || [];
      const def = { name: name.value.trim(), type: type.value };
      if (allowed.includes('target')) def.target = target.value.trim();
      for (const [flag, box] of Object.entries(flags)) if (allowed.includes(flag) && box.checked) def[flag] = true;
      return def;
    },
  };
}

/** Puts `{"schema": ["Error processing field definition \"x\" #2: message"]}` under row 2. */
function placeSchemaErrors(messages, rows, general) {
  const rest = [];
  for (const message of [].concat(messages)) {
    const m = /#(\d+): (.*)$/s.exec(String(message));
    const row = m ? rows[Number(m[1])] : null;
    if (row) {
      row.error.textContent = row.error.textContent ? `${row.error.textContent} ${m[2]}` : m[2];
      row.name.setAttribute('aria-invalid', 'true');
    } else {
      rest.push(String(message));
    }
  }
  if (rest.length) general.textContent = rest.join(' ');
}

export async function render({ root, params, signal }) {
  const { instance } = params;
  const editing = params.class || null;
  const existing = editing ? await api.get(instancePath(instance, `classes/${seg(editing)}/`), undefined, signal) : null;

  const targetsId = uid('targets');
  const targets = h('datalist', { id: targetsId }, options(['self', 'user']));
  listAll(instancePath(instance, 'classes/'))
    .then(({ items }) => targets.append(...options(items.map((c) => c.name).filter((n) => n !== 'user_profile'))))
    .catch(showError);

  const rows = [];
  const rowsBox = h('div', { class: 'schema-rows', id: 'schema-rows' });
  const removeRow = (row) => {
    const i = rows.findIndex((r) => r.row === row);
    if (i >= 0) rows.splice(i, 1);
    row.remove();
  };
  const addRow = (field = {}) => {
    const r = schemaRow(field, targetsId, removeRow);
    rows.push(r);
    rowsBox.append(r.row);
    return r;
  };
  (existing?.schema || []).forEach((f) => addRow(f));
  if (!existing) addRow();

  const nameField = fieldInput({ name: 'name', label: 'Class name', value: existing?.name || '', readonly: Boolean(existing), help: existing ? 'A class keeps its name.' : 'Letters, numbers and underscores, starting with a letter.' });
  const description = fieldInput({ name: 'description', label: 'Description', value: existing?.description || '' });
  const groupPerm = fieldInput({ name: 'group_permissions', label: 'Group permissions', type: 'select', options: CLASS_PERMISSIONS, value: existing?.group_permissions || 'create_objects' });
  const otherPerm = fieldInput({ name: 'other_permissions', label: 'Other permissions', type: 'select', options: CLASS_PERMISSIONS, value: existing?.other_permissions || 'create_objects' });
  const group = fieldInput({ name: 'group', label: 'Group id', type: 'number', value: existing?.group ?? '', min: 1, help: 'Users of this group get the group permissions.' });
  const metadata = fieldInput({ name: 'metadata', label: 'Metadata (JSON object)', type: 'json', value: existing?.metadata || {}, rows: 3 });

  const addButton = h('button', { type: 'button', id: 'add-field', on: { click: () => addRow().name.focus() } }, 'Add field');
  const save = h('button', { type: 'submit', class: 'primary', id: 'save-class' }, existing ? 'Save schema' : 'Create class');
  const general = h('p', { class: 'form-error', tabindex: '-1' });
  const schemaError = h('div', { class: 'field-error', dataset: { errorFor: 'schema' } });

  const form = h(
    'form',
    { novalidate: true, id: 'class-form' },
    general,
    h('div', { class: 'panel' }, h('div', { class: 'form-grid' }, nameField.wrap, description.wrap)),
    h('h2', {}, 'Fields'),
    h('p', { class: 'muted' }, 'Filter and order indexes make a field usable in queries and ordering; unique implies a filter index and can only be set on a new field.'),
    rowsBox,
    schemaError,
    h('div', { class: 'toolbar' }, addButton),
    h('details', {}, h('summary', {}, 'Permissions and metadata'), h('div', { class: 'panel' }, h('div', { class: 'form-grid' }, groupPerm.wrap, otherPerm.wrap, group.wrap), metadata.wrap)),
    h('div', { class: 'form-actions' }, h('a', { class: 'button', href: inInstance(instance, 'classes') }, 'Cancel'), save),
    targets,
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    rows.forEach((r) => {
      r.error.textContent = '';
      r.name.removeAttribute('aria-invalid');
    });
    save.disabled = true;
    try {
      let meta;
      try {
        meta = metadata.input.value.trim() ? JSON.parse(metadata.input.value) : {};
      } catch (e) {
        throw new FieldError('metadata', `Not valid JSON: ${e.message}`);
      }
      const body = {
        description: description.input.value,
        schema: rows.map((r) => r.value()),
        group_permissions: groupPerm.input.value,
        other_permissions: otherPerm.input.value,
        group: group.input.value === '' ? null : Number(group.input.value),
        metadata: meta,
      };
      let saved;
      if (existing) {
        body.expected_revision = existing.revision;
        saved = await busy(api.patch(instancePath(instance, `classes/${seg(existing.name)}/`), body));
      } else {
        body.name = nameField.input.value;
        saved = await busy(api.post(instancePath(instance, 'classes/'), body));
      }
      window.location.hash = inInstance(instance, 'classes', saved.name, 'objects');
    } catch (err) {
      if (err instanceof ApiError && err.body && typeof err.body === 'object' && !Array.isArray(err.body) && err.body.schema) {
        const { schema, ...rest } = err.body;
        showFormErrors(form, new ApiError(err.status, rest, err.method, err.path));
        placeSchemaErrors(schema, rows, schemaError);
        (form.querySelector('[aria-invalid="true"]') || general).focus();
      } else {
        showFormErrors(form, err);
      }
    } finally {
      save.disabled = false;
    }
  });

  replace(
    root,
    pageHead({
      title: existing ? `Schema of ${existing.name}` : 'New class',
      crumbs: [{ label: instance }, { label: 'Classes', href: inInstance(instance, 'classes') }],
      actions: existing ? [h('a', { class: 'button', href: inInstance(instance, 'classes', existing.name, 'objects') }, 'Objects')] : [],
    }),
    form,
  );
  if (!existing) nameField.input.focus();
}
