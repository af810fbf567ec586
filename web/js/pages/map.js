// The map: every camera of the caller's scope at its coordinates, coloured by status and
// clustered (leaflet.markercluster, chunked loading: tens of thousands of points stay fluid),
// filtered by status and region. With no tile server configured it draws a plain grid (no
// network at all); with one (`[console] tiles`), the register's coordinates are converted to
// the tiles' system (gcoord: WGS-84, GCJ-02, BD-09).
import { api } from "../api.js";
import { fill, h, select } from "../dom.js";
import { t } from "../i18n.js";

const STATUS = ["online", "degraded", "offline", "unknown"];
const COLOURS = ["#1f7a4d", "#d4a017", "#c0392b", "#8a8f98"];
const CRS = { wgs84: "WGS84", gcj02: "GCJ02", bd09: "BD09" };

export async function render(ctx) {
  const L = window.L;
  const settings = (ctx.settings && ctx.settings.map) || { tiles: "", register_crs: "wgs84", tiles_crs: "wgs84" };
  const f = { status: ctx.query.get("status") || "", region: ctx.query.get("region") || "" };
  const info = h("span", { class: "hint", id: "map-info" });
  const el = h("div", { id: "map", class: "map" });
  fill(ctx.main,
    h("form", { class: "filters", id: "map-filters", onsubmit: (e) => { e.preventDefault(); load(); } },
      select("status", [["", t("dev.any_status")], ...STATUS.map((s) => [s, t("status." + s)])], f.status,
        (e) => { f.status = e.target.value; load(); }),
      h("input", { name: "region", placeholder: t("col.region"), value: f.region,
        onchange: (e) => { f.region = e.target.value.trim(); load(); } }),
      h("button", { type: "submit" }, t("dev.filter")),
      h("span", { class: "legend" }, STATUS.map((s) => h("span", { class: "legend-item" },
        h("span", { class: "dot " + s }), t("status." + s)))),
      info),
    el);
  const map = L.map(el, { preferCanvas: true, zoomControl: true, minZoom: 3, maxZoom: 18, attributionControl: Boolean(settings.tiles) });
  if (settings.tiles) {
    L.tileLayer(settings.tiles, { attribution: settings.tiles_attribution || "", maxZoom: 19 }).addTo(map);
  } else {
    gridLayer(L).addTo(map);
  }
  map.setView([31.82, 117.23], 10);
  const convert = settings.tiles && settings.register_crs !== settings.tiles_crs && window.gcoord
    ? (lon, lat) => window.gcoord.transform([lon, lat], window.gcoord[CRS[settings.register_crs]],
      window.gcoord[CRS[settings.tiles_crs]])
    : (lon, lat) => [lon, lat];
  const renderer = L.canvas({ padding: 0.5 });
  let cluster = null;
  const load = async () => {
    history.replaceState(null, "", "#/map" + (f.status || f.region
      ? "?" + new URLSearchParams(Object.entries(f).filter(([, v]) => v)).toString() : ""));
    info.textContent = t("map.loading");
    const started = performance.now();
    const p = await api("GET", "/map/points", undefined, f);
    if (cluster) map.removeLayer(cluster);
    // Clustering runs in chunks of at most 50 ms with the browser drawing between them, so
    // the map stays fluid while a large scope loads; `clustered` resolves when the last chunk
    // of the points is done. (Adding the group to the map runs an empty batch first, whose
    // progress 0 of 0 is not the points'.)
    let done;
    let adding = false;
    const clustered = new Promise((resolve) => { done = resolve; });
    cluster = L.markerClusterGroup({
      chunkedLoading: true, chunkInterval: 50, chunkDelay: 16,
      chunkProgress: (processed, total) => { if (adding && processed >= total) done(); },
      showCoverageOnHover: false, maxClusterRadius: 60,
      iconCreateFunction: (c) => {
        // Red when any point is offline, else yellow when any is degraded, else grey when no
        // point has been observed yet, else green.
        let worst = 3;
        for (const m of c.getAllChildMarkers()) {
          const s = m.options.status;
          if (s === 2) { worst = 2; break; }
          if (s === 1) worst = 1;
          else if (s === 0 && worst === 3) worst = 0;
        }
        const n = c.getChildCount();
        return L.divIcon({ className: "cluster s" + worst, iconSize: L.point(36, 36),
          html: String(n > 9999 ? Math.round(n / 1000) + "k" : n) });
      },
    });
    // markercluster keeps the clusters within a whole view's size around the view on the page
    // (nine views' worth): zoomed in over 100,000 points that is a thousand DOM icons for the
    // browser to composite on every frame of a drag. Half a view around it (four views' worth)
    // still covers a drag's reach before the clusters are updated at its end.
    cluster._getExpandedVisibleBounds = function expanded() {
      return this._checkBoundsMaxLat(this._map.getBounds().pad(0.5));
    };
    const markers = new Array(p.codes.length);
    const bounds = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i < p.codes.length; i++) {
      const [lon, lat] = convert(p.lon[i], p.lat[i]);
      const s = p.status[i];
      const m = L.circleMarker([lat, lon], { renderer, radius: 6, weight: 1, color: "#fff",
        fillColor: COLOURS[s], fillOpacity: 0.95, status: s, code: p.codes[i] });
      m.bindPopup(() => popup(p.codes[i], s));
      markers[i] = m;
      bounds[0] = Math.min(bounds[0], lat); bounds[1] = Math.min(bounds[1], lon);
      bounds[2] = Math.max(bounds[2], lat); bounds[3] = Math.max(bounds[3], lon);
    }
    map.addLayer(cluster);
    if (markers.length) map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]], { padding: [20, 20] });
    adding = true;
    cluster.addLayers(markers);
    if (!markers.length) done();
    await clustered;
    info.textContent = t("map.count", { n: p.codes.length, none: p.without_position,
      ms: Math.round(performance.now() - started) });
    el.dataset.points = String(p.codes.length);
  };
  await load();
  return () => map.remove();
}

function popup(code, s) {
  return h("div", {}, h("a", { href: "#/device/" + code }, code), h("br"), t("status." + STATUS[s]));
}

/** A plain background with a graticule, drawn on canvas tiles: no tile server needed. */
function gridLayer(L) {
  const Grid = L.GridLayer.extend({
    createTile(coords) {
      const tile = document.createElement("canvas");
      const size = this.getTileSize();
      tile.width = size.x; tile.height = size.y;
      const g = tile.getContext("2d");
      g.fillStyle = "#eef1f4"; g.fillRect(0, 0, size.x, size.y);
      g.strokeStyle = "#d5dae0"; g.lineWidth = 1;
      g.strokeRect(0.5, 0.5, size.x - 1, size.y - 1);
      g.strokeStyle = "#e3e7eb";
      g.beginPath(); g.moveTo(size.x / 2, 0); g.lineTo(size.x / 2, size.y);
      g.moveTo(0, size.y / 2); g.lineTo(size.x, size.y / 2); g.stroke();
      if (coords.z >= 8) {
        const nw = this._map.unproject(coords.scaleBy(size), coords.z);
        g.fillStyle = "#9aa3ad"; g.font = "10px sans-serif";
        g.fillText(nw.lng.toFixed(2) + "°E " + nw.lat.toFixed(2) + "°N", 4, 12);
      }
      return tile;
    },
  });
  return new Grid();
}
