// Groups of an instance: create, edit, members, delete.

import { h, replace } from '../dom.js';
import { api, instancePath, seg, listAll } from '../api.js';
import { pageHead, pagedList, table, formDialog, confirmDialog, act, showInfo, smallButton, cellText } from '../ui.js';
import { membershipDialog } from './memberships.js';

export const title = () => 'Groups';

const groupFields = (g = {}) => [
  { name: 'label', label: 'Label', value: g.label || '' },
  { name: 'name', label: 'Name (optional, unique)', value: g.name || '', help: 'Letters, numbers, underscores and hyphens.' },
  { name: 'description', label: 'Description', value: g.description || '' },
];

/** The body for a group: an empty name is no name. */
const groupBody = (v) => ({ ...v, name: v.name.trim() === '' ? null : v.name });

export async function render({ root, params, signal }) {
  const { instance } = params;
  const groupsPath = instancePath(instance, 'groups/');
  const groupPath = (g, rest = '') => `${groupsPath}${seg(g.id)}/${rest}`;

  const list = pagedList({
    path: groupsPath,
    signal,
    render: (page) =>
      table({
        caption: 'Groups',
        rows: page.objects,
        empty: 'No groups yet.',
        columns: [
          { label: 'id', class: 'num', cell: (g) => String(g.id) },
          { label: 'Label', cell: (g) => cellText(g.label) },
          { label: 'Name', cell: (g) => cellText(g.name) },
          { label: 'Description', cell: (g) => cellText(g.description) },
        ],
        actions: (g) => [
          smallButton('Edit', () => edit(g), { title: `Edit group ${g.label || g.id}` }),
          smallButton('Members', () => members(g), { title: `Members of ${g.label || g.id}` }),
          smallButton('Delete', (b) => remove(g, b), { danger: true, title: `Delete group ${g.label || g.id}` }),
        ],
      }),
  });

  async function create() {
    const made = await formDialog({ title: 'New group', submitLabel: 'Create group', fields: groupFields(), submit: (v) => api.post(groupsPath, groupBody(v)) });
    if (made) {
      showInfo(`Group ${made.label || made.id} created.`);
      await act(() => list.reload());
    }
  }

  async function edit(group) {
    const saved = await formDialog({ title: `Edit group ${group.label || group.id}`, fields: groupFields(group), submit: (v) => api.patch(groupPath(group), groupBody(v)) });
    if (saved) {
      showInfo(`Group ${saved.label || saved.id} saved.`);
      await act(() => list.reload());
    }
  }

  async function remove(group, button) {
    const yes = await confirmDialog({ title: `Delete group ${group.label || group.id}?`, message: 'Its memberships go with it; the users stay.', confirm: 'Delete group' });
    if (!yes) return;
    const done = await act(() => api.del(groupPath(group)).then(() => true), button);
    if (done) {
      showInfo('Group deleted.');
      await act(() => list.reload());
    }
  }

  async function members(group) {
    await membershipDialog({
      title: `Members of ${group.label || `group ${group.id}`}`,
      path: groupPath(group, 'users/'),
      other: 'user',
      name: (u) => `${u.username} (#${u.id})`,
      candidates: async () => (await listAll(instancePath(instance, 'users/'))).items.map((u) => ({ id: u.id, label: `${u.username} (#${u.id})` })),
    });
  }

  replace(
    root,
    pageHead({ title: 'Groups', crumbs: [{ label: instance }], actions: [h('button', { type: 'button', class: 'primary', id: 'new-group', on: { click: create } }, 'New group')] }),
    list.element,
  );
  await list.first({ page_size: 50 });
}
