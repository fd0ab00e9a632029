// Shared pieces of every page: the notice line, the progress bar, dialogs (confirm and
// forms that show the server's field errors next to their fields), tables and cursor
// paging over the API's {next, prev, objects} lists.

import { h, replace, uid, options as optionNodes } from './dom.js';
import { ApiError, api, buildUrl } from './api.js';

// ------------------------------------------------------------------ notices and progress

let noticeEl = null;

/** The page's notice line (re-created by every page render). */
export function noticeArea() {
  noticeEl = h('div', { class: 'notice', id: 'notice', role: 'alert', 'aria-live': 'assertive' });
  return noticeEl;
}

function setNotice(kind, text) {
  if (!noticeEl) return;
  noticeEl.className = `notice ${kind}`;
  replace(
    noticeEl,
    h('span', { class: 'notice-text', text }),
    h('button', { type: 'button', class: 'small', 'aria-label': 'Dismiss message', on: { click: clearNotice } }, 'Dismiss'),
  );
}

/** Shows an error in words (an ApiError's message, or any other failure's). */
export function showError(err) {
  if (err?.name === 'AbortError') return;
  const text = err instanceof ApiError ? err.message : `Something went wrong in the dashboard: ${err?.message || err}`;
  setNotice('error', text);
}

/** Shows a confirmation ("Saved.") in the notice line. */
export function showInfo(text) {
  setNotice('info', text);
}

export function clearNotice() {
  if (noticeEl) replace(noticeEl);
}

let pending = 0;

/** Shows the progress bar while `promise` runs; answers its result. */
export async function busy(promise) {
  const bar = document.getElementById('progress');
  pending += 1;
  if (bar) bar.hidden = false;
  try {
    return await promise;
  } finally {
    pending -= 1;
    if (bar && pending === 0) bar.hidden = true;
  }
}

/**
 * Runs a user action: marks `button` busy, shows any failure in the notice line.
 * Answers the action's result, or undefined when it failed.
 */
export async function act(action, button) {
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  }
  try {
    return await busy(action());
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }
}

// ------------------------------------------------------------------ dialogs

/** Opens `dialog` modally; removes it from the page when it closes. */
function openDialog(dialog) {
  document.body.append(dialog);
  dialog.addEventListener('close', () => dialog.remove());
  dialog.showModal();
}

/** Asks a yes/no question; answers true when confirmed. */
export function confirmDialog({ title, message, confirm = 'Delete', danger = true }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { 'aria-labelledby': 'confirm-title', class: 'confirm-dialog' });
    const ok = h('button', { type: 'submit', value: 'yes', class: danger ? 'danger primary' : 'primary' }, confirm);
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', {}, message),
      h(
        'div',
        { class: 'form-actions' },
        h('button', { type: 'submit', value: 'no' }, 'Cancel'),
        ok,
      ),
    );
    dialog.append(form);
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'));
    openDialog(dialog);
    ok.focus();
  });
}

/** Shows a text (a new key, a result) with a close button. */
export function messageDialog({ title, body }) {
  const dialog = h('dialog', { 'aria-labelledby': 'message-title' });
  dialog.append(
    h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'message-title' }, title),
      body,
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Close')),
    ),
  );
  openDialog(dialog);
}

/**
 * Builds the input for a field description:
 * {name, label, type: text|email|password|number|textarea|json|select|checkbox, options,
 *  value, help, required, placeholder, autocomplete, readonly, min, max}.
 * Answers {wrap, input, error} (the error line sits right under the input).
 */
export function fieldInput(spec) {
  const id = uid(spec.name);
  const errorId = `${id}-error`;
  const common = {
    id,
    name: spec.name,
    required: spec.required,
    placeholder: spec.placeholder,
    autocomplete: spec.autocomplete,
    readonly: spec.readonly,
    'aria-describedby': errorId,
  };
  let input;
  const value = spec.value ?? '';
  switch (spec.type) {
    case 'textarea':
    case 'json':
      input = h('textarea', { ...common, rows: spec.rows || 4, class: spec.type === 'json' ? 'json' : null, spellcheck: spec.type === 'json' ? 'false' : null });
      input.value = spec.type === 'json' && typeof value !== 'string' ? JSON.stringify(value, null, 2) : value;
      break;
    case 'select':
      input = h('select', common, optionNodes(spec.options || [], value));
      break;
    case 'checkbox':
      input = h('input', { ...common, type: 'checkbox', checked: Boolean(spec.value) });
      break;
    default:
      input = h('input', { ...common, type: spec.type || 'text', value, min: spec.min, max: spec.max, step: spec.step });
  }
  const error = h('div', { class: 'field-error', id: errorId, dataset: { errorFor: spec.name } });
  const help = spec.help ? h('span', { class: 'help' }, spec.help) : null;
  const wrap =
    spec.type === 'checkbox'
      ? h('div', { class: 'field', dataset: { field: spec.name } }, h('label', { class: 'check', for: id }, input, spec.label), help, error)
      : h('div', { class: 'field', dataset: { field: spec.name } }, h('label', { for: id }, spec.label), help, input, error);
  return { wrap, input, error };
}

/** Reads a field's value: checkboxes as booleans, json as parsed JSON (throws a FieldError). */
export function readField(spec, input) {
  if (spec.type === 'checkbox') return input.checked;
  if (spec.type === 'json') {
    const text = input.value.trim();
    if (!text) return spec.emptyJson !== undefined ? spec.emptyJson : {};
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new FieldError(spec.name, `Not valid JSON: ${e.message}`);
    }
  }
  if (spec.type === 'number') return input.value === '' ? null : Number(input.value);
  return input.value;
}

/** A problem found in the browser before anything is sent, tied to one field. */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/**
 * Shows an error inside a form: field messages under their fields (marking the inputs
 * invalid), the rest in the form's error line. Fields the form does not have go to the
 * error line too, so nothing the server says is lost.
 */
export function showFormErrors(form, err) {
  clearFormErrors(form);
  const general = form.querySelector('.form-error');
  const extra = [];
  const place = (name, message) => {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (slot) {
      slot.textContent = message;
      const field = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (field) field.setAttribute('aria-invalid', 'true');
      return true;
    }
    return false;
  };
  if (err instanceof FieldError) {
    if (!place(err.field, err.message)) extra.push(err.message);
  } else if (err instanceof ApiError) {
    for (const [name, message] of Object.entries(err.fields)) {
      if (!place(name, message)) extra.push(`${name.replace(/_/g, ' ')}: ${message}`);
    }
    if (err.general) extra.unshift(err.general);
  } else if (err?.name !== 'AbortError') {
    extra.push(String(err?.message || err));
  }
  if (general) general.textContent = extra.filter(Boolean).join(' ');
  const first = form.querySelector('[aria-invalid="true"]');
  (first || general)?.focus?.();
}

export function clearFormErrors(form) {
  form.querySelectorAll('.field-error, .form-error').forEach((el) => {
    el.textContent = '';
  });
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
}

/**
 * A form in a modal dialog. `fields`: field descriptions (see fieldInput); `submit(values)`
 * sends them and may throw (ApiError / FieldError): the errors show in the dialog, which
 * stays open. Answers submit's result, or null when cancelled.
 */
export function formDialog({ title, fields, submit, submitLabel = 'Save', wide = false, intro = null }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { 'aria-labelledby': 'form-title', class: wide ? 'wide' : null });
    const built = fields.map((spec) => ({ spec, ...fieldInput(spec) }));
    const save = h('button', { type: 'submit', class: 'primary' }, submitLabel);
    const cancel = h('button', { type: 'button', on: { click: () => dialog.close() } }, 'Cancel');
    const formError = h('p', { class: 'form-error', tabindex: '-1' });
    let result = null;
    const form = h(
      'form',
      { novalidate: true },
      h('h2', { id: 'form-title' }, title),
      intro,
      formError,
      built.map((b) => b.wrap),
      h('div', { class: 'form-actions' }, cancel, save),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearFormErrors(form);
      save.disabled = true;
      save.setAttribute('aria-busy', 'true');
      try {
        const values = {};
        for (const b of built) values[b.spec.name] = readField(b.spec, b.input);
        result = await busy(submit(values));
        dialog.close();
      } catch (err) {
        showFormErrors(form, err);
      } finally {
        save.disabled = false;
        save.removeAttribute('aria-busy');
      }
    });
    dialog.append(form);
    dialog.addEventListener('close', () => resolve(result));
    openDialog(dialog);
    (built[0]?.input || save).focus();
  });
}

// ------------------------------------------------------------------ tables and paging

/**
 * A table. `columns`: [{label, cell: (row) => node|string, class}]; `actions(row)` answers
 * buttons for the row's last cell.
 */
export function table({ columns, rows, empty = 'Nothing here yet.', actions = null, caption = null }) {
  const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)), actions ? h('th', { scope: 'col', class: 'actions' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null);
  const body = rows.length
    ? rows.map((row) =>
        h(
          'tr',
          {},
          columns.map((c) => h('td', { class: c.class }, c.cell(row))),
          actions ? h('td', { class: 'actions' }, actions(row)) : null,
        ),
      )
    : [h('tr', {}, h('td', { class: 'empty', colspan: String(columns.length + (actions ? 1 : 0)) }, empty))];
  return h('div', { class: 'table-wrap' }, h('table', {}, caption ? h('caption', { class: 'visually-hidden' }, caption) : null, h('thead', {}, head), h('tbody', {}, body)));
}

/**
 * A paged list: fetches `path` with `params`, draws `render(page)` (a node) and Previous/
 * Next buttons that follow the server's cursor links. The links carry only paging
 * parameters (as on Syncano), so `params` other than paging are sent again with each
 * page. Answers {element, reload(), load(url)}.
 */
export function pagedList({ path, params = {}, render, signal, countLabel = null }) {
  const body = h('div', { class: 'list-body', 'aria-live': 'polite', 'aria-busy': 'false' });
  const prev = h('button', { type: 'button', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', disabled: true }, 'Next →');
  const count = h('span', { class: 'count' });
  const element = h('div', { class: 'paged' }, body, h('div', { class: 'pager' }, count, h('div', { class: 'toolbar' }, prev, next)));
  let links = { next: null, prev: null };
  let current = null;
  let extra = params;

  const PAGING = ['page_size', 'direction', 'last_pk', 'last_value', 'order_by', 'ordering'];
  const withExtra = (link) => {
    const url = buildUrl(link);
    for (const [k, v] of Object.entries(extra)) {
      if (PAGING.includes(k) && url.searchParams.has(k)) continue;
      if (v === undefined || v === null || v === '') continue;
      for (const each of Array.isArray(v) ? v : [v]) url.searchParams.append(k, each);
    }
    return url.pathname + url.search;
  };

  async function load(url) {
    body.setAttribute('aria-busy', 'true');
    try {
      const page = await busy(api.get(url, undefined, signal));
      current = url;
      links = { next: page.next, prev: page.prev };
      next.disabled = !page.next;
      prev.disabled = !page.prev;
      count.textContent = countLabel && page.objects_count !== undefined ? countLabel(page.objects_count) : '';
      replace(body, render(page));
      return page;
    } finally {
      body.setAttribute('aria-busy', 'false');
    }
  }

  next.addEventListener('click', () => act(() => load(withExtra(links.next)), next));
  prev.addEventListener('click', () => act(() => load(withExtra(links.prev)), prev));

  return {
    element,
    /** Loads the first page with new parameters. */
    first(newParams = extra) {
      extra = newParams;
      const url = buildUrl(path, extra);
      return load(url.pathname + url.search);
    },
    /** Loads the page shown now again (after an edit). */
    reload() {
      if (!current) return this.first();
      return load(current);
    },
  };
}

/** A row of buttons. */
export function buttons(...items) {
  return items.filter(Boolean);
}

/** A small button. */
export function smallButton(label, onClick, { danger = false, title = null, primary = false } = {}) {
  const b = h('button', { type: 'button', class: `small${danger ? ' danger' : ''}${primary ? ' primary' : ''}`, title, 'aria-label': title });
  b.textContent = label;
  b.addEventListener('click', () => onClick(b));
  return b;
}

/** The head of a page: breadcrumbs, the title (focused after navigation) and actions. */
export function pageHead({ title, crumbs = [], actions = [] }) {
  return h(
    'div',
    { class: 'page-head' },
    h(
      'div',
      {},
      crumbs.length ? h('div', { class: 'crumbs' }, crumbs.map((c, i) => [i ? ' / ' : '', c.href ? h('a', { href: c.href }, c.label) : c.label])) : null,
      h('h1', { tabindex: '-1', id: 'page-title' }, title),
    ),
    h('div', { class: 'toolbar' }, actions),
  );
}

/** A value for a table cell: text cut to one line (full text on hover), null shown as such. */
export function cellText(value) {
  if (value === null || value === undefined) return h('span', { class: 'null' }, 'null');
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return h('span', { class: 'cell', title: text.length > 40 ? text : null }, text);
}

/** `2026-01-02T03:04:05.123456Z` as local date and time. */
export function when(iso) {
  if (!iso) return h('span', { class: 'null' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return h('time', { datetime: iso, title: iso }, d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' }));
}

/** A yes/no badge. */
export function flag(on, label) {
  return h('span', { class: `badge${on ? ' on' : ''}` }, `${label}${on ? '' : ': off'}`);
}
