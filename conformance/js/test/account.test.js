'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { connect, run, failure, newAdmin, unique } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

test('Account.register returns the new admin with its account key', async () => {
  const anonymous = connect(server.url);
  const email = `${unique('reg')}@example.com`;
  const admin = await run(anonymous.Account.register({ email, password: 'pw-1234567' }));
  assert.equal(admin.email, email);
  assert.match(admin.account_key, /^[0-9a-f]{40}$/);
});

test('Account.login sets the account key on the connection', async () => {
  const { email, password, account } = await newAdmin(server.url);
  const connection = connect(server.url);
  const logged = await run(connection.Account.login({ email, password }));
  assert.equal(logged.account_key, account.account_key);
  assert.equal(connection.getAccountKey(), account.account_key);
  const details = await run(connection.Account.getUserDetails());
  assert.equal(details.email, email);
});

test('Account.login with a wrong password fails with 401 and the platform message', async () => {
  const { email } = await newAdmin(server.url);
  const err = await failure(connect(server.url).Account.login({ email, password: 'wrong' }));
  assert.equal(err.status, 401);
  assert.deepEqual(err.errors, { detail: 'Invalid password.' });
});

test('Account.update changes the first name', async () => {
  const { connection, email } = await newAdmin(server.url);
  const updated = await run(connection.Account.update({ email, first_name: 'Geralt' }));
  assert.equal(updated.first_name, 'Geralt');
});

test('Account.resetKey gives a new key that works', async () => {
  const { connection, account } = await newAdmin(server.url);
  const reset = await run(connection.Account.resetKey());
  assert.notEqual(reset.account_key, account.account_key);
  const details = await run(connect(server.url, { accountKey: reset.account_key }).Account.getUserDetails());
  assert.equal(details.id, account.id);
});

test('Account.changePassword then login with the new password', async () => {
  const { connection, email, password } = await newAdmin(server.url);
  await run(connection.Account.changePassword({ current_password: password, new_password: 'new-secret-99' }));
  const logged = await run(connect(server.url).Account.login({ email, password: 'new-secret-99' }));
  assert.equal(logged.email, email);
});
