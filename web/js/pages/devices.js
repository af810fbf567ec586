// The device list: filters (region, status, maintainer, kind, text), sort, cursor pages
// ("more" appends the next), status colours, export of exactly what is filtered (CSV/XLSX, the
// same parameters), and for those who may write the register, import with a dry run first and
// the row errors per line.
import { api, query, url } from "../api.js";
import { fill, h, select } from "../dom.js";
import { cause, duration, now } from "../format.js";
import { t } from "../i18n.js";
import { may } from "../roles.js";
import { statusBadge } from "../widgets.js";

const STATUSES = ["online", "degraded", "offline", "unknown"];
const KINDS = ["camera", "channel", "nvr", "dvr", "encoder", "platform", "other"];
const SORTS = ["code", "name", "status", "since"];

export async function render(ctx) {
  const f = {
    region: ctx.query.get("region") || "", status: ctx.query.get("status") || "",
    maintainer: ctx.query.get("maintainer") || "", kind: ctx.query.get("kind") || "",
    q: ctx.query.get("q") || "", sort: ctx.query.get("sort") || "code",
  };
  const input = (name, ph) => h("input", { name, id: "filter-" + name, value: f[name], placeholder: ph,
    onchange: (e) => { f[name] = e.target.value.trim(); apply(); } });
  const body = h("tbody", { id: "device-rows" });
  const more = h("button", { type: "button", id: "more", class: "plain" }, t("dev.more"));
  const count = h("span", { class: "hint", id: "device-count" });
  const exports = h("span", { class: "exports" });
  const err = h("p", { class: "error" });
  const form = h("form", { class: "filters", id: "device-filters", onsubmit: (e) => { e.preventDefault(); apply(); } },
    input("q", t("dev.search")),
    input("region", t("col.region")),
    select("status", [["", t("dev.any_status")], ...STATUSES.map((s) => [s, t("status." + s)])], f.status,
      (e) => { f.status = e.target.value; apply(); }),
    select("kind", [["", t("dev.any_kind")], ...KINDS.map((k) => [k, t("kind." + k, {}, k)])], f.kind,
      (e) => { f.kind = e.target.value; apply(); }),
    ctx.me.role === "contractor" ? null : input("maintainer", t("col.maintainer")),
    h("label", {}, t("dev.sort"), " ", select("sort", SORTS.map((s) => [s, t("sort." + s)]), f.sort,
      (e) => { f.sort = e.target.value; apply(); })),
    h("button", { type: "submit" }, t("dev.filter")),
    exports,
  );
  const table = h("table", { class: "list", id: "devices" },
    h("thead", {}, h("tr", {}, [t("col.code"), t("col.name"), t("col.status"), t("col.since"),
      t("col.cause"), t("col.region"), t("col.maintainer"), t("col.address")].map((x) => h("th", {}, x)))),
    body);
  fill(ctx.main, h("h1", {}, t("nav.devices")), form, err, table, h("p", {}, more, " ", count),
    may(ctx.me.role, "write_devices") ? importPanel() : null);

  let next = null;
  let shown = 0;
  const load = async (append) => {
    err.textContent = "";
    const params = { ...f, limit: 100 };
    if (append && next) params.cursor = next;
    let page;
    try {
      page = await api("GET", "/devices", undefined, params);
    } catch (e) {
      err.textContent = e.message;
      return;
    }
    if (!append) { body.replaceChildren(); shown = 0; }
    const t0 = now();
    for (const d of page.items) {
      body.append(h("tr", { class: "st-" + d.status, dataset: { code: d.code } },
        h("td", { class: "mono" }, h("a", { href: "#/device/" + d.code }, d.code)),
        h("td", {}, d.name),
        h("td", {}, statusBadge(d.status)),
        h("td", {}, d.since ? duration(t0 - d.since) : "—"),
        h("td", {}, cause(d.cause)),
        h("td", {}, d.region),
        h("td", {}, d.maintainer || ""),
        h("td", {}, d.address || "")));
    }
    shown += page.items.length;
    next = page.next;
    more.disabled = !next;
    count.textContent = t("dev.shown", { n: shown }) + (next ? "" : " · " + t("dev.all_shown"));
  };
  const apply = () => {
    const q = query(f);
    history.replaceState(null, "", "#/devices" + (q ? "?" + q : ""));
    const exp = { ...f };
    fill(exports, t("dev.export"), " ",
      h("a", { href: url("/devices/export", { ...exp, format: "csv" }), download: "devices.csv", id: "export-csv" }, "CSV"), " ",
      h("a", { href: url("/devices/export", { ...exp, format: "xlsx" }), download: "devices.xlsx", id: "export-xlsx" }, "XLSX"));
    return load(false);
  };
  more.addEventListener("click", () => load(true));
  await apply();
}

/** Register import: choose a file, check it (dry run), then write it. */
function importPanel() {
  const file = h("input", { type: "file", id: "import-file", accept: ".csv,.xlsx,text/csv" });
  const out = h("div", { id: "import-result" });
  const run = async (dry) => {
    const f = file.files[0];
    if (!f) { fill(out, h("p", { class: "error" }, t("imp.choose"))); return; }
    fill(out, h("p", { class: "hint" }, t("imp.working")));
    try {
      const r = await api("POST", "/devices/import", await f.arrayBuffer(),
        { dry_run: dry ? "true" : "false", name: f.name });
      fill(out,
        h("p", { id: "import-summary" }, t("imp.summary", { rows: r.rows, bad: r.rejected_rows, enc: r.encoding }),
          r.written ? " " + t("imp.written", { ins: r.written.inserted, upd: r.written.updated }) : " " + t("imp.dry")),
        r.errors.length ? h("table", { class: "compact", id: "import-errors" },
          h("thead", {}, h("tr", {}, [t("imp.line"), t("imp.column"), t("imp.problem"), t("imp.value")].map((x) => h("th", {}, x)))),
          h("tbody", {}, r.errors.map((e) => h("tr", {}, h("td", { class: "num" }, e.line), h("td", {}, e.column || ""),
            h("td", {}, e.problem), h("td", {}, e.value || ""))))) : null,
        dry ? h("button", { type: "button", id: "import-write", onclick: () => run(false) }, t("imp.write")) : null);
    } catch (e) {
      fill(out, h("p", { class: "error" }, e.message));
    }
  };
  return h("section", { class: "panel" }, h("h2", {}, t("imp.title")),
    h("p", { class: "hint" }, t("imp.hint")),
    file, " ", h("button", { type: "button", id: "import-check", onclick: () => run(true) }, t("imp.check")), out);
}
