// The MQTT bridge's state in the header: hidden when the hub runs without
// a broker, else "MQTT connected · in 1204 · out 388 · refused 3", its
// title naming each broker and its last error. Polled: the state changes
// seldom and the counters need no more than a glance.

import { api, type BridgeStatus } from './api';
import { ago } from './format';

const every = 10_000;

export class BridgeState {
  readonly el: HTMLSpanElement;

  constructor() {
    this.el = document.createElement('span');
    this.el.className = 'bridge';
    this.el.hidden = true;
    this.el.setAttribute('role', 'status');
  }

  start() {
    const poll = async () => {
      try { this.show(await api.bridge()); } catch { /* the live stream says when the hub is away */ }
      setTimeout(poll, every);
    };
    void poll();
  }

  show(st: BridgeStatus) {
    const brokers = st.brokers ?? [];
    this.el.hidden = st.state === 'disabled' || brokers.length === 0;
    if (this.el.hidden) return;
    const sum = (k: 'received' | 'published' | 'malformed' | 'refused') => brokers.reduce((n, b) => n + (b[k] ?? 0), 0);
    const refused = sum('malformed') + sum('refused');
    this.el.textContent = `MQTT ${st.state} · in ${sum('received')} · out ${sum('published')}` + (refused ? ` · refused ${refused}` : '');
    this.el.classList.toggle('ok', st.state === 'connected');
    this.el.title = brokers.map((b) => `${b.broker}: ${b.connected ? 'connected' : 'not connected'}` +
      (b.last_error ? `; last error ${ago(b.last_error_time)}: ${b.last_error}` : '')).join('\n');
  }
}
