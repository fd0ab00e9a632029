// One script: edit its source (highlighted for its runtime's language), label, runtime
// and config; run it with a payload and watch the trace; read earlier traces.

import { h, replace, options, uid } from '../dom.js';
import { api, instancePath, seg } from '../api.js';
import { pageHead, pagedList, table, confirmDialog, messageDialog, act, busy, showInfo, smallButton, when, fieldInput, clearFormErrors, showFormErrors, FieldError } from '../ui.js';
import { inInstance } from '../router.js';
import { codeEditor, languageOf } from '../editor.js';

export const title = (p) => (p.script === 'new' ? 'New script' : `Script ${p.script}`);

/** Trace states after which nothing changes any more. */
const FINAL = new Set(['success', 'failure', 'timeout', 'blocked', 'queue_timeout']);

function statusBadge(status) {
  const kind = status === 'success' ? ' good' : FINAL.has(status) ? ' bad' : '';
  return h('span', { class: `badge trace-status${kind}` }, status);
}

/** A trace's result: stdout and stderr as text, anything else as JSON. */
function traceResult(trace) {
  const result = trace.result || {};
  const { stdout, stderr, ...rest } = result;
  return [
    h('p', {}, statusBadge(trace.status), ' ', trace.duration !== null && trace.duration !== undefined ? `${trace.duration} ms` : '', ' ', trace.executed_at ? when(trace.executed_at) : ''),
    stdout !== undefined ? [h('h3', {}, 'Output'), h('pre', { class: 'trace-output', id: 'trace-stdout' }, stdout || '(empty)')] : null,
    stderr ? [h('h3', {}, 'Errors'), h('pre', { class: 'trace-output', id: 'trace-stderr' }, stderr)] : null,
    Object.keys(rest).length ? [h('h3', {}, 'Result'), h('pre', { class: 'trace-output' }, JSON.stringify(rest, null, 2))] : null,
  ];
}

function parseJsonField(name, text) {
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FieldError(name, `Not valid JSON: ${e.message}`);
  }
}

export async function render({ root, params, signal }) {
  const { instance } = params;
  const scriptsPath = instancePath(instance, 'snippets/scripts/');
  const isNew = params.script === 'new';
  const [script, runtimes] = await Promise.all([
    isNew ? null : api.get(`${scriptsPath}${seg(params.script)}/`, undefined, signal),
    api.get(`${scriptsPath}runtimes/`, undefined, signal),
  ]);
  const scriptPath = script ? `${scriptsPath}${seg(script.id)}/` : null;

  // ------------------------------------------------------------------ the script form

  const runtimeNames = Object.keys(runtimes);
  const runtimeChoices = runtimeNames.map((name) => [name, `${name} (${runtimes[name].name} ${runtimes[name].version}${runtimes[name].deprecated ? ', deprecated' : ''})`]);
  const initialRuntime = script?.runtime_name || (runtimeNames.includes('python3') ? 'python3' : runtimeNames[0]);
  const label = fieldInput({ name: 'label', label: 'Label', value: script?.label || '' });
  const description = fieldInput({ name: 'description', label: 'Description', value: script?.description || '' });
  const runtimeId = uid('runtime');
  const runtime = h('select', { id: runtimeId, name: 'runtime_name' }, options(runtimeChoices, initialRuntime));
  const source = codeEditor({ value: script?.source ?? 'print("hello")\n', language: languageOf(initialRuntime), label: 'Source' });
  runtime.addEventListener('change', () => source.setLanguage(languageOf(runtime.value)));
  const config = codeEditor({ value: JSON.stringify(script?.config || {}, null, 2), language: 'json', label: 'Config (JSON object)', name: 'config' });
  config.element.classList.add('short');

  const save = h('button', { type: 'submit', class: 'primary', id: 'save-script' }, isNew ? 'Create script' : 'Save script');
  const remove = isNew ? null : h('button', { type: 'button', class: 'danger', id: 'delete-script' }, 'Delete');
  const form = h(
    'form',
    { novalidate: true, id: 'script-form' },
    h('p', { class: 'form-error', tabindex: '-1' }),
    h(
      'div',
      { class: 'form-grid' },
      label.wrap,
      description.wrap,
      h('div', { class: 'field', dataset: { field: 'runtime_name' } }, h('label', { for: runtimeId }, 'Runtime'), runtime, h('div', { class: 'field-error', dataset: { errorFor: 'runtime_name' } })),
    ),
    h('div', { class: 'field', dataset: { field: 'source' } }, h('label', { for: source.textarea.id }, 'Source'), h('span', { class: 'help' }, 'Tab indents; press Escape, then Tab, to leave the editor. ARGS, CONFIG and META are set as on Syncano.'), source.element, h('div', { class: 'field-error', dataset: { errorFor: 'source' } })),
    h('div', { class: 'field', dataset: { field: 'config' } }, h('label', { for: config.textarea.id }, 'Config (JSON object)'), config.element, h('div', { class: 'field-error', dataset: { errorFor: 'config' } })),
    h('div', { class: 'form-actions' }, remove, save),
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    save.disabled = true;
    try {
      const body = {
        label: label.input.value,
        description: description.input.value,
        runtime_name: runtime.value,
        source: source.value,
        config: parseJsonField('config', config.value),
      };
      const saved = await busy(script ? api.patch(scriptPath, body) : api.post(scriptsPath, body));
      if (!script) {
        window.location.hash = inInstance(instance, 'scripts', saved.id);
        return;
      }
      Object.assign(script, saved);
      showInfo('Script saved.');
    } catch (err) {
      showFormErrors(form, err);
    } finally {
      save.disabled = false;
    }
  });

  remove?.addEventListener('click', async () => {
    const yes = await confirmDialog({ title: `Delete script ${script.label || script.id}?`, message: 'Its traces go with it.', confirm: 'Delete script' });
    if (!yes) return;
    const done = await act(() => api.del(scriptPath).then(() => true), remove);
    if (done) window.location.hash = inInstance(instance, 'scripts');
  });

  // ------------------------------------------------------------------ run and traces

  let runPanel = null;
  let traces = null;
  if (script) {
    const payload = codeEditor({ value: '{}', language: 'json', label: 'Payload (JSON object)', name: 'payload' });
    payload.element.classList.add('short');
    const run = h('button', { type: 'submit', class: 'primary', id: 'run-script' }, 'Run');
    const output = h('div', { id: 'run-output', 'aria-live': 'polite' });
    const runForm = h(
      'form',
      { class: 'panel', novalidate: true, id: 'run-form' },
      h('h2', {}, 'Run'),
      h('p', { class: 'form-error', tabindex: '-1' }),
      h('div', { class: 'field', dataset: { field: 'payload' } }, h('label', { for: payload.textarea.id }, 'Payload (ARGS)'), payload.element, h('div', { class: 'field-error', dataset: { errorFor: 'payload' } })),
      h('div', { class: 'form-actions' }, run),
      output,
    );
    runForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearFormErrors(runForm);
      run.disabled = true;
      try {
        const body = { payload: parseJsonField('payload', payload.value) };
        let trace = await busy(api.post(`${scriptPath}run/`, body));
        replace(output, traceResult(trace));
        // The run happens in the background: follow its trace until it ends.
        let wait = 250;
        while (!FINAL.has(trace.status) && !signal.aborted) {
          await new Promise((resolve) => setTimeout(resolve, wait));
          wait = Math.min(wait * 2, 2000);
          trace = await api.get(`${scriptPath}traces/${seg(trace.id)}/`, undefined, signal);
          replace(output, traceResult(trace));
        }
        await act(() => traces.reload());
      } catch (err) {
        showFormErrors(runForm, err);
      } finally {
        run.disabled = false;
      }
    });
    runPanel = runForm;

    traces = pagedList({
      path: `${scriptPath}traces/`,
      signal,
      render: (page) =>
        table({
          caption: 'Traces',
          rows: page.objects,
          empty: 'No runs yet (traces are kept for 24 hours, the last 100 per script).',
          columns: [
            { label: 'id', class: 'num', cell: (t) => String(t.id) },
            { label: 'Status', cell: (t) => statusBadge(t.status) },
            { label: 'Ran', cell: (t) => when(t.executed_at) },
            { label: 'Duration', cell: (t) => (t.duration === null || t.duration === undefined ? '—' : `${t.duration} ms`) },
          ],
          actions: (t) => [smallButton('Show', () => messageDialog({ title: `Trace ${t.id}`, body: h('div', {}, traceResult(t)) }), { title: `Show trace ${t.id}` })],
        }),
    });
  }

  replace(
    root,
    pageHead({
      title: script ? script.label || `Script ${script.id}` : 'New script',
      crumbs: [{ label: instance }, { label: 'Scripts', href: inInstance(instance, 'scripts') }],
    }),
    form,
    runPanel,
    traces ? [h('h2', {}, 'Traces'), traces.element] : null,
  );
  if (traces) await traces.first({ page_size: 10 });
}
