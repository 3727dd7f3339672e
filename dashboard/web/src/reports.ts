// Reports: pick devices and a range, see their trips and stops on the map
// and in tables with totals per device, download them (CSV, GPX), and ask
// who was inside a circle drawn on the map. The hub computes everything
// (/api/reports/*); this view only asks and shows.

import L from './leaflet';
import { call, type DeviceInfo } from './api';
import type { FeatureCollection, Geometry } from 'geojson';
import { h, fill } from './dom';
import { localInput, when, metres, speed, coords } from './format';

interface Totals { distance: number; driving: number; idle: number; max_speed: number; trips: number; stops: number }
interface Trip { start: string; end: string; start_lat: number; start_lon: number; end_lat: number; end_lon: number; distance: number; duration: number; max_speed: number; avg_speed: number }
interface Stop { lat: number; lon: number; arrival: string; departure: string; duration: number }
interface DeviceReport { device: string; name: string; totals: Totals; trips?: Trip[]; stops?: Stop[] }
interface Report { devices: DeviceReport[] }
interface Who { device: string; name: string; first_inside: string }

const TRIP_STYLE = { color: '#0969da', weight: 4, opacity: 0.8 };
const AREA_STYLE = { color: '#8250df', weight: 2, fillOpacity: 0.1 };

/** Seconds as "1 h 05 min", "12 min" or "40 s". */
function duration(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, '0')} min`;
}

export class Reports {
  readonly el: HTMLElement;
  private layer = L.layerGroup();
  private devices: HTMLElement;
  private from: HTMLInputElement;
  private to: HTMLInputElement;
  private status: HTMLElement;
  private results: HTMLElement;
  private downloads: HTMLElement;
  private radius: HTMLInputElement;
  private whoStatus: HTMLElement;
  private whoList: HTMLElement;
  private area: L.Circle | null = null;
  private picking = false;

  constructor(private map: L.Map) {
    const now = new Date();
    const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    this.from = h('input', { type: 'datetime-local', id: 'report-from', value: localInput(midnight) });
    this.to = h('input', { type: 'datetime-local', id: 'report-to', value: localInput(new Date(now.getTime() + 60_000)) });
    this.devices = h('fieldset', { class: 'events report-devices' }, h('legend', null, 'Devices (none ticked: all you see)'));
    this.status = h('p', { class: 'report-status', role: 'status' });
    this.results = h('div', { class: 'report-results' });
    this.downloads = h('div', { class: 'row report-downloads', hidden: true });
    this.radius = h('input', { type: 'number', id: 'who-radius', min: 1, value: 200 });
    this.whoStatus = h('p', { class: 'who-status', role: 'status' });
    this.whoList = h('ul', { class: 'who-list' });
    this.el = h('section', { class: 'reports', 'aria-labelledby': 'reports-title' },
      h('h2', { id: 'reports-title' }, 'Reports'),
      this.devices,
      h('div', { class: 'grid2' },
        h('label', { for: 'report-from' }, 'From'), this.from,
        h('label', { for: 'report-to' }, 'To'), this.to),
      h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => this.run() }, 'Run report')),
      this.status, this.downloads, this.results,
      h('h3', null, 'Who was here'),
      h('div', { class: 'grid2' }, h('label', { for: 'who-radius' }, 'Radius (m)'), this.radius),
      h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => this.pick() }, 'Draw area on the map')),
      this.whoStatus, this.whoList);
    map.on('click', (e: L.LeafletMouseEvent) => {
      if (!this.picking) return;
      this.picking = false;
      map.getContainer().style.cursor = '';
      this.drawArea(e.latlng);
    });
  }

  /** Lists the devices to choose from and shows the layer; called when the tab opens. */
  async open() {
    this.layer.addTo(this.map);
    const infos = await call<DeviceInfo[]>('GET', '/api/devices?role=device').catch(() => [] as DeviceInfo[]);
    const ticked = new Set(this.chosen());
    fill(this.devices, h('legend', null, 'Devices (none ticked: all you see)'),
      infos.map((d) => h('label', null, h('input', { type: 'checkbox', value: d.name, checked: ticked.has(d.name) }), ` ${d.name}`)));
  }

  /** Hides the layer when another tab opens. */
  close() { this.layer.remove(); }

  private chosen(): string[] {
    return [...this.devices.querySelectorAll<HTMLInputElement>('input[type=checkbox]:checked')].map((c) => c.value);
  }

  /** The query of the current choice, with extra parameters. */
  private query(extra: Record<string, string | number> = {}): string {
    const q = new URLSearchParams();
    q.set('from', new Date(this.from.value).toISOString());
    q.set('to', new Date(this.to.value).toISOString());
    for (const d of this.chosen()) q.append('device', d);
    for (const [k, v] of Object.entries(extra)) q.set(k, String(v));
    return q.toString();
  }

  async run() {
    this.status.textContent = 'Computing…';
    this.layer.clearLayers();
    try {
      const [trips, stops, lines] = await Promise.all([
        call<Report>('GET', `/api/reports/trips?${this.query()}`),
        call<Report>('GET', `/api/reports/stops?${this.query()}`),
        call<FeatureCollection<Geometry>>('GET', `/api/reports/trips?${this.query({ format: 'geojson' })}`),
      ]);
      this.show(trips, stops, lines);
    } catch (e) {
      this.status.textContent = `Could not compute the report: ${(e as Error).message}`;
    }
  }

  private show(trips: Report, stops: Report, lines: FeatureCollection<Geometry>) {
    const stopsOf = new Map(stops.devices.map((d) => [d.device, d.stops ?? []]));
    const n = trips.devices.reduce((s, d) => s + d.totals.trips, 0);
    this.status.textContent = `${trips.devices.length} device(s), ${n} trip(s).`;
    const geo = L.geoJSON(lines, { style: () => TRIP_STYLE });
    geo.addTo(this.layer);
    for (const [, list] of stopsOf) {
      for (const s of list) {
        L.circleMarker([s.lat, s.lon], { radius: 6, color: '#bf3989', fillOpacity: 0.8 })
          .bindTooltip(`${when(s.arrival)} – ${when(s.departure)} (${duration(s.duration)})`).addTo(this.layer);
      }
    }
    const b = geo.getBounds();
    if (b.isValid()) this.map.fitBounds(b, { padding: [40, 40], maxZoom: 16 });

    const totals = h('table', { class: 'admin-table report-totals' },
      h('caption', null, 'Totals'),
      h('thead', null, h('tr', null, ['Device', 'Trips', 'Distance', 'Driving', 'Stops', 'Idle', 'Max speed'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, trips.devices.map((d) => h('tr', null,
        h('th', { scope: 'row' }, d.name), h('td', null, d.totals.trips), h('td', null, metres(d.totals.distance)),
        h('td', null, duration(d.totals.driving)), h('td', null, d.totals.stops), h('td', null, duration(d.totals.idle)),
        h('td', null, speed(d.totals.max_speed))))));
    const tripRows = trips.devices.flatMap((d) => (d.trips ?? []).map((t) => h('tr', null,
      h('th', { scope: 'row' }, d.name), h('td', null, when(t.start)), h('td', null, when(t.end)), h('td', null, metres(t.distance)),
      h('td', null, duration(t.duration)), h('td', null, speed(t.max_speed)), h('td', null, speed(t.avg_speed)))));
    const tripTable = h('table', { class: 'admin-table report-trips' },
      h('caption', null, 'Trips'),
      h('thead', null, h('tr', null, ['Device', 'Start', 'End', 'Distance', 'Duration', 'Max', 'Average'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, tripRows));
    const stopRows = stops.devices.flatMap((d) => (d.stops ?? []).map((s) => h('tr', null,
      h('th', { scope: 'row' }, d.name), h('td', null, when(s.arrival)), h('td', null, when(s.departure)),
      h('td', null, duration(s.duration)), h('td', null, h('a', { href: `geo:${s.lat},${s.lon}` }, coords(s.lat, s.lon))))));
    const stopTable = h('table', { class: 'admin-table report-stops' },
      h('caption', null, 'Stops'),
      h('thead', null, h('tr', null, ['Device', 'Arrival', 'Departure', 'Duration', 'Place'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, stopRows));
    fill(this.results, h('div', { class: 'table-wrap' }, totals), h('div', { class: 'table-wrap' }, tripTable), h('div', { class: 'table-wrap' }, stopTable));

    // Same-origin GETs: the session cookie goes along, the browser saves the file.
    const link = (label: string, path: string, format: string) => h('a', { href: `${path}?${this.query({ format })}`, download: '', class: 'button' }, label);
    fill(this.downloads,
      link('Trips CSV', '/api/reports/trips', 'csv'), link('Stops CSV', '/api/reports/stops', 'csv'),
      link('Summary CSV', '/api/reports/summary', 'csv'), link('GPX', '/api/reports/trips', 'gpx'));
    this.downloads.hidden = false;
  }

  private pick() {
    this.picking = true;
    this.map.getContainer().style.cursor = 'crosshair';
    this.whoStatus.textContent = 'Click the centre of the area on the map.';
  }

  private async drawArea(at: L.LatLng) {
    const r = Number(this.radius.value) || 200;
    this.area?.remove();
    this.area = L.circle(at, { radius: r, ...AREA_STYLE }).addTo(this.layer);
    this.whoStatus.textContent = 'Looking…';
    try {
      const who = await call<Who[]>('GET', `/api/reports/who?${this.query({ lat: at.lat.toFixed(6), lon: at.lng.toFixed(6), radius: r })}`);
      this.whoStatus.textContent = who.length ? `${who.length} device(s) within ${metres(r)} of ${coords(at.lat, at.lng)}:` : `Nobody within ${metres(r)} of ${coords(at.lat, at.lng)} then.`;
      fill(this.whoList, who.map((w) => h('li', null, `${w.name}, first at ${when(w.first_inside)}`)));
    } catch (e) {
      this.whoStatus.textContent = `Could not ask: ${(e as Error).message}`;
    }
  }
}
