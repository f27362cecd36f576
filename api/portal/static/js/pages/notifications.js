// The organization's notifications, newest first, and (for its admins) the webhooks that
// carry them to its own systems: add one (its signing secret is shown once), send a test,
// read each delivery's attempts.

import { call, get } from "../api.js";
import { run } from "../commands.js";
import { h, show } from "../dom.js";
import { chinaTimeOfIso, yuan } from "../format.js";
import { t } from "../i18n.js";
import { table } from "./holdings.js";

/** A notification in words. */
export function describe(n, ctx) {
  const d = n.data;
  const values = {
    certificate: d.certificate_id ?? (d.fragment_id ? Number(BigInt(d.fragment_id) >> 32n) : ""),
    from: d.from ? ctx.nameOf(d.from) : d.issuer ? ctx.nameOf(d.issuer) : "",
    funder: d.funder ? ctx.nameOf(d.funder) : "",
    amount: yuan(d.face_value ?? d.value ?? d.payment ?? d.amount ?? d.outstanding ?? "0"),
  };
  return t(`notice.${n.kind}`, values);
}

export async function notificationsPage(main, ctx) {
  const notes = await get("/v1/notifications?limit=200");
  const unread = notes.filter((n) => !n.read_at);
  const markAll = h("button", { type: "button", class: "secondary", "data-test": "mark-read", disabled: !unread.length }, t("notice.mark_read"));
  markAll.addEventListener("click", async () => {
    try {
      await call("POST", "/v1/notifications/read", { up_to_id: notes[0].id });
      await ctx.reload();
    } catch (error) {
      ctx.problem(error);
    }
  });
  const admin = ctx.user.duties.includes("admin");
  show(
    main,
    h(
      "section",
      { class: "card" },
      h("div", { class: "actions spread" }, h("h2", {}, t("nav.notifications")), markAll),
      notes.length
        ? h(
            "ul",
            { class: "notices", "data-test": "notifications" },
            notes.map((n) =>
              h(
                "li",
                { class: n.read_at ? "read" : "unread", "data-kind": n.kind },
                h("span", { class: "when" }, chinaTimeOfIso(n.created_at)),
                " ",
                describe(n, ctx),
              ),
            ),
          )
        : h("p", { class: "muted" }, t("notice.none")),
    ),
    admin ? await webhooks(ctx) : null,
  );
}

async function webhooks(ctx) {
  const hooks = await get("/v1/webhooks");
  const url = h("input", { type: "url", placeholder: "https://erp.example.com/scf", "data-test": "webhook-url" });
  const add = h("button", { type: "submit", "data-test": "webhook-add" }, t("hooks.add"));
  const secret = h("div", { "data-test": "webhook-secret" });
  const log = h("div", { "data-test": "webhook-log" });
  const rows = hooks.map((hook) => {
    const test = h("button", { type: "button", class: "secondary", "data-test": `webhook-test-${hook.id}` }, t("hooks.test"));
    test.addEventListener("click", async () => {
      test.disabled = true;
      try {
        const delivery = await call("POST", `/v1/webhooks/${hook.id}/test`);
        ctx.flash(
          delivery.status === "delivered" ? t("hooks.test_ok", { code: delivery.last_status_code }) : t("hooks.test_failed", { error: delivery.last_error ?? "" }),
          delivery.status === "delivered" ? "info" : "error",
        );
        show(log, await deliveries(hook));
      } catch (error) {
        ctx.problem(error);
      } finally {
        test.disabled = false;
      }
    });
    const view = h("button", { type: "button", class: "link", "data-test": `webhook-log-${hook.id}` }, t("hooks.log"));
    view.addEventListener("click", async () => show(log, await deliveries(hook)));
    return [String(hook.id), hook.url, hook.disabled ? t("bids.closed") : t("bids.open"), hook.disabled ? "" : h("span", { class: "actions" }, test, view)];
  });
  return h(
    "section",
    { class: "card" },
    h("h2", {}, t("hooks.title")),
    h("p", { class: "muted" }, t("hooks.hint")),
    hooks.length ? table(["#", "URL", t("col.status"), ""], rows, "webhooks") : null,
    h(
      "form",
      {
        class: "actions",
        onsubmit: async (event) => {
          event.preventDefault();
          const made = await run(ctx, add, "POST", "/v1/webhooks", { url: url.value });
          if (made) {
            await ctx.reload();
            ctx.flash(t("hooks.added"));
            const box = document.querySelector("[data-test=webhook-secret]");
            if (box) show(box, h("p", { class: "plain" }, t("hooks.secret"), " ", h("code", {}, made.secret)));
          }
        },
      },
      url,
      add,
    ),
    secret,
    log,
  );
}

async function deliveries(hook) {
  const list = await get(`/v1/webhooks/${hook.id}/deliveries?limit=50`);
  return table(
    ["#", t("hooks.event"), t("col.status"), t("hooks.attempts")],
    list.map((d) => [
      String(d.id),
      d.event,
      t(`delivery.${d.status}`),
      d.log.map((a) => `${chinaTimeOfIso(a.at)} ${a.status_code ?? a.error ?? ""}`).join(" · "),
    ]),
    "deliveries",
  );
}
