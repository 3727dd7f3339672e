// One device: its popup on the map, and the detail view in the side panel
// with the last fix, trail replay and telemetry charts.

import type L from './leaflet';
import type { Device } from './devices';
import { fill, h } from './dom';
import { ago, coords, heading, metres, speed, when } from './format';
import { Replay } from './replay';
import { Telemetry } from './telemetry';

function facts(d: Device): HTMLElement {
  const p = d.pos;
  const battery = d.battery ?? d.readings.battery?.value;
  return h('dl', { class: 'facts' },
    h('dt', null, 'State'), h('dd', null, h('span', { class: `dot ${d.online ? 'online' : 'offline'}` }), d.online ? 'online' : 'offline'),
    h('dt', null, 'Last fix'), h('dd', null, p ? [coords(p.lat, p.lon), h('br'), when(p.time)] : 'none'),
    h('dt', null, 'Speed'), h('dd', null, speed(p?.speed)),
    h('dt', null, 'Heading'), h('dd', null, heading(p?.bearing)),
    p?.accuracy !== undefined && p?.accuracy !== null && [h('dt', null, 'Accuracy'), h('dd', null, `± ${metres(p.accuracy)}`)],
    h('dt', null, 'Battery'), h('dd', null, battery !== undefined && battery !== null ? `${Math.round(battery)} %` : '—'),
    h('dt', null, 'Last seen'), h('dd', null, ago(d.lastSeen ?? p?.time)),
    d.groups.length > 0 && [h('dt', null, 'Groups'), h('dd', null, d.groups.join(', '))]);
}

export function popupContent(d: Device, onDetails: (d: Device) => void): HTMLElement {
  return h('div', { class: 'device-popup', 'data-device': d.name },
    h('strong', null, d.name), facts(d),
    h('button', { type: 'button', class: 'link', onclick: () => onDetails(d) }, 'Details, trail and telemetry'));
}

export class DevicePanel {
  readonly el: HTMLElement;
  private title: HTMLElement;
  private info: HTMLElement;
  readonly replay: Replay;
  private telemetry = new Telemetry();
  device: Device | null = null;

  constructor(map: L.Map, onBack: () => void) {
    this.replay = new Replay(map);
    this.title = h('h2', { id: 'device-title', tabindex: '-1' });
    this.info = h('div');
    this.el = h('section', { class: 'device-panel', 'aria-labelledby': 'device-title', hidden: true },
      h('button', { type: 'button', class: 'link back', onclick: onBack }, '← All devices'),
      this.title, this.info, this.replay.el, this.telemetry.el);
  }

  show(d: Device) {
    this.device = d;
    this.el.hidden = false;
    this.title.textContent = d.name;
    this.replay.show(d.name);
    this.telemetry.show(d.name);
    this.refresh();
    this.title.focus();
  }

  hide() {
    this.el.hidden = true;
    this.replay.clear();
    this.device = null;
  }

  refresh() {
    if (this.device) fill(this.info, facts(this.device));
  }
}
