'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { connect, run, failure, newAdmin, newInstance, unique } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

test('Instance: create, get, list, update, rename, delete', async () => {
  const { connection } = await newAdmin(server.url);
  const name = unique('inst');
  const created = await run(connection.Instance.please().create({ name, description: 'first' }));
  assert.equal(created.name, name);
  assert.equal(created.description, 'first');
  assert.ok(created.links && created.links.self, 'links.self');

  const got = await run(connection.Instance.please().get({ name }));
  assert.equal(got.description, 'first');

  const list = await run(connection.Instance.please().list());
  assert.deepEqual(list.map((i) => i.name), [name]);

  const updated = await run(connection.Instance.please().update({ name }, { description: 'second' }));
  assert.equal(updated.description, 'second');

  const renamed = unique('renamed');
  const afterRename = await run(connection.Instance.please().rename({ name }, { new_name: renamed }));
  assert.equal(afterRename.name, renamed);

  await run(connection.Instance.please().delete({ name: renamed }));
  const err = await failure(connection.Instance.please().get({ name: renamed }));
  assert.equal(err.status, 404);
});

test('Instance model: save() creates, save() again updates, delete() removes', async () => {
  const { connection } = await newAdmin(server.url);
  const name = unique('model');
  const instance = await connection.Instance({ name, description: 'a' }).save();
  assert.equal(instance.name, name);
  instance.description = 'b';
  const saved = await instance.save();
  assert.equal(saved.description, 'b');
  await instance.delete();
  const list = await run(connection.Instance.please().list());
  assert.equal(list.length, 0);
});

test('Instance create with a taken name fails with the field error', async () => {
  const { connection, instanceName } = await newInstance(server.url);
  const other = await newAdmin(server.url);
  const err = await failure(other.connection.Instance.please().create({ name: instanceName }));
  assert.equal(err.status, 400);
  assert.deepEqual(Object.keys(err.errors), ['name']);
  assert.ok(connection);
});

test('ApiKey: create with flags, list, get, update, reset, delete', async () => {
  const { connection, instanceName } = await newInstance(server.url);
  const key = await run(connection.ApiKey.please().create({
    instanceName, description: 'app', allow_user_create: true,
  }));
  assert.equal(key.description, 'app');
  assert.equal(key.allow_user_create, true);
  assert.equal(key.ignore_acl, false);
  assert.match(key.api_key, /^[0-9a-f]{40}$/);

  const list = await run(connection.ApiKey.please().list({ instanceName }));
  assert.deepEqual(list.map((k) => k.id), [key.id]);

  const got = await run(connection.ApiKey.please().get({ instanceName, id: key.id }));
  assert.equal(got.api_key, key.api_key);

  const updated = await run(connection.ApiKey.please().update({ instanceName, id: key.id },
    { description: 'renamed', ignore_acl: true }));
  assert.equal(updated.description, 'renamed');
  assert.equal(updated.ignore_acl, true);

  const reset = await key.reset();
  assert.notEqual(reset.api_key, key.api_key);

  await run(connection.ApiKey.please().delete({ instanceName, id: key.id }));
  const err = await failure(connection.ApiKey.please().get({ instanceName, id: key.id }));
  assert.equal(err.status, 404);
});

test('An instance reached through Instance(...).apiKeys() lists its keys', async () => {
  const { connection, instanceName } = await newInstance(server.url);
  await run(connection.ApiKey.please().create({ instanceName, description: 'one' }));
  const keys = await run(connection.Instance({ name: instanceName }).apiKeys().list());
  assert.deepEqual(keys.map((k) => k.description), ['one']);
});

test('InstanceInvitation: create, list, get, resend, delete; Invitation accept joins the instance', async () => {
  const owner = await newInstance(server.url);
  const friend = await newAdmin(server.url);
  const instanceName = owner.instanceName;
  const invitation = await run(owner.connection.InstanceInvitation.please().create({
    instanceName, email: friend.email, role: 'write',
  }));
  assert.equal(invitation.email, friend.email);
  assert.equal(invitation.role, 'write');
  assert.equal(invitation.state, 'new');

  const list = await run(owner.connection.InstanceInvitation.please().list({ instanceName }));
  assert.deepEqual(list.map((i) => i.id), [invitation.id]);
  const got = await run(owner.connection.InstanceInvitation.please().get({ instanceName, id: invitation.id }));
  assert.equal(got.key, invitation.key);
  await invitation.resend();

  const mine = await run(friend.connection.Invitation.please().list());
  assert.deepEqual(mine.map((i) => i.key), [invitation.key]);
  await run(friend.connection.Invitation.please().accept(invitation.key));
  const instances = await run(friend.connection.Instance.please().list());
  assert.deepEqual(instances.map((i) => i.name), [instanceName]);

  const second = await run(owner.connection.InstanceInvitation.please().create({
    instanceName, email: `${unique('nobody')}@example.com`, role: 'read',
  }));
  await run(owner.connection.InstanceInvitation.please().delete({ instanceName, id: second.id }));
  const err = await failure(owner.connection.InstanceInvitation.please().get({ instanceName, id: second.id }));
  assert.equal(err.status, 404);
});

test('Admin: list, get, change role, remove from the instance', async () => {
  const owner = await newInstance(server.url);
  const friend = await newAdmin(server.url);
  const instanceName = owner.instanceName;
  const invitation = await run(owner.connection.InstanceInvitation.please().create({
    instanceName, email: friend.email, role: 'read',
  }));
  await run(friend.connection.Invitation.please().accept(invitation.key));

  const admins = await run(owner.connection.Admin.please().list({ instanceName }));
  const emails = admins.map((a) => a.email).sort();
  assert.deepEqual(emails, [owner.email, friend.email].sort());
  const friendId = admins.find((a) => a.email === friend.email).id;

  const got = await run(owner.connection.Admin.please().get({ instanceName, id: friendId }));
  assert.equal(got.role, 'read');
  const updated = await run(owner.connection.Admin.please().update({ instanceName, id: friendId }, { role: 'full' }));
  assert.equal(updated.role, 'full');

  await run(owner.connection.Admin.please().delete({ instanceName, id: friendId }));
  const err = await failure(friend.connection.Instance.please().get({ name: instanceName }));
  assert.equal(err.status, 404);
  assert.ok(connect);
});
