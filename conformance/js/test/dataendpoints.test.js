'use strict';

// Data endpoints (rest §5) through the library's DataEndpoint model: create, fetchData
// (the class's objects through the stored query, one page at a time), createDataObject
// (post/), rename and delete.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { run, failure, newInstance } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

const SCHEMA = [
  { name: 'title', type: 'string', filter_index: true },
  { name: 'year', type: 'integer', filter_index: true, order_index: true },
];

async function witcherBooks() {
  const admin = await newInstance(server.url);
  const { connection: c, instanceName } = admin;
  await run(c.Class.please().create({ instanceName, name: 'books', schema: SCHEMA }));
  const books = [['The Last Wish', 1993], ['Sword of Destiny', 1992], ['Blood of Elves', 1994],
    ['Time of Contempt', 1995], ['Baptism of Fire', 1996]];
  for (const [title, year] of books) {
    await run(c.DataObject.please().create({ instanceName, className: 'books', title, year }));
  }
  return { c, instanceName };
}

test('DataEndpoint: create, fetchData pages through the stored query, filters AND', async () => {
  const { c, instanceName } = await witcherBooks();
  const endpoint = await run(c.DataEndpoint.please().create({
    instanceName, name: 'saga', class: 'books', query: { year: { _gte: 1993 } },
    order_by: '-year', page_size: 2, excluded_fields: 'year',
  }));
  assert.equal(endpoint.name, 'saga');
  assert.equal(endpoint.class, 'books');
  assert.deepEqual(endpoint.query, { year: { _gte: 1993 } });

  const page = await run(c.DataEndpoint.please().fetchData({ instanceName, name: 'saga' }));
  assert.deepEqual(page.map((o) => o.title), ['Baptism of Fire', 'Time of Contempt']);
  assert.equal(page[0].year, undefined, 'stored excluded_fields');
  assert.ok(page.hasNext());
  const second = await page.next();
  assert.deepEqual(second.map((o) => o.title), ['Blood of Elves', 'The Last Wish']);
  // A full last page still links to a (empty) next page, as the platform's cursors do.
  const third = await second.next();
  assert.deepEqual(third.map((o) => o.title), []);
  assert.ok(!third.hasNext());

  const got = await run(c.DataEndpoint.please().get({ instanceName, name: 'saga' }));
  const filtered = await got.fetchData(null, { title: { _eq: 'Blood of Elves' } });
  assert.deepEqual(filtered.map((o) => o.title), ['Blood of Elves']);
});

test('DataEndpoint: createDataObject, rename, delete', async () => {
  const { c, instanceName } = await witcherBooks();
  await run(c.DataEndpoint.please().create({ instanceName, name: 'all', class: 'books' }));
  const created = await run(c.DataEndpoint.please().createDataObject(
    { instanceName, name: 'all' }, { title: 'Lady of the Lake', year: 1999 }));
  assert.equal(created.title, 'Lady of the Lake');
  const stored = await run(c.DataObject.please().get({ instanceName, className: 'books', id: created.id }));
  assert.equal(stored.year, 1999);

  const renamed = await run(c.DataEndpoint.please().rename({ instanceName, name: 'all' }, { new_name: 'everything' }));
  assert.equal(renamed.name, 'everything');
  const gone = await failure(c.DataEndpoint.please().get({ instanceName, name: 'all' }));
  assert.equal(gone.status, 404);
  const books = await run(c.DataEndpoint.please().fetchData({ instanceName, name: 'everything' }));
  assert.equal(books.length, 6);

  await run(c.DataEndpoint.please().delete({ instanceName, name: 'everything' }));
  const deleted = await failure(c.DataEndpoint.please().get({ instanceName, name: 'everything' }));
  assert.equal(deleted.status, 404);
});
