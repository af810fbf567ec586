// The work-order board: a column per state, each card with its SLA clock (time left to respond
// or repair, or how long overdue), and the actions the role may take in that state. Notes go in
// the card's own field; the server checks the role, the scope and the state again.
import { api } from "../api.js";
import { fill, h } from "../dom.js";
import { cause, duration, now, time } from "../format.js";
import { t } from "../i18n.js";
import { orderActions } from "../roles.js";
import { isOverdue } from "./dashboard.js";

const COLUMNS = ["pending", "accepted", "repaired", "awaiting_review", "closed"];

export async function render(ctx) {
  const board = h("div", { class: "board", id: "board" });
  const err = h("p", { class: "error", id: "board-error" });
  const focus = ctx.query.get("id");
  fill(ctx.main, h("h1", {}, t("nav.work-orders")), err, board);
  const load = async () => {
    const [open, closed] = await Promise.all([
      api("GET", "/work-orders", undefined, { open: "true", limit: 200 }),
      api("GET", "/work-orders", undefined, { state: "closed", limit: 20 }),
    ]);
    const all = [...open.items, ...closed.items];
    const t0 = now();
    fill(board, COLUMNS.map((s) => {
      const items = all.filter((o) => o.state === s);
      return h("section", { class: "column", id: "col-" + s },
        h("h2", {}, t("wo.state." + s), " ", h("span", { class: "count" }, items.length)),
        items.map((o) => orderCard(o, t0, ctx.me.role, focus, act)));
    }));
  };
  const act = async (o, action, note, contractor) => {
    err.textContent = "";
    const body = { note };
    let path = action;
    if (action === "approve" || action === "reject") { path = "review"; body.approve = action === "approve"; }
    if (action === "assign") body.contractor = contractor;
    try {
      await api("POST", "/work-orders/" + o.id + "/" + path, body);
      await load();
    } catch (e) {
      err.textContent = "#" + o.id + ": " + e.message;
    }
  };
  await load();
  let timer = null;
  ctx.onStream((type) => {
    if (type === "status") { clearTimeout(timer); timer = setTimeout(() => load().catch(() => {}), 3000); }
  });
  // The SLA clocks move: redraw every half minute.
  const tick = setInterval(() => load().catch(() => {}), 30000);
  return () => { clearTimeout(timer); clearInterval(tick); };
}

function clock(o, t0) {
  if (o.state === "pending" && o.response_due_at) return [o.response_due_at - t0, t("wo.respond")];
  if (o.state === "accepted" && o.repair_due_at) return [o.repair_due_at - t0, t("wo.repair_by")];
  return null;
}

function orderCard(o, t0, role, focus, act) {
  const overdue = isOverdue(o, t0);
  const c = clock(o, t0);
  const note = h("input", { name: "note", class: "note", placeholder: t("wo.note") });
  const who = h("input", { name: "contractor", class: "note", placeholder: t("col.maintainer") });
  const actions = orderActions(role, o.state);
  return h("article", { class: "order" + (overdue ? " overdue" : "") + (String(o.id) === focus ? " focus" : ""),
    id: "order-" + o.id, dataset: { state: o.state } },
    h("header", {}, h("strong", {}, "#" + o.id), " ", o.level ? h("span", { class: "level" }, o.level) : null,
      overdue ? h("span", { class: "badge offline" }, t("wo.overdue")) : null),
    h("p", {}, h("a", { href: "#/device/" + o.subject }, o.title || o.subject)),
    o.cause ? h("p", { class: "hint" }, cause(o.cause)) : null,
    h("p", { class: "hint" }, o.contractor || t("wo.unassigned"), " · ", t("wo.opened_at", { at: time(o.opened_at) })),
    c ? h("p", { class: "sla " + (c[0] < 0 ? "late" : "") }, c[1], " ",
      c[0] < 0 ? t("wo.late_by", { d: duration(-c[0]) }) : t("wo.left", { d: duration(c[0]) })) : null,
    actions.length ? h("div", { class: "actions" },
      actions.includes("assign") ? who : null,
      note,
      actions.map((a) => h("button", { type: "button", class: "act-" + a, dataset: { action: a },
        onclick: () => act(o, a, note.value.trim(), who.value.trim()) }, t("wo.act." + a)))) : null);
}
