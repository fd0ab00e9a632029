// The dialog that creates or edits one data object: an input per schema field (by type),
// file uploads, and the object's permissions. Data goes as JSON; chosen files follow in a
// multipart PATCH of the object, as Syncano's own clients upload them.

import { h, uid, options } from '../dom.js';
import { api, instancePath, seg } from '../api.js';
import { busy, clearFormErrors, showFormErrors, FieldError } from '../ui.js';
import { OBJECT_PERMISSIONS } from '../schema.js';

/** The text an input shows for a stored value of a field type. */
function inputText(type, value) {
  if (value === null || value === undefined) return '';
  switch (type) {
    case 'datetime':
    case 'reference':
      return String(value.value ?? '');
    case 'relation':
      return (value.value || []).join(', ');
    case 'array':
    case 'object':
      return JSON.stringify(value, null, 2);
    case 'boolean':
      return String(value);
    default:
      return String(value);
  }
}

/** One schema field's control. Answers {wrap, read(): value, changed(): bool, file?}. */
function fieldControl(field, object) {
  const id = uid(`obj-${field.name}`);
  const errorId = `${id}-error`;
  const stored = object ? object[field.name] : null;
  const initial = inputText(field.type, stored);
  const label = h('label', { for: id }, field.name, ' ', h('span', { class: 'help' }, field.type));
  const error = h('div', { class: 'field-error', id: errorId, dataset: { errorFor: field.name } });
  const common = { id, name: field.name, 'aria-describedby': errorId };
  let input;
  let extra = null;

  switch (field.type) {
    case 'text':
      input = h('textarea', { ...common, rows: 3 });
      input.value = initial;
      break;
    case 'array':
    case 'object':
      input = h('textarea', { ...common, rows: 3, class: 'json', spellcheck: 'false', placeholder: field.type === 'array' ? '["a", 1, true]' : '{"key": "value"}' });
      input.value = initial;
      break;
    case 'integer':
      input = h('input', { ...common, type: 'number', step: '1', value: initial });
      break;
    case 'float':
      input = h('input', { ...common, type: 'number', step: 'any', value: initial });
      break;
    case 'reference':
      input = h('input', { ...common, type: 'number', step: '1', min: '1', value: initial, placeholder: `id in ${field.target}` });
      break;
    case 'relation':
      input = h('input', { ...common, type: 'text', value: initial, placeholder: `ids in ${field.target}, e.g. 1, 2, 3` });
      break;
    case 'boolean':
      input = h('select', common, options([['', '(not set)'], ['true', 'true'], ['false', 'false']], initial));
      break;
    case 'datetime':
      input = h('input', { ...common, type: 'text', value: initial, placeholder: '2026-01-31T12:00:00.000000Z', spellcheck: 'false' });
      break;
    case 'geopoint': {
      const lon = h('input', { ...common, type: 'number', step: 'any', value: stored?.longitude ?? '', placeholder: 'longitude', 'aria-label': `${field.name} longitude` });
      const lat = h('input', { id: `${id}-lat`, type: 'number', step: 'any', value: stored?.latitude ?? '', placeholder: 'latitude', 'aria-label': `${field.name} latitude` });
      const read = () => (lon.value === '' && lat.value === '' ? null : { longitude: Number(lon.value), latitude: Number(lat.value) });
      const before = JSON.stringify(read());
      return {
        field,
        wrap: h('div', { class: 'field', dataset: { field: field.name } }, label, h('div', { class: 'form-grid' }, lon, lat), error),
        read,
        changed: () => JSON.stringify(read()) !== before,
      };
    }
    case 'file': {
      input = h('input', { ...common, type: 'file' });
      const url = stored?.value;
      const removeBox = h('input', { type: 'checkbox', id: `${id}-remove` });
      extra = url
        ? h(
            'div',
            { class: 'file-current' },
            'Current: ',
            h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url.split('/').pop()),
            ' ',
            h('label', { class: 'check', for: `${id}-remove` }, removeBox, 'Remove the file'),
          )
        : null;
      return {
        field,
        wrap: h('div', { class: 'field', dataset: { field: field.name } }, label, extra, input, error),
        read: () => (removeBox.checked ? null : undefined),
        changed: () => removeBox.checked,
        file: () => input.files[0] || null,
      };
    }
    default:
      input = h('input', { ...common, type: 'text', value: initial, maxlength: '128' });
  }

  const read = () => parseInput(field, input.value);
  return {
    field,
    wrap: h('div', { class: 'field', dataset: { field: field.name } }, label, input, extra, error),
    read,
    changed: () => input.value !== initial,
  };
}

/** The API value of an input's text for a field type; FieldError when it cannot be read. */
function parseInput(field, text) {
  const t = text.trim();
  switch (field.type) {
    case 'string':
    case 'text':
      return text;
    case 'integer':
    case 'float':
    case 'reference':
      return t === '' ? null : Number(t);
    case 'boolean':
      return t === '' ? null : t === 'true';
    case 'datetime':
      return t === '' ? null : t;
    case 'relation':
      if (t === '') return null;
      if (t.startsWith('[')) return parseJson(field.name, t);
      return t.split(/[\s,]+/).filter(Boolean).map((v) => (Number.isNaN(Number(v)) ? v : Number(v)));
    case 'array':
    case 'object':
      return t === '' ? null : parseJson(field.name, t);
    default:
      return text;
  }
}

function parseJson(name, text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FieldError(name, `Not valid JSON: ${e.message}`);
  }
}

/** A select or number input for the built-in permission fields. */
function builtinControl(name, labelText, object, kind) {
  const id = uid(`obj-${name}`);
  const errorId = `${id}-error`;
  const value = object ? object[name] : null;
  const initial = value === null || value === undefined ? '' : String(value);
  const input =
    kind === 'perm'
      ? h('select', { id, name, 'aria-describedby': errorId }, options(OBJECT_PERMISSIONS, initial || (name === 'owner_permissions' ? 'full' : 'none')))
      : h('input', { id, name, type: kind === 'id' ? 'number' : 'text', min: kind === 'id' ? '1' : null, value: initial, 'aria-describedby': errorId, readonly: kind === 'create-only' && object ? true : null });
  const first = input.value;
  return {
    name,
    wrap: h('div', { class: 'field', dataset: { field: name } }, h('label', { for: id }, labelText), input, h('div', { class: 'field-error', id: errorId, dataset: { errorFor: name } })),
    read: () => (kind === 'id' ? (input.value === '' ? null : Number(input.value)) : input.value === '' ? null : input.value),
    changed: () => input.value !== first,
    createOnly: kind === 'create-only',
  };
}

/**
 * Opens the dialog for a new object (`object` null) or an existing one. Answers the saved
 * object, or null when cancelled.
 */
export function objectDialog({ instance, cls, object = null }) {
  return new Promise((resolve) => {
    let current = object;
    const controls = cls.schema.map((f) => fieldControl(f, object));
    const builtins = [
      builtinControl('owner', 'Owner (user id)', object, 'id'),
      builtinControl('owner_permissions', 'Owner permissions', object, 'perm'),
      builtinControl('group', 'Group id', object, 'id'),
      builtinControl('group_permissions', 'Group permissions', object, 'perm'),
      builtinControl('other_permissions', 'Other permissions', object, 'perm'),
      builtinControl('channel', 'Channel (on create only)', object, 'create-only'),
      builtinControl('channel_room', 'Channel room (on create only)', object, 'create-only'),
    ];
    const dialog = h('dialog', { class: 'wide', 'aria-labelledby': 'object-title' });
    const heading = h('h2', { id: 'object-title' }, object ? `Edit object ${object.id}` : `New object in ${cls.name}`);
    const general = h('p', { class: 'form-error', tabindex: '-1' });
    const save = h('button', { type: 'submit', class: 'primary', id: 'save-object' }, object ? 'Save object' : 'Create object');
    const form = h(
      'form',
      { novalidate: true, id: 'object-form' },
      heading,
      general,
      controls.length ? h('div', { class: 'form-grid' }, controls.map((c) => c.wrap)) : h('p', { class: 'muted' }, 'This class has no fields; the object carries only its built-in fields.'),
      h('details', {}, h('summary', {}, 'Permissions and channel'), h('div', { class: 'form-grid' }, builtins.map((b) => b.wrap))),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', on: { click: () => dialog.close() } }, 'Cancel'), save),
    );

    const objectPath = (id) => instancePath(instance, `classes/${seg(cls.name)}/objects/${id === undefined ? '' : `${seg(id)}/`}`);

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearFormErrors(form);
      save.disabled = true;
      save.setAttribute('aria-busy', 'true');
      try {
        const body = {};
        const files = new FormData();
        let fileCount = 0;
        for (const c of controls) {
          const file = c.file ? c.file() : null;
          if (file) {
            files.append(c.field.name, file);
            fileCount += 1;
            continue;
          }
          if (current ? c.changed() : c.read() !== null && c.read() !== undefined && c.read() !== '') {
            const v = c.read();
            if (v !== undefined) body[c.field.name] = v;
          }
        }
        for (const b of builtins) {
          if (current && b.createOnly) continue;
          if (current ? b.changed() : b.read() !== null) body[b.name] = b.read();
        }
        if (!current) {
          current = await busy(api.post(objectPath(), body));
        } else if (Object.keys(body).length) {
          current = await busy(api.patch(objectPath(current.id), body));
        }
        if (fileCount) {
          current = await busy(
            api.request('PATCH', objectPath(current.id), { body: files }).then((r) => r.data),
          ).catch((err) => {
            // The object exists now: further saves edit it instead of creating another.
            heading.textContent = `Edit object ${current.id}`;
            save.textContent = 'Save object';
            throw err;
          });
        }
        dialog.close();
      } catch (err) {
        showFormErrors(form, err);
      } finally {
        save.disabled = false;
        save.removeAttribute('aria-busy');
      }
    });

    dialog.append(form);
    document.body.append(dialog);
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(current !== object ? current : null);
    });
    dialog.showModal();
    (form.querySelector('input:not([readonly]), textarea, select') || save).focus();
  });
}
