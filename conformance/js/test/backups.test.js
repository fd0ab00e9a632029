'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { run, failure, newInstance, unique } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

// Polls a backup or restore until it leaves scheduled/running.
async function finished(get) {
  const deadline = Date.now() + 60000;
  for (;;) {
    const job = await get();
    if (!['scheduled', 'running', 'uploading'].includes(job.status)) return job;
    assert.ok(Date.now() < deadline, `job still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('FullBackup runs in the background, is listed, restores into an empty instance and is deleted', async () => {
  const { connection: c, instanceName, email } = await newInstance(server.url);
  await run(c.Class.please().create({ instanceName, name: 'notes', schema: [{ name: 'text', type: 'string' }] }));
  const note = await run(c.DataObject.please().create({ instanceName, className: 'notes', text: 'kept' }));

  const backup = await run(c.FullBackup.please().create({ instanceName, label: 'js' }));
  assert.equal(backup.status, 'scheduled');
  assert.equal(backup.instance, instanceName);
  const done = await finished(() => run(c.FullBackup.please().get({ instanceName, id: backup.id })));
  assert.equal(done.status, 'success', done.status_info);
  assert.ok(done.size > 0);
  assert.equal(done.author.email, email);
  const listed = await run(c.FullBackup.please().list({ instanceName }));
  assert.deepEqual(listed.map((b) => b.id), [backup.id]);
  const everywhere = await run(c.FullBackup.please().listAll());
  assert.ok(everywhere.some((b) => b.id === backup.id));

  const target = unique('copy');
  await run(c.Instance.please().create({ name: target }));
  const restore = await run(c.Restore.please().restore({ instanceName: target }, { backup: backup.id }));
  const restored = await finished(() => run(c.Restore.please().get({ instanceName: target, id: restore.id })));
  assert.equal(restored.status, 'success', restored.status_info);
  const copy = await run(c.DataObject.please().get({ instanceName: target, className: 'notes', id: note.id }));
  assert.equal(copy.text, 'kept');
  assert.equal(new Date(copy.created_at).getTime(), new Date(note.created_at).getTime());
  // The copy now holds data: a second restore is refused.
  const err = await failure(c.Restore.please().restore({ instanceName: target }, { backup: backup.id }));
  assert.equal(err.status, 400);

  await run(c.FullBackup.please().delete({ instanceName, id: backup.id }));
  const gone = await failure(c.FullBackup.please().get({ instanceName, id: backup.id }));
  assert.equal(gone.status, 404);
});
