// The dashboard's only way to the hub: JSON over fetch, same origin, the
// session cookie sent by the browser and the CSRF token added to every
// write. The shapes below are the API's contract.

import type { Feature, FeatureCollection, Geometry, LineString, Point } from 'geojson';

export interface User { jid: string; name: string; role: string; groups: string[] }
export interface Config { tile_url?: string; tile_attribution?: string; domain?: string }

export interface Position { lat: number; lon: number; time?: string; speed?: number | null; bearing?: number | null; accuracy?: number | null }
export interface Reading { value: number; unit?: string; time?: string }

export interface DeviceInfo {
  name: string; jid: string; role?: string; groups?: string[] | null; online: boolean; last_seen?: string | null; demo?: boolean; mqtt?: boolean;
  position: Position | null; readings?: Record<string, Reading> | null;
}

export interface PositionProps { device?: string; name?: string; time?: string; speed?: number | null; bearing?: number | null; accuracy?: number | null; online?: boolean; battery?: number | null }
export type Positions = FeatureCollection<Point, PositionProps>;
export type Trail = Feature<LineString, { times: string[] }>;

export interface FenceProps {
  name: string; devices?: string[] | null; groups?: string[] | null; events?: string[] | null; dwell?: number | null;
  notify?: string[] | null; radius?: number | null; width?: number | null; hysteresis?: number | null;
  near?: string[] | null; near_groups?: string[] | null; [k: string]: unknown;
}
export type Fence = Feature<Geometry | null, FenceProps>;
export type Fences = FeatureCollection<Geometry | null, FenceProps>;

export interface Alert {
  id: string; event: string; fence?: string; fence_name?: string; device: string; time: string;
  position?: Position | null; acked_by?: string | null; acked_at?: string | null;
  sensor?: string; value?: number; unit?: string; threshold?: number; near?: string; distance?: number;
}
export interface AlertPage { alerts: Alert[]; next?: string | null }

export interface SensorLatest { sensor: string; unit?: string; value: number; time: string }
export interface Series { sensor: string; unit?: string; points: { time: string; value: number }[] }

export interface BridgeBroker {
  broker: string; connected: boolean; connects?: number; last_error?: string; last_error_time?: string;
  received?: number; fixes?: number; readings?: number; malformed?: number; refused?: number; failed?: number;
  looped?: number; ignored?: number; provisioned?: number; published?: number; dropped?: number;
}
export interface BridgeStatus { state: 'disabled' | 'connecting' | 'connected' | 'disconnected'; brokers: BridgeBroker[] }

export interface NewAccount { name: string; role: string; groups: string[]; password?: string }
export interface AccountChange { role?: string; groups?: string[] }
export interface Token { id: string; name: string; account: string; created: string; last_used?: string | null }

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

let csrf = '';
let onUnauthorized: () => void = () => {};

export function setCsrf(token: string) {
  csrf = token;
  try { sessionStorage.setItem('geohub.csrf', token); } catch { /* private mode */ }
}
export function storedCsrf(): string {
  try { return sessionStorage.getItem('geohub.csrf') ?? ''; } catch { return ''; }
}
/** fn runs when a request answers 401: the session is gone. */
export function whenUnauthorized(fn: () => void) { onUnauthorized = fn; }

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data: unknown;
  try { data = text ? JSON.parse(text) : undefined; } catch { data = text; }
  if (!res.ok) {
    const d = data as { error?: string; message?: string } | string | undefined;
    const msg = typeof d === 'string' && d ? d : (typeof d === 'object' && (d.error || d.message)) || `${res.status} ${res.statusText}`;
    if (res.status === 401 && path !== '/api/login' && path !== '/api/me') onUnauthorized();
    throw new ApiError(res.status, msg);
  }
  return data as T;
}

const q = (params: Record<string, string | number | undefined>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') s.set(k, String(v));
  const str = s.toString();
  return str ? `?${str}` : '';
};
const seg = encodeURIComponent;

export const api = {
  login: (username: string, password: string) => call<{ user: User; csrf: string }>('POST', '/api/login', { username, password }),
  logout: () => call<unknown>('POST', '/api/logout'),
  me: () => call<User | { user: User; csrf?: string }>('GET', '/api/me'),
  config: () => call<Config>('GET', '/api/config'),
  devices: () => call<DeviceInfo[]>('GET', '/api/devices'),
  positions: () => call<Positions>('GET', '/api/positions'),
  trail: (name: string, from: string, to: string) => call<Trail>('GET', `/api/devices/${seg(name)}/trail${q({ from, to })}`),
  fences: () => call<Fences>('GET', '/api/fences'),
  createFence: (f: Fence) => call<Fences>('POST', '/api/fences', f),
  updateFence: (id: string, f: Fence) => call<Fence | Fences>('PUT', `/api/fences/${seg(id)}`, f),
  deleteFence: (id: string) => call<unknown>('DELETE', `/api/fences/${seg(id)}`),
  alerts: (limit: number, before?: string) => call<AlertPage>('GET', `/api/alerts${q({ limit, before })}`),
  ack: (id: string) => call<Alert | unknown>('POST', `/api/alerts/${seg(id)}/ack`),
  bridge: () => call<BridgeStatus>('GET', '/api/bridge'),
  sensors: (name: string) => call<SensorLatest[]>('GET', `/api/devices/${seg(name)}/telemetry`),
  series: (name: string, sensor: string, from: string, to: string) =>
    call<Series>('GET', `/api/devices/${seg(name)}/telemetry${q({ sensor, from, to })}`),
  // Admins only: accounts and API tokens. Passwords and token secrets are in these answers once.
  createAccount: (a: NewAccount) => call<DeviceInfo & { password?: string }>('POST', '/api/devices', a),
  updateAccount: (name: string, c: AccountChange) => call<DeviceInfo>('PATCH', `/api/devices/${seg(name)}`, c),
  deleteAccount: (name: string) => call<unknown>('DELETE', `/api/devices/${seg(name)}`),
  resetPassword: (name: string) => call<{ password: string }>('POST', `/api/devices/${seg(name)}/password`),
  tokens: () => call<Token[]>('GET', '/api/tokens'),
  createToken: (name: string, account: string) => call<Token & { token: string }>('POST', '/api/tokens', { name, account }),
  revokeToken: (id: string) => call<unknown>('DELETE', `/api/tokens/${seg(id)}`),
};
