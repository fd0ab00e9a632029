// Channels of an instance: create, edit, delete, and a link to each one's live view.

import { h, replace } from '../dom.js';
import { api, instancePath, seg } from '../api.js';
import { pageHead, pagedList, table, formDialog, confirmDialog, act, showInfo, smallButton, cellText } from '../ui.js';
import { inInstance } from '../router.js';
import { CHANNEL_PERMISSIONS } from '../schema.js';

export const title = () => 'Channels';

/** The built-in channels cannot be deleted (`eventlog` cannot be published to either). */
const BUILTIN = new Set(['default', 'eventlog']);

const channelFields = (c = null) => [
  ...(c
    ? []
    : [
        { name: 'name', label: 'Name', required: true, help: 'Letters, numbers, underscores and hyphens.' },
        { name: 'type', label: 'Type', type: 'select', options: [['default', 'default: one stream'], ['separate_rooms', 'separate rooms: a stream per room']], value: 'default' },
      ]),
  { name: 'description', label: 'Description', value: c?.description || '' },
  { name: 'other_permissions', label: 'Other users may', type: 'select', options: CHANNEL_PERMISSIONS, value: c?.other_permissions || 'none' },
  { name: 'group_permissions', label: 'Group members may', type: 'select', options: CHANNEL_PERMISSIONS, value: c?.group_permissions || 'none' },
  { name: 'group', label: 'Group id', type: 'number', value: c?.group ?? '', min: 1 },
  { name: 'custom_publish', label: 'Allow custom messages (publish)', type: 'checkbox', value: c ? c.custom_publish : true },
];

const channelBody = (v) => ({ ...v, group: v.group === null || Number.isNaN(v.group) ? null : v.group });

export async function render({ root, params, signal }) {
  const { instance } = params;
  const channelsPath = instancePath(instance, 'channels/');
  const channelPath = (c) => `${channelsPath}${seg(c.name)}/`;

  const list = pagedList({
    path: channelsPath,
    signal,
    render: (page) =>
      table({
        caption: 'Channels',
        rows: page.objects,
        empty: 'No channels.',
        columns: [
          { label: 'Name', cell: (c) => h('a', { href: inInstance(instance, 'channels', c.name) }, c.name) },
          { label: 'Type', cell: (c) => c.type },
          { label: 'Others', cell: (c) => c.other_permissions },
          { label: 'Custom publish', cell: (c) => (c.custom_publish ? 'yes' : 'no') },
          { label: 'Description', cell: (c) => cellText(c.description) },
        ],
        actions: (c) => [
          h('a', { class: 'button small', href: inInstance(instance, 'channels', c.name), 'aria-label': `Live view of ${c.name}` }, 'Live view'),
          ' ',
          smallButton('Edit', () => edit(c), { title: `Edit channel ${c.name}` }),
          BUILTIN.has(c.name) ? null : smallButton('Delete', (b) => remove(c, b), { danger: true, title: `Delete channel ${c.name}` }),
        ],
      }),
  });

  async function create() {
    const made = await formDialog({ title: 'New channel', submitLabel: 'Create channel', fields: channelFields(), submit: (v) => api.post(channelsPath, channelBody(v)) });
    if (made) {
      showInfo(`Channel ${made.name} created.`);
      await act(() => list.reload());
    }
  }

  async function edit(channel) {
    const saved = await formDialog({ title: `Edit channel ${channel.name}`, fields: channelFields(channel), submit: (v) => api.patch(channelPath(channel), channelBody(v)) });
    if (saved) {
      showInfo(`Channel ${saved.name} saved.`);
      await act(() => list.reload());
    }
  }

  async function remove(channel, button) {
    const yes = await confirmDialog({ title: `Delete channel ${channel.name}?`, message: 'Its history goes with it; objects attached to it keep their data.', confirm: 'Delete channel' });
    if (!yes) return;
    const done = await act(() => api.del(channelPath(channel)).then(() => true), button);
    if (done) {
      showInfo(`Channel ${channel.name} deleted.`);
      await act(() => list.reload());
    }
  }

  replace(
    root,
    pageHead({ title: 'Channels', crumbs: [{ label: instance }], actions: [h('button', { type: 'button', class: 'primary', id: 'new-channel', on: { click: create } }, 'New channel')] }),
    list.element,
  );
  await list.first({ page_size: 50 });
}
