// One fragment: its facts, its split tree, and what its holder may do with it: split off
// a part to a member, transfer it whole, or sell it for cash to the best standing bid.

import { get } from "../api.js";
import { run } from "../commands.js";
import { h, show } from "../dom.js";
import { chinaDate, daysUntil, parseYuan, yuan } from "../format.js";
import { has, t } from "../i18n.js";
import { splitTree, seqOf } from "../tree.js";
import { amount, table } from "./holdings.js";

export async function fragmentPage(main, ctx, id) {
  const fragment = await get(`/v1/fragments/${id}`);
  const [certificate, provenance, history, health, documents] = await Promise.all([
    get(`/v1/certificates/${fragment.certificate_id}`),
    get(`/v1/fragments/${id}/provenance`),
    get(`/v1/fragments/${id}/history`),
    get("/v1/health"),
    get(`/v1/documents?certificate_id=${fragment.certificate_id}`),
  ]);
  const ref = `${fragment.certificate_id}/${seqOf(fragment.id)}`;
  const now = health.block_time ?? Math.floor(Date.now() / 1000); // the chain's clock decides maturity
  const mine = fragment.holder.toLowerCase() === ctx.me.address?.toLowerCase();
  const canAct = mine && certificate.status === "active" && ctx.user.duties.includes("maker");
  show(
    main,
    h("h2", {}, t("fragment.title", { ref })),
    h(
      "p",
      { class: "facts" },
      amount(fragment.value),
      " · ",
      t("fragment.facts", {
        issuer: ctx.nameOf(certificate.issuer),
        date: chinaDate(certificate.maturity),
        days: Math.max(0, daysUntil(certificate.maturity, now)),
      }),
      " · ",
      t(`status.${certificate.status}`),
    ),
    h("section", { class: "card" }, h("h3", {}, t("tree.title")), splitTree(provenance, ctx, fragment.certificate_id, fragment.id)),
    canAct ? actions(ctx, fragment) : null,
    h("section", { class: "card" }, h("h3", {}, t("docs.title")), documentList(documents)),
    h(
      "section",
      { class: "card" },
      h("h3", {}, t("history.title")),
      table(
        [t("col.event"), t("col.block"), ""],
        history.map((e) => [
          has(`event.${e.event}`) ? t(`event.${e.event}`) : e.event,
          String(e.block_number),
          h("code", {}, e.tx_hash.slice(0, 18) + "…"),
        ]),
        "history",
      ),
    ),
  );
}

/** The certificate's documents, each with whether it is what the chain anchors. */
function documentList(documents) {
  if (!documents.length) return h("p", { class: "muted" }, t("docs.none"));
  return table(
    [t("docs.name"), t("docs.kind"), t("docs.size"), t("docs.chain"), ""],
    documents.map((d) => [
      d.filename,
      t(`docs.kind.${d.kind}`),
      `${Math.ceil(d.size / 1024)} KB`,
      d.matches_chain
        ? h("span", { class: "ok", "data-test": "matches-chain" }, t("docs.matches"))
        : h("span", { class: "error" }, t("docs.differs")),
      h("a", { href: `/v1/documents/${encodeURIComponent(d.id)}/content`, download: d.filename }, t("docs.download")),
    ]),
    "documents",
  );
}

function holders(ctx) {
  return ctx.members.filter(
    (org) => ["supplier", "financier"].includes(org.role) && org.id !== ctx.me.id && org.status === "active",
  );
}

function memberSelect(ctx, name) {
  return h(
    "select",
    { name, "data-test": name, required: true },
    h("option", { value: "" }, "—"),
    holders(ctx).map((org) => h("option", { value: String(org.id) }, org.name)),
  );
}

function actions(ctx, fragment) {
  const splitAmount = h("input", { name: "amount", inputmode: "decimal", required: true, "data-test": "split-amount" });
  const splitTo = memberSelect(ctx, "split-to");
  const splitButton = h("button", { type: "submit", "data-test": "split-submit" }, t("split.submit"));
  const split = h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        const fen = parseYuan(splitAmount.value);
        if (!fen) return ctx.flash(t("error.amount"), "error");
        if (!splitTo.value) return ctx.flash(t("error.pick"), "error");
        const answer = await run(ctx, splitButton, "POST", `/v1/fragments/${fragment.id}/split`, {
          to_org_id: Number(splitTo.value),
          amount: fen,
        });
        if (answer) {
          await ctx.reload();
          ctx.flash(t("done"));
        }
      },
    },
    h("h3", {}, t("split.title")),
    h("label", {}, t("split.amount"), splitAmount),
    h("label", {}, t("split.to"), splitTo),
    splitButton,
  );
  const transferTo = memberSelect(ctx, "transfer-to");
  const transferButton = h("button", { type: "submit", class: "secondary", "data-test": "transfer-submit" }, t("transfer.submit"));
  const transfer = h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        if (!transferTo.value) return ctx.flash(t("error.pick"), "error");
        const answer = await run(ctx, transferButton, "POST", `/v1/fragments/${fragment.id}/transfer`, {
          to_org_id: Number(transferTo.value),
        });
        if (answer) ctx.go("holdings", t("done"));
      },
    },
    h("h3", {}, t("transfer.title")),
    h("label", {}, t("split.to"), transferTo),
    transferButton,
  );
  return h("div", { class: "grid" }, split, transfer, cash(ctx, fragment));
}

function cash(ctx, fragment) {
  const input = h("input", { name: "cash-amount", inputmode: "decimal", value: yuan(fragment.value).slice(1), "data-test": "cash-amount" });
  const quotes = h("div", { "data-test": "quotes" });
  const ask = h("button", { type: "submit", "data-test": "cash-ask" }, t("cash.ask"));
  return h(
    "form",
    {
      class: "card wide",
      onsubmit: async (event) => {
        event.preventDefault();
        const fen = parseYuan(input.value);
        if (!fen) return ctx.flash(t("error.amount"), "error");
        try {
          const answer = await get(`/v1/fragments/${fragment.id}/quotes?amount=${fen}`);
          show(quotes, quoteTable(ctx, fragment, answer));
        } catch (error) {
          ctx.problem(error);
        }
      },
    },
    h("h3", {}, t("cash.title")),
    h("label", {}, t("cash.amount"), input),
    ask,
    quotes,
  );
}

function quoteTable(ctx, fragment, answer) {
  if (!answer.quotes.length) {
    return h("div", {}, h("p", { class: "muted" }, t("cash.none")), declined(answer));
  }
  const rows = answer.quotes.map((q, index) => {
    const take = h("button", { type: "button", "data-test": `take-${q.bid_id}` }, t("cash.take"));
    take.addEventListener("click", async () => {
      const sold = await run(ctx, take, "POST", `/v1/fragments/${fragment.id}/finance`, {
        amount: answer.amount,
        bid: q.bid_id,
      });
      if (sold) ctx.go("holdings", t("cash.done", { payment: yuan(sold.payment) }));
    });
    return [
      h("span", {}, q.funder_name || `#${q.bid_id}`, index === 0 ? h("b", { class: "badge" }, t("cash.best")) : null),
      amount(q.payment),
      amount(q.discount),
      String(q.days),
      q.annual_cost_percent,
      take,
    ];
  });
  const best = answer.quotes[0];
  return h(
    "div",
    {},
    h(
      "p",
      { class: "plain", "data-test": "plain-words" },
      t("cash.plain", {
        amount: yuan(answer.amount),
        payment: yuan(best.payment),
        discount: yuan(best.discount),
        days: best.days,
        cost: best.annual_cost_percent,
      }),
    ),
    table([t("col.funder"), t("col.payment"), t("col.discount"), t("col.days"), t("col.cost"), ""], rows, "quote-table"),
    declined(answer),
  );
}

function declined(answer) {
  if (!answer.declined.length) return null;
  return h(
    "details",
    {},
    h("summary", {}, t("cash.declined")),
    h("ul", {}, answer.declined.map((d) => h("li", {}, `${d.funder_name || "#" + d.bid_id}: ${d.detail}`))),
  );
}


