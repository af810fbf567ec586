// Numbers, times and durations as the console shows them, in the chosen language.
import { lang, t } from "./i18n.js";

const tz = "Asia/Shanghai";

/** A rate in [0, 1] as a percentage with `digits` decimals; "—" for null. */
export function pct(r, digits = 2) {
  return r === null || r === undefined ? "—" : (r * 100).toFixed(digits) + "%";
}

/** Unix seconds as a local date and time (China time). */
export function time(sec) {
  if (sec === null || sec === undefined) return "—";
  return new Date(sec * 1000).toLocaleString(lang() === "zh" ? "zh-CN" : "en-GB", {
    timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
}

/** A duration in seconds as "2天3小时" / "2 d 3 h". */
export function duration(sec) {
  if (sec === null || sec === undefined) return "—";
  const neg = sec < 0;
  let s = Math.abs(Math.round(sec));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const m = Math.floor(s / 60);
  const parts = [];
  if (d) parts.push(d + t("unit.d"));
  if (hh) parts.push(hh + t("unit.h"));
  if (!d && (m || !hh)) parts.push(m + t("unit.m"));
  return (neg ? "-" : "") + parts.join(lang() === "zh" ? "" : " ");
}

/** Unix seconds now. */
export function now() {
  return Math.floor(Date.now() / 1000);
}

/** A cause's stored text form in words: "connect_timeout" → 连接超时. */
export function cause(c) {
  if (!c) return "";
  if (c.startsWith("parent_down:")) return t("cause.parent_down", { code: c.slice(12) });
  return c.split(",").map((k) => t("cause." + k, {}, k)).join(", ");
}
