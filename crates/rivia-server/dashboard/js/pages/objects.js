// The objects of a class: a table with the class's columns, cursor paging, a query
// builder for the JSON query language (field, lookup, value; raw JSON for the rest),
// ordering, and create / edit / delete through the object dialog.

import { h, replace, options, uid } from '../dom.js';
import { api, instancePath, seg } from '../api.js';
import { pageHead, pagedList, table, confirmDialog, act, showInfo, smallButton, cellText, when, clearFormErrors, showFormErrors, FieldError } from '../ui.js';
import { inInstance } from '../router.js';
import { BUILTIN_FILTERS, operatorsFor, OPERATOR_LABELS, takesList, takesObject, typedValue } from '../schema.js';
import { objectDialog } from './object_form.js';

export const title = (p) => `Objects of ${p.class}`;

/** A table cell for a value of a schema field. */
function valueCell(field, value) {
  if (value === null || value === undefined) return h('span', { class: 'null' }, 'null');
  switch (field.type) {
    case 'file':
      return h('a', { href: value.value, target: '_blank', rel: 'noopener noreferrer', title: value.value }, value.value.split('/').pop());
    case 'reference':
      return `→ ${value.value}`;
    case 'relation':
      return cellText((value.value || []).join(', '));
    case 'datetime':
      return cellText(value.value);
    case 'geopoint':
      return cellText(`${value.latitude}, ${value.longitude}`);
    case 'boolean':
      return String(value);
    default:
      return cellText(value);
  }
}

/** The fields a query may use: built-ins, and schema fields with a filter index. */
function filterable(cls) {
  return [
    ...BUILTIN_FILTERS.map(([name, kind]) => ({ name, kind })),
    ...cls.schema.filter((f) => f.filter_index).map((f) => ({ name: f.name, kind: f.type })),
  ];
}

/** One condition row of the query builder. */
function conditionRow(fields, onRemove) {
  const fieldId = uid('q-field');
  const field = h('select', { id: fieldId, class: 'q-field', 'aria-label': 'Field' }, options(fields.map((f) => f.name)));
  const op = h('select', { class: 'q-op', 'aria-label': 'Lookup' });
  const valueBox = h('div', { class: 'q-value-box' });
  let value = null;
  const remove = h('button', { type: 'button', class: 'small', 'aria-label': 'Remove this condition' }, 'Remove');
  const row = h('div', { class: 'cond' }, field, op, valueBox, remove);
  const kind = () => fields.find((f) => f.name === field.value)?.kind || 'string';

  const drawValue = () => {
    const o = op.value;
    const previous = value && value.tagName === 'INPUT' ? value.value : '';
    if (o === '_exists') {
      value = h('select', { class: 'q-value', 'aria-label': 'Value' }, options([['true', 'yes'], ['false', 'no']]));
    } else {
      const placeholder = takesObject(o) ? '{"field": {"_eq": 1}}' : takesList(o, kind()) ? 'a, b, c  or a JSON list' : 'value';
      value = h('input', { type: 'text', class: 'q-value', 'aria-label': 'Value', placeholder, value: previous, spellcheck: 'false' });
    }
    replace(valueBox, value);
  };
  const drawOps = () => {
    const keep = op.value;
    const ops = operatorsFor(kind());
    replace(op, options(ops.map((o) => [o, OPERATOR_LABELS[o] || o]), ops.includes(keep) ? keep : ops[0]));
    drawValue();
  };
  field.addEventListener('change', drawOps);
  op.addEventListener('change', drawValue);
  remove.addEventListener('click', () => onRemove(row));
  drawOps();

  return {
    row,
    /** [field, lookup, value] as the API expects them. */
    condition() {
      const k = kind();
      const o = op.value;
      const text = value.value;
      let v;
      if (o === '_exists') v = text === 'true';
      else if (takesObject(o)) {
        try {
          v = JSON.parse(text);
        } catch (e) {
          throw new FieldError('query', `The value for ${field.value} ${OPERATOR_LABELS[o]} is not valid JSON: ${e.message}`);
        }
      } else if (takesList(o, k)) {
        const t = text.trim();
        if (t.startsWith('[')) {
          try {
            v = JSON.parse(t);
          } catch (e) {
            throw new FieldError('query', `The list for ${field.value} is not valid JSON: ${e.message}`);
          }
        } else {
          v = t === '' ? [] : t.split(',').map((part) => typedValue(part.trim(), k === 'relation' ? 'integer' : k));
        }
      } else v = typedValue(text, k);
      return [field.value, o, v];
    },
  };
}

export async function render({ root, params, signal }) {
  const { instance } = params;
  const cls = await api.get(instancePath(instance, `classes/${seg(params.class)}/`), undefined, signal);
  const objectsPath = instancePath(instance, `classes/${seg(cls.name)}/objects/`);
  const fields = filterable(cls);

  // ---------------------------------------------------------------- the table

  const columns = [
    { label: 'id', class: 'num', cell: (o) => String(o.id) },
    ...cls.schema.map((f) => ({ label: f.name, cell: (o) => valueCell(f, o[f.name]) })),
    { label: 'updated', cell: (o) => when(o.updated_at) },
  ];
  const list = pagedList({
    path: objectsPath,
    signal,
    countLabel: (n) => `${n}${n >= 1000 ? ' (about)' : ''} matching object${n === 1 ? '' : 's'}`,
    render: (page) =>
      table({
        caption: `Objects of ${cls.name}`,
        rows: page.objects,
        empty: 'No objects match.',
        columns,
        actions: (o) => [
          smallButton('Edit', () => edit(o), { title: `Edit object ${o.id}` }),
          smallButton('Delete', (b) => remove(o, b), { danger: true, title: `Delete object ${o.id}` }),
        ],
      }),
  });

  async function create() {
    const made = await objectDialog({ instance, cls });
    if (made) {
      showInfo(`Object ${made.id} created.`);
      await act(() => list.reload());
    }
  }

  async function edit(object) {
    const saved = await objectDialog({ instance, cls, object });
    if (saved) {
      showInfo(`Object ${saved.id} saved.`);
      await act(() => list.reload());
    }
  }

  async function remove(object, button) {
    const yes = await confirmDialog({ title: `Delete object ${object.id}?`, message: 'This cannot be undone.', confirm: 'Delete object' });
    if (!yes) return;
    const done = await act(() => api.del(`${objectsPath}${seg(object.id)}/`).then(() => true), button);
    if (done) {
      showInfo(`Object ${object.id} deleted.`);
      await act(() => list.reload());
    }
  }

  // ---------------------------------------------------------------- the query builder

  const conditions = [];
  const condBox = h('div', { class: 'conds', id: 'conditions' });
  const removeCondition = (row) => {
    const i = conditions.findIndex((c) => c.row === row);
    if (i >= 0) conditions.splice(i, 1);
    row.remove();
  };
  const addCondition = () => {
    const c = conditionRow(fields, removeCondition);
    conditions.push(c);
    condBox.append(c.row);
    c.row.querySelector('select').focus();
  };

  const rawId = uid('raw-query');
  const raw = h('textarea', { id: rawId, name: 'raw_query', class: 'json', rows: 2, spellcheck: 'false', placeholder: '{"title": {"_startswith": "The"}}' });
  const orderable = ['id', 'created_at', 'updated_at', ...cls.schema.filter((f) => f.order_index).map((f) => f.name)];
  const orderId = uid('order-by');
  const directionId = uid('direction');
  const sizeId = uid('page-size');
  const orderBy = h('select', { id: orderId, name: 'order_by' }, options(orderable));
  const direction = h('select', { id: directionId, name: 'direction' }, options([['asc', 'ascending'], ['desc', 'descending']]));
  const pageSize = h('input', { id: sizeId, name: 'page_size', type: 'number', min: '1', max: '100', value: '20' });
  const apply = h('button', { type: 'submit', class: 'primary', id: 'apply-query' }, 'Apply');
  const reset = h('button', { type: 'button', id: 'reset-query' }, 'Reset');

  const queryForm = h(
    'form',
    { class: 'panel query-builder', id: 'query-form', novalidate: true, 'aria-label': 'Filter and order' },
    h('p', { class: 'form-error', tabindex: '-1' }),
    condBox,
    h('div', { class: 'field-error', dataset: { errorFor: 'query' } }),
    h(
      'details',
      { class: 'raw-query' },
      h('summary', {}, 'Raw JSON query'),
      h('div', { class: 'field' }, h('label', { for: rawId }, 'Query (JSON object, combined with the conditions)'), raw, h('div', { class: 'field-error', dataset: { errorFor: 'raw_query' } })),
    ),
    h(
      'div',
      { class: 'order' },
      h('div', { class: 'field' }, h('label', { for: orderId }, 'Order by'), orderBy),
      h('div', { class: 'field' }, h('label', { for: directionId }, 'Direction'), direction),
      h('div', { class: 'field' }, h('label', { for: sizeId }, 'Per page'), pageSize),
      h('div', { class: 'query-actions' }, h('button', { type: 'button', id: 'add-condition', on: { click: addCondition } }, 'Add condition'), reset, apply),
    ),
  );
  if (!fields.some((f) => cls.schema.some((s) => s.name === f.name))) {
    condBox.before(h('p', { class: 'muted' }, 'Only built-in fields can be filtered: give a field a filter index in the schema to query it.'));
  }

  /** The list parameters the form describes (FieldError when something cannot be read). */
  function listParams() {
    const query = {};
    for (const c of conditions) {
      const [name, op, value] = c.condition();
      query[name] = { ...(query[name] || {}), [op]: value };
    }
    const queries = [];
    if (Object.keys(query).length) queries.push(JSON.stringify(query));
    const rawText = raw.value.trim();
    if (rawText) {
      try {
        JSON.parse(rawText);
      } catch (e) {
        throw new FieldError('raw_query', `Not valid JSON: ${e.message}`);
      }
      queries.push(rawText);
    }
    const order = orderBy.value === 'id' && direction.value === 'asc' ? undefined : `${direction.value === 'desc' ? '-' : ''}${orderBy.value}`;
    return { query: queries, order_by: order, page_size: pageSize.value || 20, include_count: 'true' };
  }

  async function load(button) {
    clearFormErrors(queryForm);
    if (button) button.disabled = true;
    try {
      await list.first(listParams());
    } catch (err) {
      showFormErrors(queryForm, err);
    } finally {
      if (button) button.disabled = false;
    }
  }

  queryForm.addEventListener('submit', (event) => {
    event.preventDefault();
    load(apply);
  });
  reset.addEventListener('click', () => {
    conditions.splice(0).forEach((c) => c.row.remove());
    raw.value = '';
    orderBy.value = 'id';
    direction.value = 'asc';
    pageSize.value = '20';
    load(reset);
  });

  replace(
    root,
    pageHead({
      title: `Objects of ${cls.name}`,
      crumbs: [{ label: instance }, { label: 'Classes', href: inInstance(instance, 'classes') }],
      actions: [
        h('a', { class: 'button', href: inInstance(instance, 'classes', cls.name, 'edit') }, 'Edit schema'),
        h('button', { type: 'button', class: 'primary', id: 'new-object', on: { click: create } }, 'New object'),
      ],
    }),
    queryForm,
    list.element,
  );
  await load(null);
}
