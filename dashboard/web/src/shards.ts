// A sharded deployment's map: the devices of the other instances, and a
// notice in the header when an instance did not answer, so that its
// devices are not mistaken for gone. /api/positions says how each
// instance took part ("shards"); without that member the hub is the whole
// fleet and this stays hidden and stops asking.

import { api, type Positions } from './api';

const every = 30_000;

interface ShardStatus { status: string; reason?: string }

export class ShardNotice {
  readonly el: HTMLSpanElement;

  constructor(private apply: (fc: Positions) => void) {
    this.el = document.createElement('span');
    this.el.className = 'shards';
    this.el.hidden = true;
    this.el.setAttribute('role', 'alert');
  }

  start() {
    const poll = async () => {
      let fc: Positions & { shards?: Record<string, ShardStatus> };
      try { fc = await api.positions(); } catch { setTimeout(poll, every); return; }
      if (!fc.shards) return;
      this.apply(fc);
      this.show(fc.shards);
      setTimeout(poll, every);
    };
    void poll();
  }

  show(shards: Record<string, ShardStatus>) {
    const missing = Object.entries(shards).filter(([, s]) => s.status !== 'ok');
    this.el.hidden = missing.length === 0;
    this.el.textContent = missing.length ? `Not answering: ${missing.map(([d]) => d).join(', ')}; devices there may be missing or out of date` : '';
    this.el.title = missing.map(([d, s]) => `${d}: ${s.reason ?? s.status}`).join('\n');
  }
}
