// The wall display (大屏): the fleet at a glance for a monitoring-centre screen, readable from
// across the room. Big figures (points, online, offline, online and intact rate against the
// contract's threshold), regions ranked by online rate, the daily trend, open and overdue
// work orders and the latest status changes; kept live by the event stream, with no
// navigation to click (Esc or the corner link goes back to the dashboard). Any role that may
// read status may show it; what it shows is the caller's scope, like every page.
import { api, maybe } from "../api.js";
import { fill, h } from "../dom.js";
import { cause, now, pct, time } from "../format.js";
import { t } from "../i18n.js";
import { chart, statusBadge } from "../widgets.js";
import { isOverdue } from "./dashboard.js";

const DARK = { text: "#cfe0f1", line: "#2c4a66", good: "#3ccf8e", bad: "#ff6b5b", accent: "#f5c542" };

export async function render(ctx) {
  const threshold = ctx.settings && ctx.settings.contract && ctx.settings.contract.online_threshold_percent !== null
    ? Number(ctx.settings.contract.online_threshold_percent) / 100 : null;
  document.body.classList.add("wall-mode");
  const clock = h("span", { class: "wall-clock", id: "wall-clock" });
  const kpis = h("section", { class: "wall-kpis", id: "wall-kpis" });
  const regions = h("div", { class: "wall-chart", id: "wall-regions" });
  const trend = h("div", { class: "wall-chart", id: "wall-trend" });
  const orders = h("div", { class: "wall-orders", id: "wall-orders" });
  const changes = h("ol", { class: "wall-changes", id: "wall-changes" });
  fill(ctx.main,
    h("div", { class: "wall" },
      h("div", { class: "wall-head" },
        h("h1", {}, t("wall.title")), clock,
        h("a", { href: "#/dashboard", class: "wall-exit", id: "wall-exit" }, t("wall.exit"))),
      kpis,
      h("div", { class: "wall-grid" },
        h("section", {}, h("h2", {}, t("dash.by_region")), regions),
        h("section", {}, h("h2", {}, t("dash.trend")), trend),
        h("section", {}, h("h2", {}, t("dash.orders")), orders),
        h("section", {}, h("h2", {}, t("dash.changes")), changes))));
  const charts = [];
  const below = (r) => threshold !== null && r !== null && r !== undefined && r < threshold;

  const drawSummary = (s) => {
    const c = s.total;
    fill(kpis,
      kpi("points", t("dash.points"), c.points),
      kpi("online", t("status.online"), c.online, "good"),
      kpi("offline", t("status.offline"), c.offline, c.offline ? "bad" : ""),
      kpi("degraded", t("status.degraded"), c.degraded),
      kpi("online-rate", t("dash.online_rate"), pct(c.online_rate), below(c.online_rate) ? "bad" : "good",
        threshold !== null ? t("dash.threshold", { v: pct(threshold, 0) }) : ""),
      kpi("intact-rate", t("dash.intact_rate"), pct(c.intact_rate), below(c.intact_rate) ? "bad" : "good"));
    // Regions ranked, the lowest on top: the ones to act on first.
    const ranked = [...s.regions].sort((a, b) => (a.online_rate ?? 2) - (b.online_rate ?? 2)).slice(0, 12).reverse();
    chart(regions, charts).setOption({
      grid: { left: 120, right: 60, top: 10, bottom: 20 },
      xAxis: { type: "value", min: 0, max: 100, axisLabel: { color: DARK.text, formatter: "{value}%" },
        splitLine: { lineStyle: { color: DARK.line } } },
      yAxis: { type: "category", data: ranked.map((r) => r.name || r.region), axisLabel: { color: DARK.text, fontSize: 14 } },
      series: [{
        type: "bar", data: ranked.map((r) => r.online_rate === null ? null : +(r.online_rate * 100).toFixed(2)),
        label: { show: true, position: "right", color: DARK.text, formatter: "{c}%" },
        itemStyle: { color: (p) => threshold !== null && p.value < threshold * 100 ? DARK.bad : DARK.good },
        markLine: threshold === null ? undefined : { symbol: "none", data: [{ xAxis: threshold * 100 }],
          label: { color: DARK.accent, formatter: t("dash.threshold_short") }, lineStyle: { color: DARK.accent } },
      }],
    }, true);
    clock.textContent = time(s.at);
  };

  const drawTrend = (tr) => {
    const days = (tr && tr.days) || [];
    chart(trend, charts).setOption({
      grid: { left: 60, right: 20, top: 30, bottom: 30 },
      legend: { top: 0, textStyle: { color: DARK.text } },
      xAxis: { type: "category", data: days.map((d) => d.date.slice(5)), axisLabel: { color: DARK.text } },
      yAxis: { type: "value", scale: true, axisLabel: { color: DARK.text, formatter: "{value}%" },
        splitLine: { lineStyle: { color: DARK.line } } },
      series: [["online_rate", DARK.good], ["intact_rate", "#5aa9e6"]].map(([k, colour], i) => ({
        type: "line", name: t("dash." + k), lineStyle: { width: 3, color: colour }, itemStyle: { color: colour },
        data: days.map((d) => d[k] === null ? null : +(d[k] * 100).toFixed(2)),
        markLine: i === 0 && threshold !== null ? { symbol: "none", data: [{ yAxis: threshold * 100 }],
          lineStyle: { color: DARK.accent }, label: { color: DARK.accent } } : undefined,
      })),
    }, true);
  };

  const drawOrders = async () => {
    const page = await api("GET", "/work-orders", undefined, { open: "true", limit: 200 });
    const t0 = now();
    const overdue = page.items.filter((o) => isOverdue(o, t0)).length;
    fill(orders,
      kpi("open-orders", t("dash.open_orders"), page.items.length + (page.next ? "+" : "")),
      kpi("overdue-orders", t("dash.overdue_orders"), overdue, overdue ? "bad" : "good"));
  };

  drawSummary(await api("GET", "/fleet/summary"));
  maybe("/fleet/trend", { days: 14 }).then(drawTrend).catch(() => {});
  await drawOrders().catch(() => fill(orders, h("p", { class: "hint" }, t("forbidden"))));

  let refresh = null;
  ctx.onStream((type, data) => {
    if (type === "summary") drawSummary(data);
    if (type === "status") {
      changes.prepend(h("li", {},
        h("span", { class: "when" }, time(data.since).slice(-8)), " ",
        h("span", { class: "who" }, data.name || data.code), " ",
        statusBadge(data.to), " ", h("span", { class: "cause" }, cause(data.cause))));
      while (changes.children.length > 12) changes.lastChild.remove();
      clearTimeout(refresh);
      refresh = setTimeout(() => drawOrders().catch(() => {}), 3000);
    }
  });
  // The trend's today moves on: re-read it every ten minutes.
  const trendTimer = setInterval(() => maybe("/fleet/trend", { days: 14 }).then(drawTrend).catch(() => {}), 600_000);
  const onKey = (e) => { if (e.key === "Escape") location.hash = "#/dashboard"; };
  document.addEventListener("keydown", onKey);
  return () => {
    clearTimeout(refresh);
    clearInterval(trendTimer);
    document.removeEventListener("keydown", onKey);
    document.body.classList.remove("wall-mode");
    charts.forEach((c) => c.dispose());
  };
}

function kpi(id, label, value, cls, note) {
  return h("div", { class: "wall-kpi " + (cls || ""), id: "wall-" + id },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, String(value)),
    note ? h("div", { class: "note" }, note) : null);
}
