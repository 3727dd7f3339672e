// The device list: search by name or group, filter by state, click (or
// Enter) to centre the map on a device. With thousands of devices only the
// first matches are rendered; the search narrows them.

import type { Device, DeviceStore } from './devices';
import { fill, h, throttle } from './dom';
import { ago } from './format';

const SHOWN = 200;

export class DeviceList {
  readonly el: HTMLElement;
  private search: HTMLInputElement;
  private state: HTMLSelectElement;
  private summary: HTMLElement;
  private list: HTMLUListElement;

  constructor(private store: DeviceStore, private onPick: (d: Device) => void) {
    this.search = h('input', { type: 'search', id: 'device-search', placeholder: 'Name or group', autocomplete: 'off', oninput: () => this.render() });
    this.state = h('select', { id: 'device-state', onchange: () => this.render() },
      h('option', { value: '' }, 'All'), h('option', { value: 'online' }, 'Online'), h('option', { value: 'offline' }, 'Offline'));
    this.summary = h('p', { class: 'summary', 'aria-live': 'polite' });
    this.list = h('ul', { class: 'device-list', 'aria-label': 'Devices' });
    this.el = h('section', { class: 'devices' },
      h('div', { class: 'filters' },
        h('label', { for: 'device-search' }, 'Search devices'), this.search,
        h('label', { for: 'device-state' }, 'State'), this.state),
      this.summary, this.list);
    const later = throttle(() => this.render(), 1000);
    store.listen(later);
    // "5 s ago" ages even without news.
    window.setInterval(later, 10_000);
    this.render();
  }

  render() {
    const words = this.search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const state = this.state.value;
    const all = this.store.all();
    const online = all.reduce((n, d) => n + (d.online ? 1 : 0), 0);
    const matches = all.filter((d) =>
      (!state || (state === 'online') === d.online) &&
      words.every((w) => d.name.toLowerCase().includes(w) || d.groups.some((g) => g.toLowerCase() === w)));
    const focused = document.activeElement instanceof HTMLElement && this.list.contains(document.activeElement) ? document.activeElement.dataset.jid : undefined;
    fill(this.list, matches.slice(0, SHOWN).map((d) => h('li', null,
      h('button', { type: 'button', class: 'device-item', 'data-jid': d.jid, 'data-name': d.name, onclick: () => this.onPick(d) },
        h('span', { class: `dot ${d.online ? 'online' : 'offline'}`, title: d.online ? 'online' : 'offline' }),
        h('span', { class: 'name' }, d.name),
        h('span', { class: 'sub' }, d.pos ? ago(d.lastSeen ?? d.pos.time) : 'no position'),
        h('span', { class: 'visually-hidden' }, d.online ? ', online' : ', offline')))));
    if (focused) (this.list.querySelector(`[data-jid="${CSS.escape(focused)}"]`) as HTMLElement | null)?.focus();
    this.summary.textContent = `${all.length} devices, ${online} online` +
      (matches.length !== all.length ? `; ${matches.length} match` : '') +
      (matches.length > SHOWN ? ` (first ${SHOWN} shown)` : '');
  }
}
