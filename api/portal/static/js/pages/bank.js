// A funder's pages: its standing bids and their use (post, top up, close), the offers
// sellers made it, and its book (what it holds by issuer and maturity, its exposure to
// each core enterprise next to the credit line it extends).

import { get } from "../api.js";
import { run } from "../commands.js";
import { h, show } from "../dom.js";
import { chinaDate, parseYuan, percent, yuan } from "../format.js";
import { t } from "../i18n.js";
import { amount, table } from "./holdings.js";

export async function bidsPage(main, ctx) {
  const [bids, health] = await Promise.all([get("/v1/bids?mine=true"), get("/v1/health")]);
  const now = health.block_time ?? Math.floor(Date.now() / 1000);
  show(
    main,
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("bids.title")),
      bids.length
        ? table(
            [t("bids.id"), t("col.rate"), t("bids.remaining"), t("bids.bought"), t("bids.paid"), t("bids.sales"), t("bids.expires"), t("col.status"), ""],
            bids.map((bid) => [
              `#${bid.id}`,
              bid.bands.map((b) => `≤${b.up_to_days}${t("bids.days")} ${percent(b.rate_bps)}`).join(" · "),
              amount(bid.remaining),
              amount(bid.bought),
              amount(bid.paid),
              String(bid.sales),
              chinaDate(bid.expires_at),
              bid.status === "open" && !bid.expired ? t("bids.open") : t("bids.closed"),
              bid.status === "open" ? closeButton(ctx, bid) : "",
            ]),
            "bids",
          )
        : h("p", { class: "muted" }, t("bids.none")),
    ),
    postForm(ctx, now),
  );
}

function closeButton(ctx, bid) {
  const button = h("button", { type: "button", class: "secondary", "data-test": `close-bid-${bid.id}` }, t("bids.close"));
  button.addEventListener("click", async () => {
    const answer = await run(ctx, button, "POST", `/v1/bids/${bid.id}/cancel`);
    if (answer) {
      await ctx.reload();
      ctx.flash(t("bids.closed_back", { amount: yuan(answer.refunded) }));
    }
  });
  return button;
}

function postForm(ctx, now) {
  const cores = ctx.members.filter((m) => m.role === "core_enterprise" && m.status === "active");
  const issuers = h(
    "select",
    { multiple: true, "data-test": "bid-issuers", size: String(Math.min(4, Math.max(2, cores.length))) },
    cores.map((m) => h("option", { value: String(m.id), selected: cores.length === 1 }, m.name)),
  );
  const rate = h("input", { inputmode: "decimal", "data-test": "bid-rate", placeholder: "3.80" });
  const days = h("input", { inputmode: "numeric", value: "366", "data-test": "bid-days" });
  const max = h("input", { inputmode: "decimal", "data-test": "bid-max" });
  const budget = h("input", { inputmode: "decimal", "data-test": "bid-budget" });
  const expires = h("input", { type: "date", value: chinaDate(now + 30 * 86400), "data-test": "bid-expires" });
  const button = h("button", { type: "submit", "data-test": "bid-post" }, t("bids.post"));
  return h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        const bps = percentToBps(rate.value);
        const maxFen = parseYuan(max.value);
        const budgetFen = parseYuan(budget.value);
        const chosen = [...issuers.selectedOptions].map((o) => Number(o.value));
        if (bps === null || !maxFen || !budgetFen || !chosen.length || !/^[0-9]+$/.test(days.value)) {
          return ctx.flash(t("error.fields"), "error");
        }
        const [y, m, d] = expires.value.split("-").map(Number);
        const answer = await run(ctx, button, "POST", "/v1/bids", {
          issuer_ids: chosen,
          bands: [{ up_to_days: Number(days.value), rate_bps: bps }],
          max_amount: maxFen,
          budget: budgetFen,
          expires_at: Date.UTC(y, m - 1, d) / 1000 - 8 * 3600 + 86399,
        });
        if (answer) {
          await ctx.reload();
          ctx.flash(t("bids.posted", { id: answer.bid_id, amount: yuan(answer.budget) }));
        }
      },
    },
    h("h2", {}, t("bids.new")),
    h("label", {}, t("bids.issuers"), issuers),
    h("label", {}, t("bids.rate"), rate),
    h("label", {}, t("bids.max_days"), days),
    h("label", {}, t("bids.max_amount"), max),
    h("label", {}, t("bids.budget"), budget),
    h("label", {}, t("bids.expires"), expires),
    button,
  );
}

/** "3.8" (percent a year) -> 380 basis points; null if not 0-100 with at most 2 decimals. */
export function percentToBps(text) {
  const match = /^([0-9]{1,3})(?:\.([0-9]{1,2}))?$/.exec(String(text).trim().replace(/%$/, ""));
  if (!match) return null;
  const bps = Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
  return bps <= 10000 ? bps : null;
}

export async function offersPage(main, ctx) {
  const offers = await get("/v1/offers?limit=500");
  const mine = ctx.me.address?.toLowerCase();
  const incoming = offers.filter((o) => o.financier.toLowerCase() === mine);
  show(
    main,
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("offers.title")),
      incoming.length
        ? table(
            ["#", t("offers.seller"), t("col.value"), t("col.rate"), t("offers.expires"), t("col.status"), ""],
            incoming.map((offer) => [
              String(offer.id),
              ctx.nameOf(offer.seller),
              amount(offer.amount),
              percent(offer.rate_bps),
              chinaDate(offer.expires_at),
              t(`offer.${offer.status}`),
              offer.status === "open" ? acceptButton(ctx, offer) : offer.payment ? amount(offer.payment) : "",
            ]),
            "offers",
          )
        : h("p", { class: "muted" }, t("offers.none")),
    ),
  );
}

function acceptButton(ctx, offer) {
  const button = h("button", { type: "button", "data-test": `accept-offer-${offer.id}` }, t("offers.accept"));
  button.addEventListener("click", async () => {
    const answer = await run(ctx, button, "POST", `/v1/offers/${offer.id}/accept`);
    if (answer) {
      await ctx.reload();
      ctx.flash(t("done"));
    }
  });
  return button;
}

export async function portfolioPage(main, ctx) {
  const book = await get("/v1/portfolio");
  show(
    main,
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("portfolio.exposure")),
      table(
        [t("col.issuer"), t("portfolio.held"), t("lines.limit"), t("lines.used"), t("lines.available")],
        book.exposure.map((e) => [e.name ?? "", amount(e.held_unpaid), amount(e.credit_limit), amount(e.credit_used), amount(e.credit_available)]),
        "exposure",
      ),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("portfolio.holdings")),
      book.holdings.length
        ? table(
            [t("col.issuer"), t("col.maturity"), t("portfolio.fragments"), t("col.value"), t("col.paid")],
            book.holdings.map((x) => [x.issuer_name ?? "", x.maturity_date, String(x.fragments), amount(x.face_value), amount(x.paid)]),
            "portfolio",
          )
        : h("p", { class: "muted" }, t("holdings.none")),
    ),
  );
}
