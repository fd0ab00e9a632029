// Building DOM nodes without HTML strings: API data only ever becomes text nodes and
// attribute values, never markup.

/**
 * Creates an element. `props`: `class`, `text`, `on` ({event: handler}), `dataset`,
 * `hidden`/`disabled`/`checked`/`value`/`selected` (set as properties), anything else as an
 * attribute (`false`/`null`/`undefined` leave it out). Children may be nodes, strings,
 * numbers, arrays of those, or `null`/`false` (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    switch (name) {
      case 'class':
        el.className = value;
        break;
      case 'text':
        el.textContent = String(value);
        break;
      case 'on':
        for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
        break;
      case 'dataset':
        Object.assign(el.dataset, value);
        break;
      case 'hidden':
      case 'disabled':
      case 'checked':
      case 'selected':
      case 'multiple':
      case 'required':
      case 'value':
        el[name] = value;
        break;
      default:
        el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (see `h`) to `el`. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces everything inside `el` with `children` in one step (no empty frame between). */
export function replace(el, ...children) {
  const fragment = document.createDocumentFragment();
  append(fragment, children);
  el.replaceChildren(fragment);
  return el;
}

/** A unique id for label/input pairs. */
let counter = 0;
export function uid(prefix = 'f') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** `<option>`s from `[value, label]` pairs or plain values. */
export function options(items, selected) {
  return items.map((item) => {
    const [value, label] = Array.isArray(item) ? item : [item, item];
    return h('option', { value, selected: String(value) === String(selected) }, label);
  });
}
