// Commands of the organization waiting for a checker (four eyes): what each does in
// words, its stake, who made it; approve or reject. A checker never decides its own: the
// API refuses that (own_command), whatever the page shows.

import { get } from "../api.js";
import { run } from "../commands.js";
import { h, show } from "../dom.js";
import { chinaTimeOfIso } from "../format.js";
import { t } from "../i18n.js";
import { amount, table } from "./holdings.js";

export async function approvalsPage(main, ctx) {
  const waiting = await get("/v1/approvals");
  show(
    main,
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("approvals.title")),
      waiting.length
        ? table(
            ["#", t("approvals.what"), t("approvals.stake"), t("approvals.since"), ""],
            waiting.map((c) => [
              c.command_id,
              c.summary ?? c.action,
              c.stake ? amount(c.stake) : "",
              chinaTimeOfIso(c.created_at),
              h("span", { class: "actions" }, decide(ctx, c, "approve"), decide(ctx, c, "reject")),
            ]),
            "approvals",
          )
        : h("p", { class: "muted" }, t("approvals.none")),
    ),
  );
}

function decide(ctx, command, verdict) {
  const button = h(
    "button",
    { type: "button", class: verdict === "reject" ? "secondary" : "", "data-test": `${verdict}-${command.command_id}` },
    t(`approvals.${verdict}`),
  );
  button.addEventListener("click", async () => {
    const body = verdict === "reject" ? { reason: t("approvals.rejected_reason") } : undefined;
    const answer = await run(ctx, button, "POST", `/v1/approvals/${command.command_id}/${verdict}`, body);
    if (answer) {
      await ctx.reload();
      ctx.flash(t("done"));
    }
  });
  return button;
}
