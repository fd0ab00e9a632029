// Instances the admin has a role in: create, open, edit the description, rename (owner),
// delete (owner, after confirmation); and invitations addressed to the admin.

import { h, replace } from '../dom.js';
import { api, instancePath, seg } from '../api.js';
import { pageHead, pagedList, table, formDialog, confirmDialog, act, showInfo, smallButton, when, cellText } from '../ui.js';
import { inInstance } from '../router.js';
import { instancesChanged } from '../state.js';
import { session } from '../session.js';

export const title = () => 'Instances';

export async function render({ root, signal }) {
  const list = pagedList({
    path: '/v1.1/instances/',
    signal,
    render: (page) =>
      table({
        caption: 'Instances',
        rows: page.objects,
        empty: 'No instances yet. Create one to start.',
        columns: [
          { label: 'Name', cell: (i) => h('a', { href: inInstance(i.name, 'classes') }, i.name) },
          { label: 'Description', cell: (i) => cellText(i.description || '') },
          { label: 'Your role', cell: (i) => (i.owner?.id === session.id ? 'owner' : i.role) },
          { label: 'Owner', cell: (i) => cellText(i.owner?.email ?? '') },
          { label: 'Created', cell: (i) => when(i.created_at) },
        ],
        actions: (i) => [
          smallButton('Edit', () => edit(i), { title: `Edit ${i.name}` }),
          smallButton('Rename', () => rename(i), { title: `Rename ${i.name}` }),
          smallButton('Delete', (b) => remove(i, b), { danger: true, title: `Delete ${i.name}` }),
        ],
      }),
  });

  async function create() {
    const made = await formDialog({
      title: 'New instance',
      submitLabel: 'Create instance',
      fields: [
        { name: 'name', label: 'Name', required: true, help: 'At least 5 characters: letters, numbers and hyphens, starting with a letter.' },
        { name: 'description', label: 'Description' },
      ],
      submit: (v) => api.post('/v1.1/instances/', v),
    });
    if (made) {
      instancesChanged();
      showInfo(`Instance ${made.name} created.`);
      await act(() => list.reload());
    }
  }

  async function edit(instance) {
    const saved = await formDialog({
      title: `Edit ${instance.name}`,
      fields: [
        { name: 'description', label: 'Description', value: instance.description },
        { name: 'metadata', label: 'Metadata (JSON object)', type: 'json', value: instance.metadata || {}, rows: 4 },
      ],
      submit: (v) => api.patch(instancePath(instance.name), v),
    });
    if (saved) {
      showInfo(`Instance ${saved.name} saved.`);
      await act(() => list.reload());
    }
  }

  async function rename(instance) {
    const renamed = await formDialog({
      title: `Rename ${instance.name}`,
      submitLabel: 'Rename',
      intro: h('p', { class: 'muted' }, 'Apps that use the old name stop working at once. Only the owner may rename.'),
      fields: [{ name: 'new_name', label: 'New name', value: instance.name, required: true }],
      submit: (v) => api.post(instancePath(instance.name, 'rename/'), v),
    });
    if (renamed) {
      instancesChanged();
      showInfo(`Instance renamed to ${renamed.name}.`);
      await act(() => list.reload());
    }
  }

  async function remove(instance, button) {
    const yes = await confirmDialog({
      title: `Delete instance ${instance.name}?`,
      message: 'Its classes, objects, users, channels and scripts are deleted with it. This cannot be undone.',
      confirm: 'Delete instance',
    });
    if (!yes) return;
    const done = await act(() => api.del(instancePath(instance.name)).then(() => true), button);
    if (done) {
      instancesChanged();
      showInfo(`Instance ${instance.name} deleted.`);
      await act(() => list.reload());
    }
  }

  const invitations = h('div', {});
  async function loadInvitations() {
    const page = await api.get('/v1.1/account/invitations/', undefined, signal);
    if (!page.objects.length) {
      replace(invitations);
      return;
    }
    replace(
      invitations,
      h('h2', {}, 'Invitations for you'),
      table({
        caption: 'Invitations for you',
        rows: page.objects,
        columns: [
          { label: 'Instance', cell: (i) => i.instance },
          { label: 'Role', cell: (i) => i.role },
          { label: 'From', cell: (i) => i.inviter },
          { label: 'Sent', cell: (i) => when(i.created_at) },
        ],
        actions: (i) => [
          smallButton('Accept', (b) => answer(i, true, b), { primary: true, title: `Accept the invitation to ${i.instance}` }),
          smallButton('Decline', (b) => answer(i, false, b), { danger: true, title: `Decline the invitation to ${i.instance}` }),
        ],
      }),
    );
  }

  async function answer(invitation, accept, button) {
    const done = await act(
      () =>
        (accept
          ? api.post('/v1.1/account/invitations/accept/', { invitation_key: invitation.key })
          : api.del(`/v1.1/account/invitations/${seg(invitation.id)}/`)
        ).then(() => true),
      button,
    );
    if (!done) return;
    instancesChanged();
    showInfo(accept ? `You joined ${invitation.instance}.` : 'Invitation declined.');
    await act(() => Promise.all([loadInvitations(), list.reload()]));
  }

  const newButton = h('button', { type: 'button', class: 'primary', id: 'new-instance', on: { click: create } }, 'New instance');
  replace(root, pageHead({ title: 'Instances', actions: [newButton] }), list.element, invitations);
  await Promise.all([list.first({ page_size: 50 }), act(loadInvitations)]);
}
