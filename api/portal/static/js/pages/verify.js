// "Verify": the independent verifier's report for a fragment, read from the chain alone
// (GET /v1/fragments/{id}/verification), check by check.

import { get } from "../api.js";
import { h, show } from "../dom.js";
import { yuan } from "../format.js";
import { has, problemText, t } from "../i18n.js";

/** "12/3" (certificate/sequence) or a decimal id -> the decimal fragment id. */
export function fragmentIdOf(text) {
  const value = String(text).trim();
  const pair = /^([0-9]+)\/([0-9]+)$/.exec(value);
  if (pair) return ((BigInt(pair[1]) << 32n) | BigInt(pair[2])).toString();
  return /^[0-9]+$/.test(value) ? value : null;
}

export async function verifyPage(main, ctx, param) {
  const input = h("input", { name: "fragment", placeholder: "12/3", value: param || "", "data-test": "verify-fragment" });
  const out = h("div", { "data-test": "verify-report" });
  const check = async (event) => {
    event?.preventDefault();
    const id = fragmentIdOf(input.value);
    if (!id) return ctx.flash(t("verify.bad_id"), "error");
    show(out, h("p", { class: "muted" }, t("loading")));
    try {
      show(out, report(await get(`/v1/fragments/${id}/verification`)));
    } catch (error) {
      show(out, h("p", { class: "flash error" }, problemText(error)));
    }
  };
  show(
    main,
    h(
      "form",
      { class: "card", onsubmit: check },
      h("h2", {}, t("verify.title")),
      h("p", { class: "muted" }, t("verify.hint")),
      h("label", {}, t("verify.fragment"), input),
      h("button", { type: "submit", "data-test": "verify-run" }, t("verify.run")),
    ),
    out,
  );
  if (param) await check();
}

function report(r) {
  return h(
    "section",
    { class: "card" },
    h(
      "p",
      { class: r.ok ? "flash info" : "flash error", "data-test": "verify-verdict" },
      r.ok ? t("verify.ok", { block: r.block_number }) : t("verify.failed"),
    ),
    r.fragment ? h("p", {}, t("verify.fragment_facts", { value: yuan(r.fragment.value), holder: r.fragment.holder })) : null,
    h(
      "ol",
      { class: "checks" },
      r.checks.map((c) =>
        h(
          "li",
          { class: c.skipped ? "skipped" : c.passed ? "passed" : "failed", "data-check": c.name },
          h("b", {}, c.skipped ? "–" : c.passed ? "✓" : "✗", " ", has(`check.${c.name}`) ? t(`check.${c.name}`) : c.name),
          h("span", {}, " ", c.detail),
        ),
      ),
    ),
  );
}
