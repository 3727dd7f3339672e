// The dashboard once logged in: a header, a side panel with tabs (devices,
// fences, alerts, reports, and for admins accounts and tokens) and the map. This file wires the parts together; each
// part lives in its own module.

import L from './leaflet';
import { api, type Config, type User } from './api';
import { DeviceStore, type Device } from './devices';
import { DeviceLayer } from './devicelayer';
import { DeviceList } from './devicelist';
import { DevicePanel, popupContent } from './devicepanel';
import { Fences } from './fences';
import { Alerts } from './alerts';
import { openStream } from './stream';
import { createMap } from './map';
import { BridgeState } from './bridge';
import { ShardNotice } from './shards';
import { Admin } from './admin';
import { Reports } from './reports';
import { h } from './dom';

type Tab = 'devices' | 'fences' | 'alerts' | 'reports' | 'admin';

export async function startApp(root: HTMLElement, user: User) {
  const config: Config = await api.config().catch(() => ({}));
  const domain = config.domain ?? user.jid?.split('@')[1] ?? '';

  const live = h('span', { class: 'live', role: 'status' }, 'Connecting…');
  const bridge = new BridgeState();
  const shards = new ShardNotice((fc) => store.applyPositions(fc));
  const badge = h('span', { class: 'badge', hidden: true });
  const logout = h('button', { type: 'button', class: 'link', onclick: async () => { await api.logout().catch(() => {}); location.reload(); } }, 'Log out');
  const header = h('header', { class: 'top' },
    h('h1', null, 'GeoHub'), live, bridge.el, shards.el,
    h('span', { class: 'user' }, `${user.name ?? user.jid} (${user.role})`), logout);

  const tabs = new Map<Tab, { button: HTMLButtonElement; panel: HTMLElement }>();
  const tabList = h('div', { role: 'tablist', 'aria-label': 'Panels', class: 'tabs' });
  const panels = h('div', { class: 'panels' });
  const isAdmin = user.role === 'admin';
  const order: Tab[] = isAdmin ? ['devices', 'fences', 'alerts', 'reports', 'admin'] : ['devices', 'fences', 'alerts', 'reports'];
  const labels: Record<Tab, string> = { devices: 'Devices', fences: 'Fences', alerts: 'Alerts', reports: 'Reports', admin: 'Admin' };
  for (const id of order) {
    const label = labels[id];
    const button = h('button', { type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `panel-${id}`, onclick: () => selectTab(id) }, label, id === 'alerts' && badge);
    const panel = h('div', { role: 'tabpanel', id: `panel-${id}`, 'aria-labelledby': `tab-${id}`, tabindex: '0' });
    tabList.append(button);
    panels.append(panel);
    tabs.set(id, { button, panel });
  }
  tabList.addEventListener('keydown', (e) => {
    const i = order.findIndex((t) => tabs.get(t)!.button === document.activeElement);
    if (i < 0 || (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft')) return;
    const next = order[(i + (e.key === 'ArrowRight' ? 1 : order.length - 1)) % order.length];
    selectTab(next);
    tabs.get(next)!.button.focus();
  });
  let admin: Admin | null = null;
  let reports: Reports | null = null;
  const side = h('aside', { class: 'side' }, tabList, panels);
  function selectTab(id: Tab) {
    for (const [t, { button, panel }] of tabs) {
      button.setAttribute('aria-selected', String(t === id));
      button.tabIndex = t === id ? 0 : -1;
      panel.hidden = t !== id;
    }
    // The account tables need room; the map keeps the rest.
    side.classList.toggle('wide', id === 'admin' || id === 'reports');
    if (id === 'admin') admin?.load();
    if (id === 'reports') reports?.open();
    else reports?.close();
  }

  const mapEl = h('div', { id: 'map', role: 'application', 'aria-label': 'Map of devices and fences' });
  root.replaceChildren(header, h('div', { class: 'body' }, side, h('main', { class: 'map-wrap' }, mapEl)));
  selectTab('devices');

  const map = createMap(mapEl, config);
  // Leaflet watches the window only; the side panel widens for the admin tab.
  new ResizeObserver(() => map.invalidateSize()).observe(mapEl);
  const store = new DeviceStore();
  let popup: L.Popup | null = null;
  let popupJid: string | null = null;

  const panel = new DevicePanel(map, () => {
    panel.hide();
    list.el.hidden = false;
    layer.select(null);
  });
  const showDetails = (d: Device) => {
    map.closePopup();
    list.el.hidden = true;
    selectTab('devices');
    panel.show(d);
    layer.select(d.jid);
  };
  const openPopup = (d: Device) => {
    if (!d.pos) return;
    popupJid = d.jid;
    popup = L.popup({ autoPan: true, maxWidth: 280 })
      .setLatLng([d.pos.lat, d.pos.lon])
      .setContent(popupContent(d, showDetails))
      .openOn(map);
    popup.on('remove', () => { if (popupJid === d.jid) popupJid = null; });
  };
  const layer = new DeviceLayer(store, (d) => openPopup(d));
  layer.addTo(map);
  const list = new DeviceList(store, (d) => {
    layer.select(d.jid);
    if (d.pos) {
      map.setView([d.pos.lat, d.pos.lon], Math.max(map.getZoom(), 15));
      openPopup(d);
    }
  });
  tabs.get('devices')!.panel.append(list.el, panel.el);

  store.listen((changed) => {
    if (panel.device && (!changed || changed.has(panel.device))) panel.refresh();
    if (popupJid && popup) {
      const d = store.get(popupJid);
      if (d?.pos && (!changed || changed.has(d))) {
        popup.setLatLng([d.pos.lat, d.pos.lon]);
        const focused = popup.getElement()?.contains(document.activeElement);
        if (!focused) popup.setContent(popupContent(d, showDetails));
      }
    }
  });

  const fences = new Fences(map, domain, () => selectTab('fences'));
  tabs.get('fences')!.panel.append(fences.el);
  const alerts = new Alerts(map, domain, user.jid ?? user.name, (n) => {
    badge.hidden = n === 0;
    badge.textContent = String(n);
    badge.setAttribute('aria-label', `${n} not acknowledged`);
  });
  tabs.get('alerts')!.panel.append(alerts.el);
  reports = new Reports(map);
  tabs.get('reports')!.panel.append(reports.el);

  const loadDevices = async () => store.load(await api.devices());
  if (isAdmin) {
    // Accounts added, changed or deleted here show in the device list at once.
    admin = new Admin(user, () => { loadDevices().catch(() => {}); });
    tabs.get('admin')!.panel.append(admin.el);
  }
  await Promise.all([
    loadDevices().catch((e) => { live.textContent = `Could not load devices: ${(e as Error).message}`; }),
    fences.load(),
    alerts.load(),
  ]);
  const placed = store.all().filter((d) => d.pos);
  if (placed.length) map.fitBounds(L.latLngBounds(placed.map((d) => [d.pos!.lat, d.pos!.lon])), { padding: [40, 40], maxZoom: 15 });

  bridge.start();
  shards.start();
  openStream({
    positions: (fc) => store.applyPositions(fc),
    presence: (ev) => store.applyPresence(ev),
    alert: (a) => alerts.push(a),
    ack: (a) => alerts.acked(a),
    fence: (f) => fences.stored(f),
    fenceRemoved: (ev) => fences.removed(ev.id),
    state: (ok) => {
      live.textContent = ok ? 'Live' : 'Reconnecting…';
      live.classList.toggle('ok', ok);
    },
    reconnected: () => {
      loadDevices().catch(() => {});
      alerts.load();
      fences.reload();
    },
  });

  // For the console and the end-to-end test.
  (window as unknown as Record<string, unknown>).geohub = { map, store, layer, fences, alerts, reports, selectTab, bridge };
}
