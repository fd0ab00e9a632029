// A source editor with syntax highlighting: a plain <textarea> (so typing, selection,
// undo, copy and screen readers work as in any text field) over a highlighted copy of its
// text. Highlighting is highlight.js (vendored under vendor/highlight/, BSD-3-Clause),
// loaded only when an editor is shown. Tab indents; Escape then Tab leaves the editor.

import { h, uid } from './dom.js';

/** highlight.js language per script runtime (see GET snippets/scripts/runtimes/). */
export function languageOf(runtime = '') {
  if (runtime.startsWith('python')) return 'python';
  if (runtime.startsWith('nodejs')) return 'javascript';
  if (runtime === 'golang') return 'go';
  if (['ruby', 'php', 'swift'].includes(runtime)) return runtime;
  return null;
}

/** Sources longer than this are edited without highlighting (it would lag typing). */
const HIGHLIGHT_LIMIT = 200 * 1024;

let core = null;
const loaded = new Map();

/** highlight.js with `language` registered, or null when it cannot be loaded. */
async function highlighter(language) {
  if (!language) return null;
  try {
    core ??= (await import('../vendor/highlight/core.min.js')).default;
    if (!loaded.has(language)) {
      const grammar = (await import(`../vendor/highlight/languages/${language}.min.js`)).default;
      core.registerLanguage(language, grammar);
      loaded.set(language, true);
    }
    return core;
  } catch {
    return null;
  }
}

/**
 * Builds an editor. Answers {element, textarea, value, setLanguage(language)}; `label` names
 * the text area for assistive technology.
 */
export function codeEditor({ value = '', language = null, label = 'Source', name = 'source' }) {
  const id = uid('editor');
  const code = h('code', {});
  const pre = h('pre', { 'aria-hidden': 'true' }, code);
  const textarea = h('textarea', { id, name, spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', 'aria-label': label, wrap: 'off' });
  textarea.value = value;
  const element = h('div', { class: 'editor plain' }, pre, textarea);
  let hl = null;
  let lang = null;
  let escaped = false;

  const paint = () => {
    const text = textarea.value;
    if (!hl || !lang || text.length > HIGHLIGHT_LIMIT) {
      element.classList.add('plain');
      return;
    }
    // highlight.js escapes the text it is given: its output is safe to insert as markup.
    code.innerHTML = `${hl.highlight(text, { language: lang, ignoreIllegals: true }).value}\n`;
    element.classList.remove('plain');
    pre.scrollTop = textarea.scrollTop;
    pre.scrollLeft = textarea.scrollLeft;
  };

  textarea.addEventListener('input', paint);
  textarea.addEventListener('scroll', () => {
    pre.scrollTop = textarea.scrollTop;
    pre.scrollLeft = textarea.scrollLeft;
  });
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      escaped = true;
      return;
    }
    if (event.key === 'Tab' && !escaped && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey) {
      event.preventDefault();
      const indent = lang === 'python' || lang === 'php' ? '    ' : '  ';
      // insertText keeps the browser's undo history; setRangeText where it is missing.
      if (!document.execCommand('insertText', false, indent)) {
        textarea.setRangeText(indent, textarea.selectionStart, textarea.selectionEnd, 'end');
        paint();
      }
      return;
    }
    escaped = false;
  });

  const editor = {
    element,
    textarea,
    get value() {
      return textarea.value;
    },
    set value(text) {
      textarea.value = text;
      paint();
    },
    async setLanguage(language) {
      lang = language;
      hl = await highlighter(language);
      paint();
    },
  };
  editor.setLanguage(language);
  return editor;
}
