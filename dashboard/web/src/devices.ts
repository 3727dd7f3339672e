// The devices the dashboard knows, kept current from the API and the live
// stream. Everything that shows devices (the map layer, the list, the
// popup, the detail panel) reads from one DeviceStore and listens to it.

import type { DeviceInfo, Position, Positions, Reading } from './api';

export interface Device {
  jid: string; // bare JID, the key
  name: string;
  groups: string[];
  role: string;
  online: boolean;
  lastSeen: string | null;
  demo: boolean;
  pos: Position | null;
  battery: number | null;
  readings: Record<string, Reading>;
}

type Listener = (changed: Set<Device> | null) => void;

export class DeviceStore {
  private byJid = new Map<string, Device>();
  private byName = new Map<string, Device>();
  private listeners = new Set<Listener>();
  private sorted: Device[] | null = null;

  /** Replaces everything with the API's device list. Operators and admins are left out: they have no position. */
  load(infos: DeviceInfo[]) {
    this.byJid.clear();
    this.byName.clear();
    for (const d of infos) {
      if (d.role && d.role !== 'device') continue;
      const battery = d.readings?.battery?.value;
      this.put({
        jid: d.jid, name: d.name, groups: d.groups ?? [], role: d.role ?? 'device', online: d.online,
        lastSeen: d.last_seen ?? null, demo: !!d.demo, pos: d.position, battery: battery ?? null, readings: d.readings ?? {},
      });
    }
    this.emit(null);
  }

  private put(d: Device) {
    this.byJid.set(d.jid, d);
    this.byName.set(d.name, d);
    this.sorted = null;
  }

  /** A device by bare JID, full JID or name. */
  get(key: string): Device | undefined {
    return this.byJid.get(key) ?? this.byName.get(key) ?? this.byJid.get(key.split('/')[0]);
  }

  /** All devices by name. */
  all(): Device[] {
    if (!this.sorted) this.sorted = [...this.byJid.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    return this.sorted;
  }

  get size() { return this.byJid.size; }

  /** Applies a "positions" event or the /api/positions answer. */
  applyPositions(fc: Positions) {
    const changed = new Set<Device>();
    for (const f of fc.features ?? []) {
      if (!f.geometry || f.geometry.type !== 'Point') continue;
      const p = f.properties ?? {};
      const key = String(f.id ?? p.device ?? p.name ?? '');
      if (!key) continue;
      let d = this.get(key);
      if (!d) {
        const jid = key.includes('@') ? key : String(p.device ?? key);
        d = { jid, name: p.name ?? jid.split('@')[0], groups: [], role: 'device', online: true, lastSeen: null, demo: false, pos: null, battery: null, readings: {} };
        this.put(d);
      }
      const [lon, lat] = f.geometry.coordinates;
      d.pos = { lat, lon, time: p.time, speed: p.speed, bearing: p.bearing, accuracy: p.accuracy };
      if (p.online !== undefined) d.online = p.online;
      if (p.battery !== undefined && p.battery !== null) {
        d.battery = p.battery;
        d.readings.battery = { ...d.readings.battery, value: p.battery, time: p.time };
      }
      if (p.time && (!d.lastSeen || p.time > d.lastSeen)) d.lastSeen = p.time;
      changed.add(d);
    }
    if (changed.size) this.emit(changed);
  }

  /** Applies a "presence" event. */
  applyPresence(ev: { device: string; online: boolean }) {
    const d = this.get(ev.device);
    if (!d || d.online === ev.online) return;
    d.online = ev.online;
    d.lastSeen = new Date().toISOString();
    this.emit(new Set([d]));
  }

  /** fn is told of every change: the changed devices, or null when everything may have changed. */
  listen(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(changed: Set<Device> | null) {
    for (const fn of this.listeners) fn(changed);
  }
}
