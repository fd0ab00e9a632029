// App users of an instance: create, edit (username, password), group memberships, reset
// the user key, delete.

import { h, replace } from '../dom.js';
import { api, instancePath, seg, listAll } from '../api.js';
import { pageHead, pagedList, table, formDialog, confirmDialog, messageDialog, act, showInfo, smallButton, cellText } from '../ui.js';
import { membershipDialog } from './memberships.js';

export const title = () => 'Users';

export async function render({ root, params, signal }) {
  const { instance } = params;
  const usersPath = instancePath(instance, 'users/');
  const userPath = (u, rest = '') => `${usersPath}${seg(u.id)}/${rest}`;

  const list = pagedList({
    path: usersPath,
    signal,
    render: (page) =>
      table({
        caption: 'Users',
        rows: page.objects,
        empty: 'No users yet.',
        columns: [
          { label: 'id', class: 'num', cell: (u) => String(u.id) },
          { label: 'Username', cell: (u) => cellText(u.username) },
          { label: 'Groups', cell: (u) => cellText(u.groups.map((g) => g.label || g.name || `#${g.id}`).join(', ') || '—') },
          { label: 'User key', cell: (u) => h('span', { class: 'key', title: 'The user key signs in as this user (with an API key).' }, `${u.user_key.slice(0, 8)}…`) },
        ],
        actions: (u) => [
          smallButton('Edit', () => edit(u), { title: `Edit ${u.username}` }),
          smallButton('Groups', () => memberships(u), { title: `Groups of ${u.username}` }),
          smallButton('Reset key', (b) => resetKey(u, b), { title: `Reset the key of ${u.username}` }),
          smallButton('Delete', (b) => remove(u, b), { danger: true, title: `Delete ${u.username}` }),
        ],
      }),
  });

  async function create() {
    const made = await formDialog({
      title: 'New user',
      submitLabel: 'Create user',
      fields: [
        { name: 'username', label: 'Username', required: true, autocomplete: 'off' },
        { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password' },
      ],
      submit: (v) => api.post(usersPath, v),
    });
    if (made) {
      showInfo(`User ${made.username} created.`);
      await act(() => list.reload());
    }
  }

  async function edit(user) {
    const saved = await formDialog({
      title: `Edit ${user.username}`,
      fields: [
        { name: 'username', label: 'Username', value: user.username, autocomplete: 'off' },
        { name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', help: 'Leave empty to keep the password.' },
      ],
      submit: (v) => {
        const body = { username: v.username };
        if (v.password) body.password = v.password;
        return api.patch(userPath(user), body);
      },
    });
    if (saved) {
      showInfo(`User ${saved.username} saved.`);
      await act(() => list.reload());
    }
  }

  async function resetKey(user, button) {
    const yes = await confirmDialog({
      title: `Reset the key of ${user.username}?`,
      message: 'Apps signed in as this user stop working until the user signs in again.',
      confirm: 'Reset key',
    });
    if (!yes) return;
    const saved = await act(() => api.post(userPath(user, 'reset_key/')), button);
    if (saved) {
      messageDialog({ title: `New key of ${saved.username}`, body: h('p', {}, h('code', { class: 'key' }, saved.user_key)) });
      await act(() => list.reload());
    }
  }

  async function remove(user, button) {
    const yes = await confirmDialog({ title: `Delete user ${user.username}?`, message: 'The user and their profile are deleted. This cannot be undone.', confirm: 'Delete user' });
    if (!yes) return;
    const done = await act(() => api.del(userPath(user)).then(() => true), button);
    if (done) {
      showInfo(`User ${user.username} deleted.`);
      await act(() => list.reload());
    }
  }

  /** The groups of one user: remove, or add from the instance's groups. */
  async function memberships(user) {
    await membershipDialog({
      title: `Groups of ${user.username}`,
      path: userPath(user, 'groups/'),
      other: 'group',
      name: (g) => `${g.label || g.name || 'group'} (#${g.id})`,
      candidates: async () => (await listAll(instancePath(instance, 'groups/'))).items.map((g) => ({ id: g.id, label: `${g.label || g.name || 'group'} (#${g.id})` })),
    });
    await act(() => list.reload());
  }

  replace(
    root,
    pageHead({
      title: 'Users',
      crumbs: [{ label: instance }],
      actions: [h('button', { type: 'button', class: 'primary', id: 'new-user', on: { click: create } }, 'New user')],
    }),
    list.element,
  );
  await list.first({ page_size: 50 });
}
