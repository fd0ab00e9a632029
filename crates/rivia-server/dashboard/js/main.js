// Starts the dashboard: draws the header and the instance navigation around the page the
// hash names, and aborts a page's requests (a channel's long poll) when the user leaves it.

import { session } from './session.js';
import { pages } from './pages/registry.js';
import { h, replace } from './dom.js';
import { knownInstances, instancesChanged } from './state.js';
import { current, resolve, href, inInstance } from './router.js';
import { noticeArea, showError, clearNotice } from './ui.js';

let controller = null;
let signOutReason = '';

function drawAccount() {
  const box = document.getElementById('top-account');
  if (!session.key) {
    replace(box);
    return;
  }
  replace(
    box,
    h('span', { class: 'who', title: session.email }, session.email),
    h('button', { type: 'button', class: 'small', id: 'sign-out', on: { click: () => session.signOut() } }, 'Sign out'),
  );
}

async function drawContext(instance, sectionId) {
  const box = document.getElementById('top-context');
  if (!instance) {
    replace(box);
    return;
  }
  const select = h('select', { id: 'instance-switch', 'aria-label': 'Instance' }, h('option', { value: instance, selected: true }, instance));
  select.addEventListener('change', () => {
    window.location.hash = inInstance(select.value, sectionId || 'classes').slice(1);
  });
  replace(box, select);
  try {
    const names = await knownInstances();
    replace(select, names.map((n) => h('option', { value: n, selected: n === instance }, n)));
    if (!names.includes(instance)) select.prepend(h('option', { value: instance, selected: true }, instance));
  } catch (err) {
    showError(err);
  }
}

function drawNav(instance, sectionId) {
  const nav = document.getElementById('nav');
  const shell = document.getElementById('shell');
  if (!instance) {
    shell.classList.add('no-side');
    replace(nav);
    return;
  }
  shell.classList.remove('no-side');
  const items = pages.filter((p) => p.nav);
  replace(
    nav,
    h('div', { class: 'side-title' }, instance),
    h(
      'ul',
      {},
      items.map((p) =>
        h('li', {}, h('a', { href: inInstance(instance, p.route.split('/').slice(2).join('/')), 'aria-current': p.id === sectionId ? 'page' : null }, p.nav)),
      ),
      h('li', {}, h('a', { href: href('instances') }, 'All instances')),
    ),
  );
}

async function route() {
  controller?.abort();
  // A dialog belongs to the page it was opened on.
  document.querySelectorAll('dialog').forEach((d) => d.close());
  const mine = new AbortController();
  controller = mine;
  const main = document.getElementById('main');
  drawAccount();
  const { path, query } = current();

  if (!session.key) {
    drawNav(null);
    drawContext(null);
    const signin = await import('./pages/signin.js');
    if (controller !== mine) return;
    const root = h('div', { class: 'page' });
    replace(main, noticeArea(), root);
    signin.render({ root, reason: signOutReason });
    signOutReason = '';
    document.title = 'Sign in · Rivia';
    return;
  }

  const found = resolve(path);
  if (!found) {
    if (path === '') {
      window.location.replace('#/instances');
      return;
    }
    drawNav(null);
    drawContext(null);
    replace(main, noticeArea(), h('h1', { tabindex: '-1', id: 'page-title' }, 'Page not found'), h('p', {}, h('a', { href: href('instances') }, 'Back to your instances')));
    return;
  }
  if (found.page.redirect) {
    window.location.replace(`#/${found.page.redirect(found.params)}`);
    return;
  }
  const instance = found.params.instance || null;
  const sectionId = found.page.id || found.page.section || null;
  let module;
  try {
    module = await found.page.load();
  } catch (err) {
    replace(main, noticeArea());
    showError(new Error(`this page could not be loaded (${err.message})`));
    return;
  }
  if (controller !== mine) return;
  // The page is drawn off-screen and shown once its first data is in: the previous page
  // stays until then, and nothing moves about while the new one loads.
  const notice = noticeArea();
  const root = h('div', { class: 'page' });
  try {
    await module.render({ root, params: found.params, query, signal: mine.signal });
  } catch (err) {
    if (controller === mine) showError(err);
    if (!root.firstChild) replace(root, h('h1', { tabindex: '-1', id: 'page-title' }, 'This page could not be shown'));
  }
  if (controller !== mine) return;
  drawNav(instance, sectionId);
  drawContext(instance, sectionId);
  replace(main, notice, root);
  document.title = [module.title ? module.title(found.params) : null, instance, 'Rivia'].filter(Boolean).join(' · ');
  if (document.activeElement === document.body || !document.activeElement) {
    document.getElementById('page-title')?.focus({ preventScroll: true });
  }
}

session.onChange((event, reason) => {
  instancesChanged();
  if (event === 'signout') {
    signOutReason = reason || '';
    clearNotice();
  }
  route();
});

document.getElementById('skip').addEventListener('click', (event) => {
  event.preventDefault();
  const target = document.getElementById('page-title') || document.getElementById('main');
  target.focus();
});

window.addEventListener('hashchange', () => {
  window.scrollTo(0, 0);
  route().then(() => document.getElementById('page-title')?.focus({ preventScroll: true }));
});
route();
