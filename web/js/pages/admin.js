// Administration: users (create, reset a password, disable, enable, unlock), API tokens, the
// audit log and the exemptions. Admins see all four; auditors the audit log and exemptions.
import { api } from "../api.js";
import { fill, h, select } from "../dom.js";
import { time } from "../format.js";
import { t } from "../i18n.js";
import { may } from "../roles.js";

const ROLES = ["admin", "operator", "contractor", "auditor"];

export async function render(ctx) {
  const users = h("div", { id: "users" });
  const tokens = h("div", { id: "tokens" });
  const audit = h("div", { id: "audit" });
  const exemptions = h("div", { id: "exemption-list" });
  const manage = may(ctx.me.role, "manage_users");
  fill(ctx.main, h("h1", {}, t("nav.admin")),
    manage ? h("section", { class: "panel" }, h("h2", {}, t("adm.users")), users) : null,
    manage ? h("section", { class: "panel" }, h("h2", {}, t("adm.tokens")), tokens) : null,
    h("section", { class: "panel" }, h("h2", {}, t("adm.audit")), audit),
    h("section", { class: "panel" }, h("h2", {}, t("adm.exemptions")), exemptions));
  const tasks = [drawAudit(audit, ""), drawExemptions(exemptions)];
  if (manage) tasks.push(drawUsers(users), drawTokens(tokens));
  await Promise.all(tasks);
}

async function drawUsers(el) {
  const list = await api("GET", "/users").catch((e) => ({ error: e }));
  const out = h("p", { id: "user-result" });
  const name = h("input", { name: "name", placeholder: t("login.name"), required: true });
  const role = select("role", ROLES.map((r) => [r, t("role." + r)]), "operator");
  const regions = h("input", { name: "regions", placeholder: t("adm.regions") });
  const maintainer = h("input", { name: "maintainer", placeholder: t("col.maintainer") });
  const act = async (u, a) => {
    try { await api("POST", "/users/" + encodeURIComponent(u) + "/" + a); drawUsers(el); } catch (e) { out.textContent = e.message; }
  };
  fill(el, list.error ? h("p", { class: "error" }, list.error.message) : h("table", { class: "compact" },
    h("thead", {}, h("tr", {}, [t("login.name"), t("adm.role"), t("adm.regions"), t("col.maintainer"), t("adm.state"), ""]
      .map((x) => h("th", {}, x)))),
    h("tbody", {}, list.items.map((u) => h("tr", {},
      h("td", {}, u.name), h("td", {}, t("role." + u.role)), h("td", {}, u.regions.join(", ") || t("adm.all")),
      h("td", {}, u.maintainer || ""),
      h("td", {}, u.disabled ? t("adm.disabled") : u.must_change_password ? t("adm.must_change") : t("adm.active")),
      h("td", {}, h("button", { type: "button", class: "plain", onclick: () => act(u.name, u.disabled ? "enable" : "disable") },
        u.disabled ? t("adm.enable") : t("adm.disable")),
      h("button", { type: "button", class: "plain", onclick: () => act(u.name, "unlock") }, t("adm.unlock"))))))),
  h("form", { class: "inline", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const r = await api("POST", "/users", { name: name.value.trim(), role: role.value,
        regions: regions.value.split(/[\s,]+/).filter(Boolean), maintainer: maintainer.value.trim() || null });
      await drawUsers(el);
      el.querySelector("#user-result").textContent = t("adm.created", { name: r.user.name, pw: r.one_time_password || "" });
    } catch (x) { out.textContent = x.message; }
  } }, h("h3", {}, t("adm.add_user")), name, role, regions, maintainer, h("button", { type: "submit" }, t("adm.add"))), out);
}

async function drawTokens(el) {
  try {
    const list = await api("GET", "/tokens");
    fill(el, list.items.length ? h("table", { class: "compact" },
      h("thead", {}, h("tr", {}, [t("adm.user"), t("adm.token_name"), t("adm.access"), t("adm.created_at"), t("adm.last_used"), ""]
        .map((x) => h("th", {}, x)))),
      h("tbody", {}, list.items.map((k) => h("tr", {}, h("td", {}, k.user), h("td", {}, k.name), h("td", {}, k.access),
        h("td", {}, time(k.created_at)), h("td", {}, time(k.last_used_at)),
        h("td", {}, h("button", { type: "button", class: "plain", onclick: async () => {
          await api("DELETE", "/tokens/" + k.id).catch(() => {});
          drawTokens(el);
        } }, t("adm.revoke"))))))) : h("p", { class: "hint" }, t("adm.none")));
  } catch (e) {
    fill(el, h("p", { class: "error" }, e.message));
  }
}

async function drawAudit(el, action, before) {
  try {
    const page = await api("GET", "/audit", undefined, { action, before, limit: 50 });
    const filter = h("input", { name: "action", value: action, placeholder: t("adm.action_filter"),
      onchange: (e) => drawAudit(el, e.target.value.trim()) });
    fill(el, filter, h("table", { class: "compact", id: "audit-log" },
      h("thead", {}, h("tr", {}, [t("adm.at"), t("adm.actor"), t("adm.action"), t("adm.target"), t("adm.detail")]
        .map((x) => h("th", {}, x)))),
      h("tbody", {}, page.items.map((a) => h("tr", {}, h("td", {}, time(a.at)), h("td", {}, a.actor), h("td", {}, a.action),
        h("td", {}, a.target), h("td", { class: "words" }, typeof a.detail === "string" ? a.detail : JSON.stringify(a.detail)))))),
    page.next ? h("button", { type: "button", class: "plain", onclick: () => drawAudit(el, action, page.next) }, t("dev.more")) : null);
  } catch (e) {
    fill(el, h("p", { class: "error" }, e.status === 403 ? t("forbidden") : e.message));
  }
}

async function drawExemptions(el) {
  try {
    const list = await api("GET", "/exemptions");
    fill(el, list.items.length ? h("table", { class: "compact" },
      h("thead", {}, h("tr", {}, [t("adm.subject"), t("ex.reason"), t("ex.from"), t("ex.to"), t("ex.approved_by"), t("wo.note")]
        .map((x) => h("th", {}, x)))),
      h("tbody", {}, list.items.map((x) => h("tr", {},
        h("td", {}, x.device ? h("a", { href: "#/device/" + x.device }, x.device) : x.region),
        h("td", {}, t("reason." + x.reason, {}, x.reason)), h("td", {}, time(x.from)), h("td", {}, time(x.to)),
        h("td", {}, x.approved_by), h("td", {}, x.note)))))
      : h("p", { class: "hint" }, t("adm.none")));
  } catch (e) {
    fill(el, h("p", { class: "error" }, e.message));
  }
}
