// A core enterprise's main page: what it owes and when (a calendar of maturities), its
// certificates with what is outstanding and a repay button, and its credit lines in use.

import { get } from "../api.js";
import { run } from "../commands.js";
import { h, show } from "../dom.js";
import { chinaDate, yuan } from "../format.js";
import { t } from "../i18n.js";
import { amount, table } from "./holdings.js";

const OWED = ["issued", "active", "overdue"];

export async function payablesPage(main, ctx) {
  const [certificates, lines, health, balance] = await Promise.all([
    get("/v1/certificates?limit=500"),
    get("/v1/credit-lines"),
    get("/v1/health"),
    get(`/v1/organizations/${ctx.me.id}/balance`),
  ]);
  const mine = certificates.filter((c) => c.issuer.toLowerCase() === ctx.me.address?.toLowerCase());
  const owed = mine.filter((c) => OWED.includes(c.status) && c.outstanding !== "0");
  const now = health.block_time ?? Math.floor(Date.now() / 1000);
  show(
    main,
    h(
      "section",
      { class: "card balance" },
      h("h2", {}, t("balance")),
      h("p", { class: "big", "data-test": "balance" }, yuan(balance.balance)),
    ),
    h("section", { class: "card" }, h("h2", {}, t("payables.calendar")), calendar(owed)),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("payables.title")),
      mine.length
        ? table(
            [t("col.certificate"), t("col.holder"), t("col.value"), t("col.outstanding"), t("col.maturity"), t("col.status"), ""],
            mine.map((c) => [
              String(c.id),
              ctx.nameOf(c.beneficiary),
              amount(c.face_value),
              amount(c.outstanding),
              chinaDate(c.maturity),
              t(`status.${c.status}`),
              ["active", "overdue"].includes(c.status) && c.outstanding !== "0" ? repayButton(ctx, c, now) : "",
            ]),
            "payables",
          )
        : h("p", { class: "muted" }, t("payables.none")),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("lines.title")),
      table(
        [t("col.funder"), t("lines.limit"), t("lines.used"), t("lines.available")],
        lines
          .filter((line) => line.core_enterprise_id === ctx.me.id)
          .map((line) => [
            ctx.members.find((m) => m.id === line.financier_id)?.name ?? String(line.financier_id),
            amount(line.limit),
            amount(line.used),
            amount(line.available),
          ]),
        "credit-lines",
      ),
    ),
  );
}

function repayButton(ctx, certificate, now) {
  const early = certificate.maturity > now;
  const button = h(
    "button",
    { type: "button", class: early ? "secondary" : "", "data-test": `repay-${certificate.id}` },
    t(early ? "repay.early" : "repay.due", { amount: yuan(certificate.outstanding) }),
  );
  button.addEventListener("click", async () => {
    if (early && !confirm(t("repay.confirm_early", { amount: yuan(certificate.outstanding) }))) return;
    const answer = await run(ctx, button, "POST", `/v1/certificates/${certificate.id}/repay`, {
      amount: certificate.outstanding,
      early,
    });
    if (answer) {
      await ctx.reload();
      ctx.flash(t("repay.done", { amount: yuan(answer.amount) }));
    }
  });
  return button;
}

/** Months with maturities, each as a grid of its days, a day's cell showing what is due. */
function calendar(owed) {
  if (!owed.length) return h("p", { class: "muted" }, t("payables.none"));
  const due = new Map();
  for (const c of owed) {
    const day = chinaDate(c.maturity);
    due.set(day, (due.get(day) ?? 0n) + BigInt(c.outstanding));
  }
  const months = [...new Set([...due.keys()].map((day) => day.slice(0, 7)))].sort();
  return h(
    "div",
    { class: "calendar", "data-test": "calendar" },
    months.map((month) => {
      const [year, m] = month.split("-").map(Number);
      const first = new Date(Date.UTC(year, m - 1, 1)).getUTCDay(); // 0: Sunday
      const days = new Date(Date.UTC(year, m, 0)).getUTCDate();
      const cells = [];
      for (let i = 0; i < (first + 6) % 7; i++) cells.push(h("div", { class: "day empty" }));
      let total = 0n;
      for (let d = 1; d <= days; d++) {
        const key = `${month}-${String(d).padStart(2, "0")}`;
        const amountDue = due.get(key);
        if (amountDue) total += amountDue;
        cells.push(
          h(
            "div",
            { class: amountDue ? "day due" : "day", "data-day": key },
            h("span", { class: "n" }, String(d)),
            amountDue ? h("span", { class: "amount" }, yuan(amountDue.toString())) : null,
          ),
        );
      }
      return h(
        "div",
        { class: "month" },
        h("h3", {}, `${month}`, h("span", { class: "muted" }, ` · ${yuan(total.toString())}`)),
        h("div", { class: "weekdays" }, t("calendar.weekdays").split(",").map((w) => h("div", {}, w))),
        h("div", { class: "days" }, cells),
      );
    }),
  );
}
