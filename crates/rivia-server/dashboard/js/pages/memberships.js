// The dialog that lists one side of a user–group membership and adds or removes the other
// side (used by the users page for a user's groups and by the groups page for a group's
// members).

import { h, replace, options } from '../dom.js';
import { api, seg } from '../api.js';
import { busy, table, smallButton } from '../ui.js';

/**
 * `path`: the membership list (`users/<id>/groups/` or `groups/<id>/users/`); `other`:
 * `'group'` or `'user'`, the key of the other side in each item and in the add body;
 * `name(item)`: how to show the other side; `candidates()`: [{id, label}] to add from.
 */
export function membershipDialog({ title, path, other, name, candidates }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { 'aria-labelledby': 'membership-title' });
    const body = h('div', { 'aria-live': 'polite' });
    const error = h('p', { class: 'form-error', tabindex: '-1', role: 'alert' });
    const select = h('select', { id: 'membership-add', 'aria-label': `${other} to add` });
    const add = h('button', { type: 'button', class: 'primary', id: 'membership-add-button' }, `Add ${other}`);
    const close = h('button', { type: 'button', on: { click: () => dialog.close() } }, 'Close');
    dialog.append(
      h(
        'div',
        { class: 'dialog-body' },
        h('h2', { id: 'membership-title' }, title),
        error,
        body,
        h('div', { class: 'form-actions' }, select, add),
        h('div', { class: 'form-actions' }, close),
      ),
    );
    const fail = (err) => {
      error.textContent = err.message;
      error.focus();
    };
    const run = (button, promise) => {
      button.disabled = true;
      error.textContent = '';
      return busy(promise)
        .then(draw)
        .catch(fail)
        .finally(() => {
          button.disabled = false;
        });
    };

    async function draw() {
      const [current, all] = await busy(Promise.all([api.get(path, { page_size: 100 }), candidates()]));
      const ids = new Set(current.objects.map((m) => m[other].id));
      replace(
        body,
        table({
          caption: title,
          rows: current.objects,
          empty: other === 'group' ? 'Not in any group.' : 'No members.',
          columns: [
            { label: 'id', class: 'num', cell: (m) => String(m[other].id) },
            { label: other === 'group' ? 'Group' : 'User', cell: (m) => name(m[other]) },
          ],
          actions: (m) => [
            smallButton('Remove', (b) => run(b, api.del(`${path}${seg(m[other].id)}/`)), { danger: true, title: `Remove ${name(m[other])}` }),
          ],
        }),
      );
      const choices = all.filter((c) => !ids.has(c.id)).map((c) => [c.id, c.label]);
      replace(select, choices.length ? options(choices) : h('option', { value: '' }, `No ${other}s to add`));
      add.disabled = !choices.length;
    }

    add.addEventListener('click', () => run(add, api.post(path, { [other]: Number(select.value) })));
    document.body.append(dialog);
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve();
    });
    dialog.showModal();
    close.focus();
    draw().catch(fail);
  });
}
