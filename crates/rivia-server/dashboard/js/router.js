// Hash routes (`#/i/<instance>/classes`): the server serves one page at /_/ and the
// address bar never holds anything secret.

import { pages } from './pages/registry.js';

/** The current hash path, without `#/` and trailing slashes, and its `?query`. */
export function current() {
  const raw = window.location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  return { path: path.replace(/\/+$/, ''), query: new URLSearchParams(query) };
}

/** Matches `path` against a route; answers its decoded parameters or null. */
export function match(route, path) {
  const want = route.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params = {};
  for (let i = 0; i < want.length; i += 1) {
    if (want[i].startsWith(':')) {
      if (!got[i]) return null;
      try {
        params[want[i].slice(1)] = decodeURIComponent(got[i]);
      } catch {
        return null;
      }
    } else if (want[i] !== got[i]) {
      return null;
    }
  }
  return params;
}

/** The page and parameters for a path (first match wins). */
export function resolve(path) {
  for (const page of pages) {
    const params = match(page.route, path);
    if (params) return { page, params };
  }
  return null;
}

/** A link to a hash path made of segments (each encoded). */
export function href(...segments) {
  return `#/${segments.map((s) => encodeURIComponent(String(s))).join('/')}`;
}

/** Goes to a hash path made of segments. */
export function go(...segments) {
  window.location.hash = href(...segments);
}

/** A link to an area of an instance. */
export const inInstance = (instance, ...rest) => href('i', instance, ...rest);
