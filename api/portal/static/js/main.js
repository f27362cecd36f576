// The portal's shell: who is signed in, the navigation of the organization's role, the
// language toggle, messages, and the page of the address's #/route.

import { ApiProblem, call, get, onUnauthenticated, setCsrf } from "./api.js";
import { h, show } from "./dom.js";
import { currentLanguage, problemText, setLanguage, t } from "./i18n.js";
import { approvalsPage } from "./pages/approvals.js";
import { bidsPage, offersPage, portfolioPage } from "./pages/bank.js";
import { fragmentPage } from "./pages/fragment.js";
import { holdingsPage } from "./pages/holdings.js";
import { issuePage } from "./pages/issue.js";
import { notificationsPage } from "./pages/notifications.js";
import { payablesPage } from "./pages/payables.js";
import { auditPage, membersPage, reportsPage } from "./pages/oversight.js";
import { signInPage } from "./pages/signin.js";
import { verifyPage } from "./pages/verify.js";

/** route -> its page and the roles that see it in their navigation */
const PAGES = {
  holdings: { render: holdingsPage, nav: ["supplier", "financier"] },
  payables: { render: payablesPage, nav: ["core_enterprise"] },
  issue: { render: issuePage, nav: ["core_enterprise"] },
  bids: { render: bidsPage, nav: ["financier", "core_enterprise"] },
  offers: { render: offersPage, nav: ["financier"] },
  portfolio: { render: portfolioPage, nav: ["financier"] },
  verify: { render: verifyPage, nav: ["financier", "supplier", "operator", "auditor"] },
  approvals: { render: approvalsPage, nav: ["supplier", "financier", "core_enterprise", "operator"] },
  reports: { render: reportsPage, nav: ["operator", "auditor"] },
  audit: { render: auditPage, nav: ["operator", "auditor"] },
  members: { render: membersPage, nav: ["operator", "auditor"] },
  notifications: { render: notificationsPage, nav: ["supplier", "financier", "core_enterprise", "operator", "auditor"] },
  fragment: { render: fragmentPage, nav: [] },
};
/** the page each role starts on */
const HOME = {
  supplier: "holdings",
  financier: "holdings",
  core_enterprise: "payables",
  operator: "reports",
  auditor: "reports",
};

const root = document.getElementById("app");
let session = null;
let directory = null;
/** a message for the page a route change is about to show (ctx.go's second argument) */
let pending = null;

function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  if (box) show(box, h("p", { class: `flash ${kind}`, role: kind === "error" ? "alert" : "status" }, message));
}

/** What a page gets: the session, the member directory, and helpers. */
function context() {
  const byAddress = new Map(directory.map((org) => [org.address?.toLowerCase(), org]));
  return {
    session,
    me: session.organization,
    user: session.user,
    members: directory,
    nameOf: (address) => byAddress.get(String(address).toLowerCase())?.name ?? String(address).slice(0, 10),
    orgOf: (address) => byAddress.get(String(address).toLowerCase()),
    go: (route, message) => {
      pending = message ?? null;
      if (location.hash === `#/${route}`) render();
      else location.hash = `#/${route}`;
    },
    flash,
    problem: (error) => flash(problemText(error), "error"),
    reload: () => render(),
    refreshMembers: async () => {
      directory = await get("/v1/organizations");
    },
  };
}

/** The unread notifications' count, shown in the header (the page lists them). */
async function unreadCount() {
  try {
    return (await get("/v1/notifications?unread=true&limit=100")).length;
  } catch {
    return 0;
  }
}

function header(unread) {
  const duties = session.user.duties.length ? session.user.duties : ["viewer"];
  return h(
    "header",
    { class: "top" },
    h("h1", {}, t("app.title")),
    h(
      "div",
      { class: "who" },
      h("span", { class: "org", "data-test": "org-name" }, session.organization.name),
      h("span", { class: "role" }, t(`role.${session.organization.role}`)),
      h("span", { class: "user" }, `${session.user.name} (${duties.map((d) => t(`duty.${d}`)).join("/")})`),
      h("a", { href: "#/notifications", class: unread ? "bell unread" : "bell", "data-test": "bell" }, t("notice.bell", { n: unread || "" })),
      languageToggle(),
      h("button", { type: "button", class: "link", "data-test": "sign-out", onclick: signOut }, t("signout")),
    ),
  );
}

function languageToggle() {
  return h(
    "button",
    {
      type: "button",
      class: "link",
      "data-test": "language",
      onclick: async () => {
        const next = currentLanguage() === "zh" ? "en" : "zh";
        setLanguage(next);
        if (session) {
          call("PUT", "/v1/session/language", { language: next }).catch(() => {});
        }
        render();
      },
    },
    t("lang.toggle"),
  );
}

function navigation(current) {
  const role = session.organization.role;
  const items = Object.entries(PAGES).filter(([, page]) => page.nav.includes(role));
  return h(
    "nav",
    { class: "side" },
    h(
      "ul",
      {},
      items.map(([route]) =>
        h(
          "li",
          {},
          h("a", { href: `#/${route}`, class: route === current ? "current" : "", "data-nav": route }, t(`nav.${route}`)),
        ),
      ),
    ),
  );
}

async function signOut() {
  try {
    await call("DELETE", "/v1/session");
  } finally {
    session = null;
    setCsrf(null);
    render();
  }
}

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name, param: rest.join("/") };
}

async function render() {
  if (!session) {
    show(root, h("div", { class: "corner" }, languageToggle()), h("div", { id: "flash" }));
    const main = h("main", { class: "signin" });
    root.append(main);
    signInPage(main, {
      flash,
      signedIn: async (answer) => {
        await start(answer);
      },
    });
    return;
  }
  let { name, param } = route();
  if (!PAGES[name]) name = HOME[session.organization.role];
  const main = h("main", { "data-page": name }, h("p", { class: "muted" }, t("loading")));
  show(root, header(await unreadCount()), h("div", { class: "body" }, navigation(name), h("div", { class: "content" }, h("div", { id: "flash" }), main)));
  try {
    await PAGES[name].render(main, context(), param);
    if (pending) {
      flash(pending);
      pending = null;
    }
  } catch (error) {
    if (error instanceof ApiProblem && error.status === 401) return;
    show(main, h("p", { class: "flash error", role: "alert" }, problemText(error)));
  }
}

async function start(answer) {
  session = answer;
  setCsrf(answer.csrf_token);
  setLanguage(answer.user.language);
  directory = await get("/v1/organizations");
  await render();
}

onUnauthenticated(() => {
  session = null;
  setCsrf(null);
  render().then(() => flash(t("problem.unauthenticated"), "error"));
});
window.addEventListener("hashchange", () => session && render());

setLanguage(currentLanguage());
get("/v1/session")
  .then(start)
  .catch(() => render());
