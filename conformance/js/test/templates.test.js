'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { connect, run, failure, newInstance } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

test('Template: the predefined ones, create, render, rename, delete', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  const listed = await run(c.Template.please().list({ instanceName }));
  assert.deepEqual(listed.map((t) => t.name), ['objects_html_table', 'objects_csv']);

  const tpl = await run(c.Template.please().create({
    instanceName, name: 'greeting', content_type: 'text/plain',
    content: '{{ greeting }} from {{ instance }}', context: { greeting: 'Hello' },
  }));
  assert.deepEqual(tpl.context, { greeting: 'Hello' });
  assert.equal(await tpl.render(), `Hello from ${instanceName}`);
  assert.equal(await tpl.render({ greeting: 'Hi' }), `Hi from ${instanceName}`);
  const viaQuerySet = await run(c.Template.please().render({ instanceName, name: 'greeting' }, { greeting: 'Hey' }));
  assert.equal(viaQuerySet, `Hey from ${instanceName}`);

  const renamed = await run(c.Template.please().rename({ instanceName, name: 'greeting' }, { new_name: 'welcome' }));
  assert.equal(renamed.name, 'welcome');
  await run(c.Template.please().delete({ instanceName, name: 'welcome' }));
  const err = await failure(c.Template.please().get({ instanceName, name: 'welcome' }));
  assert.equal(err.status, 404);
});

test('templateResponse renders a list through a template; an API key may use it', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  const schema = [{ name: 'title', type: 'string' }, { name: 'year', type: 'integer' }];
  await run(c.Class.please().create({ instanceName, name: 'books', schema, other_permissions: 'read' }));
  for (const book of [{ title: 'Dune', year: 1965 }, { title: 'Emma', year: 1815 }]) {
    await run(c.DataObject.please().create({ instanceName, className: 'books', ...book }));
  }
  const csv = await run(c.DataObject.please().list({ instanceName, className: 'books' })
    .templateResponse('objects_csv'));
  assert.equal(csv, 'title,year\n,"Dune","1965"        \n,"Emma","1815"        \n');

  const key = await run(c.ApiKey.please().create({ instanceName, ignore_acl: true }));
  const app = connect(server.url, { apiKey: key.api_key, defaults: { instanceName } });
  const html = await run(app.DataObject.please().list({ instanceName, className: 'books' })
    .templateResponse('objects_html_table'));
  assert.match(html, /<th>title<\/th>/);
  assert.match(html, /<td>Dune<\/td>/);

  const unknown = await failure(c.DataObject.please().list({ instanceName, className: 'books' })
    .templateResponse('no_such_template'));
  assert.equal(unknown.status, 406);
});
