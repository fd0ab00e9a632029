'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { run, failure, newInstance } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

async function channelInstance(options = {}) {
  const admin = await newInstance(server.url);
  const { connection: c, instanceName } = admin;
  const channel = await run(c.Channel.please().create({
    instanceName, name: 'newsroom', type: options.type || 'default', other_permissions: 'publish', custom_publish: true,
  }));
  return { c, instanceName, channel };
}

// The first message a started ChannelPoll delivers. The library re-polls at once after
// an error and never gives up, so the wait is bounded and the poll always stopped.
function firstMessage(poll, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const errors = [];
    const timer = setTimeout(() => {
      poll.stop(true);
      reject(new Error(`no message within ${ms} ms; errors: ${JSON.stringify(errors)}`));
    }, ms);
    poll.on('message', (message) => {
      clearTimeout(timer);
      poll.stop(true);
      resolve(message);
    });
    poll.on('error', (err) => errors.push({ status: err.status, errors: err.errors }));
  });
}

// Resolves once the poll's first request is on its way, so a publish made afterwards
// is a change the poll waits for.
function requested(poll) {
  return new Promise((resolve) => {
    let seen = false;
    poll.on('request', () => {
      if (!seen) resolve();
      seen = true;
    });
  });
}

test('Channel: create, list, get, update, delete', async () => {
  const { c, instanceName } = await channelInstance();
  const list = await run(c.Channel.please().list({ instanceName }));
  assert.ok(list.map((ch) => ch.name).includes('newsroom'));
  const got = await run(c.Channel.please().get({ instanceName, name: 'newsroom' }));
  assert.equal(got.other_permissions, 'publish');
  const updated = await run(c.Channel.please().update({ instanceName, name: 'newsroom' },
    { description: 'daily' }));
  assert.equal(updated.description, 'daily');
  await run(c.Channel.please().delete({ instanceName, name: 'newsroom' }));
  const err = await failure(c.Channel.please().get({ instanceName, name: 'newsroom' }));
  assert.equal(err.status, 404);
});

test('Channel publish and history', async () => {
  const { c, instanceName, channel } = await channelInstance();
  const published = await channel.publish({ text: 'hello' });
  assert.equal(published.action, 'custom');
  assert.deepEqual(published.payload, { text: 'hello' });
  await run(c.Channel.please().publish({ instanceName, name: 'newsroom' }, { text: 'again' }));
  const history = await channel.history();
  assert.deepEqual(history.objects.map((m) => m.payload.text), ['again', 'hello']);
  const oldestFirst = await channel.history({ ordering: 'asc' });
  assert.deepEqual(oldestFirst.objects.map((m) => m.payload.text), ['hello', 'again']);
});

test('Channel poll without lastId or room receives the next message', async () => {
  const { channel } = await channelInstance();
  const poll = channel.poll({}, false);
  const started = requested(poll);
  const message = firstMessage(poll);
  poll.start();
  await started;
  await channel.publish({ text: 'live' });
  const got = await message;
  assert.equal(got.action, 'custom');
  assert.deepEqual(got.payload, { text: 'live' });
});

test('Channel poll with lastId receives the message after it', async () => {
  const { channel } = await channelInstance();
  const first = await channel.publish({ n: 1 });
  await channel.publish({ n: 2 });
  const poll = channel.poll({ lastId: first.id }, false);
  const message = firstMessage(poll);
  poll.start();
  const got = await message;
  assert.deepEqual(got.payload, { n: 2 });
});

test('Channel poll with a room receives only that room\'s messages', async () => {
  const { channel } = await channelInstance({ type: 'separate_rooms' });
  const poll = channel.poll({ room: 'kitchen' }, false);
  const started = requested(poll);
  const message = firstMessage(poll);
  poll.start();
  await started;
  await channel.publish({ where: 'hall' }, 'hall');
  await channel.publish({ where: 'kitchen' }, 'kitchen');
  const got = await message;
  assert.deepEqual(got.payload, { where: 'kitchen' });
});

test('An object created with a channel appears in its history as a create', async () => {
  const { c, instanceName } = await channelInstance();
  await run(c.Class.please().create({ instanceName, name: 'notes', schema: [{ name: 'text', type: 'string' }] }));
  const note = await run(c.DataObject.please().create({
    instanceName, className: 'notes', text: 'hi', channel: 'newsroom',
  }));
  const history = await run(c.Channel.please().history({ instanceName, name: 'newsroom' }));
  assert.equal(history.objects[0].action, 'create');
  assert.equal(history.objects[0].payload.id, note.id);
});
