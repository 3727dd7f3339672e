// The login page: an operator's or admin's XMPP account name and password.

import { api, setCsrf, type User } from './api';
import { h } from './dom';

export function showLogin(root: HTMLElement, onLogin: (u: User) => void, reason = '') {
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('p', { class: 'error', role: 'alert' }, reason);
  const button = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h('form', {
    class: 'login', 'aria-labelledby': 'login-title',
    onsubmit: async (e: Event) => {
      e.preventDefault();
      button.disabled = true;
      msg.textContent = '';
      try {
        const res = await api.login(user.value.trim(), pass.value);
        setCsrf(res.csrf);
        onLogin(res.user);
      } catch (err) {
        msg.textContent = (err as { status?: number }).status === 401 ? 'Wrong name or password.' : (err as Error).message;
        pass.select();
        button.disabled = false;
      }
    },
  },
  h('h1', { id: 'login-title' }, 'GeoHub'),
  h('p', { class: 'muted' }, 'Log in with your operator account.'),
  h('label', { for: 'login-user' }, 'Account name'), user,
  h('label', { for: 'login-password' }, 'Password'), pass,
  msg, button);
  root.replaceChildren(h('main', { class: 'login-page' }, form));
  user.focus();
}
