// The dashboard: the fleet now (online and intact rate against the contract's threshold, by
// region), today's and this month's figures and the daily trend when the server has them,
// open and overdue work orders, and the latest status changes, kept live by the event stream.
import { api, maybe } from "../api.js";
import { fill, h } from "../dom.js";
import { cause, duration, now, pct, time } from "../format.js";
import { t } from "../i18n.js";
import { chart, statusBadge } from "../widgets.js";

export async function render(ctx) {
  const threshold = ctx.settings && ctx.settings.contract && ctx.settings.contract.online_threshold_percent !== null
    ? Number(ctx.settings.contract.online_threshold_percent) / 100 : null;
  const cards = h("section", { class: "cards", id: "summary-cards" });
  const regionChart = h("div", { class: "chart", id: "region-chart" });
  const regionTable = h("div", { id: "region-table" });
  const figures = h("div", { id: "figures" });
  const trend = h("div", { class: "chart", id: "trend-chart" });
  const orders = h("div", { id: "open-orders" });
  const changes = h("ol", { class: "changes", id: "changes" });
  fill(ctx.main,
    h("h1", {}, t("nav.dashboard"), " ",
      h("a", { href: "#/wall", class: "wall-link", id: "wall-link" }, t("dash.wall"))),
    cards,
    h("div", { class: "grid2" },
      h("section", { class: "panel" }, h("h2", {}, t("dash.by_region")), regionChart, regionTable),
      h("section", { class: "panel" }, h("h2", {}, t("dash.orders")), orders)),
    h("div", { class: "grid2" },
      h("section", { class: "panel" }, h("h2", {}, t("dash.figures")), figures),
      h("section", { class: "panel" }, h("h2", {}, t("dash.trend")), trend)),
    h("section", { class: "panel" }, h("h2", {}, t("dash.changes")), changes),
  );
  const charts = [];
  const drawSummary = (s) => {
    const c = s.total;
    const below = (r) => threshold !== null && r !== null && r < threshold;
    fill(cards,
      card("points", t("dash.points"), c.points),
      card("online", t("status.online"), c.online, "online"),
      card("degraded", t("status.degraded"), c.degraded, "degraded"),
      card("offline", t("status.offline"), c.offline, "offline"),
      card("unknown", t("status.unknown"), c.unknown, "unknown"),
      card("online-rate", t("dash.online_rate"), pct(c.online_rate), below(c.online_rate) ? "bad" : "good",
        threshold !== null ? t("dash.threshold", { v: pct(threshold, 0) }) : t("dash.no_contract")),
      card("intact-rate", t("dash.intact_rate"), pct(c.intact_rate), below(c.intact_rate) ? "bad" : "good"),
      h("p", { class: "hint" }, t("dash.at", { at: time(s.at) })),
    );
    const regions = s.regions;
    const rc = chart(regionChart, charts);
    rc.setOption({
      grid: { left: 60, right: 20, top: 20, bottom: 30 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: regions.map((r) => r.name || r.region) },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: [{
        type: "bar", name: t("dash.online_rate"),
        data: regions.map((r) => r.online_rate === null ? null : +(r.online_rate * 100).toFixed(2)),
        itemStyle: { color: (p) => threshold !== null && p.value < threshold * 100 ? "#c0392b" : "#1f7a4d" },
        markLine: threshold === null ? undefined : { symbol: "none", data: [{ yAxis: threshold * 100 }],
          label: { formatter: t("dash.threshold_short") }, lineStyle: { color: "#b9770e" } },
      }],
    }, true);
    fill(regionTable, h("table", { class: "compact", id: "regions" },
      h("thead", {}, h("tr", {}, [t("col.region"), t("dash.points"), t("status.online"),
        t("status.offline"), t("dash.online_rate"), t("dash.intact_rate")].map((x) => h("th", {}, x)))),
      h("tbody", {}, regions.map((r) => h("tr", { dataset: { region: r.region } },
        h("td", { title: r.region }, h("a", { href: "#/devices?region=" + r.region }, r.name || r.region)),
        h("td", { class: "num" }, r.points), h("td", { class: "num" }, r.online),
        h("td", { class: "num" }, r.offline),
        h("td", { class: "num " + (below(r.online_rate) ? "bad" : "") }, pct(r.online_rate)),
        h("td", { class: "num" }, pct(r.intact_rate)))))));
  };
  const summary = await api("GET", "/fleet/summary");
  drawSummary(summary);

  // Today and month-so-far figures, and the trend: newer endpoints, empty until served.
  Promise.all([maybe("/fleet/figures", { period: "today" }), maybe("/fleet/figures", { period: "month" })])
    .then(([today, month]) => fill(figures, today && month ? figureTables(today, month, threshold)
      : h("p", { class: "hint" }, t("dash.not_yet"))))
    .catch((e) => fill(figures, h("p", { class: "error" }, e.status === 503 ? t("dash.no_contract") : e.message)));
  maybe("/fleet/trend").then((tr) => {
    if (!tr) return fill(trend, h("p", { class: "hint" }, t("dash.not_yet")));
    drawTrend(chart(trend, charts), tr, threshold);
  }).catch((e) => fill(trend, h("p", { class: "error" }, e.message)));

  const drawOrders = async () => {
    const page = await api("GET", "/work-orders", undefined, { open: "true", limit: 200 });
    const t0 = now();
    const overdue = page.items.filter((o) => isOverdue(o, t0));
    fill(orders,
      h("div", { class: "cards small" },
        card("open-orders", t("dash.open_orders"), page.items.length + (page.next ? "+" : "")),
        card("overdue-orders", t("dash.overdue_orders"), overdue.length, overdue.length ? "bad" : "good")),
      h("table", { class: "compact" },
        h("tbody", {}, page.items.slice(0, 8).map((o) => h("tr", { class: isOverdue(o, t0) ? "overdue" : "" },
          h("td", {}, "#" + o.id),
          h("td", {}, h("a", { href: "#/device/" + o.subject }, o.title || o.subject)),
          h("td", {}, t("wo.state." + o.state)),
          h("td", {}, o.contractor || "—"),
          h("td", {}, isOverdue(o, t0) ? t("wo.overdue") : t("wo.since", { d: duration(t0 - o.opened_at) })))))),
      h("p", {}, h("a", { href: "#/work-orders" }, t("dash.all_orders"))));
  };
  await drawOrders().catch((e) => fill(orders, h("p", { class: "error" }, e.message)));

  let refresh = null;
  ctx.onStream((type, data) => {
    if (type === "summary") drawSummary(data);
    if (type === "status") {
      changes.prepend(h("li", {},
        h("span", { class: "when" }, time(data.since)), " ",
        h("a", { href: "#/device/" + data.code }, data.name || data.code), " ",
        statusBadge(data.from), " → ", statusBadge(data.to), " ",
        h("span", { class: "cause" }, cause(data.cause))));
      while (changes.children.length > 30) changes.lastChild.remove();
      // A change may open or close an order: re-read them soon, once.
      clearTimeout(refresh);
      refresh = setTimeout(() => drawOrders().catch(() => {}), 3000);
    }
  });
  return () => { clearTimeout(refresh); charts.forEach((c) => c.dispose()); };
}

export function isOverdue(o, t0) {
  return Boolean(o.response_overdue_at || o.repair_overdue_at ||
    (o.state === "pending" && o.response_due_at && o.response_due_at < t0) ||
    (o.state === "accepted" && o.repair_due_at && o.repair_due_at < t0));
}

/** Today and this month so far: the fleet, then regions and contractors ranked by online rate. */
function figureTables(today, month, threshold) {
  const below = (r) => threshold !== null && r !== null && r !== undefined && r < threshold;
  const rate = (r) => h("td", { class: "num " + (below(r) ? "bad" : "") }, pct(r));
  const ranked = (title, id, key) => {
    const m = new Map(month[key].map((g) => [g.key, g]));
    const rows = [...today[key]].sort((a, b) => (a.online_rate ?? 2) - (b.online_rate ?? 2));
    return [h("h3", {}, title), h("table", { class: "compact", id },
      h("thead", {}, h("tr", {}, [title, t("dash.points"), t("dash.today_online"), t("dash.month_online"),
        t("dash.month_intact")].map((x) => h("th", {}, x)))),
      h("tbody", {}, rows.map((g) => h("tr", {}, h("td", { title: g.key }, g.name || g.key),
        h("td", { class: "num" }, g.devices),
        rate(g.online_rate), rate(m.get(g.key) ? m.get(g.key).online_rate : null),
        h("td", { class: "num" }, pct(m.get(g.key) ? m.get(g.key).intact_rate : null))))))];
  };
  return h("div", { id: "figure-tables" },
    h("div", { class: "cards small" },
      card("today-online", t("dash.today_online"), pct(today.fleet.online_rate), below(today.fleet.online_rate) ? "bad" : "good"),
      card("month-online", t("dash.month_online"), pct(month.fleet.online_rate), below(month.fleet.online_rate) ? "bad" : "good"),
      card("month-intact", t("dash.month_intact"), pct(month.fleet.intact_rate))),
    ranked(t("col.region"), "figures-regions", "regions"),
    ranked(t("col.maintainer"), "figures-contractors", "contractors"));
}

function card(id, label, value, cls, note) {
  return h("div", { class: "card " + (cls || ""), id: "card-" + id },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, value),
    note ? h("div", { class: "note" }, note) : null);
}

/** A daily series: the first array of objects in the answer; x is its first text field,
 * every `*_rate` field a line. */
function drawTrend(c, tr, threshold) {
  const rows = Array.isArray(tr) ? tr : Object.values(tr).find(Array.isArray) || [];
  if (!rows.length) return;
  const xKey = Object.keys(rows[0]).find((k) => typeof rows[0][k] === "string");
  const rates = Object.keys(rows[0]).filter((k) => k.endsWith("_rate"));
  c.setOption({
    grid: { left: 50, right: 20, top: 30, bottom: 30 },
    legend: { top: 0 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: rows.map((r) => r[xKey]) },
    yAxis: { type: "value", scale: true, axisLabel: { formatter: "{value}%" } },
    series: rates.map((k, i) => ({
      type: "line", name: t("dash." + k, {}, k),
      data: rows.map((r) => r[k] === null ? null : +(r[k] * 100).toFixed(2)),
      markLine: i === 0 && threshold !== null ? { symbol: "none", data: [{ yAxis: threshold * 100 }] } : undefined,
    })),
  }, true);
}
