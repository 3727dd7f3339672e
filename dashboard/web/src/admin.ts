// The admin tab: accounts (add, change role and groups, new password,
// delete) and API tokens (create, revoke). Only admins get the tab; the
// API refuses everyone else anyway. A generated password or token secret
// is in one answer only, so it is shown once, with a copy button.

import { api, type DeviceInfo, type Token, type User } from './api';
import { fill, h } from './dom';
import { ago, when, words } from './format';

const ROLES = ['device', 'operator', 'admin'];
const SHOWN = 200;

/** A password or token shown once: selectable, copyable, then dismissed. */
class Secret {
  readonly el: HTMLElement;
  private label: HTMLLabelElement;
  private value: HTMLInputElement;
  private status: HTMLElement;

  constructor(id: string, private onClose: () => void) {
    this.label = h('label', { for: `${id}-value` });
    this.value = h('input', { id: `${id}-value`, class: 'secret-value', readonly: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': `${id}-warn` });
    this.status = h('span', { class: 'muted', role: 'status' });
    this.el = h('div', { class: 'secret', hidden: true },
      this.label,
      h('div', { class: 'row' }, this.value, h('button', { type: 'button', onclick: () => this.copy() }, 'Copy')),
      h('p', { id: `${id}-warn`, class: 'warn' }, 'It is not shown again: copy it now.'),
      h('div', { class: 'row' }, this.status, h('button', { type: 'button', onclick: () => this.hide() }, 'Done')));
  }

  show(label: string, value: string) {
    this.label.textContent = label;
    this.value.value = value;
    this.status.textContent = '';
    this.el.hidden = false;
    this.value.focus();
    this.value.select();
  }

  hide() {
    this.value.value = '';
    this.el.hidden = true;
    this.onClose();
  }

  private async copy() {
    this.value.select();
    try {
      await navigator.clipboard.writeText(this.value.value);
      this.status.textContent = 'Copied.';
    } catch {
      // No clipboard API (plain HTTP to another host): the text is selected.
      this.status.textContent = document.execCommand('copy') ? 'Copied.' : 'Selected: copy it with Ctrl+C.';
    }
  }
}

/** An API error as a sentence for a form: "Not added: …". */
const failed = (what: string, e: unknown) => `${what}: ${(e as Error).message}`;

export class Admin {
  readonly el: HTMLElement;
  private accounts: DeviceInfo[] = [];
  private tokenList: Token[] = [];
  private editing: string | null = null;

  private search = h('input', { type: 'search', id: 'admin-search', placeholder: 'Name', autocomplete: 'off', oninput: () => this.renderAccounts() });
  private roleFilter = h('select', { id: 'admin-role', onchange: () => this.renderAccounts() },
    h('option', { value: '' }, 'All'), ROLES.map((r) => h('option', { value: r }, r)));
  private groupFilter = h('select', { id: 'admin-group', onchange: () => this.renderAccounts() });
  private summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  private rowMsg = h('p', { class: 'error', role: 'alert' });
  private rows = h('tbody');

  private addName = h('input', { id: 'account-name', name: 'name', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  private addRole = h('select', { id: 'account-role', name: 'role' }, ROLES.map((r) => h('option', { value: r }, r)));
  private addGroups = h('input', { id: 'account-groups', name: 'groups', autocomplete: 'off', 'aria-describedby': 'account-groups-hint' });
  private addPassword = h('input', { id: 'account-password', name: 'password', type: 'password', autocomplete: 'new-password', minlength: 8, 'aria-describedby': 'account-password-hint' });
  private addMsg = h('p', { class: 'error', role: 'alert' });
  private password = new Secret('account-secret', () => this.addName.focus());

  private editRole = h('select', { id: 'edit-role' }, ROLES.map((r) => h('option', { value: r }, r)));
  private editGroups = h('input', { id: 'edit-groups', autocomplete: 'off' });
  private editMsg = h('p', { class: 'error', role: 'alert' });
  private editTitle = h('h4', { id: 'edit-title' });
  private editRow: HTMLTableRowElement;

  private tokenName = h('input', { id: 'token-name', name: 'name', required: true, autocomplete: 'off', maxlength: 100 });
  private tokenAccount = h('select', { id: 'token-account', name: 'account' });
  private tokenMsg = h('p', { class: 'error', role: 'alert' });
  private tokenSecret = new Secret('token-secret', () => this.tokenName.focus());
  private tokenRows = h('tbody');
  private tokenSummary = h('p', { class: 'summary', 'aria-live': 'polite' });
  private tokenRowMsg = h('p', { class: 'error', role: 'alert' });

  constructor(private me: User, private onAccountsChanged: () => void) {
    const field = (label: string, el: HTMLElement, hint = '') =>
      h('div', { class: 'field' }, h('label', { for: el.id }, label), el, hint && h('small', { id: `${el.id}-hint` }, hint));

    const addForm = h('form', { class: 'admin-form', 'aria-label': 'Add an account', onsubmit: (e: Event) => { e.preventDefault(); this.add(); } },
      field('Name', this.addName), field('Role', this.addRole),
      field('Groups', this.addGroups, 'Separated by commas.'),
      field('Password', this.addPassword, 'Optional: left empty, one is generated and shown once.'),
      this.addMsg,
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Add account')));

    const editForm = h('form', { class: 'admin-form', 'aria-labelledby': 'edit-title',
      onsubmit: (e: Event) => { e.preventDefault(); this.saveEdit(); },
      onkeydown: (e: KeyboardEvent) => { if (e.key === 'Escape') this.closeEdit(); } },
    this.editTitle, field('Role', this.editRole), field('Groups', this.editGroups),
    this.editMsg,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), h('button', { type: 'button', onclick: () => this.closeEdit() }, 'Cancel')));
    this.editRow = h('tr', { class: 'edit-row' }, h('td', { colspan: 7 }, editForm));

    const tokenForm = h('form', { class: 'admin-form', 'aria-labelledby': 'token-add-title', onsubmit: (e: Event) => { e.preventDefault(); this.addToken(); } },
      h('h3', { id: 'token-add-title' }, 'Create a token'),
      field('Token name', this.tokenName), field('Acts as', this.tokenAccount, ''),
      h('small', { class: 'hint' }, 'A token calls the API with the rights of an operator or admin account: "Authorization: Bearer …".'),
      this.tokenMsg,
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Create token')));

    const th = (...cols: string[]) => h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col' }, c))));
    this.el = h('div', { class: 'admin' },
      h('section', { 'aria-labelledby': 'accounts-title' },
        h('h2', { id: 'accounts-title' }, 'Accounts'),
        this.password.el,
        h('details', { class: 'admin-add' }, h('summary', null, 'Add an account'), addForm),
        h('div', { class: 'filters' },
          h('label', { for: 'admin-search' }, 'Search accounts'), this.search,
          h('label', { for: 'admin-role' }, 'Role'), this.roleFilter,
          h('label', { for: 'admin-group' }, 'Group'), this.groupFilter),
        this.summary, this.rowMsg,
        h('div', { class: 'table-wrap' },
          h('table', { class: 'admin-table', 'aria-labelledby': 'accounts-title' },
            th('Name', 'Role', 'Groups', 'State', 'Last seen', 'Kind', 'Actions'), this.rows))),
      h('section', { 'aria-labelledby': 'tokens-title' },
        h('h2', { id: 'tokens-title' }, 'API tokens'),
        this.tokenSecret.el, tokenForm, this.tokenSummary, this.tokenRowMsg,
        h('div', { class: 'table-wrap' },
          h('table', { class: 'admin-table', 'aria-labelledby': 'tokens-title' },
            th('Name', 'Account', 'Created', 'Last used', 'Actions'), this.tokenRows))));
  }

  /** Fetches accounts and tokens afresh. */
  async load() {
    await Promise.all([this.loadAccounts(), this.loadTokens()]);
  }

  private async loadAccounts() {
    try {
      this.accounts = await api.devices();
    } catch (e) {
      this.summary.textContent = failed('Could not load accounts', e);
      return;
    }
    const groups = [...new Set(this.accounts.flatMap((a) => a.groups ?? []))].sort();
    const group = this.groupFilter.value;
    fill(this.groupFilter, h('option', { value: '' }, 'All'), groups.map((g) => h('option', { value: g, selected: g === group }, g)));
    const account = this.tokenAccount.value || this.me.name;
    fill(this.tokenAccount, this.accounts.filter((a) => a.role === 'operator' || a.role === 'admin')
      .map((a) => h('option', { value: a.name, selected: a.name === account }, `${a.name} (${a.role})`)));
    if (this.editing && !this.accounts.some((a) => a.name === this.editing)) this.editing = null;
    this.renderAccounts();
  }

  private async loadTokens() {
    try {
      this.tokenList = await api.tokens();
    } catch (e) {
      this.tokenSummary.textContent = failed('Could not load tokens', e);
      return;
    }
    this.renderTokens();
  }

  private renderAccounts() {
    const ws = words(this.search.value.toLowerCase());
    const role = this.roleFilter.value, group = this.groupFilter.value;
    const matches = this.accounts.filter((a) => (!role || a.role === role) && (!group || (a.groups ?? []).includes(group)) &&
      ws.every((w) => a.name.toLowerCase().includes(w) || (a.groups ?? []).some((g) => g.toLowerCase() === w)));
    const shown = matches.slice(0, SHOWN);
    if (this.editing && !shown.some((a) => a.name === this.editing)) {
      const a = this.accounts.find((x) => x.name === this.editing);
      if (a) shown.push(a); // an edit in progress stays in view
    }
    fill(this.rows, shown.flatMap((a) => [this.row(a), a.name === this.editing && this.editRow]));
    this.summary.textContent = `${this.accounts.length} accounts` +
      (matches.length !== this.accounts.length ? `; ${matches.length} match` : '') +
      (matches.length > SHOWN ? ` (first ${SHOWN} shown)` : '');
  }

  private row(a: DeviceInfo): HTMLTableRowElement {
    const self = a.name === this.me.name;
    return h('tr', { 'data-name': a.name },
      h('th', { scope: 'row' }, a.name),
      h('td', null, a.role ?? 'device'),
      h('td', null, (a.groups ?? []).join(', ')),
      h('td', null, h('span', { class: `dot ${a.online ? 'online' : 'offline'}`, 'aria-hidden': 'true' }), a.online ? 'online' : 'offline'),
      h('td', null, a.online ? 'now' : ago(a.last_seen)),
      h('td', null, a.demo && h('span', { class: 'tag', title: 'Made by geohub serve --demo' }, 'demo'),
        a.mqtt && h('span', { class: 'tag', title: 'Provisioned by the MQTT bridge' }, 'MQTT')),
      h('td', { class: 'actions' },
        h('button', { type: 'button', 'aria-label': `Edit ${a.name}`, 'aria-expanded': String(this.editing === a.name), onclick: () => this.openEdit(a) }, 'Edit'),
        h('button', { type: 'button', 'aria-label': `New password for ${a.name}`, onclick: () => this.resetPassword(a.name) }, 'New password'),
        h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${a.name}`, disabled: self, title: self ? 'You cannot delete your own account' : undefined, onclick: () => this.remove(a.name) }, 'Delete')));
  }

  private async add() {
    this.addMsg.textContent = '';
    let made;
    try {
      made = await api.createAccount({ name: this.addName.value.trim(), role: this.addRole.value, groups: words(this.addGroups.value), password: this.addPassword.value || undefined });
    } catch (e) {
      this.addMsg.textContent = failed('Not added', e);
      return;
    }
    this.addName.value = this.addGroups.value = this.addPassword.value = '';
    if (made.password) this.password.show(`Password for ${made.name}`, made.password);
    await this.loadAccounts();
    this.summary.textContent = `Added ${made.name}${made.password ? '' : ' with the password given'}. ${this.accounts.length} accounts.`;
    this.onAccountsChanged();
  }

  private openEdit(a: DeviceInfo) {
    this.editing = a.name;
    this.editTitle.textContent = `Edit ${a.name}`;
    this.editRole.value = a.role ?? 'device';
    this.editRole.disabled = a.name === this.me.name; // the API refuses a change of one's own role
    this.editGroups.value = (a.groups ?? []).join(', ');
    this.editMsg.textContent = '';
    this.renderAccounts();
    (this.editRole.disabled ? this.editGroups : this.editRole).focus();
  }

  private closeEdit() {
    const name = this.editing;
    this.editing = null;
    this.renderAccounts();
    if (name) (this.rows.querySelector(`tr[data-name="${CSS.escape(name)}"] button`) as HTMLElement | null)?.focus();
  }

  private async saveEdit() {
    const name = this.editing;
    if (!name) return;
    const change = { groups: words(this.editGroups.value), ...(this.editRole.disabled ? {} : { role: this.editRole.value }) };
    try {
      await api.updateAccount(name, change);
    } catch (e) {
      this.editMsg.textContent = failed('Not saved', e);
      return;
    }
    this.closeEdit();
    await this.loadAccounts();
    this.summary.textContent = `Saved ${name}.`;
    this.onAccountsChanged();
  }

  private async resetPassword(name: string) {
    this.rowMsg.textContent = '';
    if (!window.confirm(`Make a new password for ${name}? The old one stops working.`)) return;
    try {
      const { password } = await api.resetPassword(name);
      this.password.show(`New password for ${name}`, password);
    } catch (e) {
      this.rowMsg.textContent = failed(`No new password for ${name}`, e);
    }
  }

  private async remove(name: string) {
    this.rowMsg.textContent = '';
    if (!window.confirm(`Delete the account ${name} and everything stored about it?`)) return;
    try {
      await api.deleteAccount(name);
    } catch (e) {
      this.rowMsg.textContent = failed(`${name} not deleted`, e);
      return;
    }
    if (this.editing === name) this.editing = null;
    await Promise.all([this.loadAccounts(), this.loadTokens()]); // its tokens went with it
    this.summary.textContent = `Deleted ${name}. ${this.accounts.length} accounts.`;
    this.onAccountsChanged();
  }

  private renderTokens() {
    fill(this.tokenRows, this.tokenList.map((t) => h('tr', { 'data-id': t.id },
      h('th', { scope: 'row' }, t.name),
      h('td', null, t.account),
      h('td', null, when(t.created)),
      h('td', null, t.last_used ? ago(t.last_used) : 'never'),
      h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${t.name} of ${t.account}`, onclick: () => this.revoke(t) }, 'Revoke')))));
    this.tokenSummary.textContent = this.tokenList.length ? `${this.tokenList.length} tokens` : 'No tokens.';
  }

  private async addToken() {
    this.tokenMsg.textContent = '';
    let made;
    try {
      made = await api.createToken(this.tokenName.value.trim(), this.tokenAccount.value);
    } catch (e) {
      this.tokenMsg.textContent = failed('Not created', e);
      return;
    }
    this.tokenName.value = '';
    this.tokenSecret.show(`Token ${made.name} of ${made.account}`, made.token);
    await this.loadTokens();
  }

  private async revoke(t: Token) {
    this.tokenRowMsg.textContent = '';
    if (!window.confirm(`Revoke the token ${t.name} of ${t.account}? Scripts using it stop working at once.`)) return;
    try {
      await api.revokeToken(t.id);
    } catch (e) {
      this.tokenRowMsg.textContent = failed(`${t.name} not revoked`, e);
      return;
    }
    await this.loadTokens();
    this.tokenSummary.textContent = `Revoked ${t.name}. ${this.tokenList.length} tokens.`;
  }
}
