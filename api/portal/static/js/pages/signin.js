// The sign-in form: a login and a password, POST /v1/session.

import { call } from "../api.js";
import { h, show } from "../dom.js";
import { problemText, t } from "../i18n.js";

export function signInPage(main, { flash, signedIn }) {
  const login = h("input", { name: "login", autocomplete: "username", required: true, "data-test": "login" });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "data-test": "password",
  });
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const answer = await call("POST", "/v1/session", { login: login.value, password: password.value });
          await signedIn(answer);
        } catch (error) {
          password.value = "";
          flash(problemText(error), "error");
        }
      },
    },
    h("h1", {}, t("app.title")),
    h("h2", {}, t("signin.title")),
    h("label", {}, t("signin.login"), login),
    h("label", {}, t("signin.password"), password),
    h("button", { type: "submit", "data-test": "sign-in" }, t("signin.submit")),
    h("p", { class: "muted" }, t("signin.hint")),
  );
  show(main, form);
  login.focus();
}
