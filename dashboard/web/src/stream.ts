// The live stream (Server-Sent Events at /api/stream). The browser
// reconnects by itself after a dropped connection; when it gives up (the
// server answered with an error) this opens a new one a little later.
// After any reconnect the caller reloads what it may have missed.

import type { Alert, Fence, Positions } from './api';

export interface StreamHandlers {
  positions(fc: Positions): void;
  presence(ev: { device: string; online: boolean }): void;
  alert(a: Alert): void;
  ack(a: Alert): void;
  fence(f: Fence): void;
  fenceRemoved(ev: { id: string }): void;
  state(live: boolean): void;
  reconnected(): void;
}

export function openStream(h: StreamHandlers): { close(): void } {
  let es: EventSource | null = null;
  let lost = false;
  let closed = false;
  let retry: number | undefined;

  const open = () => {
    const s = new EventSource('/api/stream');
    es = s;
    const on = <T>(name: string, fn: (v: T) => void) =>
      s.addEventListener(name, (e) => {
        try {
          fn(JSON.parse((e as MessageEvent<string>).data) as T);
        } catch (err) {
          console.warn(`stream: bad ${name} event`, err);
        }
      });
    on<Positions>('positions', h.positions);
    on<{ device: string; online: boolean }>('presence', h.presence);
    on<Alert>('alert', h.alert);
    on<Alert>('ack', h.ack);
    on<Fence>('fence', h.fence);
    on<{ id: string }>('fence-removed', h.fenceRemoved);
    s.onopen = () => {
      h.state(true);
      if (lost) h.reconnected();
      lost = false;
    };
    s.onerror = () => {
      lost = true;
      h.state(false);
      if (s.readyState === EventSource.CLOSED && !closed) {
        window.clearTimeout(retry);
        retry = window.setTimeout(open, 3000);
      }
    };
  };
  open();
  return {
    close() {
      closed = true;
      window.clearTimeout(retry);
      es?.close();
    },
  };
}
