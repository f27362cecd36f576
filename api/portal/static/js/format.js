// Money and dates as people read them. Money stays a string of whole fen from the API to
// the screen and back: it is never a JavaScript number, so no amount is ever rounded.

/** "123456789" (fen) -> "¥1,234,567.89"; a negative amount keeps its sign. */
export function yuan(fen) {
  let text = String(fen);
  const negative = text.startsWith("-");
  if (negative) text = text.slice(1);
  if (!/^[0-9]+$/.test(text)) return "—";
  text = text.replace(/^0+(?=[0-9])/, "").padStart(3, "0");
  const whole = text.slice(0, -2).replace(/\B(?=([0-9]{3})+(?![0-9]))/g, ",");
  return `${negative ? "-" : ""}¥${whole}.${text.slice(-2)}`;
}

/**
 * What a person typed, in yuan ("1,234.5", "¥20000"), as a string of whole fen; null if
 * it is not an amount of yuan with at most two decimals.
 */
export function parseYuan(typed) {
  const text = String(typed).trim().replace(/^¥/, "").replaceAll(",", "");
  const match = /^([0-9]+)(?:\.([0-9]{1,2}))?$/.exec(text);
  if (!match) return null;
  const fen = (match[1] + (match[2] || "").padEnd(2, "0")).replace(/^0+(?=[0-9])/, "");
  return fen === "0" ? null : fen;
}

const CHINA_OFFSET_SECONDS = 8 * 3600; // China Standard Time: no daylight saving

/** A Unix time (block time) as its date in China: "2027-06-30". */
export function chinaDate(seconds) {
  return new Date((Number(seconds) + CHINA_OFFSET_SECONDS) * 1000).toISOString().slice(0, 10);
}

/** "2027-06-30 14:05" in China. */
export function chinaTime(seconds) {
  return new Date((Number(seconds) + CHINA_OFFSET_SECONDS) * 1000)
    .toISOString()
    .slice(0, 16)
    .replace("T", " ");
}

/** An ISO timestamp of the API (UTC) as China's time. */
export function chinaTimeOfIso(iso) {
  return chinaTime(Date.parse(iso) / 1000);
}

/** Basis points as a percentage: 356 -> "3.56%". */
export function percent(bps) {
  const n = Number(bps);
  return `${Math.trunc(n / 100)}.${String(Math.abs(n) % 100).padStart(2, "0")}%`;
}

/** Whole days between two Unix times, rounded up (a maturity "in 30 days"). */
export function daysUntil(seconds, now) {
  return Math.ceil((Number(seconds) - Number(now)) / 86400);
}
