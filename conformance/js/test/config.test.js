'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { connect, run, failure, newInstance } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

test('Instance config starts empty; setGlobalConfig replaces it and getGlobalConfig reads it', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  const empty = await run(c.Instance.please().getGlobalConfig({ name: instanceName }));
  assert.deepEqual(empty.config, {});
  const set = await run(c.Instance.please().setGlobalConfig({ name: instanceName },
    { api_url: 'https://example.com', retries: 3 }));
  assert.deepEqual(set.config, { api_url: 'https://example.com', retries: 3 });
  const instance = await run(c.Instance.please().get({ name: instanceName }));
  const read = await instance.getGlobalConfig();
  assert.deepEqual(read, { config: { api_url: 'https://example.com', retries: 3 } });
  const replaced = await instance.setGlobalConfig({ retries: 5 });
  assert.deepEqual(replaced, { config: { retries: 5 } });
});

test('Only an ignore_acl API key reads the instance config (scripts keep secrets there), and none changes it', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  await run(c.Instance.please().setGlobalConfig({ name: instanceName }, { mode: 'test' }));
  const plain = await run(c.ApiKey.please().create({ instanceName }));
  const plainApp = connect(server.url, { apiKey: plain.api_key });
  const refused = await failure(plainApp.Instance.please().getGlobalConfig({ name: instanceName }));
  assert.equal(refused.status, 403);
  const key = await run(c.ApiKey.please().create({ instanceName, ignore_acl: true }));
  const app = connect(server.url, { apiKey: key.api_key });
  const read = await run(app.Instance.please().getGlobalConfig({ name: instanceName }));
  assert.deepEqual(read.config, { mode: 'test' });
  const err = await failure(app.Instance.please().setGlobalConfig({ name: instanceName }, { mode: 'prod' }));
  assert.equal(err.status, 403);
});

test('A config that is not an object is refused with a field error', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  const err = await failure(c.Instance.please().setGlobalConfig({ name: instanceName }, [1, 2]));
  assert.equal(err.status, 400);
  assert.deepEqual(Object.keys(err.errors), ['config']);
});
