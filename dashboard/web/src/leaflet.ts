// Leaflet with the geoman plugin. Geoman's build is a script that extends
// the global L, so L is made global before it runs (ES modules run in
// import order).
import L from 'leaflet';

(window as unknown as { L: typeof L }).L = L;

export default L;
