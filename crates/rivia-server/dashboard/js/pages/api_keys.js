// API keys of an instance: create with flags, edit, reset, delete (owner and full admins).

import { h, replace } from '../dom.js';
import { api, instancePath, seg } from '../api.js';
import { pageHead, pagedList, table, formDialog, confirmDialog, messageDialog, act, showInfo, smallButton, cellText, flag } from '../ui.js';

export const title = () => 'API keys';

const FLAGS = [
  ['ignore_acl', 'Ignore ACL', 'Full access to every object, user and channel, whatever their permissions.'],
  ['allow_user_create', 'Allow user create', 'Apps may register users with this key.'],
  ['allow_group_create', 'Allow group create', 'Apps may create groups with this key.'],
  ['allow_anonymous_read', 'Allow anonymous read', 'Without a user key: read objects and channels open to others.'],
];

const keyFields = (k = {}) => [
  { name: 'description', label: 'Description', value: k.description || '' },
  ...FLAGS.map(([name, label, help]) => ({ name, label, help, type: 'checkbox', value: Boolean(k[name]) })),
];

export async function render({ root, params, signal }) {
  const { instance } = params;
  const keysPath = instancePath(instance, 'api_keys/');
  const keyPath = (k, rest = '') => `${keysPath}${seg(k.id)}/${rest}`;

  const list = pagedList({
    path: keysPath,
    signal,
    render: (page) =>
      table({
        caption: 'API keys',
        rows: page.objects,
        empty: 'No API keys yet. Apps need one to reach this instance.',
        columns: [
          { label: 'id', class: 'num', cell: (k) => String(k.id) },
          { label: 'Description', cell: (k) => cellText(k.description) },
          { label: 'Key', cell: (k) => h('code', { class: 'key' }, k.api_key) },
          { label: 'Flags', cell: (k) => FLAGS.filter(([name]) => k[name]).map(([name, label]) => [flag(true, label), ' ']) },
        ],
        actions: (k) => [
          smallButton('Edit', () => edit(k), { title: `Edit key ${k.id}` }),
          smallButton('Reset', (b) => reset(k, b), { title: `Reset key ${k.id}` }),
          smallButton('Delete', (b) => remove(k, b), { danger: true, title: `Delete key ${k.id}` }),
        ],
      }),
  });

  async function create() {
    const made = await formDialog({ title: 'New API key', submitLabel: 'Create key', fields: keyFields(), submit: (v) => api.post(keysPath, v) });
    if (made) {
      messageDialog({ title: 'API key created', body: h('p', {}, 'The new key: ', h('code', { class: 'key' }, made.api_key)) });
      await act(() => list.reload());
    }
  }

  async function edit(key) {
    const saved = await formDialog({ title: `Edit API key ${key.id}`, fields: keyFields(key), submit: (v) => api.patch(keyPath(key), v) });
    if (saved) {
      showInfo(`API key ${saved.id} saved.`);
      await act(() => list.reload());
    }
  }

  async function reset(key, button) {
    const yes = await confirmDialog({ title: `Reset API key ${key.id}?`, message: 'Apps using the current key stop working until they get the new one.', confirm: 'Reset key' });
    if (!yes) return;
    const saved = await act(() => api.post(keyPath(key, 'reset_key/')), button);
    if (saved) {
      messageDialog({ title: `New value of API key ${saved.id}`, body: h('p', {}, h('code', { class: 'key' }, saved.api_key)) });
      await act(() => list.reload());
    }
  }

  async function remove(key, button) {
    const yes = await confirmDialog({ title: `Delete API key ${key.id}?`, message: 'Apps using it stop working at once.', confirm: 'Delete key' });
    if (!yes) return;
    const done = await act(() => api.del(keyPath(key)).then(() => true), button);
    if (done) {
      showInfo('API key deleted.');
      await act(() => list.reload());
    }
  }

  replace(
    root,
    pageHead({ title: 'API keys', crumbs: [{ label: instance }], actions: [h('button', { type: 'button', class: 'primary', id: 'new-api-key', on: { click: create } }, 'New API key')] }),
    list.element,
  );
  await list.first({ page_size: 50 });
}
