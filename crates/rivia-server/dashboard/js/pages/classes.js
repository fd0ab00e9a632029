// Classes of an instance: their schema at a glance, links to their objects and the schema
// editor, and deletion after confirmation.

import { h, replace } from '../dom.js';
import { api, instancePath, seg } from '../api.js';
import { pageHead, pagedList, table, confirmDialog, act, showInfo, smallButton, cellText } from '../ui.js';
import { inInstance } from '../router.js';

export const title = () => 'Classes';

function schemaSummary(schema) {
  if (!schema.length) return h('span', { class: 'null' }, 'no fields');
  const text = schema.map((f) => `${f.name}: ${f.type}`).join(', ');
  return cellText(text);
}

export async function render({ root, params, signal }) {
  const { instance } = params;
  const list = pagedList({
    path: instancePath(instance, 'classes/'),
    signal,
    render: (page) =>
      table({
        caption: 'Classes',
        rows: page.objects,
        empty: 'No classes yet.',
        columns: [
          { label: 'Name', cell: (c) => h('a', { href: inInstance(instance, 'classes', c.name, 'objects') }, c.name) },
          { label: 'Fields', cell: (c) => schemaSummary(c.schema) },
          { label: 'Objects', class: 'num', cell: (c) => String(c.objects_count) },
          { label: 'Status', cell: (c) => h('span', { class: `badge${c.status === 'ready' ? ' good' : ''}` }, c.status) },
        ],
        actions: (c) => [
          h('a', { class: 'button small', href: inInstance(instance, 'classes', c.name, 'objects'), 'aria-label': `Objects of ${c.name}` }, 'Objects'),
          ' ',
          h('a', { class: 'button small', href: inInstance(instance, 'classes', c.name, 'edit'), 'aria-label': `Edit the schema of ${c.name}` }, 'Edit schema'),
          ' ',
          c.name === 'user_profile' ? null : smallButton('Delete', (b) => remove(c, b), { danger: true, title: `Delete class ${c.name}` }),
        ],
      }),
  });

  async function remove(cls, button) {
    const yes = await confirmDialog({
      title: `Delete class ${cls.name}?`,
      message: `Its ${cls.objects_count} object(s) are deleted with it. This cannot be undone.`,
      confirm: 'Delete class',
    });
    if (!yes) return;
    const done = await act(() => api.del(instancePath(instance, `classes/${seg(cls.name)}/`)).then(() => true), button);
    if (done) {
      showInfo(`Class ${cls.name} deleted.`);
      await act(() => list.reload());
    }
  }

  replace(
    root,
    pageHead({
      title: 'Classes',
      crumbs: [{ label: instance }],
      actions: [h('a', { class: 'button primary', id: 'new-class', href: inInstance(instance, 'classes', 'new') }, 'New class')],
    }),
    list.element,
  );
  await list.first({ page_size: 50 });
}
