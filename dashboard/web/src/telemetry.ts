// Telemetry charts for one device: one small uPlot chart per sensor over a
// chosen time range.

import uPlot from 'uplot';
import { api } from './api';
import { fill, h } from './dom';
import { when } from './format';

export class Telemetry {
  readonly el: HTMLElement;
  private charts: uPlot[] = [];
  private body: HTMLElement;
  private range: HTMLSelectElement;
  private name = '';
  private seq = 0;

  constructor() {
    this.range = h('select', { id: 'telemetry-range', onchange: () => this.load() },
      [['1', 'Last hour'], ['6', 'Last 6 hours'], ['24', 'Last 24 hours'], ['168', 'Last 7 days']].map(([v, t]) => h('option', { value: v, selected: v === '6' }, t)));
    this.body = h('div', { class: 'charts' });
    this.el = h('section', { class: 'telemetry', 'aria-labelledby': 'telemetry-title' },
      h('h3', { id: 'telemetry-title' }, 'Telemetry'),
      h('div', { class: 'row' },
        h('label', { for: 'telemetry-range' }, 'Range'), this.range,
        h('button', { type: 'button', onclick: () => this.load() }, 'Refresh')),
      this.body);
  }

  /** Shows name's charts, loaded afresh. */
  show(name: string) {
    this.name = name;
    this.load();
  }

  clear() {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    this.body.replaceChildren();
  }

  async load() {
    const seq = ++this.seq;
    const name = this.name;
    const to = new Date(), from = new Date(to.getTime() - Number(this.range.value) * 3600_000);
    try {
      const sensors = await api.sensors(name);
      const series = await Promise.all((sensors ?? []).map((s) => api.series(name, s.sensor, from.toISOString(), to.toISOString())));
      if (seq !== this.seq) return;
      this.clear();
      if (!series.length) {
        fill(this.body, h('p', { class: 'muted' }, 'No readings.'));
        return;
      }
      const width = Math.max(200, this.body.clientWidth || 300);
      for (const [i, s] of series.entries()) {
        const latest = sensors[i];
        const title = `${s.sensor}${s.unit ? ` (${s.unit})` : ''}`;
        const box = h('figure', { class: 'chart' },
          h('figcaption', null, title, ': ', h('strong', null, `${latest.value}${latest.unit ?? ''}`), ` at ${when(latest.time)}`));
        this.body.append(box);
        const pts = s.points ?? [];
        if (pts.length < 2) continue;
        const data: uPlot.AlignedData = [pts.map((p) => Date.parse(p.time) / 1000), pts.map((p) => p.value)];
        this.charts.push(new uPlot({
          width, height: 130, legend: { show: false }, cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true } },
          axes: [{ size: 30, font: '11px system-ui' }, { size: 50, font: '11px system-ui' }],
          series: [{}, { label: title, stroke: '#0969da', width: 1.5, fill: 'rgba(9,105,218,0.08)' }],
        }, data, box));
      }
    } catch (e) {
      if (seq !== this.seq) return;
      this.clear();
      fill(this.body, h('p', { class: 'error' }, `Could not load telemetry: ${(e as Error).message}`));
    }
  }
}
