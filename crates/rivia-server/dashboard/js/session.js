// The signed-in admin, kept for this browser tab only (sessionStorage): closing the tab
// forgets the account key. The key is sent in the X-API-KEY header, never in a URL.

const STORE = 'rivia.dashboard.session';
const listeners = new Set();

function read() {
  try {
    const raw = sessionStorage.getItem(STORE);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export const session = {
  /** The account key, or null when signed out. */
  get key() {
    return read()?.key ?? null;
  },
  /** The admin's id. */
  get id() {
    return read()?.id ?? null;
  },
  /** The admin's email, for the header. */
  get email() {
    return read()?.email ?? '';
  },
  /** Keeps the account key of a sign-in or registration answer. */
  signIn(admin) {
    sessionStorage.setItem(STORE, JSON.stringify({ key: admin.account_key, email: admin.email, id: admin.id }));
    listeners.forEach((fn) => fn('signin'));
  },
  /** Forgets the key. `reason` is shown on the sign-in page. */
  signOut(reason = '') {
    sessionStorage.removeItem(STORE);
    listeners.forEach((fn) => fn('signout', reason));
  },
  onChange(fn) {
    listeners.add(fn);
  },
};
