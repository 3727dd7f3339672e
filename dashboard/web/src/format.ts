// How times, speeds and places read in the dashboard.

/** "12 s ago", "5 min ago", "3 h ago", or a date for anything older than a day. */
export function ago(time: string | undefined | null, now = Date.now()): string {
  if (!time) return 'never';
  const t = Date.parse(time);
  if (Number.isNaN(t)) return 'unknown';
  const s = Math.round((now - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleString();
}

/** Local date and time, seconds included. */
export function when(time: string | undefined | null): string {
  if (!time) return '—';
  const t = new Date(time);
  return Number.isNaN(t.getTime()) ? '—' : t.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** Metres per second as km/h. */
export function speed(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '—';
  return `${(ms * 3.6).toFixed(ms * 3.6 < 10 ? 1 : 0)} km/h`;
}

export function heading(deg: number | undefined | null): string {
  if (deg === undefined || deg === null || !Number.isFinite(deg)) return '—';
  const names = ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'];
  return `${Math.round(deg)}° ${names[Math.round(((deg % 360) + 360) % 360 / 45) % 8]}`;
}

export function coords(lat: number, lon: number): string {
  return `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
}

export function metres(m: number | undefined | null): string {
  if (m === undefined || m === null || !Number.isFinite(m)) return '—';
  return m >= 1000 ? `${(m / 1000).toFixed(m >= 10000 ? 0 : 1)} km` : `${Math.round(m)} m`;
}

/** The value of a datetime-local input for a time. */
export function localInput(t: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}T${p(t.getHours())}:${p(t.getMinutes())}`;
}

/** Splits "a, b  c" into ["a", "b", "c"]. */
export function words(s: string): string[] {
  return s.split(/[\s,]+/).map((w) => w.trim()).filter(Boolean);
}
