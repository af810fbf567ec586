// The patrol (巡检) page: a picture wall of today's batch. Each tile shows the channel's latest
// evidence frame, its name and the automatic diagnosis, and takes the operator's verdict:
// 正常, or 故障 with what is wrong and a note (the server opens a work order for a fault). Tiles
// already recorded today are marked; the progress is "recorded / quota". The server decides
// the batch, the scope and who may patrol; the page only asks.
import { api } from "../api.js";
import { fill, h, select } from "../dom.js";
import { cause, time } from "../format.js";
import { t } from "../i18n.js";

const FINDINGS = ["no_video", "signal_loss", "too_dark", "too_bright", "blur", "noise", "color_cast",
  "occlusion", "stripes", "frozen", "scene_change", "other"];

export async function render(ctx) {
  const head = h("div", { class: "patrol-head" });
  const err = h("p", { class: "error", id: "patrol-error" });
  const wall = h("div", { class: "wall", id: "wall" });
  fill(ctx.main, h("h1", {}, t("nav.patrol")), head, err, wall);
  const load = async () => {
    const day = await api("GET", "/patrol/today");
    fill(head,
      h("span", { class: "progress", id: "patrol-progress" },
        t("patrol.progress", { n: day.recorded, quota: day.required })),
      " ", h("span", { class: "hint" }, t("patrol.day", { day: day.day, fleet: day.fleet, cycle: day.cycle_days })),
      day.faults ? h("span", { class: "badge offline" }, t("patrol.faults", { n: day.faults })) : null);
    if (!day.working_day) {
      fill(wall, h("p", { id: "patrol-off" }, t("patrol.day_off")));
      return;
    }
    fill(wall, day.items.map((item) => tile(item, record)));
  };
  const record = async (item, verdict, finding, note) => {
    err.textContent = "";
    try {
      const body = { device: item.code, verdict, note };
      if (verdict === "fault") body.finding = finding;
      const r = await api("POST", "/patrol/records", body);
      if (r.record.work_order) {
        err.textContent = t("patrol.order", { id: r.record.work_order, name: item.name });
      }
      await load();
    } catch (e) {
      err.textContent = item.code + ": " + e.message;
    }
  };
  await load();
  return () => {};
}

function tile(item, record) {
  const r = item.record;
  const finding = select("finding", FINDINGS.map((f) => [f, t("finding." + f)]), item.picture && FINDINGS.includes(item.picture) ? item.picture : "no_video");
  const note = h("input", { name: "note", class: "note", placeholder: t("wo.note") });
  const img = h("img", { alt: item.name, loading: "lazy",
    src: "/api/v1/devices/" + item.code + "/evidence?t=" + (item.evidence ? item.evidence.at : 0) });
  img.addEventListener("error", () => img.replaceWith(h("div", { class: "noimg" }, t("device.no_image"))));
  const diagnosis = item.picture ? cause(item.picture) : item.cause ? cause(item.cause) : t("patrol.no_diagnosis");
  return h("article", { class: "tile" + (r ? " done " + r.verdict : ""), id: "tile-" + item.code,
    dataset: { code: item.code, verdict: r ? r.verdict : "" } },
    h("div", { class: "frame" }, img),
    h("header", {}, h("span", { class: "badge " + item.status }, t("status." + item.status)), " ",
      h("a", { href: "#/device/" + item.code }, item.name)),
    h("p", { class: "hint" }, item.code, " · ", item.address || item.region),
    h("p", { class: "diagnosis" }, t("patrol.diagnosis"), diagnosis),
    r ? h("p", { class: "recorded" }, t("patrol.verdict." + r.verdict),
      r.finding ? " · " + t("finding." + r.finding) : "",
      r.work_order ? h("a", { href: "#/work-orders?id=" + r.work_order }, " #" + r.work_order) : null,
      " · ", r.patroller, " ", time(r.recorded_at)) : null,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "act-normal", onclick: () => record(item, "normal", null, note.value.trim()) },
        t("patrol.normal")),
      finding, note,
      h("button", { type: "button", class: "act-fault danger", onclick: () => record(item, "fault", finding.value, note.value.trim()) },
        t("patrol.fault"))));
}
