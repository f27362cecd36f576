// A holder's main page: its settlement balance, the certificates waiting for it to accept,
// and what it holds (value, issuer, maturity), each leading to the fragment's page.

import { get } from "../api.js";
import { run } from "../commands.js";
import { h, show } from "../dom.js";
import { chinaDate, yuan } from "../format.js";
import { t } from "../i18n.js";

export function fragmentRef(fragment) {
  return `${fragment.certificate_id}/${fragment.seq}`;
}

export async function holdingsPage(main, ctx) {
  const [balance, certificates, fragments] = await Promise.all([
    get(`/v1/organizations/${ctx.me.id}/balance`),
    get("/v1/certificates?limit=500"),
    get("/v1/fragments?limit=1000"),
  ]);
  const byId = new Map(certificates.map((c) => [c.id, c]));
  const mine = ctx.me.address?.toLowerCase();
  const incoming = certificates.filter((c) => c.status === "issued" && c.beneficiary.toLowerCase() === mine);
  const held = fragments.filter((f) => f.holder.toLowerCase() === mine && f.value !== "0");
  show(
    main,
    h("section", { class: "card balance" }, h("h2", {}, t("balance")), h("p", { class: "big", "data-test": "balance" }, yuan(balance.balance))),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("incoming.title")),
      incoming.length
        ? table(
            [t("col.certificate"), t("col.issuer"), t("col.value"), t("col.maturity"), t("col.actions")],
            incoming.map((c) => [
              String(c.id),
              ctx.nameOf(c.issuer),
              amount(c.face_value),
              chinaDate(c.maturity),
              h(
                "span",
                { class: "actions" },
                commandButton(ctx, t("accept"), "POST", `/v1/certificates/${c.id}/accept`, `accept-${c.id}`),
                commandButton(ctx, t("reject"), "POST", `/v1/certificates/${c.id}/reject`, `reject-${c.id}`, "secondary"),
              ),
            ]),
            "incoming",
          )
        : h("p", { class: "muted" }, t("incoming.none")),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("holdings.title")),
      held.length
        ? table(
            [t("col.certificate"), t("col.issuer"), t("col.value"), t("col.paid"), t("col.maturity"), t("col.status"), ""],
            held.map((f) => {
              const cert = byId.get(f.certificate_id);
              return [
                fragmentRef(f),
                cert ? ctx.nameOf(cert.issuer) : "",
                amount(f.value),
                amount(f.paid),
                cert ? chinaDate(cert.maturity) : "",
                cert ? t(`status.${cert.status}`) : "",
                h("a", { href: `#/fragment/${f.id}`, "data-test": `open-${fragmentRef(f)}` }, t("details")),
              ];
            }),
            "holdings",
          )
        : h("p", { class: "muted" }, t("holdings.none")),
    ),
  );
}

export function amount(fen) {
  return h("span", { class: "amount" }, yuan(fen));
}

export function table(headings, rows, name) {
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { "data-test": name },
      h("thead", {}, h("tr", {}, headings.map((text) => h("th", {}, text)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
    ),
  );
}

function commandButton(ctx, label, method, path, test, kind = "") {
  const button = h("button", {
    type: "button",
    class: kind,
    "data-test": test,
    onclick: async () => {
      if (await run(ctx, button, method, path)) {
        ctx.flash(t("done"));
        ctx.reload();
      }
    },
  }, label);
  return button;
}
