// Admins of an instance and their roles, and the invitations that add new ones.

import { h, replace } from '../dom.js';
import { api, instancePath, seg } from '../api.js';
import { pageHead, pagedList, table, formDialog, confirmDialog, act, showInfo, smallButton, when } from '../ui.js';
import { session } from '../session.js';

export const title = () => 'Admins';

const ROLES = ['full', 'write', 'read'];

export async function render({ root, params, signal }) {
  const { instance } = params;
  const adminsPath = instancePath(instance, 'admins/');
  const invitationsPath = instancePath(instance, 'invitations/');

  const admins = pagedList({
    path: adminsPath,
    signal,
    render: (page) =>
      table({
        caption: 'Admins',
        rows: page.objects,
        columns: [
          { label: 'Email', cell: (a) => a.email },
          { label: 'Name', cell: (a) => [a.first_name, a.last_name].filter(Boolean).join(' ') },
          { label: 'Role', cell: (a) => a.role },
        ],
        actions: (a) => [
          smallButton('Change role', () => changeRole(a), { title: `Change the role of ${a.email}` }),
          smallButton(a.id === session.id ? 'Leave' : 'Remove', (b) => removeAdmin(a, b), { danger: true, title: a.id === session.id ? 'Leave this instance' : `Remove ${a.email}` }),
        ],
      }),
  });

  const invitations = pagedList({
    path: invitationsPath,
    signal,
    render: (page) =>
      table({
        caption: 'Invitations',
        rows: page.objects,
        empty: 'No invitations.',
        columns: [
          { label: 'Email', cell: (i) => i.email },
          { label: 'Role', cell: (i) => i.role },
          { label: 'State', cell: (i) => i.state },
          { label: 'Sent', cell: (i) => when(i.created_at) },
        ],
        actions: (i) => [
          smallButton('Resend', (b) => resend(i, b), { title: `Send the invitation to ${i.email} again` }),
          smallButton('Delete', (b) => removeInvitation(i, b), { danger: true, title: `Delete the invitation to ${i.email}` }),
        ],
      }),
  });

  async function changeRole(admin) {
    const saved = await formDialog({
      title: `Role of ${admin.email}`,
      fields: [{ name: 'role', label: 'Role', type: 'select', options: ROLES, value: admin.role, help: 'full: everything but deleting the instance; write: data; read: look only.' }],
      submit: (v) => api.patch(`${adminsPath}${seg(admin.id)}/`, v),
    });
    if (saved) {
      showInfo(`${saved.email} is now ${saved.role}.`);
      await act(() => admins.reload());
    }
  }

  async function removeAdmin(admin, button) {
    const self = admin.id === session.id;
    const yes = await confirmDialog({
      title: self ? 'Leave this instance?' : `Remove ${admin.email}?`,
      message: self ? 'You lose access to it until someone invites you again.' : 'They lose access to this instance.',
      confirm: self ? 'Leave' : 'Remove admin',
    });
    if (!yes) return;
    const done = await act(() => api.del(`${adminsPath}${seg(admin.id)}/`).then(() => true), button);
    if (!done) return;
    if (self) {
      window.location.hash = '#/instances';
      return;
    }
    showInfo(`${admin.email} removed.`);
    await act(() => admins.reload());
  }

  async function invite() {
    const made = await formDialog({
      title: 'Invite an admin',
      submitLabel: 'Send invitation',
      fields: [
        { name: 'email', label: 'Email', type: 'email', required: true },
        { name: 'role', label: 'Role', type: 'select', options: ROLES, value: 'write' },
      ],
      submit: (v) => api.post(invitationsPath, v),
    });
    if (made) {
      showInfo(`Invitation sent to ${made.email}.`);
      await act(() => invitations.reload());
    }
  }

  async function resend(invitation, button) {
    const done = await act(() => api.post(`${invitationsPath}${seg(invitation.id)}/resend/`).then(() => true), button);
    if (done) showInfo(`Invitation sent to ${invitation.email} again.`);
  }

  async function removeInvitation(invitation, button) {
    const yes = await confirmDialog({ title: `Delete the invitation to ${invitation.email}?`, message: 'Its key stops working.', confirm: 'Delete invitation' });
    if (!yes) return;
    const done = await act(() => api.del(`${invitationsPath}${seg(invitation.id)}/`).then(() => true), button);
    if (done) {
      showInfo('Invitation deleted.');
      await act(() => invitations.reload());
    }
  }

  replace(
    root,
    pageHead({ title: 'Admins', crumbs: [{ label: instance }], actions: [h('button', { type: 'button', class: 'primary', id: 'invite-admin', on: { click: invite } }, 'Invite an admin')] }),
    admins.element,
    h('h2', {}, 'Invitations'),
    invitations.element,
  );
  await Promise.all([admins.first({ page_size: 50 }), act(() => invitations.first({ page_size: 50 }))]);
}
