// Scripts of an instance: the list, with links to each script's editor.

import { h, replace } from '../dom.js';
import { instancePath } from '../api.js';
import { pageHead, pagedList, table, cellText, when } from '../ui.js';
import { inInstance } from '../router.js';

export const title = () => 'Scripts';

export async function render({ root, params, signal }) {
  const { instance } = params;
  const list = pagedList({
    path: instancePath(instance, 'snippets/scripts/'),
    signal,
    render: (page) =>
      table({
        caption: 'Scripts',
        rows: page.objects,
        empty: 'No scripts yet.',
        columns: [
          { label: 'id', class: 'num', cell: (s) => String(s.id) },
          { label: 'Label', cell: (s) => h('a', { href: inInstance(instance, 'scripts', s.id) }, s.label || `script ${s.id}`) },
          { label: 'Runtime', cell: (s) => s.runtime_name },
          { label: 'Description', cell: (s) => cellText(s.description) },
          { label: 'Updated', cell: (s) => when(s.updated_at) },
        ],
        actions: (s) => [h('a', { class: 'button small', href: inInstance(instance, 'scripts', s.id), 'aria-label': `Open ${s.label || `script ${s.id}`}` }, 'Open')],
      }),
  });
  replace(
    root,
    pageHead({
      title: 'Scripts',
      crumbs: [{ label: instance }],
      actions: [h('a', { class: 'button primary', id: 'new-script', href: inInstance(instance, 'scripts', 'new') }, 'New script')],
    }),
    list.element,
  );
  await list.first({ page_size: 50 });
}
