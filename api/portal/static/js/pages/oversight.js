// The operator's and the auditor's pages: the reports as tables and charts, the audit log
// with filters, and (the operator's) onboarding, suspension and people of the members.

import { get } from "../api.js";
import { barChart } from "../chart.js";
import { run } from "../commands.js";
import { h, show } from "../dom.js";
import { chinaDate, chinaTimeOfIso } from "../format.js";
import { t } from "../i18n.js";
import { amount, table } from "./holdings.js";

export async function reportsPage(main, ctx) {
  const [exposure, volume, maturing, overdue] = await Promise.all([
    get("/v1/reports/exposure"),
    get("/v1/reports/financed-volume"),
    get("/v1/reports/maturing?within_days=90"),
    get("/v1/reports/overdue"),
  ]);
  const certificates = (list) =>
    table(
      [t("col.certificate"), t("col.issuer"), t("col.value"), t("col.outstanding"), t("col.maturity"), t("col.status")],
      list.map((c) => [String(c.id), ctx.nameOf(c.issuer), amount(c.face_value), amount(c.outstanding), chinaDate(c.maturity), t(`status.${c.status}`)]),
    );
  show(
    main,
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("reports.exposure")),
      barChart(exposure.exposure.map((e) => ({ label: e.name ?? e.core_enterprise, value: e.outstanding })), { name: "exposure-chart" }),
      table(
        [t("col.issuer"), t("col.outstanding"), t("reports.certificates")],
        exposure.exposure.map((e) => [e.name ?? e.core_enterprise, amount(e.outstanding), String(e.certificates)]),
        "exposure",
      ),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("reports.volume")),
      barChart(volume.volume.map((v) => ({ label: v.name ?? v.financier, value: v.amount })), { name: "volume-chart" }),
      table(
        [t("col.funder"), t("reports.bought"), t("reports.paid"), t("col.discount"), t("reports.financings")],
        volume.volume.map((v) => [v.name ?? v.financier, amount(v.amount), amount(v.payment), amount(v.discount), String(v.financings)]),
        "volume",
      ),
    ),
    h("section", { class: "card" }, h("h2", {}, t("reports.maturing")), certificates(maturing.certificates)),
    h("section", { class: "card" }, h("h2", {}, t("reports.overdue")), certificates(overdue.certificates)),
  );
}

const OUTCOMES = ["", "succeeded", "refused", "failed", "pending_approval", "approved", "rejected", "expired"];

export async function auditPage(main, ctx) {
  const action = h("input", { name: "action", "data-test": "audit-action", placeholder: "split" });
  const outcome = h("select", { "data-test": "audit-outcome" }, OUTCOMES.map((o) => h("option", { value: o }, o || "—")));
  const org = h(
    "select",
    { "data-test": "audit-org" },
    h("option", { value: "" }, "—"),
    ctx.members.map((m) => h("option", { value: String(m.id) }, m.name)),
  );
  const out = h("div", {});
  const load = async (event) => {
    event?.preventDefault();
    const query = new URLSearchParams({ limit: "200" });
    if (action.value.trim()) query.set("action", action.value.trim());
    if (outcome.value) query.set("outcome", outcome.value);
    if (org.value) query.set("org_id", org.value);
    const entries = await get(`/v1/audit-log?${query}`);
    const names = new Map(ctx.members.map((m) => [m.id, m.name]));
    show(
      out,
      table(
        [t("audit.at"), t("audit.who"), t("audit.action"), t("audit.target"), t("audit.outcome"), t("audit.code")],
        entries.map((e) => [
          chinaTimeOfIso(e.at),
          e.org_id ? names.get(e.org_id) ?? `#${e.org_id}` : "—",
          e.action,
          e.target,
          e.outcome,
          e.code ?? "",
        ]),
        "audit-log",
      ),
    );
  };
  show(
    main,
    h(
      "form",
      { class: "card filters", onsubmit: load },
      h("h2", {}, t("nav.audit")),
      h("div", { class: "actions" }, h("label", {}, t("audit.action"), action), h("label", {}, t("audit.outcome"), outcome), h("label", {}, t("audit.who"), org)),
      h("button", { type: "submit", "data-test": "audit-filter" }, t("audit.filter")),
    ),
    h("section", { class: "card" }, out),
  );
  await load();
}

export async function membersPage(main, ctx) {
  const members = await get("/v1/organizations");
  const operator = ctx.me.role === "operator";
  show(
    main,
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("members.title")),
      table(
        ["#", t("members.name"), t("members.uscc"), t("members.role"), t("col.status"), ""],
        members.map((m) => [
          String(m.id),
          m.name,
          m.uscc ?? "",
          t(`role.${m.role}`),
          t(`member.${m.status}`),
          operator && m.role !== "operator" ? memberActions(ctx, m) : "",
        ]),
        "members",
      ),
    ),
    operator ? onboardForm(ctx) : null,
    operator ? personForm(ctx, members) : null,
  );
}

function memberActions(ctx, member) {
  const verb = member.status === "suspended" ? "reinstate" : "suspend";
  if (member.role === "auditor") return "";
  const button = h("button", { type: "button", class: "secondary", "data-test": `${verb}-${member.id}` }, t(`members.${verb}`));
  button.addEventListener("click", async () => {
    if (verb === "suspend" && !confirm(t("members.confirm_suspend", { name: member.name }))) return;
    if (await run(ctx, button, "POST", `/v1/organizations/${member.id}/${verb}`)) {
      await ctx.reload();
      ctx.flash(t("done"));
    }
  });
  return button;
}

function onboardForm(ctx) {
  const name = h("input", { "data-test": "onboard-name" });
  const uscc = h("input", { "data-test": "onboard-uscc", maxlength: "18" });
  const role = h(
    "select",
    { "data-test": "onboard-role" },
    ["supplier", "core_enterprise", "financier", "auditor"].map((r) => h("option", { value: r }, t(`role.${r}`))),
  );
  const button = h("button", { type: "submit", "data-test": "onboard-submit" }, t("members.onboard"));
  return h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        const answer = await run(ctx, button, "POST", "/v1/organizations", { name: name.value, uscc: uscc.value, role: role.value });
        if (answer) {
          await ctx.refreshMembers();
          await ctx.reload();
          ctx.flash(t("members.onboarded", { name: answer.name }));
        }
      },
    },
    h("h2", {}, t("members.onboard")),
    h("label", {}, t("members.name"), name),
    h("label", {}, t("members.uscc"), uscc),
    h("label", {}, t("members.role"), role),
    button,
  );
}

function personForm(ctx, members) {
  const org = h(
    "select",
    { "data-test": "person-org" },
    members.map((m) => h("option", { value: String(m.id) }, m.name)),
  );
  const login = h("input", { "data-test": "person-login", autocomplete: "off" });
  const name = h("input", { "data-test": "person-name" });
  const password = h("input", { type: "password", autocomplete: "new-password", "data-test": "person-password" });
  const duties = ["maker", "checker", "admin"].map((d) =>
    h("label", { class: "inline" }, h("input", { type: "checkbox", value: d, checked: d === "admin" }), t(`duty.${d}`)),
  );
  const button = h("button", { type: "submit", "data-test": "person-submit" }, t("members.add_person"));
  return h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        const chosen = duties.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
        const answer = await run(ctx, button, "POST", `/v1/organizations/${org.value}/users`, {
          login: login.value,
          name: name.value,
          password: password.value,
          duties: chosen,
        });
        if (answer) {
          password.value = "";
          ctx.flash(t("members.person_added", { login: answer.login }));
        }
      },
    },
    h("h2", {}, t("members.add_person")),
    h("label", {}, t("members.organization"), org),
    h("label", {}, t("signin.login"), login),
    h("label", {}, t("members.person_name"), name),
    h("label", {}, t("signin.password"), password),
    h("div", { class: "actions" }, duties),
    button,
  );
}
