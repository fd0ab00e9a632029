// The live view of one channel: its recent history, then every new change as it happens,
// and a form to publish a message.
//
// Changes arrive by long poll (`poll/?last_id=…`), not by the WebSocket transport: a
// browser cannot put the account key in a WebSocket request's headers, and the key must not
// go into a URL. Each poll carries the newest id seen, so nothing is missed between polls.

import { h, replace, uid } from '../dom.js';
import { api, instancePath, seg, request } from '../api.js';
import { pageHead, showError, showInfo, busy, clearFormErrors, showFormErrors, FieldError, when } from '../ui.js';
import { inInstance } from '../router.js';

export const title = (p) => `Channel ${p.channel}`;

/** Most changes kept on screen; older ones drop off the end. */
const MAX_SHOWN = 200;

function authorText(author = {}) {
  if (author.admin !== undefined) return `admin ${author.admin}`;
  const parts = [];
  if (author.api_key !== undefined) parts.push(`API key ${author.api_key}`);
  if (author.user !== undefined) parts.push(`user ${author.user}`);
  return parts.join(', ') || 'unknown';
}

function changeItem(change) {
  const meta = change.metadata || {};
  return h(
    'li',
    { dataset: { changeId: String(change.id) } },
    h(
      'div',
      { class: 'meta' },
      h('strong', {}, `#${change.id} ${change.action}`),
      meta.type === 'object' ? h('span', {}, `object of ${meta.class}`) : h('span', {}, meta.type || ''),
      h('span', {}, `by ${authorText(change.author)}`),
      when(change.created_at),
    ),
    h('pre', { class: 'payload' }, JSON.stringify(change.payload, null, 2)),
  );
}

/** Waits `ms` unless `signal` aborts first. */
function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function render({ root, params, signal }) {
  const { instance } = params;
  const channelPath = instancePath(instance, `channels/${seg(params.channel)}/`);
  const channel = await api.get(channelPath, undefined, signal);
  const rooms = channel.type === 'separate_rooms';

  const feed = h('ol', { class: 'feed', id: 'feed', role: 'log', 'aria-label': 'Changes, newest first' });
  const state = h('p', { class: 'live-state', id: 'live-state', role: 'status' }, 'Not listening.');
  const setState = (kind, text) => {
    state.className = `live-state ${kind}`;
    state.textContent = text;
  };
  let lastId = 0;
  let listening = null;

  const add = (change, atTop = true) => {
    if (feed.querySelector(`[data-change-id="${change.id}"]`)) return;
    const item = changeItem(change);
    if (atTop) feed.prepend(item);
    else feed.append(item);
    while (feed.children.length > MAX_SHOWN) feed.lastElementChild.remove();
    lastId = Math.max(lastId, change.id);
  };

  const roomId = uid('room');
  const room = h('input', { id: roomId, name: 'room', type: 'text', placeholder: 'room name', autocomplete: 'off' });
  const listenButton = h('button', { type: 'submit', class: 'primary', id: 'listen' }, 'Listen');
  const roomForm = rooms
    ? h(
        'form',
        { class: 'panel', novalidate: true, id: 'room-form' },
        h('div', { class: 'field' }, h('label', { for: roomId }, 'Room'), h('span', { class: 'help' }, 'This channel has separate rooms: its changes are read one room at a time.'), room, h('div', { class: 'field-error', dataset: { errorFor: 'room' } })),
        h('p', { class: 'form-error' }),
        h('div', { class: 'form-actions' }, listenButton),
      )
    : null;

  function stop() {
    listening?.abort();
    listening = null;
  }
  signal.addEventListener('abort', stop);

  /** Loads the recent history, then polls for each next change until the page is left. */
  async function listen() {
    stop();
    const mine = new AbortController();
    listening = mine;
    signal.addEventListener('abort', () => mine.abort());
    const roomName = rooms ? room.value.trim().toLowerCase() : undefined;
    const roomParams = rooms ? { room: roomName } : {};
    replace(feed);
    lastId = 0;
    setState('', 'Loading the recent history…');
    const history = await busy(api.get(`${channelPath}history/`, { page_size: 20, ...roomParams }, mine.signal));
    history.objects.forEach((c) => add(c, false));
    let delay = 1000;
    while (!mine.signal.aborted) {
      setState('on', `Live${rooms ? ` in room ${roomName}` : ''}: new changes appear at the top.`);
      try {
        const resp = await request('GET', `${channelPath}poll/`, { params: { last_id: lastId, ...roomParams }, signal: mine.signal });
        delay = 1000;
        const change = resp.status === 200 && resp.data && typeof resp.data === 'object' ? resp.data : null;
        if (change && Number(change.id) > lastId) add(change);
        else if (change) await pause(1000, mine.signal); // not newer than what we hold: never spin
      } catch (err) {
        if (err?.name === 'AbortError') return;
        const permanent = err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
        if (permanent) {
          setState('bad', `Stopped: ${err.message}`);
          throw err;
        }
        setState('bad', `${err.message} Trying again in ${Math.round(delay / 1000)} s.`);
        await pause(delay, mine.signal);
        delay = Math.min(delay * 2, 30000);
      }
    }
  }

  const start = () =>
    listen().catch((err) => {
      if (err?.name === 'AbortError') return;
      if (roomForm) showFormErrors(roomForm, err);
      else showError(err);
    });

  roomForm?.addEventListener('submit', (event) => {
    event.preventDefault();
    clearFormErrors(roomForm);
    if (!room.value.trim()) {
      showFormErrors(roomForm, new FieldError('room', 'Give a room to listen to.'));
      return;
    }
    start();
  });

  // ------------------------------------------------------------------ publish

  const payloadId = uid('payload');
  const payload = h('textarea', { id: payloadId, name: 'payload', class: 'json', rows: 5, spellcheck: 'false' });
  payload.value = '{\n  "message": "hello"\n}';
  const publishButton = h('button', { type: 'submit', class: 'primary', id: 'publish', disabled: !channel.custom_publish }, 'Publish');
  const publishForm = h(
    'form',
    { class: 'panel', novalidate: true, id: 'publish-form' },
    h('h2', {}, 'Publish a message'),
    channel.custom_publish ? null : h('p', { class: 'muted' }, 'This channel does not take custom messages (custom publish is off); object changes still arrive.'),
    h('p', { class: 'form-error', tabindex: '-1' }),
    h('div', { class: 'field' }, h('label', { for: payloadId }, 'Payload (JSON object)'), payload, h('div', { class: 'field-error', dataset: { errorFor: 'payload' } })),
    h('div', { class: 'field-error', dataset: { errorFor: 'room' } }),
    h('div', { class: 'form-actions' }, publishButton),
  );
  publishForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(publishForm);
    publishButton.disabled = true;
    try {
      let body;
      try {
        body = { payload: JSON.parse(payload.value || '{}') };
      } catch (e) {
        throw new FieldError('payload', `Not valid JSON: ${e.message}`);
      }
      if (rooms) body.room = room.value.trim();
      const change = await busy(api.post(`${channelPath}publish/`, body));
      showInfo(`Message #${change.id} published.`);
    } catch (err) {
      showFormErrors(publishForm, err);
    } finally {
      publishButton.disabled = !channel.custom_publish;
    }
  });

  replace(
    root,
    pageHead({
      title: `Channel ${channel.name}`,
      crumbs: [{ label: instance }, { label: 'Channels', href: inInstance(instance, 'channels') }],
    }),
    channel.description ? h('p', { class: 'muted' }, channel.description) : null,
    h('div', { class: 'two-col' }, h('section', { 'aria-label': 'Changes' }, roomForm, state, feed), publishForm),
  );
  if (!rooms) start();
}
