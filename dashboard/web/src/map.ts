// The map: Leaflet over an offline world basemap (world-atlas countries,
// bundled, so it draws with no network at all), with the street tile layer
// on top when /api/config names one (OpenStreetMap's unless configured
// otherwise). Tiles are the only requests the page makes to anyone but the
// hub; when they cannot load, the basemap shows through and the map says
// so, once.

import L from './leaflet';
import { feature } from 'topojson-client';
import type { Topology, GeometryCollection } from 'topojson-specification';
import countries from 'world-atlas/countries-110m.json';
import type { Config } from './api';

export function createMap(el: HTMLElement, config: Config): L.Map {
  const map = L.map(el, {
    preferCanvas: true,
    worldCopyJump: true,
    zoomSnap: 0.5,
    minZoom: 2,
    maxZoom: 19,
    keyboard: true,
  }).setView([30, 10], 2);
  map.attributionControl.setPrefix(false);

  // The basemap lives in a pane under the tiles: when tiles cannot load,
  // it shows through.
  const pane = map.createPane('basemap');
  pane.style.zIndex = '150';
  const topo = countries as unknown as Topology<{ countries: GeometryCollection }>;
  const basemap: L.GeoJSONOptions & L.PathOptions = {
    pane: 'basemap',
    renderer: L.canvas({ pane: 'basemap', padding: 0.5 }),
    interactive: false,
    pmIgnore: true, // not editable, not snapped to
    style: { color: '#8d99a6', weight: 0.8, fillColor: '#e9ecef', fillOpacity: 1 },
  };
  L.geoJSON(feature(topo, topo.objects.countries), basemap).addTo(map);
  map.attributionControl.addAttribution('Countries: Natural Earth');

  if (config.tile_url) {
    // The page sends no referrer elsewhere; tile servers (OpenStreetMap's
    // usage policy) want to know the site, so tiles send its origin.
    const tiles = L.tileLayer(config.tile_url, {
      attribution: config.tile_attribution ?? '',
      maxZoom: 19,
      crossOrigin: false,
      referrerPolicy: 'strict-origin-when-cross-origin',
    });
    tiles.once('tileerror', () => tileNote(config.tile_url ?? '').addTo(map));
    tiles.addTo(map);
  }
  L.control.scale({ imperial: false }).addTo(map);
  return map;
}

/** The notice that street tiles failed and the offline map shows. */
function tileNote(template: string): L.Control {
  const note = new L.Control({ position: 'bottomleft' });
  note.onAdd = () => {
    const el = L.DomUtil.create('div', 'tile-note');
    el.setAttribute('role', 'status');
    const host = new URL(template.replace(/\{[a-z]\}/g, 'a')).host;
    el.textContent = `Street map tiles from ${host} could not load: showing the offline world map.`;
    return el;
  };
  return note;
}

/** Metres one screen pixel covers at lat on map's current zoom. */
export function metresPerPixel(map: L.Map, lat: number): number {
  return (40075016.686 * Math.cos((lat * Math.PI) / 180)) / Math.pow(2, map.getZoom() + 8);
}
