'use strict';

// Script endpoints (webhooks) through the library's ScriptEndpoint and ScriptEndpointTrace:
// CRUD, run (model and QuerySet), runPublic, reset, traces.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { connect, run, failure, newInstance } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

const ECHO = 'import json\nprint(json.dumps(ARGS, sort_keys=True))';

async function echoEndpoint(c, instanceName, extra = {}) {
  const script = await run(c.Script.please().create({ instanceName, label: 'echo', runtime_name: 'python3', source: ECHO }));
  const endpoint = await run(c.ScriptEndpoint.please().create({
    instanceName, name: 'echo-hook', script: script.id, ...extra,
  }));
  return { script, endpoint };
}

test('A script endpoint is created, read, updated, reset and deleted', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  const { endpoint } = await echoEndpoint(c, instanceName);
  assert.equal(endpoint.name, 'echo-hook');
  assert.equal(endpoint.public, false);
  assert.match(endpoint.public_link, /^[0-9a-f]{40}$/);
  const listed = await run(c.ScriptEndpoint.please().list({ instanceName }));
  assert.deepEqual(listed.map((e) => e.name), ['echo-hook']);
  const updated = await run(c.ScriptEndpoint.please().update({ instanceName, name: 'echo-hook' }, { public: true }));
  assert.equal(updated.public, true);
  const reset = await endpoint.reset();
  assert.match(reset.public_link, /^[0-9a-f]{40}$/);
  assert.notEqual(reset.public_link, endpoint.public_link);
  await run(c.ScriptEndpoint.please().delete({ instanceName, name: 'echo-hook' }));
  const err = await failure(c.ScriptEndpoint.please().get({ instanceName, name: 'echo-hook' }));
  assert.equal(err.status, 404);
});

test('run and runPublic answer the run, whose traces list newest first', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  const { endpoint } = await echoEndpoint(c, instanceName, { public: true });
  const trace = await endpoint.run({ a: 1, b: 'two' });
  assert.equal(trace.status, 'success');
  assert.deepEqual(JSON.parse(trace.result.stdout), { a: 1, b: 'two' });
  const viaQuerySet = await run(c.ScriptEndpoint.please().run({ instanceName, name: 'echo-hook' }, { q: true }));
  assert.deepEqual(JSON.parse(viaQuerySet.result.stdout), { q: true });
  const anonymous = connect(server.url);
  const publicRun = await run(anonymous.ScriptEndpoint.please().runPublic(
    { instanceName, name: 'echo-hook', public_link: endpoint.public_link }, { p: 1 }));
  assert.deepEqual(JSON.parse(publicRun.result.stdout), { p: 1 });
  const traces = await run(c.ScriptEndpointTrace.please().list({ instanceName, scriptEndpointName: 'echo-hook' }));
  assert.equal(traces.length, 3);
  assert.deepEqual(traces.map((t) => t.status), ['success', 'success', 'success']);
  assert.ok(traces[0].id > traces[2].id);
  assert.deepEqual(traces[0].args, { POST: { p: 1 }, GET: {} });
});
