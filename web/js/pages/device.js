// One device, answering "why is this camera red?": its live state and cause in words, the
// last probes with each step and the server's own words, the status timeline of a period as a
// bar, the latest evidence frame beside the approved baseline, its exemptions and work orders,
// and the actions the role may take (open a work order, add an exemption, approve the
// baseline). Images and endpoints the server does not have yet are shown as absent.
import { api } from "../api.js";
import { fill, h, select } from "../dom.js";
import { cause, duration, now, time } from "../format.js";
import { t } from "../i18n.js";
import { may } from "../roles.js";
import { statusBadge } from "../widgets.js";

const PERIODS = [["1", "24h"], ["7", "7d"], ["30", "30d"]];
const REASONS = ["force_majeure", "planned_works", "relocation", "demolition", "third_party", "other"];

export async function render(ctx) {
  const code = ctx.args[0] || "";
  let d;
  try {
    d = await api("GET", "/devices/" + encodeURIComponent(code));
  } catch (e) {
    fill(ctx.main, h("h1", {}, code),
      h("p", { class: "error", id: "device-error" }, e.status === 404 ? t("device.missing") : e.message),
      h("p", {}, h("a", { href: "#/devices" }, t("nav.devices"))));
    return;
  }
  const r = d.device;
  const t0 = now();
  const failed = d.recent.find((p) => p.status !== "up");
  const why = h("section", { class: "why st-" + d.status, id: "why" },
    h("div", { class: "big" }, statusBadge(d.status),
      d.since ? " " + t("device.for", { d: duration(t0 - d.since) }) : ""),
    d.cause ? h("p", { id: "cause" }, h("strong", {}, t("col.cause"), ": "), cause(d.cause),
      h("span", { class: "hint mono" }, " (", d.cause, ")")) : null,
    d.picture ? h("p", {}, h("strong", {}, t("device.picture"), ": "), cause(d.picture)) : null,
    d.confirmed === false ? h("p", { id: "unconfirmed", class: "hint" }, t("device.unconfirmed")) : null,
    d.probed_here === false ? h("p", { id: "elsewhere", class: "hint" }, t("device.elsewhere")) : null,
    failed && d.status !== "online" ? h("p", { id: "server-words" }, h("strong", {}, t("device.last_failure"), ": "),
      t("failure." + failed.failure, {}, failed.failure || ""), failed.detail ? " — " + failed.detail : "") : null,
  );
  const timeline = h("div", { id: "timeline" });
  const images = h("div", { class: "images", id: "images" });
  const orders = h("div", { id: "device-orders" });
  const actions = h("div", { id: "device-actions" });
  fill(ctx.main,
    h("h1", {}, r.name, " ", h("span", { class: "mono hint" }, r.code)),
    why,
    h("div", { class: "grid2" },
      h("section", { class: "panel" }, h("h2", {}, t("device.record")), recordTable(r)),
      h("section", { class: "panel" }, h("h2", {}, t("device.images")), images)),
    h("section", { class: "panel" }, h("h2", {}, t("device.timeline")), timeline),
    d.sip ? h("section", { class: "panel", id: "sip" }, h("h2", {}, t("device.sip")), sipTable(d.sip, t0)) : null,
    h("section", { class: "panel" }, h("h2", {}, t("device.probes")), probes(d.recent)),
    h("div", { class: "grid2" },
      h("section", { class: "panel" }, h("h2", {}, t("device.orders")), orders),
      h("section", { class: "panel" }, h("h2", {}, t("device.actions")), actions)),
  );
  drawImages(images, code, ctx.me);
  const showTimeline = async (days) => {
    const to = new Date();
    const from = new Date(to.getTime() - Number(days) * 86400000);
    try {
      const tl = await api("GET", "/devices/" + code + "/timeline", undefined,
        { from: from.toISOString().replace(/\.\d+Z$/, "Z"), to: to.toISOString().replace(/\.\d+Z$/, "Z") });
      fill(timeline, select("period", PERIODS.map(([v, l]) => [v, t("period." + l)]), days,
        (e) => showTimeline(e.target.value)), bar(tl), exemptions(tl.exemptions));
    } catch (e) {
      fill(timeline, h("p", { class: "error" }, e.status === 403 ? t("forbidden") : e.message));
    }
  };
  showTimeline("1");
  const drawOrders = async () => {
    try {
      const page = await api("GET", "/work-orders", undefined, { region: r.region, limit: 200 });
      const mine = page.items.filter((o) => o.subject === code);
      fill(orders, mine.length ? h("ul", {}, mine.map((o) => h("li", {},
        h("a", { href: "#/work-orders?id=" + o.id }, "#" + o.id, " ", o.title), " · ", t("wo.state." + o.state),
        " · ", time(o.opened_at)))) : h("p", { class: "hint" }, t("device.no_orders")));
    } catch (e) {
      fill(orders, h("p", { class: "error" }, e.message));
    }
  };
  drawOrders();
  fill(actions,
    may(ctx.me.role, "open_work_order") ? openOrderForm(code, drawOrders) : null,
    may(ctx.me.role, "write_exemptions") ? exemptionForm(code, () => showTimeline("1")) : null,
    !may(ctx.me.role, "open_work_order") && !may(ctx.me.role, "write_exemptions")
      ? h("p", { class: "hint" }, t("device.no_actions")) : null);
  const off = ctx.onStream((type, data) => {
    if (type === "status" && data.code === code) { off(); render(ctx); }
  });
}

function recordTable(r) {
  const rows = [["col.code", r.code], ["col.name", r.name], ["col.kind", t("kind." + r.kind, {}, r.kind)],
    ["col.region", r.region], ["device.parent", r.parent], ["col.address", r.address],
    ["device.position", r.longitude !== null && r.latitude !== null ? r.longitude + ", " + r.latitude : null],
    ["device.ip", r.ip], ["device.vendor", [r.vendor, r.model].filter(Boolean).join(" ")],
    ["col.maintainer", r.maintainer], ["device.contact", [r.maintainer_contact, r.maintainer_phone].filter(Boolean).join(" ")]];
  return h("table", { class: "record" }, h("tbody", {}, rows.filter(([, v]) => v).map(([k, v]) =>
    h("tr", {}, h("th", {}, t(k)), h("td", {}, k === "device.parent" ? h("a", { href: "#/device/" + v }, v) : v)))));
}

/** What the GB/T 28181 platform knows of the device's signalling: registered? last keepalive?
 * catalog? (the API's `sip`; every value a text node). */
function sipTable(s, t0) {
  const ago = (at) => at === null ? null : time(at) + " (" + t("device.sip.ago", { d: duration(Math.max(0, t0 - at)) }) + ")";
  const c = s.catalog;
  const i = s.device_info;
  const rows = [
    ["device.sip.peer", s.channel === null ? null : s.peer + " · " + t("device.sip.channel", { s: s.channel })],
    ["device.sip.presence", t("device.sip.presence." + s.presence, {}, s.presence)
      + (s.offline_at !== null ? " · " + t(s.presence === "online" ? "device.sip.offline_by" : "device.sip.offline_since", { at: time(s.offline_at) }) : "")],
    ["device.sip.via", [s.transport, s.addr].filter(Boolean).join(" ")],
    ["device.sip.registered", s.registered_at === null ? null : time(s.registered_at)
      + (s.expires_at !== null ? " → " + time(s.expires_at) : "")],
    ["device.sip.keepalive", (ago(s.last_keepalive) || t("device.sip.none")) + " · "
      + t("device.sip.rule", { i: s.keepalive_interval_sec, m: s.keepalive_misses, n: s.missed_now })],
    ["device.sip.catalog", c ? t("device.sip.catalog_line", { at: time(c.at), n: c.channels, of: c.announced, p: c.pages })
      + (c.complete ? "" : " · " + t("device.sip.partial")) : t("device.sip.none")],
    ["device.sip.recording", s.recording ? t("device.sip.record." + s.recording.record, {}, s.recording.record)
      + " · " + t("device.sip.since", { at: time(s.recording.since) }) : null],
    ["device.sip.info", i ? [i.manufacturer, i.model, i.firmware].filter(Boolean).join(" ") + " · " + time(i.at) : null],
  ];
  return h("table", { class: "record" }, h("tbody", {}, rows.filter(([, v]) => v).map(([k, v]) =>
    h("tr", {}, h("th", {}, t(k)), h("td", {}, v)))));
}

/** The period as one bar: each stretch a segment as wide as its share of the period. */
function bar(tl) {
  const span = Math.max(1, tl.to - tl.from);
  const b = h("div", { class: "bar", id: "timeline-bar" });
  let at = tl.from;
  const gap = (from, to) => {
    if (to > from) b.append(segment("unknown", from, to, null, span));
  };
  for (const s of tl.stretches) {
    gap(at, s.from);
    b.append(segment(s.status, s.from, s.to, s.cause, span));
    at = Math.max(at, s.to);
  }
  gap(at, tl.to);
  const sec = tl.seconds;
  return h("div", {}, b,
    h("div", { class: "bar-axis" }, h("span", {}, time(tl.from)), h("span", {}, time(tl.to))),
    h("p", { class: "legend" }, ["online", "degraded", "offline", "unknown"].map((s) =>
      h("span", { class: "legend-item" }, statusBadge(s), " ", duration(sec[s])))));
}

function segment(status, from, to, why, span) {
  const el = h("div", { class: "seg " + status, title: t("status." + status) + " " + time(from) + " – " + time(to) +
    (why ? " · " + cause(why) : "") });
  el.style.width = ((to - from) / span * 100).toFixed(3) + "%";
  return el;
}

function exemptions(list) {
  if (!list.length) return h("p", { class: "hint" }, t("device.no_exemptions"));
  return h("div", {}, h("h3", {}, t("device.exemptions")), h("ul", { id: "exemptions" }, list.map((e) =>
    h("li", {}, t("reason." + e.reason, {}, e.reason), ": ", time(e.from), " – ", time(e.to),
      " · ", e.approved_by, e.note ? " · " + e.note : ""))));
}

function probes(list) {
  if (!list.length) return h("p", { class: "hint" }, t("device.no_probes"));
  return h("table", { class: "compact", id: "probes" },
    h("thead", {}, h("tr", {}, [t("probe.at"), t("probe.class"), t("probe.outcome"), t("probe.steps"),
      t("probe.words")].map((x) => h("th", {}, x)))),
    h("tbody", {}, list.map((p) => h("tr", { class: p.status === "up" ? "" : "down" },
      h("td", {}, time(p.at)),
      h("td", {}, t("probe.class." + p.class, {}, p.class), " · ", p.kind),
      h("td", {}, p.status === "up" ? t("probe.up") : t("failure." + p.failure, {}, p.failure || p.status)),
      h("td", {}, h("ol", { class: "steps" }, p.steps.map((s, i) => h("li", {
        class: p.status !== "up" && i === p.steps.length - 1 ? "failed" : "" },
      s.step, " ", h("span", { class: "hint" }, s.elapsed_ms.toFixed(0) + " ms"))))),
      h("td", { class: "words" }, p.detail)))));
}

/** Evidence and baseline, side by side; 404 (none yet, or not served yet) shows a note. */
function drawImages(el, code, me) {
  const stamp = Date.now();
  const img = (path, id, label) => {
    const note = h("p", { class: "hint" });
    const im = h("img", { src: "/api/v1/devices/" + code + path + (path.includes("?") ? "&" : "?") + "t=" + stamp,
      alt: label, id });
    im.addEventListener("error", () => { im.remove(); note.textContent = t("device.no_image"); });
    return h("figure", {}, im, note, h("figcaption", {}, label));
  };
  const result = h("span", { id: "approve-result" });
  // The latest evidence frame becomes the day baseline; one that reads as faulty alone is
  // refused (409) until the user says that is the scene (force).
  const send = async (force) => {
    try {
      await api("POST", "/devices/" + code + "/baseline", { source: "evidence", night: false, force });
      drawImages(el, code, me);
    } catch (x) {
      fill(result, h("span", { class: "error" }, " ", x.status === 404 ? t("device.no_image") : x.message),
        x.status === 409 ? h("button", { type: "button", class: "plain", id: "approve-force",
          onclick: () => send(true) }, t("device.approve_force")) : null);
    }
  };
  const approve = may(me.role, "write_baselines") ? h("p", {}, h("button", { type: "button", id: "approve-baseline",
    onclick: () => send(false) }, t("device.approve")), result) : null;
  fill(el, h("div", { class: "side" },
    img("/evidence", "evidence", t("device.evidence")),
    img("/baseline", "baseline", t("device.baseline")),
    img("/baseline?night=true", "baseline-night", t("device.baseline_night"))), approve);
}

function openOrderForm(code, done) {
  const title = h("input", { name: "title", placeholder: t("wo.title") });
  const note = h("input", { name: "note", placeholder: t("wo.note") });
  const out = h("span", {});
  return h("form", { class: "inline", id: "open-order", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const o = await api("POST", "/work-orders", { devices: [code], title: title.value, note: note.value });
      fill(out, t("wo.opened", { id: o.order ? o.order.id : o.id }));
      done();
    } catch (x) {
      fill(out, h("span", { class: "error" }, x.message));
    }
  } }, h("h3", {}, t("wo.open")), title, note, h("button", { type: "submit" }, t("wo.open")), out);
}

function exemptionForm(code, done) {
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const from = h("input", { name: "from", type: "datetime-local", value: local(new Date()) });
  const to = h("input", { name: "to", type: "datetime-local", value: local(new Date(Date.now() + 86400000)) });
  const reason = select("reason", REASONS.map((r) => [r, t("reason." + r)]), "planned_works");
  const approved = h("input", { name: "approved_by", placeholder: t("ex.approved_by"), required: true });
  const note = h("input", { name: "note", placeholder: t("wo.note") });
  const out = h("span", {});
  return h("form", { class: "inline", id: "add-exemption", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/exemptions", { device: code, reason: reason.value,
        from: new Date(from.value).toISOString().replace(/\.\d+Z$/, "Z"),
        to: new Date(to.value).toISOString().replace(/\.\d+Z$/, "Z"),
        approved_by: approved.value, note: note.value });
      fill(out, t("ex.added"));
      done();
    } catch (x) {
      fill(out, h("span", { class: "error" }, x.message));
    }
  } }, h("h3", {}, t("ex.add")), reason, from, to, approved, note, h("button", { type: "submit" }, t("ex.add")), out);
}
