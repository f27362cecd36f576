// A certificate's split tree as SVG: from the root down the path to this fragment, then
// everything split off below it. Who holds each piece and its value, coloured by whose it
// is: yours, financed (held by a funder), someone else's, or hidden from you (the API
// masks fragments your organization may not see).

import { h, s } from "./dom.js";
import { yuan } from "./format.js";
import { t } from "./i18n.js";

const BOX_W = 168;
const BOX_H = 52;
const GAP_X = 16;
const GAP_Y = 36;

/** The fragment's sequence number in its certificate (ids are certificate << 32 | seq). */
export function seqOf(id) {
  return Number(BigInt(id) & 0xffffffffn);
}

/** provenance (GET /v1/fragments/{id}/provenance) -> one tree from the root. */
export function treeOf(provenance) {
  let node = provenance.subtree;
  // path_to_root is child first: the fragment itself, then its parent, ..., the root
  for (const step of provenance.path_to_root.slice(1)) {
    node = { id: step.id, holder: step.holder, value: step.value, masked: step.masked, children: [node] };
  }
  return node;
}

function layout(node, depth, next) {
  node.depth = depth;
  if (!node.children.length) {
    node.x = next.x;
    next.x += BOX_W + GAP_X;
  } else {
    node.children.forEach((child) => layout(child, depth + 1, next));
    node.x = (node.children[0].x + node.children[node.children.length - 1].x) / 2;
  }
  return node;
}

function kindOf(node, ctx) {
  if (node.masked || !node.holder) return "hidden";
  if (node.holder.toLowerCase() === ctx.me.address?.toLowerCase()) return "mine";
  if (ctx.orgOf(node.holder)?.role === "financier") return "financed";
  return "other";
}

export function splitTree(provenance, ctx, certificateId, current) {
  const tree = layout(treeOf(provenance), 0, { x: 0 });
  const nodes = [];
  const walk = (node) => {
    nodes.push(node);
    node.children.forEach(walk);
  };
  walk(tree);
  const width = Math.max(...nodes.map((n) => n.x)) + BOX_W;
  const height = (Math.max(...nodes.map((n) => n.depth)) + 1) * (BOX_H + GAP_Y) - GAP_Y;
  const y = (node) => node.depth * (BOX_H + GAP_Y);
  const svg = s(
    "svg",
    {
      class: "tree",
      viewBox: `-2 -2 ${width + 4} ${height + 4}`,
      width: width + 4,
      role: "img",
      "aria-label": t("tree.title"),
      "data-test": "split-tree",
    },
    nodes.flatMap((node) =>
      node.children.map((child) =>
        s("path", {
          class: "edge",
          d: `M${node.x + BOX_W / 2},${y(node) + BOX_H} V${y(node) + BOX_H + GAP_Y / 2} H${child.x + BOX_W / 2} V${y(child)}`,
        }),
      ),
    ),
    nodes.map((node) => {
      const kind = kindOf(node, ctx);
      const label = `${certificateId}/${seqOf(node.id)}`;
      return s(
        "g",
        { class: `node ${kind}${node.id === current ? " current" : ""}`, "data-fragment": label, "data-kind": kind },
        s("rect", { x: node.x, y: y(node), width: BOX_W, height: BOX_H, rx: 6 }),
        s("text", { x: node.x + 8, y: y(node) + 20 }, kind === "hidden" ? `${label} · ${t("tree.legend.hidden")}` : `${label} · ${ctx.nameOf(node.holder)}`),
        s("text", { x: node.x + 8, y: y(node) + 40, class: "value" }, node.value ? yuan(node.value) : "—"),
      );
    }),
  );
  const legend = h(
    "ul",
    { class: "legend" },
    ["mine", "financed", "other", "hidden"].map((kind) => h("li", { class: kind }, t(`tree.legend.${kind}`))),
  );
  return h("figure", { class: "tree-box" }, h("div", { class: "scroll" }, svg), legend);
}
