// A horizontal bar chart in SVG: one bar per row, its length by an amount of fen (BigInt,
// so the scale is exact however large the sums), its label and amount beside it.

import { s } from "./dom.js";
import { yuan } from "./format.js";

export function barChart(rows, { name } = {}) {
  const values = rows.map((r) => BigInt(r.value));
  const most = values.reduce((a, b) => (b > a ? b : a), 1n);
  const width = 560;
  const label = 180;
  const bar = width - label - 130;
  const height = rows.length * 26 + 4;
  return s(
    "svg",
    { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": name, "data-test": name },
    rows.map((row, i) => {
      const length = Number((values[i] * BigInt(bar)) / most);
      const y = i * 26 + 2;
      return s(
        "g",
        {},
        s("text", { x: 0, y: y + 15 }, row.label),
        s("rect", { x: label, y, width: Math.max(1, length), height: 20, rx: 3 }),
        s("text", { x: label + length + 6, y: y + 15, class: "value" }, yuan(row.value)),
      );
    }),
  );
}
