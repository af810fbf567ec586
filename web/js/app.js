// The console's shell: sign-in (and the forced password change), the layout with the
// navigation the role may use, the language switch, the hash router (#/devices, #/device/CODE
// …) and one event stream (SSE) shared by the pages.
import { api, onSignedOut, setCsrf } from "./api.js";
import { fill, h } from "./dom.js";
import { lang, setLang, t } from "./i18n.js";
import { may } from "./roles.js";
import * as dashboard from "./pages/dashboard.js";
import * as devices from "./pages/devices.js";
import * as device from "./pages/device.js";
import * as workorders from "./pages/workorders.js";
import * as map from "./pages/map.js";
import * as reports from "./pages/reports.js";
import * as patrol from "./pages/patrol.js";
import * as wall from "./pages/wall.js";
import * as admin from "./pages/admin.js";

const root = document.getElementById("app");

// Anything the Content-Security-Policy blocks is kept here (and checked by the browser test):
// the console must work without inline scripts or eval.
window.cspViolations = [];
// Uncaught errors, kept for the same reason.
window.pageErrors = [];
window.addEventListener("error", (e) => window.pageErrors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.pageErrors.push(String(e.reason && e.reason.stack || e.reason)));
// How responsive the console is, in the browser's own terms: tasks that held the main thread
// over 50 ms (the Long Tasks API, where the browser has it), and a User Timing mark when each
// page has drawn (`camwatch:ready:<page>`). Read by the browser tests for the time to
// interactive; visible in the browser's performance tools.
window.longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.longTasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
} catch { /* no Long Tasks API: nothing recorded */ }
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(e.violatedDirective + " " + (e.blockedURI || ""));
});

/** Pages by their first path segment; `need` is the permission the nav entry requires. */
const PAGES = [
  { path: "dashboard", page: dashboard, need: "read_status" },
  { path: "devices", page: devices, need: "read_devices" },
  { path: "work-orders", page: workorders, need: "read_work_orders" },
  { path: "patrol", page: patrol, need: "patrol" },
  { path: "map", page: map, need: "read_devices" },
  { path: "reports", page: reports, need: "read_reports" },
  { path: "admin", page: admin, need: "read_audit_log" },
];
const HIDDEN = { device: device, wall: wall };

const state = { me: null, events: null, cleanup: null, settings: null };

/** Listeners of the event stream: `(type, data) => …`, registered by the page shown. */
const streamListeners = new Set();
export function onStream(f) {
  streamListeners.add(f);
  return () => streamListeners.delete(f);
}

function openStream() {
  closeStream();
  const es = new EventSource("/api/v1/events");
  for (const type of ["summary", "status", "resync", "end"]) {
    es.addEventListener(type, (e) => {
      let data = null;
      try { data = JSON.parse(e.data); } catch { return; }
      streamListeners.forEach((f) => f(type, data));
      if (type === "end") closeStream();
    });
  }
  es.onopen = () => setLive(true);
  es.onerror = () => setLive(false);
  state.events = es;
}

function closeStream() {
  if (state.events) state.events.close();
  state.events = null;
  setLive(false);
}

function setLive(on) {
  const el = document.getElementById("live");
  if (el) {
    el.className = on ? "live on" : "live";
    el.textContent = on ? t("live.on") : t("live.off");
  }
}

async function boot() {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  try {
    state.me = await api("GET", "/me");
  } catch (e) {
    if (e.status === 401) return showLogin();
    return fill(root, h("p", { class: "error" }, e.message));
  }
  if (state.me.must_change_password) return showPasswordChange(false);
  state.settings = await api("GET", "/console").catch(() => null);
  showShell();
}

function showLogin(message) {
  closeStream();
  state.me = null;
  const err = h("p", { class: "error", id: "login-error" }, message || "");
  const name = h("input", { name: "name", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "login", id: "login", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      const r = await api("POST", "/session", { name: name.value, password: password.value });
      setCsrf(r.csrf);
      state.me = r.me;
      if (r.me.must_change_password) return showPasswordChange(false);
      state.settings = await api("GET", "/console").catch(() => null);
      showShell();
    } catch (e) {
      err.textContent = e.code === "locked_out" ? t("login.locked") :
        e.code === "login_failed" ? t("login.failed") : e.message;
    }
  } },
    h("h1", {}, t("app.title")),
    h("label", {}, t("login.name"), name),
    h("label", {}, t("login.password"), password),
    h("button", { type: "submit" }, t("login.submit")),
    err,
    langSwitch(),
  );
  fill(root, h("div", { class: "login-page" }, form));
}

/** The change-password form: forced after an admin set the password, or asked for. */
function showPasswordChange(voluntary) {
  const err = h("p", { class: "error" });
  const current = h("input", { name: "current", type: "password", autocomplete: "current-password", required: true });
  const fresh = h("input", { name: "new", type: "password", autocomplete: "new-password", required: true });
  const again = h("input", { name: "again", type: "password", autocomplete: "new-password", required: true });
  const form = h("form", { class: "login", id: "change-password", onsubmit: async (ev) => {
    ev.preventDefault();
    if (fresh.value !== again.value) { err.textContent = t("password.mismatch"); return; }
    try {
      await api("POST", "/me/password", { current: current.value, new: fresh.value });
      state.me = await api("GET", "/me");
      state.settings = await api("GET", "/console").catch(() => null);
      showShell();
    } catch (e) {
      err.textContent = e.message;
    }
  } },
    h("h1", {}, t("password.title")),
    voluntary ? null : h("p", {}, t("password.must")),
    h("p", { class: "hint" }, t("password.rule")),
    h("label", {}, t("password.current"), current),
    h("label", {}, t("password.new"), fresh),
    h("label", {}, t("password.again"), again),
    h("button", { type: "submit" }, t("password.submit")),
    voluntary ? h("button", { type: "button", class: "plain", onclick: () => showShell() }, t("cancel")) : null,
    err,
  );
  closeStream();
  fill(root, h("div", { class: "login-page" }, form));
}

function langSwitch() {
  return h("button", { type: "button", class: "plain lang", id: "lang", onclick: () => {
    setLang(lang() === "zh" ? "en" : "zh");
    if (state.me && !state.me.must_change_password) showShell(); else boot();
  } }, t("lang.other"));
}

async function logout() {
  try { await api("DELETE", "/session"); } catch { /* gone already */ }
  setCsrf(null);
  showLogin();
}

function showShell() {
  const me = state.me;
  const nav = h("nav", {},
    PAGES.filter((p) => may(me.role, p.need)).map((p) =>
      h("a", { href: "#/" + p.path, id: "nav-" + p.path }, t("nav." + p.path))));
  const header = h("header", { class: "top" },
    h("span", { class: "brand" }, t("app.title")),
    nav,
    h("span", { class: "spacer" }),
    h("span", { id: "live", class: "live" }, t("live.off")),
    h("span", { class: "who", id: "who" }, me.name, " · ", t("role." + me.role)),
    h("button", { type: "button", class: "plain", onclick: () => showPasswordChange(true) }, t("password.change")),
    langSwitch(),
    h("button", { type: "button", class: "plain", id: "logout", onclick: logout }, t("logout")),
  );
  const main = h("main", { id: "main" });
  fill(root, header, main);
  openStream();
  route();
}

function route() {
  if (!state.me) return;
  const main = document.getElementById("main");
  if (!main) return;
  if (state.cleanup) { try { state.cleanup(); } catch { /* page gone */ } }
  state.cleanup = null;
  streamListeners.clear();
  const [path, qs] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").map(decodeURIComponent);
  const entry = PAGES.find((p) => p.path === parts[0]);
  const page = entry ? entry.page : HIDDEN[parts[0]];
  if (!page) { location.replace("#/dashboard"); return; }
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === "#/" + parts[0]);
  }
  fill(main);
  const ctx = { me: state.me, settings: state.settings, args: parts.slice(1),
    query: new URLSearchParams(qs || ""), main, onStream };
  Promise.resolve(page.render(ctx)).then((cleanup) => {
    state.cleanup = cleanup || null;
    performance.mark("camwatch:ready:" + parts[0]);
  })
    .catch((e) => {
      window.pageErrors.push(String(e && e.stack || e));
      fill(main, h("p", { class: "error", id: "page-error" }, (e && e.message) || String(e)));
    });
}

window.addEventListener("hashchange", route);
onSignedOut(() => { if (state.me) showLogin(t("login.expired")); });
boot();
