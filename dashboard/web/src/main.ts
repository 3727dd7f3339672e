// GeoHub's web dashboard: log in, then the map.

import 'leaflet/dist/leaflet.css';
import '@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, ApiError, setCsrf, storedCsrf, whenUnauthorized, type User } from './api';
import { showLogin } from './login';
import { startApp } from './app';

const root = document.getElementById('app')!;

async function boot() {
  whenUnauthorized(() => location.reload());
  let user: User;
  try {
    const me = await api.me();
    const wrapped = me as { user?: User; csrf?: string };
    user = wrapped.user ?? (me as User);
    setCsrf(wrapped.csrf ?? storedCsrf());
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      showLogin(root, start);
      return;
    }
    root.textContent = `The hub did not answer: ${(e as Error).message}`;
    return;
  }
  start(user);
}

function start(user: User) {
  startApp(root, user).catch((e) => {
    console.error(e);
    root.textContent = `The dashboard failed to start: ${(e as Error).message}`;
  });
}

boot();
