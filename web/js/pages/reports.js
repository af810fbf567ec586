// Monthly reports: pick a month and a language; download it in every format the server
// renders (the same files as `camwatch report monthly`).
import { url } from "../api.js";
import { fill, h, select } from "../dom.js";
import { lang, t } from "../i18n.js";

const FORMATS = [["html", "HTML"], ["xlsx", "XLSX"], ["csv", "CSV"], ["json", "JSON"]];

export async function render(ctx) {
  const d = new Date();
  const month = h("input", { type: "month", name: "month", id: "report-month",
    value: d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") });
  const language = select("lang", [["zh", "中文"], ["en", "English"]], lang());
  const links = h("p", { class: "downloads", id: "report-links" });
  const draw = () => fill(links, FORMATS.map(([f, label]) => [h("a", {
    href: url("/reports/monthly", { month: month.value, format: f, lang: language.value }),
    download: "report-" + month.value + "." + f, id: "report-" + f, class: "button" }, label), " "]));
  month.addEventListener("change", draw);
  language.addEventListener("change", draw);
  draw();
  fill(ctx.main, h("h1", {}, t("nav.reports")),
    h("section", { class: "panel" },
      h("p", {}, t("rep.hint")),
      h("label", {}, t("rep.month"), " ", month), " ", h("label", {}, t("rep.lang"), " ", language),
      links,
      ctx.me.regions.length || ctx.me.maintainer ? h("p", { class: "hint" }, t("rep.scoped")) : null));
}
