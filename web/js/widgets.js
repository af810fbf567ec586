// Small pieces several pages use: status badges, ECharts set-up, a table of any JSON rows.
import { h } from "./dom.js";
import { t } from "./i18n.js";

export function statusBadge(s) {
  return h("span", { class: "badge " + (s || "unknown") }, t("status." + (s || "unknown")));
}

/** An ECharts instance on `el`, resized with the window, remembered in `list` for disposal. */
export function chart(el, list) {
  const c = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "canvas" });
  if (!list.includes(c)) {
    list.push(c);
    const onResize = () => c.resize();
    window.addEventListener("resize", onResize);
    const dispose = c.dispose.bind(c);
    c.dispose = () => { window.removeEventListener("resize", onResize); dispose(); };
  }
  return c;
}

/** A readable rendering of an answer whose exact shape this console does not know: every
 * array of objects becomes a table (its keys the columns), every other value a line. */
export function genericTable(v, title) {
  const out = h("div", { class: "generic" });
  if (Array.isArray(v)) {
    if (title) out.append(h("h3", {}, title));
    if (v.length && typeof v[0] === "object" && v[0] !== null) {
      const keys = Object.keys(v[0]).filter((k) => typeof v[0][k] !== "object" || v[0][k] === null);
      out.append(h("table", { class: "compact" },
        h("thead", {}, h("tr", {}, keys.map((k) => h("th", {}, t("field." + k, {}, k))))),
        h("tbody", {}, v.map((r) => h("tr", {}, keys.map((k) => h("td", {}, show(k, r[k]))))))));
    } else {
      out.append(h("p", {}, v.map(String).join(", ")));
    }
  } else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      if (x && typeof x === "object") out.append(genericTable(x, t("field." + k, {}, k)));
      else out.append(h("p", {}, t("field." + k, {}, k), ": ", show(k, x)));
    }
  }
  return out;
}

function show(k, x) {
  if (x === null || x === undefined) return "—";
  if (typeof x === "number" && k.endsWith("rate")) return (x * 100).toFixed(2) + "%";
  return String(x);
}
