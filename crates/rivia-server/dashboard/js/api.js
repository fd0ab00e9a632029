// Rivia's public v1.1 API, and nothing else: every call is an ordinary HTTP request with
// the account key in the X-API-KEY header. Failures become ApiError, whose message says
// in words what the server answered.

import { session } from './session.js';

/** `/v1.1/instances/<name>/` plus `rest` (each segment URL-encoded by the caller). */
export function instancePath(instance, rest = '') {
  return `/v1.1/instances/${encodeURIComponent(instance)}/${rest}`;
}

/** Encodes one path segment. */
export const seg = (value) => encodeURIComponent(String(value));

const STATUS_WORDS = {
  400: 'The request was refused',
  401: 'Not signed in',
  403: 'Not allowed',
  404: 'Not found',
  405: 'Not allowed here',
  406: 'Not acceptable',
  408: 'The server timed out',
  409: 'Conflict',
  413: 'Too large',
  415: 'Unsupported media type',
  429: 'Too many requests: try again in a moment',
  500: 'The server failed',
  502: 'Bad gateway',
  503: 'The server is unavailable',
  504: 'Gateway timeout',
};

/** Human names for field keys in messages. */
function fieldLabel(key) {
  return key.replace(/_/g, ' ');
}

/** Flattens an error value (string, list, nested object) into sentences. */
function flatten(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flatten).filter(Boolean).join(' ');
  if (typeof value === 'object') {
    return Object.entries(value)
      .map(([k, v]) => (k === 'detail' || k === 'non_field_errors' ? flatten(v) : `${fieldLabel(k)}: ${flatten(v)}`))
      .join(' ');
  }
  return String(value);
}

/** What an error answer says, in words. */
export function describe(status, body) {
  if (status === 0) {
    return 'The server could not be reached. Check that Rivia is running and the network is up, then try again.';
  }
  const words = flatten(body).trim();
  if (words) return words.length > 600 ? `${words.slice(0, 600)}…` : words;
  return `${STATUS_WORDS[status] || 'Unexpected answer'} (HTTP ${status}).`;
}

export class ApiError extends Error {
  constructor(status, body, method, path) {
    super(describe(status, body));
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
    this.method = method;
    this.path = path;
  }

  /** Messages keyed by field name (field-shaped answers only). */
  get fields() {
    const out = {};
    if (this.body && typeof this.body === 'object' && !Array.isArray(this.body)) {
      for (const [k, v] of Object.entries(this.body)) {
        if (k !== 'detail' && k !== 'non_field_errors') out[k] = flatten(v);
      }
    }
    return out;
  }

  /** Messages not tied to a field ('' when every message belongs to a field). */
  get general() {
    const b = this.body;
    if (b && typeof b === 'object' && !Array.isArray(b)) {
      return [b.detail, b.non_field_errors].map(flatten).filter(Boolean).join(' ');
    }
    return this.message;
  }
}

/** Builds a URL from a path (absolute, or as the server's `next`/`prev` links) and params. */
export function buildUrl(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, v);
  }
  return url;
}

/**
 * One API request. `body`: a plain object (sent as JSON) or FormData (multipart).
 * Answers {status, data, headers}; throws ApiError on a non-2xx answer or a network
 * failure (an aborted request rethrows the AbortError).
 */
export async function request(method, path, { body, params, signal } = {}) {
  const url = buildUrl(path, params);
  const headers = { Accept: 'application/json' };
  const key = session.key;
  if (key) headers['X-API-KEY'] = key;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: payload, signal, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new ApiError(0, null, method, url.pathname);
  }
  let text = '';
  try {
    text = await resp.text();
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new ApiError(0, null, method, url.pathname);
  }
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, data, method, url.pathname);
    // The key was reset or the account deleted elsewhere: this tab is signed out.
    if (resp.status === 403 && data?.detail === 'No such API Key.' && key && session.key === key) {
      session.signOut('Your account key is no longer valid (it was reset or the account removed). Sign in again.');
    }
    throw err;
  }
  return { status: resp.status, data, headers: resp.headers };
}

export const api = {
  get: (path, params, signal) => request('GET', path, { params, signal }).then((r) => r.data),
  post: (path, body, params) => request('POST', path, { body, params }).then((r) => r.data),
  put: (path, body) => request('PUT', path, { body }).then((r) => r.data),
  patch: (path, body) => request('PATCH', path, { body }).then((r) => r.data),
  del: (path) => request('DELETE', path).then((r) => r.data),
  request,
};

/**
 * Every item of a list, following `next` links (at most `limit` items): for pickers such
 * as the groups a user may join. Lists bigger than that are cut, and say so.
 */
export async function listAll(path, params = {}, limit = 500) {
  const items = [];
  let url = buildUrl(path, { page_size: 100, ...params });
  while (url && items.length < limit) {
    const page = await api.get(url.pathname + url.search);
    items.push(...page.objects);
    url = page.next ? buildUrl(page.next) : null;
  }
  return { items: items.slice(0, limit), truncated: Boolean(url) };
}
