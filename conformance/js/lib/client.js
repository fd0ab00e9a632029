// Helpers around Syncano's JavaScript library (npm `syncano` 1.0.30), written for its
// known quirks:
// - a QuerySet is a thenable whose `then` takes no rejection handler, so `await qs`
//   never settles on an error: `run(qs)` goes through its `.then().catch()` chain;
// - connections made without their own `defaults` share one object, so every
//   connection here gets a fresh `defaults`.
'use strict';

const crypto = require('node:crypto');
const Syncano = require('syncano');

// A name no other test (or earlier run on a shared PostgreSQL database) uses.
function unique(prefix) {
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
}

function connect(url, options = {}) {
  return Syncano({ baseUrl: url, defaults: {}, ...options });
}

// Settles with what a QuerySet (or promise) resolves to, or rejects with its error.
function run(query) {
  return new Promise((resolve, reject) => {
    query.then(resolve).catch(reject);
  });
}

// Rejects unless `query` fails; resolves with the library's error (status + body).
async function failure(query) {
  try {
    const value = await run(query);
    throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
  } catch (err) {
    if (err.status === undefined) throw err;
    return err;
  }
}

// Registers a new admin through the library and returns a connection holding its key.
async function newAdmin(url) {
  const email = `${unique('admin')}@example.com`;
  const password = 'correct horse battery';
  const anonymous = connect(url);
  const registered = await run(anonymous.Account.register({ email, password }));
  const connection = connect(url, { accountKey: registered.account_key });
  return { connection, email, password, account: registered };
}

// A new admin with one instance of its own; the connection defaults to that instance.
async function newInstance(url) {
  const admin = await newAdmin(url);
  const name = unique('inst');
  const instance = await run(admin.connection.Instance.please().create({ name }));
  admin.connection.setInstanceName(name);
  return { ...admin, instanceName: name, instance };
}

module.exports = { unique, connect, run, failure, newAdmin, newInstance };
