'use strict';

// Triggers and schedules with their traces through Syncano's JavaScript library.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { run, failure, newInstance } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

// The list `query` gives once it has `count` items (at most 60 s).
async function waitFor(query, count) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const items = await run(query());
    if (items.length >= count || Date.now() > deadline) return items;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('A post_create trigger runs its script with the new object; CRUD and traces', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  await run(c.Class.please().create({ instanceName, name: 'watched',
    schema: [{ name: 'name', type: 'string' }] }));
  const script = await run(c.Script.please().create({ instanceName, label: 'echo',
    runtime_name: 'python3', source: "print(META['signal'], ARGS['name'])" }));
  const trigger = await run(c.Trigger.please().create({ instanceName, label: 'on create',
    signal: 'post_create', class: 'watched', script: script.id }));
  assert.equal(trigger.signal, 'post_create');
  assert.equal(trigger.class, 'watched');
  const bad = await failure(c.Trigger.please().create({ instanceName, label: 'bad',
    signal: 'post_create', class: 'missing', script: script.id }));
  assert.equal(bad.status, 400);
  await run(c.DataObject.please().create({ instanceName, className: 'watched', name: 'triss' }));
  const traces = await waitFor(() => c.TriggerTrace.please().list({ instanceName,
    triggerId: trigger.id }), 1);
  assert.equal(traces.length, 1);
  assert.equal(traces[0].status, 'success');
  assert.equal(traces[0].result.stdout, 'create triss');
  const one = await run(c.TriggerTrace.please().get({ instanceName, triggerId: trigger.id,
    id: traces[0].id }));
  assert.equal(one.result.stdout, 'create triss');
  const updated = await run(c.Trigger.please().update({ instanceName, id: trigger.id },
    { signal: 'post_delete' }));
  assert.equal(updated.signal, 'post_delete');
  await run(c.Trigger.please().delete({ instanceName, id: trigger.id }));
  const gone = await failure(c.Trigger.please().get({ instanceName, id: trigger.id }));
  assert.equal(gone.status, 404);
});

test('A schedule runs on its interval; a crontab is read in its time zone', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  const script = await run(c.Script.please().create({ instanceName, label: 'tick',
    runtime_name: 'python3', source: "print(META['executed_by'])" }));
  const cron = await run(c.Schedule.please().create({ instanceName, label: 'nightly',
    script: script.id, crontab: '0 3 * * *', timezone: 'Europe/Warsaw' }));
  const next = new Date(cron.scheduled_next);
  assert.ok([1, 2].includes(next.getUTCHours()), cron.scheduled_next);
  const bad = await failure(c.Schedule.please().create({ instanceName, label: 'bad',
    script: script.id, crontab: '0 3 * *' }));
  assert.equal(bad.status, 400);
  const ticking = await run(c.Schedule.please().create({ instanceName, label: 'ticking',
    script: script.id, interval_sec: 1 }));
  const traces = await waitFor(() => c.ScheduleTrace.please().list({ instanceName,
    scheduleId: ticking.id }), 2);
  assert.ok(traces.length >= 2);
  assert.ok(traces.every((t) => t.status === 'success'));
  assert.equal(traces[0].result.stdout, 'schedule');
  await run(c.Schedule.please().delete({ instanceName, id: ticking.id }));
  const list = await run(c.Schedule.please().list({ instanceName }));
  assert.deepEqual(list.map((s) => s.id), [cron.id]);
});
