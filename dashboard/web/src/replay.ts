// Trail replay: load a device's trail for a time range, draw it, and move
// a marker along it at a chosen speed, with play/pause and a scrubber.
// Playback follows the fixes' own times, interpolating between them.

import L from './leaflet';
import { api, type Trail } from './api';
import { h } from './dom';
import { localInput, when, speed as fmtSpeed } from './format';

export class Replay {
  readonly el: HTMLElement;
  private layer = L.layerGroup();
  private line: L.Polyline | null = null;
  private marker: L.CircleMarker | null = null;
  private lats: number[] = [];
  private lons: number[] = [];
  private times: number[] = [];
  private t = 0; // playback time, ms since the epoch
  private playing = false;
  private lastFrame = 0;
  private name = '';
  private from: HTMLInputElement;
  private to: HTMLInputElement;
  private play: HTMLButtonElement;
  private rate: HTMLSelectElement;
  private scrub: HTMLInputElement;
  private status: HTMLElement;

  constructor(private map: L.Map) {
    const now = new Date();
    this.from = h('input', { type: 'datetime-local', id: 'replay-from', value: localInput(new Date(now.getTime() - 3600_000)) });
    this.to = h('input', { type: 'datetime-local', id: 'replay-to', value: localInput(new Date(now.getTime() + 60_000)) });
    this.play = h('button', { type: 'button', disabled: true, 'aria-pressed': 'false', onclick: () => this.toggle() }, 'Play');
    this.rate = h('select', { id: 'replay-rate' }, [1, 10, 30, 60, 300].map((r) => h('option', { value: r, selected: r === 30 }, `${r}×`)));
    this.scrub = h('input', { type: 'range', id: 'replay-scrub', min: 0, max: 1000, value: 0, disabled: true, oninput: () => this.seek() });
    this.status = h('p', { class: 'replay-status', 'aria-live': 'polite' });
    this.el = h('section', { class: 'replay', 'aria-labelledby': 'replay-title' },
      h('h3', { id: 'replay-title' }, 'Trail replay'),
      h('div', { class: 'grid2' },
        h('label', { for: 'replay-from' }, 'From'), this.from,
        h('label', { for: 'replay-to' }, 'To'), this.to),
      h('div', { class: 'row' },
        h('button', { type: 'button', onclick: () => this.load() }, 'Load trail'), this.play,
        h('label', { for: 'replay-rate' }, 'Speed'), this.rate),
      h('label', { for: 'replay-scrub', class: 'visually-hidden' }, 'Playback position'), this.scrub,
      this.status);
  }

  /** Switches to another device, dropping the loaded trail. */
  show(name: string) {
    if (name === this.name) return;
    this.clear();
    this.name = name;
  }

  clear() {
    this.pause();
    this.layer.clearLayers();
    this.layer.remove();
    this.line = this.marker = null;
    this.lats = [];
    this.lons = [];
    this.times = [];
    this.play.disabled = this.scrub.disabled = true;
    this.status.textContent = '';
  }

  async load() {
    const from = new Date(this.from.value), to = new Date(this.to.value);
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
      this.status.textContent = 'Choose a start before the end.';
      return;
    }
    this.status.textContent = 'Loading…';
    let trail: Trail;
    try {
      trail = await api.trail(this.name, from.toISOString(), to.toISOString());
    } catch (e) {
      this.status.textContent = `Could not load the trail: ${(e as Error).message}`;
      return;
    }
    const name = this.name;
    this.clear();
    this.name = name;
    const coords = trail.geometry?.coordinates ?? [];
    const times = trail.properties?.times ?? [];
    for (let i = 0; i < coords.length; i++) {
      const t = Date.parse(times[i] ?? '');
      if (Number.isNaN(t)) continue;
      this.lons.push(coords[i][0]);
      this.lats.push(coords[i][1]);
      this.times.push(t);
    }
    if (this.times.length === 0) {
      this.status.textContent = 'No fixes in that time.';
      return;
    }
    const lls = this.lats.map((lat, i) => L.latLng(lat, this.lons[i]));
    this.line = L.polyline(lls, { color: '#8250df', weight: 3, opacity: 0.7, interactive: false }).addTo(this.layer);
    this.marker = L.circleMarker(lls[0], { radius: 8, color: '#fff', weight: 2, fillColor: '#8250df', fillOpacity: 1 }).addTo(this.layer);
    this.layer.addTo(this.map);
    this.map.fitBounds(this.line.getBounds(), { padding: [40, 40], maxZoom: 17 });
    this.t = this.times[0];
    this.play.disabled = this.scrub.disabled = this.times.length < 2;
    this.update();
  }

  private toggle() {
    if (this.playing) this.pause();
    else {
      if (this.t >= this.times[this.times.length - 1]) this.t = this.times[0];
      this.playing = true;
      this.lastFrame = performance.now();
      this.play.textContent = 'Pause';
      this.play.setAttribute('aria-pressed', 'true');
      requestAnimationFrame((now) => this.frame(now));
    }
  }

  private pause() {
    this.playing = false;
    this.play.textContent = 'Play';
    this.play.setAttribute('aria-pressed', 'false');
  }

  private frame(now: number) {
    if (!this.playing) return;
    this.t += (now - this.lastFrame) * Number(this.rate.value);
    this.lastFrame = now;
    const end = this.times[this.times.length - 1];
    if (this.t >= end) {
      this.t = end;
      this.pause();
    } else requestAnimationFrame((n) => this.frame(n));
    this.update();
  }

  private seek() {
    const first = this.times[0], last = this.times[this.times.length - 1];
    this.t = first + ((last - first) * Number(this.scrub.value)) / 1000;
    this.update();
  }

  /** Moves the marker to the playback time. */
  private update() {
    const ts = this.times;
    if (!ts.length || !this.marker) return;
    // The last fix at or before t.
    let lo = 0, hi = ts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ts[mid] <= this.t) lo = mid;
      else hi = mid - 1;
    }
    const i = lo, j = Math.min(i + 1, ts.length - 1);
    const f = j > i && ts[j] > ts[i] ? Math.min(1, Math.max(0, (this.t - ts[i]) / (ts[j] - ts[i]))) : 0;
    this.marker.setLatLng([this.lats[i] + (this.lats[j] - this.lats[i]) * f, this.lons[i] + (this.lons[j] - this.lons[i]) * f]);
    const first = ts[0], last = ts[ts.length - 1];
    if (last > first && document.activeElement !== this.scrub) this.scrub.value = String(Math.round(((this.t - first) / (last - first)) * 1000));
    const dt = (ts[j] - ts[i]) / 1000;
    const v = j > i && dt > 0 ? L.latLng(this.lats[i], this.lons[i]).distanceTo([this.lats[j], this.lons[j]]) / dt : undefined;
    this.status.textContent = `${ts.length} fixes · ${when(new Date(this.t).toISOString())}${v !== undefined ? ` · ${fmtSpeed(v)}` : ''}`;
  }
}
