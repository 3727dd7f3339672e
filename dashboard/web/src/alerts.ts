// The live alert feed: the latest alerts from the API, new ones from the
// stream at the top, each with a button to acknowledge it and one to show
// where it happened. Older pages load on demand.

import L from './leaflet';
import { api, type Alert } from './api';
import { h } from './dom';
import { coords, when } from './format';

const PAGE = 50;
const VERBS: Record<string, string> = { enter: 'entered', exit: 'left', dwell: 'is dwelling in', cross: 'crossed', below: 'is below the limit of', above: 'is above the limit of' };

export class Alerts {
  readonly el: HTMLElement;
  private list: HTMLOListElement;
  private more: HTMLButtonElement;
  private status: HTMLElement;
  private items = new Map<string, { alert: Alert; li: HTMLLIElement }>();
  private next: string | null = null;
  private marker: L.CircleMarker | null = null;

  constructor(private map: L.Map, private domain: string, private me: string, private onCount: (unacked: number) => void) {
    this.list = h('ol', { class: 'alert-list', 'aria-label': 'Alerts, newest first', 'aria-live': 'polite', 'aria-relevant': 'additions' });
    this.more = h('button', { type: 'button', hidden: true, onclick: () => this.load(true) }, 'Older alerts');
    this.status = h('p', { class: 'summary' });
    this.el = h('section', { class: 'alerts' }, this.status, this.list, this.more);
  }

  async load(older = false) {
    try {
      const page = await api.alerts(PAGE, older ? this.next ?? undefined : undefined);
      if (!older) {
        this.items.clear();
        this.list.replaceChildren();
      }
      for (const a of page.alerts ?? []) this.add(a, false);
      this.next = page.next ?? null;
      this.more.hidden = !this.next;
      this.counted();
    } catch (e) {
      this.status.textContent = `Could not load alerts: ${(e as Error).message}`;
    }
  }

  /** A new alert from the stream. */
  push(a: Alert) {
    this.add(a, true);
    this.counted();
  }

  /** An acknowledgement from the stream (by anyone). */
  acked(a: Alert) {
    const old = this.items.get(a.id);
    if (!old) return;
    this.add({ ...old.alert, ...a }, false);
    this.counted();
  }

  private short(v: string | undefined): string {
    if (!v) return '';
    return this.domain && v.endsWith(`@${this.domain}`) ? v.slice(0, -this.domain.length - 1) : v;
  }

  private text(a: Alert): string {
    const who = this.short(a.device);
    const what = a.fence_name || a.fence || '';
    if (a.sensor) return `${who}: ${a.sensor} ${a.value ?? ''}${a.unit ?? ''} (${what}, limit ${a.threshold ?? ''}${a.unit ?? ''})`;
    if (a.near) return `${who} ${a.event === 'enter' ? 'came near' : 'moved away from'} ${this.short(a.near)} (${what})`;
    return `${who} ${VERBS[a.event] ?? a.event} ${what}`;
  }

  private add(a: Alert, top: boolean) {
    const old = this.items.get(a.id);
    const li = h('li', { class: `alert alert-${a.event}${a.acked_by ? ' acked' : ''}`, 'data-id': a.id, 'data-event': a.event },
      h('span', { class: 'alert-text' }, this.text(a)),
      h('time', { datetime: a.time }, when(a.time)),
      h('div', { class: 'row' },
        a.position && h('button', { type: 'button', class: 'link', onclick: () => this.showOnMap(a) }, 'Show'),
        a.acked_by
          ? h('span', { class: 'acked-by' }, `Acknowledged by ${this.short(a.acked_by)}${a.acked_at ? `, ${when(a.acked_at)}` : ''}`)
          : h('button', { type: 'button', class: 'ack', onclick: () => this.ack(a) }, 'Acknowledge')));
    if (old) old.li.replaceWith(li);
    else if (top) this.list.prepend(li);
    else this.list.append(li);
    this.items.set(a.id, { alert: a, li });
  }

  private async ack(a: Alert) {
    try {
      const res = await api.ack(a.id);
      const acked = res && typeof res === 'object' && 'id' in res ? (res as Alert) : { ...a, acked_by: this.me, acked_at: new Date().toISOString() };
      this.add({ ...a, ...acked }, false);
      this.counted();
    } catch (e) {
      this.status.textContent = `Not acknowledged: ${(e as Error).message}`;
    }
  }

  private showOnMap(a: Alert) {
    if (!a.position) return;
    const ll = L.latLng(a.position.lat, a.position.lon);
    this.marker?.remove();
    this.marker = L.circleMarker(ll, { radius: 12, color: '#cf222e', weight: 3, fill: false, pmIgnore: true, interactive: false }).addTo(this.map);
    this.map.setView(ll, Math.max(this.map.getZoom(), 15));
    this.status.textContent = `${this.text(a)} at ${coords(a.position.lat, a.position.lon)}`;
  }

  private counted() {
    let n = 0;
    for (const { alert } of this.items.values()) if (!alert.acked_by) n++;
    this.status.textContent = this.items.size ? `${this.items.size} alerts shown, ${n} not acknowledged` : 'No alerts.';
    this.onCount(n);
  }
}
