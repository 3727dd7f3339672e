// Geofences: drawn and edited on the map with geoman (polygon, rectangle,
// circle -> Point + radius, line -> corridor with a width), their rule in a
// form beside the map, saved through the API, and a list of all fences.
// Proximity fences (around devices, no geometry) are listed and their
// rules edited in the same form.

import L from './leaflet';
import '@geoman-io/leaflet-geoman-free';
import type { Geometry } from 'geojson';
import { api, type Fence, type FenceProps } from './api';
import { fill, h } from './dom';
import { metres, words } from './format';
import { metresPerPixel } from './map';

type Kind = 'polygon' | 'circle' | 'corridor' | 'proximity';
const EVENTS = ['enter', 'exit', 'dwell', 'cross'] as const;
const STYLE = { color: '#0969da', weight: 2, fillOpacity: 0.12 };
const EDIT_STYLE = { color: '#bc4c00', weight: 2, fillOpacity: 0.2 };
const DEFAULT_WIDTH = 50;

interface Editing {
  id: string | null; // null: not saved yet
  layer: L.Path | null; // null: a proximity fence
  kind: Kind;
}

function kindOf(f: Fence): Kind {
  const g = f.geometry;
  if (!g) return 'proximity';
  if (g.type === 'Point') return 'circle';
  if (g.type === 'LineString') return 'corridor';
  return 'polygon';
}

export class Fences {
  readonly el: HTMLElement;
  private group: L.FeatureGroup;
  private fences = new Map<string, Fence>();
  private layers = new Map<string, L.Path>();
  private editing: Editing | null = null;
  private list: HTMLUListElement;
  private form: HTMLFormElement;
  private formTitle: HTMLElement;
  private msg: HTMLElement;
  private status: HTMLElement;
  private deleteBtn: HTMLButtonElement;
  private f: Record<string, HTMLInputElement> = {};

  constructor(private map: L.Map, private domain: string, private onFocus: () => void) {
    this.group = L.featureGroup().addTo(map);
    map.pm.setGlobalOptions({ allowSelfIntersection: false, templineStyle: EDIT_STYLE, hintlineStyle: { ...EDIT_STYLE, dashArray: '5,5' }, pathOptions: EDIT_STYLE });
    map.pm.addControls({
      position: 'topleft', drawMarker: false, drawCircleMarker: false, drawText: false, editMode: false, dragMode: false,
      cutPolygon: false, removalMode: false, rotateMode: false,
    });
    map.on('pm:create', (e) => this.created(e.layer as L.Path, e.shape));
    // While drawing, a click on a fence is a vertex of the new one, not a
    // click on the fence (the canvas renderer checks this flag per click).
    map.on('pm:drawstart', () => this.group.eachLayer((l) => { (l as L.Path).options.interactive = false; }));
    map.on('pm:drawend', () => this.group.eachLayer((l) => { (l as L.Path).options.interactive = true; }));
    map.on('zoomend', () => this.restyleCorridors());
    // Escape stops drawing, or else drops the edit in progress.
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
      else if (this.editing) this.cancel();
    });

    const input = (name: string, label: string, attrs: Record<string, unknown> = {}, hint = '') => {
      const id = `fence-${name}`;
      const el = h('input', { id, name, 'aria-describedby': hint ? `${id}-hint` : undefined, ...attrs });
      this.f[name] = el;
      return h('div', { class: `field field-${name}` }, h('label', { for: id }, label), el, hint && h('small', { id: `${id}-hint` }, hint));
    };
    const events = h('fieldset', { class: 'events' }, h('legend', null, 'Events'),
      EVENTS.map((ev) => {
        const el = h('input', { type: 'checkbox', id: `fence-event-${ev}`, name: 'events', value: ev });
        this.f[`event-${ev}`] = el;
        if (ev === 'dwell') el.addEventListener('change', () => this.showFields());
        return h('label', { class: 'check', for: `fence-event-${ev}` }, el, ` ${ev}`);
      }));
    this.formTitle = h('h3', { id: 'fence-form-title', tabindex: '-1' });
    this.msg = h('p', { class: 'error', role: 'alert' });
    this.deleteBtn = h('button', { type: 'button', class: 'danger', onclick: () => this.remove() }, 'Delete');
    this.form = h('form', { class: 'fence-form', hidden: true, 'aria-labelledby': 'fence-form-title', onsubmit: (e: Event) => { e.preventDefault(); this.save(); } },
      this.formTitle,
      input('name', 'Name', { type: 'text', required: true, autocomplete: 'off' }),
      input('devices', 'Devices', { type: 'text', autocomplete: 'off' }, 'Names, separated by commas.'),
      input('groups', 'Groups', { type: 'text', autocomplete: 'off' }, 'The fence watches these devices and the devices of these groups; with neither, every device (admins only).'),
      events,
      input('dwell', 'Dwell (seconds)', { type: 'number', min: 1, step: 1 }, 'Time inside before "dwell" fires.'),
      input('notify', 'Notify', { type: 'text', autocomplete: 'off' }, 'Operators who get a chat message for each event.'),
      input('hysteresis', 'Hysteresis (metres)', { type: 'number', min: 0, step: 1 }, 'How far past the edge a device must be before entering or leaving counts.'),
      input('radius', 'Radius (metres)', { type: 'number', min: 1, step: 1, oninput: () => this.radiusChanged() }),
      input('width', 'Corridor width (metres)', { type: 'number', min: 1, step: 1, oninput: () => this.restyleCorridors() }),
      input('near', 'Around devices', { type: 'text', autocomplete: 'off' }),
      input('near_groups', 'Around groups', { type: 'text', autocomplete: 'off' }),
      this.msg,
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary' }, 'Save fence'),
        h('button', { type: 'button', onclick: () => this.cancel() }, 'Cancel'),
        this.deleteBtn));

    const draw = (shape: string, label: string) =>
      h('button', { type: 'button', onclick: () => { this.cancel(); map.pm.enableDraw(shape as never); } }, label);
    this.status = h('p', { class: 'summary', 'aria-live': 'polite' });
    this.list = h('ul', { class: 'fence-list', 'aria-label': 'Fences' });
    this.el = h('section', { class: 'fences' },
      h('div', { class: 'draw-tools', role: 'group', 'aria-label': 'Draw a fence' },
        draw('Polygon', 'Polygon'), draw('Rectangle', 'Rectangle'), draw('Circle', 'Circle'), draw('Line', 'Corridor')),
      h('p', { class: 'hint' }, 'Draw on the map, then set the rule. Click a fence to edit its shape and rule.'),
      this.form, this.status, this.list);
  }

  async load() {
    try {
      const fc = await api.fences();
      this.cancel();
      this.fences.clear();
      for (const f of fc.features ?? []) if (f.id !== undefined) this.fences.set(String(f.id), f);
      this.render();
    } catch (e) {
      this.status.textContent = `Could not load fences: ${(e as Error).message}`;
    }
  }

  /** After a reconnect: the fences as stored, leaving an edit in progress alone. */
  async reload() {
    try {
      const fc = await api.fences();
      this.fences.clear();
      for (const f of fc.features ?? []) if (f.id !== undefined) this.fences.set(String(f.id), f);
      this.refresh();
    } catch {
      // The stream reconnects again; the next reload catches up.
    }
  }

  /** A fence stored anywhere (here, another dashboard, the CLI), from the live stream. */
  stored(f: Fence) {
    if (f.id === undefined) return;
    this.fences.set(String(f.id), f);
    this.refresh();
  }

  /** A fence removed anywhere, from the live stream. */
  removed(id: string) {
    const name = this.fences.get(id)?.properties.name;
    if (!this.fences.delete(id)) return;
    if (this.editing?.id === id) {
      this.close();
      this.render();
      this.status.textContent = `${name} was deleted elsewhere. ${this.fences.size} fences.`;
      return;
    }
    this.refresh();
  }

  /** Shows the fences as now known; while a shape is being edited only the list, so the edit survives (the map catches up when it ends). */
  private refresh() {
    if (this.editing) this.renderList();
    else this.render();
  }

  /** A JID of the hub's own domain reads as its name. */
  private short(v: string): string {
    return this.domain && v.endsWith(`@${this.domain}`) ? v.slice(0, -this.domain.length - 1) : v;
  }

  private layerOf(f: Fence): L.Path | null {
    const g = f.geometry, p = f.properties;
    if (!g) return null;
    let layer: L.Path;
    if (g.type === 'Point') layer = L.circle([g.coordinates[1], g.coordinates[0]], { ...STYLE, radius: p.radius ?? 1 });
    else if (g.type === 'LineString') layer = L.polyline(g.coordinates.map(([x, y]) => [y, x] as [number, number]), { ...STYLE, opacity: 0.5 });
    else layer = L.GeoJSON.geometryToLayer(f as GeoJSON.Feature) as L.Path;
    layer.setStyle(g.type === 'LineString' ? { ...STYLE, opacity: 0.5, lineCap: 'round', lineJoin: 'round' } : STYLE);
    return layer;
  }

  private render() {
    this.renderLayers();
    this.renderList();
  }

  /** Draws the stored fences afresh (an edited shape goes back to what is stored). */
  private renderLayers() {
    this.group.clearLayers();
    this.layers.clear();
    const sorted = [...this.fences.entries()].sort(([, a], [, b]) => a.properties.name.localeCompare(b.properties.name));
    for (const [id, f] of sorted) {
      const layer = this.layerOf(f);
      if (!layer) continue;
      layer.bindTooltip(f.properties.name, { sticky: true });
      layer.on('click', (e: L.LeafletMouseEvent) => {
        // Not while drawing, nor over a new fence's unsaved draft.
        if (this.editing?.id === id || this.editing?.id === null || this.map.pm.globalDrawModeEnabled()) return;
        L.DomEvent.stopPropagation(e);
        this.select(id);
      });
      this.layers.set(id, layer);
      this.group.addLayer(layer);
    }
    this.restyleCorridors();
  }

  private renderList() {
    const sorted = [...this.fences.entries()].sort(([, a], [, b]) => a.properties.name.localeCompare(b.properties.name));
    fill(this.list, sorted.map(([id, f]) => h('li', null,
      h('button', { type: 'button', class: 'fence-item', 'data-id': id, 'aria-current': this.editing?.id === id ? 'true' : undefined, onclick: () => this.select(id, true) },
        h('span', { class: 'name' }, f.properties.name),
        h('span', { class: 'sub' }, `${this.describe(f)} · ${(f.properties.events ?? ['enter', 'exit']).join(', ')}`)))));
    this.status.textContent = this.fences.size ? `${this.fences.size} fences` : 'No fences yet.';
  }

  private describe(f: Fence): string {
    const p = f.properties;
    switch (kindOf(f)) {
      case 'circle': return `circle ${metres(p.radius)}`;
      case 'corridor': return `corridor ${metres(p.width)}`;
      case 'proximity': return `within ${metres(p.radius)} of ${[...(p.near ?? []), ...(p.near_groups ?? [])].map((v) => this.short(v)).join(', ')}`;
      default: return 'area';
    }
  }

  private restyleCorridors() {
    const all: [L.Path, number][] = [];
    for (const [id, layer] of this.layers) {
      const f = this.fences.get(id)!;
      if (kindOf(f) === 'corridor') all.push([layer, this.editing?.id === id ? Number(this.f.width.value) || DEFAULT_WIDTH : f.properties.width ?? DEFAULT_WIDTH]);
    }
    if (this.editing?.kind === 'corridor' && this.editing.id === null && this.editing.layer) all.push([this.editing.layer, Number(this.f.width.value) || DEFAULT_WIDTH]);
    for (const [layer, width] of all) {
      const lat = (layer as L.Polyline).getBounds().getCenter().lat;
      layer.setStyle({ weight: Math.max(3, width / metresPerPixel(this.map, lat)) });
    }
  }

  private created(layer: L.Path, shape: string) {
    this.map.pm.disableDraw();
    this.cancel();
    const kind: Kind = shape === 'Circle' ? 'circle' : shape === 'Line' ? 'corridor' : 'polygon';
    layer.setStyle(EDIT_STYLE);
    this.editing = { id: null, layer, kind };
    this.fillForm({ name: '', events: ['enter', 'exit'], radius: kind === 'circle' ? Math.round((layer as L.Circle).getRadius()) : undefined, width: kind === 'corridor' ? DEFAULT_WIDTH : undefined });
    this.startShapeEdit(layer);
    this.restyleCorridors();
  }

  private startShapeEdit(layer: L.Path) {
    layer.pm.enable({ allowSelfIntersection: false });
    layer.on('pm:edit', () => {
      if (this.editing?.kind === 'circle') this.f.radius.value = String(Math.round((layer as L.Circle).getRadius()));
      this.restyleCorridors();
    });
  }

  /** Opens fence id in the form, its shape editable on the map. */
  select(id: string, zoom = false) {
    const f = this.fences.get(id);
    if (!f) return;
    this.cancel();
    const layer = this.layers.get(id) ?? null;
    this.editing = { id, layer, kind: kindOf(f) };
    this.onFocus();
    if (layer) {
      layer.setStyle(EDIT_STYLE);
      this.startShapeEdit(layer);
      if (zoom) this.map.fitBounds((layer as L.Polyline).getBounds(), { padding: [60, 60], maxZoom: 17 });
    }
    this.fillForm(f.properties);
    this.renderList();
  }

  private fillForm(p: Partial<FenceProps>) {
    const list = (v?: string[] | null) => (v ?? []).map((x) => this.short(x)).join(', ');
    const ed = this.editing!;
    this.formTitle.textContent = ed.id === null ? `New ${ed.kind === 'polygon' ? 'area' : ed.kind} fence` : `Fence ${p.name}`;
    this.f.name.value = p.name ?? '';
    this.f.devices.value = list(p.devices);
    this.f.groups.value = list(p.groups);
    const events = p.events?.length ? p.events : ['enter', 'exit'];
    for (const ev of EVENTS) this.f[`event-${ev}`].checked = events.includes(ev);
    this.f.dwell.value = p.dwell ? String(p.dwell) : '';
    this.f.notify.value = list(p.notify);
    this.f.hysteresis.value = p.hysteresis ? String(p.hysteresis) : '';
    this.f.radius.value = p.radius ? String(Math.round(p.radius)) : '';
    this.f.width.value = p.width ? String(p.width) : '';
    this.f.near.value = list(p.near);
    this.f.near_groups.value = list(p.near_groups);
    this.msg.textContent = '';
    this.deleteBtn.hidden = ed.id === null;
    this.form.hidden = false;
    this.showFields();
    this.onFocus();
    this.f.name.focus();
  }

  private showFields() {
    const kind = this.editing?.kind;
    const show = (name: string, on: boolean, required = false) => {
      (this.f[name].parentElement as HTMLElement).hidden = !on;
      this.f[name].required = on && required;
    };
    show('radius', kind === 'circle' || kind === 'proximity', true);
    show('width', kind === 'corridor', true);
    show('near', kind === 'proximity');
    show('near_groups', kind === 'proximity');
    show('dwell', this.f['event-dwell'].checked, true);
  }

  private radiusChanged() {
    const r = Number(this.f.radius.value);
    if (this.editing?.kind === 'circle' && this.editing.layer && r > 0) (this.editing.layer as L.Circle).setRadius(r);
  }

  /** The fence as the form and the edited shape say, for the API. */
  private feature(): Fence {
    const ed = this.editing!;
    const num = (name: string) => (this.f[name].value === '' ? undefined : Number(this.f[name].value));
    const props: FenceProps = { name: this.f.name.value.trim() };
    const lists: [keyof FenceProps, string][] = [['devices', 'devices'], ['groups', 'groups'], ['notify', 'notify']];
    if (ed.kind === 'proximity') lists.push(['near', 'near'], ['near_groups', 'near_groups']);
    for (const [key, field] of lists) {
      const v = words(this.f[field].value);
      if (v.length) props[key] = v;
    }
    props.events = EVENTS.filter((ev) => this.f[`event-${ev}`].checked);
    if (props.events.includes('dwell')) props.dwell = num('dwell');
    const hyst = num('hysteresis');
    if (hyst) props.hysteresis = hyst;
    let geometry: Geometry | null = null;
    if (ed.kind === 'circle') {
      const c = (ed.layer as L.Circle).getLatLng();
      geometry = { type: 'Point', coordinates: [c.lng, c.lat] };
      props.radius = num('radius');
    } else if (ed.kind === 'proximity') {
      props.radius = num('radius');
    } else {
      geometry = ((ed.layer as L.Polyline).toGeoJSON(15) as GeoJSON.Feature).geometry;
      if (ed.kind === 'corridor') props.width = num('width');
    }
    const f: Fence = { type: 'Feature', properties: props, geometry };
    if (ed.id !== null) f.id = ed.id;
    return f;
  }

  private async save() {
    const ed = this.editing;
    if (!ed) return;
    if (!EVENTS.some((ev) => this.f[`event-${ev}`].checked)) {
      this.msg.textContent = 'Choose at least one event.';
      return;
    }
    const f = this.feature();
    this.msg.textContent = '';
    try {
      if (ed.id === null) {
        const fc = await api.createFence(f);
        for (const saved of fc.features ?? []) if (saved.id !== undefined) this.fences.set(String(saved.id), saved);
      } else {
        const res = await api.updateFence(ed.id, f);
        const saved = res && 'features' in res ? res.features[0] : (res as Fence | undefined);
        if (saved && saved.type === 'Feature') {
          this.fences.delete(ed.id);
          this.fences.set(String(saved.id ?? ed.id), saved);
        } else this.fences.set(ed.id, f);
      }
    } catch (e) {
      this.msg.textContent = `Not saved: ${(e as Error).message}`;
      return;
    }
    this.close();
    this.status.textContent = `Saved ${f.properties.name}.`;
    this.render();
    this.status.textContent = `Saved ${f.properties.name}. ${this.fences.size} fences.`;
  }

  private async remove() {
    const ed = this.editing;
    if (!ed || ed.id === null) return;
    const name = this.fences.get(ed.id)?.properties.name ?? ed.id;
    if (!window.confirm(`Delete the fence ${name}?`)) return;
    try {
      await api.deleteFence(ed.id);
    } catch (e) {
      this.msg.textContent = `Not deleted: ${(e as Error).message}`;
      return;
    }
    this.fences.delete(ed.id);
    this.close();
    this.render();
    this.status.textContent = `Deleted ${name}. ${this.fences.size} fences.`;
  }

  /** Drops what is being edited: a draft disappears, a saved fence returns to its stored shape. */
  cancel() {
    const ed = this.editing;
    this.close();
    if (ed) this.render(); // also shows what changed elsewhere meanwhile
  }

  private close() {
    const ed = this.editing;
    this.editing = null;
    this.form.hidden = true;
    if (!ed?.layer) return;
    ed.layer.pm.disable();
    ed.layer.off('pm:edit');
    if (ed.id === null) ed.layer.remove();
  }
}
