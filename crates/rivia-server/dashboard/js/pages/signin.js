// Sign in with an admin account (POST /v1.1/account/auth/), or register one
// (POST /v1.1/account/register/; the server answers "Registration disabled." when it is
// closed). Either answer carries the account key, which session.js keeps for the tab.

import { h, replace } from '../dom.js';
import { api } from '../api.js';
import { fieldInput, showFormErrors, clearFormErrors, busy, showInfo } from '../ui.js';
import { session } from '../session.js';

function form({ id, fields, submitLabel, send }) {
  const built = fields.map((spec) => ({ spec, ...fieldInput(spec) }));
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const el = h('form', { id, novalidate: true }, h('p', { class: 'form-error', tabindex: '-1' }), built.map((b) => b.wrap), h('div', { class: 'form-actions' }, submit));
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(el);
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      const values = Object.fromEntries(built.map((b) => [b.spec.name, b.input.value]));
      const admin = await busy(send(values));
      session.signIn(admin);
    } catch (err) {
      showFormErrors(el, err);
    } finally {
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });
  return el;
}

export function render({ root, reason }) {
  const signIn = form({
    id: 'signin-form',
    submitLabel: 'Sign in',
    fields: [
      { name: 'email', label: 'Email', type: 'email', autocomplete: 'username', required: true },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true },
    ],
    send: (v) => api.post('/v1.1/account/auth/', { email: v.email, password: v.password }),
  });
  const register = form({
    id: 'register-form',
    submitLabel: 'Create account',
    fields: [
      { name: 'email', label: 'Email', type: 'email', autocomplete: 'username', required: true },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', required: true },
      { name: 'first_name', label: 'First name (optional)', autocomplete: 'given-name' },
      { name: 'last_name', label: 'Last name (optional)', autocomplete: 'family-name' },
    ],
    send: (v) => api.post('/v1.1/account/register/', v),
  });
  register.hidden = true;

  const tabSignIn = h('button', { type: 'button', role: 'tab', id: 'tab-signin', 'aria-selected': 'true', 'aria-controls': 'signin-form' }, 'Sign in');
  const tabRegister = h('button', { type: 'button', role: 'tab', id: 'tab-register', 'aria-selected': 'false', 'aria-controls': 'register-form' }, 'Register');
  const show = (which) => {
    const isSignIn = which === 'signin';
    signIn.hidden = !isSignIn;
    register.hidden = isSignIn;
    tabSignIn.setAttribute('aria-selected', String(isSignIn));
    tabRegister.setAttribute('aria-selected', String(!isSignIn));
    (isSignIn ? signIn : register).querySelector('input')?.focus();
  };
  tabSignIn.addEventListener('click', () => show('signin'));
  tabRegister.addEventListener('click', () => show('register'));

  replace(
    root,
    h(
      'div',
      { class: 'signin panel' },
      h('h1', { tabindex: '-1', id: 'page-title' }, 'Rivia dashboard'),
      h('p', { class: 'muted' }, 'Sign in with your admin account. Your account key stays in this browser tab until you sign out or close it.'),
      h('div', { class: 'tabs', role: 'tablist' }, tabSignIn, tabRegister),
      signIn,
      register,
    ),
  );
  if (reason) showInfo(reason);
  signIn.querySelector('input').focus();
}
