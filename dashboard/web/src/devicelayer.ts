// Devices on the map, drawn on one canvas: an arrow along the heading
// (a dot when the heading is unknown), green when online, grey when
// offline. Each arrow is a pre-rendered sprite per 5° of heading, copied
// with drawImage: 10,000 devices take about 20 ms a frame even in a
// software-rendered browser, where 10,000 DOM markers or vector paths take
// ten times that. Where many devices fall on the same few pixels (a zoomed
// out fleet) only one is drawn. Clicks are hit-tested against the points of
// the last frame.

import L from './leaflet';
import type { Device, DeviceStore } from './devices';
import { perFrame } from './dom';

const ONLINE = '#1a7f37';
const OFFLINE = '#8c959f';
const SELECTED = '#0969da';
const SIZE = 26; // sprite edge, CSS pixels
const STEPS = 72; // headings per full turn
// An arrow pointing north, in pixels around the position.
const ARROW: [number, number][] = [[0, -10], [7, 8], [0, 4], [-7, 8]];

interface Sprites { arrows: HTMLCanvasElement[]; dot: HTMLCanvasElement }

function sprites(colour: string, dpr: number): Sprites {
  const make = (draw: (ctx: CanvasRenderingContext2D) => void) => {
    const c = document.createElement('canvas');
    c.width = c.height = Math.ceil(SIZE * dpr);
    const ctx = c.getContext('2d')!;
    ctx.scale(dpr, dpr);
    ctx.translate(SIZE / 2, SIZE / 2);
    ctx.beginPath();
    draw(ctx);
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#ffffff';
    ctx.lineJoin = 'round';
    ctx.stroke();
    ctx.fillStyle = colour;
    ctx.fill();
    return c;
  };
  const arrows = [];
  for (let i = 0; i < STEPS; i++) {
    arrows.push(make((ctx) => {
      ctx.rotate((i * 2 * Math.PI) / STEPS);
      ARROW.forEach(([x, y], j) => (j === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
      ctx.closePath();
    }));
  }
  return { arrows, dot: make((ctx) => ctx.arc(0, 0, 5, 0, 2 * Math.PI)) };
}

export class DeviceLayer extends L.Layer {
  private canvas!: HTMLCanvasElement;
  private ctx!: CanvasRenderingContext2D;
  private drawn: Device[] = [];
  private xs = new Float32Array(0);
  private ys = new Float32Array(0);
  private selectedJid: string | null = null;
  private cells = new Uint8Array(0);
  private dpr = 0;
  private online: Sprites | null = null;
  private offline: Sprites | null = null;
  readonly redraw = perFrame(() => this.draw());

  constructor(private store: DeviceStore, private onPick: (d: Device, at: L.LatLng) => void) {
    super();
    store.listen(() => this.redraw());
  }

  onAdd(map: L.Map): this {
    const pane = map.getPane('devices') ?? map.createPane('devices');
    pane.style.zIndex = '450'; // above fences (400), under geoman's handles (600)
    pane.style.pointerEvents = 'none';
    this.canvas = L.DomUtil.create('canvas', 'device-canvas leaflet-zoom-hide', pane) as HTMLCanvasElement;
    this.canvas.setAttribute('aria-hidden', 'true');
    this.ctx = this.canvas.getContext('2d')!;
    map.on('move moveend zoomend resize viewreset', this.redraw, this);
    map.on('click', this.click, this);
    map.on('mousemove', this.hover, this);
    this.draw();
    return this;
  }

  onRemove(map: L.Map): this {
    map.off('move moveend zoomend resize viewreset', this.redraw, this);
    map.off('click', this.click, this);
    map.off('mousemove', this.hover, this);
    this.canvas.remove();
    return this;
  }

  select(jid: string | null) {
    this.selectedJid = jid;
    this.redraw();
  }

  /** Where a device was drawn in the last frame, in container pixels; null when it was not drawn. */
  pointOf(jid: string): { x: number; y: number } | null {
    const i = this.drawn.findIndex((d) => d.jid === jid);
    return i < 0 ? null : { x: this.xs[i], y: this.ys[i] };
  }

  private draw() {
    const map = this._map;
    if (!map) return;
    const size = map.getSize();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(size.x * dpr), hgt = Math.round(size.y * dpr);
    if (this.canvas.width !== w || this.canvas.height !== hgt) {
      this.canvas.width = w;
      this.canvas.height = hgt;
      this.canvas.style.width = `${size.x}px`;
      this.canvas.style.height = `${size.y}px`;
    }
    if (this.dpr !== dpr) {
      this.dpr = dpr;
      this.online = sprites(ONLINE, dpr);
      this.offline = sprites(OFFLINE, dpr);
    }
    L.DomUtil.setPosition(this.canvas, map.containerPointToLayerPoint([0, 0]));
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, hgt);

    const all = this.store.all();
    if (this.xs.length < all.length) {
      this.xs = new Float32Array(all.length);
      this.ys = new Float32Array(all.length);
    }
    // One device per 3×3 pixel cell, online ones first so that they win.
    const cols = Math.ceil(size.x / 3) + 10, rows = Math.ceil(size.y / 3) + 10;
    if (this.cells.length < cols * rows) this.cells = new Uint8Array(cols * rows);
    else this.cells.fill(0, 0, cols * rows);
    const drawn: Device[] = [];
    const half = (SIZE * dpr) / 2;
    let selected: L.Point | null = null;
    for (const pass of [true, false]) {
      const set = pass ? this.online! : this.offline!;
      for (const d of all) {
        if (d.online !== pass || !d.pos) continue;
        const p = map.latLngToContainerPoint([d.pos.lat, d.pos.lon]);
        if (p.x < -12 || p.y < -12 || p.x > size.x + 12 || p.y > size.y + 12) continue;
        if (d.jid === this.selectedJid) selected = p;
        const cell = (Math.floor(p.y / 3) + 5) * cols + Math.floor(p.x / 3) + 5;
        if (this.cells[cell]) continue;
        this.cells[cell] = 1;
        const b = d.pos.bearing;
        const sprite = b === undefined || b === null || !Number.isFinite(b)
          ? set.dot
          : set.arrows[((Math.round((b * STEPS) / 360) % STEPS) + STEPS) % STEPS];
        ctx.drawImage(sprite, Math.round(p.x * dpr - half), Math.round(p.y * dpr - half));
        this.xs[drawn.length] = p.x;
        this.ys[drawn.length] = p.y;
        drawn.push(d);
      }
    }
    this.drawn = drawn;
    if (selected) {
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.beginPath();
      ctx.arc(selected.x, selected.y, 14, 0, 2 * Math.PI);
      ctx.lineWidth = 3;
      ctx.strokeStyle = SELECTED;
      ctx.stroke();
    }
  }

  private nearest(p: L.Point): Device | null {
    let best = -1;
    let bestD = 14 * 14;
    for (let i = 0; i < this.drawn.length; i++) {
      const dx = this.xs[i] - p.x, dy = this.ys[i] - p.y;
      const d = dx * dx + dy * dy;
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    }
    return best < 0 ? null : this.drawn[best];
  }

  private click(e: L.LeafletMouseEvent) {
    if (this._map?.pm?.globalDrawModeEnabled()) return;
    const d = this.nearest(e.containerPoint);
    if (d && d.pos) this.onPick(d, L.latLng(d.pos.lat, d.pos.lon));
  }

  private hover(e: L.LeafletMouseEvent) {
    const c = this._map?.getContainer();
    if (c) c.classList.toggle('over-device', this.nearest(e.containerPoint) !== null);
  }
}
