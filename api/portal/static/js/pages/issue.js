// A core enterprise issues certificates: one, against an invoice it uploads, or many at
// once from a payables file (CSV or Excel), which the API checks row by row first
// (POST /v1/payables/preview). Nothing is sent before the treasurer has seen every row's
// problem; then each valid row is issued with an Idempotency-Key of the file and the row,
// so a run cut short and started again issues every row once.

import { ApiProblem, call } from "../api.js";
import { run } from "../commands.js";
import { h, show } from "../dom.js";
import { parseYuan, yuan } from "../format.js";
import { has, problemText, t } from "../i18n.js";
import { amount, table } from "./holdings.js";

/** How many rows are sent at once (the API takes them one by one per account anyway). */
const AT_ONCE = 3;

export async function issuePage(main, ctx) {
  show(main, h("div", { class: "grid" }, bulk(ctx), single(ctx)));
}

function choose(ctx, role, name) {
  return h(
    "select",
    { name, "data-test": name },
    h("option", { value: "" }, "—"),
    ctx.members.filter((m) => m.role === role && m.status === "active").map((m) => h("option", { value: String(m.id) }, m.name)),
  );
}

/** 00:00 China time of a YYYY-MM-DD day, as a Unix time (what the API's dates mean). */
function dayStart(text) {
  const [y, m, d] = text.split("-").map(Number);
  return Date.UTC(y, m - 1, d) / 1000 - 8 * 3600;
}

function single(ctx) {
  const supplier = choose(ctx, "supplier", "issue-supplier");
  const bank = choose(ctx, "financier", "issue-bank");
  const value = h("input", { name: "amount", inputmode: "decimal", "data-test": "issue-amount" });
  const maturity = h("input", { name: "maturity", type: "date", "data-test": "issue-maturity" });
  const invoice = h("input", { name: "invoice", "data-test": "issue-invoice" });
  const file = h("input", { name: "file", type: "file", "data-test": "issue-file" });
  const button = h("button", { type: "submit", "data-test": "issue-submit" }, t("issue.submit"));
  return h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        const fen = parseYuan(value.value);
        if (!fen) return ctx.flash(t("error.amount"), "error");
        if (!supplier.value || !bank.value || !maturity.value || !invoice.value || !file.files.length) {
          return ctx.flash(t("error.fields"), "error");
        }
        let document;
        try {
          const form = new FormData();
          form.append("file", file.files[0]);
          form.append("kind", "invoice");
          document = await call("POST", "/v1/documents", undefined, { form });
        } catch (error) {
          return ctx.problem(error);
        }
        const answer = await run(ctx, button, "POST", "/v1/certificates", {
          beneficiary_id: Number(supplier.value),
          credit_provider_id: Number(bank.value),
          face_value: fen,
          maturity: dayStart(maturity.value),
          document_id: document.id,
          invoice_number: invoice.value,
        });
        if (answer) ctx.flash(t("issue.done", { id: answer.certificate_id, amount: yuan(answer.face_value) }));
      },
    },
    h("h2", {}, t("issue.one")),
    h("label", {}, t("col.supplier"), supplier),
    h("label", {}, t("col.funder"), bank),
    h("label", {}, t("split.amount"), value),
    h("label", {}, t("col.maturity"), maturity),
    h("label", {}, t("issue.invoice_number"), invoice),
    h("label", {}, t("issue.invoice_file"), file),
    button,
  );
}

function bulk(ctx) {
  const file = h("input", { name: "payables", type: "file", accept: ".csv,.xlsx", "data-test": "payables-file" });
  const bank = choose(ctx, "financier", "payables-bank");
  const out = h("div", { "data-test": "payables-preview" });
  const check = h("button", { type: "submit", "data-test": "payables-check" }, t("bulk.check"));
  return h(
    "form",
    {
      class: "card wide",
      onsubmit: async (event) => {
        event.preventDefault();
        if (!file.files.length) return ctx.flash(t("error.fields"), "error");
        const form = new FormData();
        form.append("file", file.files[0]);
        if (bank.value) form.append("bank_id", bank.value);
        check.disabled = true;
        try {
          const preview = await call("POST", "/v1/payables/preview", undefined, { form });
          show(out, previewOf(ctx, preview));
        } catch (error) {
          show(out);
          ctx.problem(error);
        } finally {
          check.disabled = false;
        }
      },
    },
    h("h2", {}, t("bulk.title")),
    h("p", { class: "muted" }, t("bulk.hint")),
    h("label", {}, t("bulk.file"), file),
    h("label", {}, t("bulk.bank"), bank),
    check,
    out,
  );
}

function previewOf(ctx, preview) {
  const todo = preview.rows.filter((row) => !row.errors.length && row.issued_certificate_id === null);
  const status = new Map();
  const rows = preview.rows.map((row) => {
    const cell = h("td", { "data-row-status": String(row.row) }, rowStatus(row));
    status.set(row.row, cell);
    return h(
      "tr",
      { class: row.errors.length ? "bad" : "", "data-row": String(row.row) },
      h("td", {}, String(row.row)),
      h("td", {}, row.beneficiary_name ?? row.supplier),
      h("td", {}, row.face_value ? amount(row.face_value) : row.amount),
      h("td", {}, row.maturity_date ?? row.maturity_text),
      h("td", {}, row.invoice_number),
      h("td", {}, row.credit_provider_name ?? row.credit_provider),
      cell,
    );
  });
  const progress = h("progress", { max: String(todo.length), value: "0", "data-test": "payables-progress" });
  const counter = h("span", { "data-test": "payables-count" }, `0 / ${todo.length}`);
  const go = h("button", { type: "button", "data-test": "payables-issue", disabled: todo.length === 0 }, t("bulk.issue", { n: todo.length }));
  go.addEventListener("click", async () => {
    go.disabled = true;
    let done = 0;
    let failed = 0;
    const queue = [...todo];
    const worker = async () => {
      while (queue.length) {
        const row = queue.shift();
        try {
          const answer = await issueRow(preview, row);
          show(status.get(row.row), h("span", { class: "ok" }, t("bulk.issued", { id: answer.certificate_id })));
        } catch (error) {
          failed += 1;
          show(status.get(row.row), h("span", { class: "error" }, problemText(error)));
        }
        done += 1;
        progress.value = done;
        counter.textContent = `${done} / ${todo.length}`;
      }
    };
    await Promise.all(Array.from({ length: AT_ONCE }, worker));
    ctx.flash(t("bulk.done", { n: done - failed, failed }), failed ? "error" : "info");
  });
  return h(
    "div",
    {},
    h(
      "p",
      { class: "plain", "data-test": "payables-summary" },
      t("bulk.summary", {
        valid: preview.valid_rows,
        total: yuan(preview.total_face_value),
        bad: preview.rows_with_errors,
        issued: preview.already_issued,
      }),
    ),
    preview.credit.map((line) =>
      h("p", { class: "muted" }, t("bulk.credit", { bank: line.name, needed: yuan(line.needed), available: yuan(line.available) })),
    ),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { "data-test": "payables-rows" },
        h(
          "thead",
          {},
          h("tr", {}, ["#", t("col.supplier"), t("col.value"), t("col.maturity"), t("issue.invoice_number"), t("col.funder"), t("col.status")].map((x) => h("th", {}, x))),
        ),
        h("tbody", {}, rows),
      ),
    ),
    h("div", { class: "actions" }, go, progress, counter),
  );
}

function rowStatus(row) {
  if (row.issued_certificate_id !== null) return h("span", { class: "ok" }, t("bulk.issued", { id: row.issued_certificate_id }));
  if (!row.errors.length) return h("span", { class: "ok" }, "✓");
  return h(
    "ul",
    { class: "errors" },
    row.errors.map((e) =>
      h(
        "li",
        { title: e.message, "data-code": e.code },
        `${t(`field.${e.field}`)}: ${has(`rowerror.${e.code}`) ? t(`rowerror.${e.code}`) : e.message}`,
      ),
    ),
  );
}

/** One row, sent again with the same key after a rate limit or an unreachable node. */
async function issueRow(preview, row) {
  const key = `payables-${preview.file_sha256.slice(0, 32)}-${row.row}`;
  const body = {
    beneficiary_id: row.beneficiary_id,
    credit_provider_id: row.credit_provider_id,
    face_value: row.face_value,
    maturity: row.maturity,
    invoice_number: row.invoice_number,
    source_file: preview.file_name,
    source_sha256: preview.file_sha256,
    row: row.row,
  };
  if (row.invoice_code) body.invoice_code = row.invoice_code;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call("POST", "/v1/payables/issue", body, { key });
    } catch (error) {
      const busy = [0, 429, 503].includes(error.status) || error.code === "request_in_progress";
      const again = error instanceof ApiProblem && busy && attempt < 8;
      if (!again) throw error;
      const seconds = Number(error.problem.retryAfter || 1);
      await new Promise((resolve) => setTimeout(resolve, Math.min(seconds, 10) * 1000));
    }
  }
}
