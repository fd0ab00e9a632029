'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const { run, failure, newInstance } = require('../lib/client');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

const BOOKS_SCHEMA = [
  { name: 'title', type: 'string', filter_index: true },
  { name: 'year', type: 'integer', filter_index: true, order_index: true },
  { name: 'tags', type: 'array', filter_index: true },
];

async function booksInstance() {
  const admin = await newInstance(server.url);
  const { connection: c, instanceName } = admin;
  await run(c.Class.please().create({ instanceName, name: 'books', schema: BOOKS_SCHEMA }));
  return { c, instanceName };
}

async function createBooks(c, instanceName, books) {
  const created = [];
  for (const book of books) {
    created.push(await run(c.DataObject.please().create({ instanceName, className: 'books', ...book })));
  }
  return created;
}

test('Class: create with a schema, list, get, add a field, delete', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  const cls = await run(c.Class.please().create({ instanceName, name: 'books', schema: BOOKS_SCHEMA }));
  assert.equal(cls.name, 'books');
  assert.deepEqual(cls.schema.map((f) => f.name), ['title', 'year', 'tags']);

  const classes = await run(c.Class.please().list({ instanceName }));
  assert.ok(classes.map((k) => k.name).includes('books'));
  const got = await run(c.Class.please().get({ instanceName, name: 'books' }));
  assert.equal(got.schema[1].order_index, true);

  const schema = BOOKS_SCHEMA.concat([{ name: 'pages', type: 'integer' }]);
  const updated = await run(c.Class.please().update({ instanceName, name: 'books' }, { schema }));
  assert.deepEqual(updated.schema.map((f) => f.name), ['title', 'year', 'tags', 'pages']);

  await run(c.Class.please().delete({ instanceName, name: 'books' }));
  const err = await failure(c.Class.please().get({ instanceName, name: 'books' }));
  assert.equal(err.status, 404);
});

test('Class create with a bad field type fails with the schema error', async () => {
  const { connection: c, instanceName } = await newInstance(server.url);
  const err = await failure(c.Class.please().create({
    instanceName, name: 'broken', schema: [{ name: 'x', type: 'nonsense' }],
  }));
  assert.equal(err.status, 400);
  assert.deepEqual(Object.keys(err.errors), ['schema']);
});

test('DataObject: create, get, update, delete', async () => {
  const { c, instanceName } = await booksInstance();
  const [book] = await createBooks(c, instanceName, [{ title: 'The Last Wish', year: 1993 }]);
  assert.equal(book.title, 'The Last Wish');
  assert.equal(book.revision, 1);

  const got = await run(c.DataObject.please().get({ instanceName, className: 'books', id: book.id }));
  assert.equal(got.year, 1993);

  const updated = await run(c.DataObject.please().update({ instanceName, className: 'books', id: book.id },
    { year: 1994 }));
  assert.equal(updated.year, 1994);
  assert.equal(updated.revision, 2);

  await run(c.DataObject.please().delete({ instanceName, className: 'books', id: book.id }));
  const err = await failure(c.DataObject.please().get({ instanceName, className: 'books', id: book.id }));
  assert.equal(err.status, 404);
});

test('DataObject model: save() creates then updates, delete() removes', async () => {
  const { c, instanceName } = await booksInstance();
  const book = await c.DataObject({ instanceName, className: 'books', title: 'Blood of Elves', year: 1994 }).save();
  assert.ok(book.id);
  book.year = 1995;
  const saved = await book.save();
  assert.equal(saved.year, 1995);
  await book.delete();
  const list = await run(c.DataObject.please().list({ instanceName, className: 'books' }));
  assert.equal(list.length, 0);
});

test('DataObject list: filter, orderBy, pageSize and next page', async () => {
  const { c, instanceName } = await booksInstance();
  await createBooks(c, instanceName, [
    { title: 'The Last Wish', year: 1993 },
    { title: 'Sword of Destiny', year: 1992 },
    { title: 'Blood of Elves', year: 1994 },
    { title: 'Time of Contempt', year: 1995 },
  ]);
  const filtered = await run(c.DataObject.please().list({ instanceName, className: 'books' })
    .filter({ year: { _gte: 1993 } }).orderBy('-year'));
  assert.deepEqual(filtered.map((b) => b.year), [1995, 1994, 1993]);

  const page = await run(c.DataObject.please().list({ instanceName, className: 'books' })
    .orderBy('year').pageSize(3));
  assert.deepEqual(page.map((b) => b.year), [1992, 1993, 1994]);
  assert.equal(page.hasNext(), true);
  const next = await page.next();
  assert.deepEqual(next.map((b) => b.year), [1995]);

  const startsWith = await run(c.DataObject.please().list({ instanceName, className: 'books' })
    .filter({ title: { _startswith: 'Time' } }));
  assert.deepEqual(startsWith.map((b) => b.title), ['Time of Contempt']);
});

test('DataObject count() returns the number of matching objects', async () => {
  const { c, instanceName } = await booksInstance();
  await createBooks(c, instanceName, [{ year: 1990 }, { year: 1991 }, { year: 2001 }]);
  const counted = await run(c.DataObject.please().list({ instanceName, className: 'books' })
    .filter({ year: { _lt: 2000 } }).count());
  assert.equal(counted.objects_count, 2);
  assert.equal(counted.objects.length, 2);
});

test('DataObject all() walks every page', async () => {
  const { c, instanceName } = await booksInstance();
  await createBooks(c, instanceName, [1, 2, 3, 4, 5].map((n) => ({ year: 2000 + n })));
  const all = c.DataObject.please().all({ instanceName, className: 'books' }, { page_size: 2 }, false);
  const result = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { all.stop(); reject(new Error('all() did not finish in 10 s')); }, 10_000);
    all.on('stop', (objects) => { clearTimeout(timer); resolve(objects); });
    all.on('error', (err) => { clearTimeout(timer); all.stop(); reject(err); });
    all.start();
  });
  assert.deepEqual(result.map((b) => b.year), [2001, 2002, 2003, 2004, 2005]);
});

test('DataObject increment, add and remove (query-level)', async () => {
  const { c, instanceName } = await booksInstance();
  const [book] = await createBooks(c, instanceName, [{ year: 1993, tags: ['witcher'] }]);
  const props = { instanceName, className: 'books', id: book.id };
  const incremented = await run(c.DataObject.please().increment(props, { year: 7 }));
  assert.equal(incremented.year, 2000);
  const added = await run(c.DataObject.please().add(props, { tags: ['saga', 'fantasy'] }));
  assert.deepEqual(added.tags, ['witcher', 'saga', 'fantasy']);
  const unique = await run(c.DataObject.please().addUnique(props, { tags: ['saga', 'short'] }));
  assert.deepEqual(unique.tags, ['witcher', 'saga', 'fantasy', 'short']);
  const removed = await run(c.DataObject.please().remove(props, { tags: ['fantasy'] }));
  assert.deepEqual(removed.tags, ['witcher', 'saga', 'short']);
  const contains = await run(c.DataObject.please().list({ instanceName, className: 'books' })
    .contains('tags', ['saga']));
  assert.deepEqual(contains.map((b) => b.id), [book.id]);
});

test('DataObject create with a wrongly typed value fails with a field error', async () => {
  const { c, instanceName } = await booksInstance();
  const err = await failure(c.DataObject.please().create({ instanceName, className: 'books', year: 'soon' }));
  assert.equal(err.status, 400);
  assert.deepEqual(Object.keys(err.errors), ['year']);
});

test('BatchManager creates several objects in one request', async () => {
  const { c, instanceName } = await booksInstance();
  const books = [1996, 1997, 1999].map((year) => c.DataObject({ instanceName, className: 'books', year }));
  const batch = c.BatchManager({ instanceName });
  batch.addObjectsFromArray(books, 'create');
  const answers = await run(batch.batch());
  assert.deepEqual(answers.map((a) => a.code), [201, 201, 201]);
  assert.deepEqual(answers.map((a) => a.content.year), [1996, 1997, 1999]);
  const list = await run(c.DataObject.please().list({ instanceName, className: 'books' }));
  assert.equal(list.length, 3);
});
