// Running a command from a form: one Idempotency-Key per action a person starts (a retry
// after a network failure sends the same key, so the action happens at most once), the
// button disabled while it runs, and the answer or the refusal shown.

import { call } from "./api.js";
import { t } from "./i18n.js";

/**
 * Sends method/path/body with the key kept on `button` until it succeeds or is refused.
 * Resolves to the answer, or to null when the command waits (for a checker or for the
 * organization's own signature: a message says so) or was refused (a message says why).
 */
export async function run(ctx, button, method, path, body) {
  if (!button.dataset.key) button.dataset.key = crypto.randomUUID();
  button.disabled = true;
  try {
    const answer = await call(method, path, body, { key: button.dataset.key });
    delete button.dataset.key;
    if (answer && answer.httpStatus === 202) {
      const waits = answer.status === "awaiting_signature" ? "waiting.signature" : "waiting.approval";
      ctx.flash(t(waits, { id: answer.command_id }), "info");
      return null;
    }
    return answer;
  } catch (error) {
    if (error.status !== 0 && error.status !== 503) delete button.dataset.key; // else: retry it
    ctx.problem(error);
    return null;
  } finally {
    button.disabled = false;
  }
}
