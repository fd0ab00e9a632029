'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { connect, run, failure, newInstance, unique } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

// An instance, its admin connection and an API key that may create users.
async function appSetup() {
  const admin = await newInstance(server.url);
  const key = await run(admin.connection.ApiKey.please().create({
    instanceName: admin.instanceName, allow_user_create: true,
  }));
  const app = connect(server.url, { apiKey: key.api_key });
  app.setInstanceName(admin.instanceName);
  return { admin, app, apiKey: key.api_key, instanceName: admin.instanceName };
}

test('User: an app with allow_user_create registers users; the admin lists, pages, updates, deletes', async () => {
  const { admin, app, instanceName } = await appSetup();
  const names = ['geralt', 'ciri', 'triss'];
  for (const username of names) {
    const user = await run(app.User.please().create({ instanceName, username, password: 'roach' }));
    assert.equal(user.username, username);
    assert.match(user.user_key, /^[0-9a-f]{40}$/);
  }
  const users = await run(admin.connection.User.please().list({ instanceName }));
  assert.deepEqual(users.map((u) => u.username), names);

  const firstPage = await run(admin.connection.User.please().list({ instanceName }).pageSize(2));
  assert.deepEqual(firstPage.map((u) => u.username), ['geralt', 'ciri']);
  assert.equal(firstPage.hasNext(), true);
  const secondPage = await firstPage.next();
  assert.deepEqual(secondPage.map((u) => u.username), ['triss']);

  const ciri = users[1];
  const updated = await run(admin.connection.User.please().update({ instanceName, id: ciri.id },
    { username: 'cirilla' }));
  assert.equal(updated.username, 'cirilla');
  const got = await run(admin.connection.User.please().get({ instanceName, id: ciri.id }));
  assert.equal(got.username, 'cirilla');

  await run(admin.connection.User.please().delete({ instanceName, id: ciri.id }));
  const err = await failure(admin.connection.User.please().get({ instanceName, id: ciri.id }));
  assert.equal(err.status, 404);
});

test('User.login sets the user key; the user then reads and updates itself', async () => {
  const { app, apiKey, instanceName } = await appSetup();
  await run(app.User.please().create({ instanceName, username: 'geralt', password: 'roach' }));

  const session = connect(server.url, { apiKey });
  session.setInstanceName(instanceName);
  const user = await session.User.please().login({ instanceName }, { username: 'geralt', password: 'roach' });
  assert.equal(user.username, 'geralt');
  assert.equal(session.getUserKey(), user.user_key);

  const me = await run(session.User.please().get({ instanceName }));
  assert.equal(me.id, user.id);
  const renamed = await run(session.User.please().update({ instanceName }, { username: 'white-wolf' }));
  assert.equal(renamed.username, 'white-wolf');
});

test('User.login with a wrong password fails with 401', async () => {
  const { app, apiKey, instanceName } = await appSetup();
  await run(app.User.please().create({ instanceName, username: 'geralt', password: 'roach' }));
  const session = connect(server.url, { apiKey });
  const err = await failure(session.User.please().login({ instanceName }, { username: 'geralt', password: 'x' }));
  assert.equal(err.status, 401);
  assert.deepEqual(err.errors, { detail: 'Invalid password.' });
});

test('User.resetKey gives the user a new key', async () => {
  const { admin, app, instanceName } = await appSetup();
  const user = await run(app.User.please().create({ instanceName, username: 'geralt', password: 'roach' }));
  const reset = await run(admin.connection.User.please().resetKey({ instanceName, id: user.id }));
  assert.notEqual(reset.user_key, user.user_key);
});

test('An API key without allow_user_create cannot register users (403)', async () => {
  const admin = await newInstance(server.url);
  const key = await run(admin.connection.ApiKey.please().create({ instanceName: admin.instanceName }));
  const app = connect(server.url, { apiKey: key.api_key });
  const err = await failure(app.User.please().create({
    instanceName: admin.instanceName, username: 'geralt', password: 'roach',
  }));
  assert.equal(err.status, 403);
});

test('Group: create, list, get, update, delete', async () => {
  const { connection, instanceName } = await newInstance(server.url);
  const group = await run(connection.Group.please().create({ instanceName, label: 'witchers' }));
  assert.equal(group.label, 'witchers');
  const groups = await run(connection.Group.please().list({ instanceName }));
  assert.deepEqual(groups.map((g) => g.label), ['witchers']);
  const got = await run(connection.Group.please().get({ instanceName, id: group.id }));
  assert.equal(got.label, 'witchers');
  const updated = await run(connection.Group.please().update({ instanceName, id: group.id },
    { description: 'of the wolf' }));
  assert.equal(updated.description, 'of the wolf');
  await run(connection.Group.please().delete({ instanceName, id: group.id }));
  const err = await failure(connection.Group.please().get({ instanceName, id: group.id }));
  assert.equal(err.status, 404);
});

test('Memberships: Group.addUser / users / getUserDetails / deleteUser and User.addGroup / getGroups', async () => {
  const { admin, app, instanceName } = await appSetup();
  const c = admin.connection;
  const geralt = await run(app.User.please().create({ instanceName, username: 'geralt', password: 'r' }));
  const ciri = await run(app.User.please().create({ instanceName, username: 'ciri', password: 'r' }));
  const witchers = await run(c.Group.please().create({ instanceName, label: 'witchers' }));
  const mages = await run(c.Group.please().create({ instanceName, label: 'mages' }));

  const added = await c.Group.please().addUser({ instanceName, id: witchers.id }, { user: geralt.id });
  assert.equal(added.username, 'geralt');
  const viaUser = await c.User.please().addGroup({ instanceName, user: ciri.id }, { group: witchers.id });
  assert.equal(viaUser.label, 'witchers');
  await c.User.please().addGroup({ instanceName, user: ciri.id }, { group: mages.id });

  const members = await c.Group.please().users({ instanceName, id: witchers.id });
  assert.deepEqual(members.map((u) => u.username), ['geralt', 'ciri']);
  const detail = await c.Group.please().getUserDetails({ instanceName, id: witchers.id }, { user: ciri.id });
  assert.equal(detail.username, 'ciri');

  const ciriGroups = await c.User.please().getGroups({ instanceName, user: ciri.id });
  assert.deepEqual(ciriGroups.map((g) => g.label), ['witchers', 'mages']);
  const one = await c.User.please().getGroup({ instanceName, user: ciri.id }, { id: mages.id });
  assert.equal(one.label, 'mages');

  await run(c.Group.please().deleteUser({ instanceName, id: witchers.id }, { user: geralt.id }));
  const left = await c.Group.please().users({ instanceName, id: witchers.id });
  assert.deepEqual(left.map((u) => u.username), ['ciri']);
  await run(c.User.please().deleteGroup({ instanceName, user: ciri.id }, { id: mages.id }));
  const ciriLeft = await c.User.please().getGroups({ instanceName, user: ciri.id });
  assert.deepEqual(ciriLeft.map((g) => g.label), ['witchers']);
  assert.ok(unique);
});
