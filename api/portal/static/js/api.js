// The portal's one door to the API: the same JSON endpoints, rules and problem documents
// as any client's. The session cookie goes with every request (same origin); a request
// that changes something carries the session's CSRF token and an Idempotency-Key.

let csrfToken = null;
const listeners = new Set();

export function setCsrf(token) {
  csrfToken = token;
}

/** Called with every problem document the API answers (the shell shows them). */
export function onUnauthenticated(listener) {
  listeners.add(listener);
}

/** A refusal of the API: an RFC 9457 problem (code, title, detail, status, ...). */
export class ApiProblem extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || String(problem.status));
    this.problem = problem;
    this.code = problem.code;
    this.status = problem.status;
  }
}

/** A new Idempotency-Key (one per action a person starts; a retry reuses it). */
export function newKey() {
  return crypto.randomUUID();
}

/**
 * method, "/v1/..." path, optional JSON body; options.key: the Idempotency-Key,
 * options.form: a FormData body (uploads). Resolves to the parsed answer (null for 204),
 * with the status as answer.status when it matters (202: waiting for a checker).
 */
export async function call(method, path, body, options = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
    if (options.key) headers["Idempotency-Key"] = options.key;
  }
  let payload;
  if (options.form) {
    payload = options.form;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (error) {
    throw new ApiProblem({ code: "network_error", status: 0, detail: String(error) });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const problem = data && data.code ? data : { code: "http_" + response.status, status: response.status };
    problem.retryAfter = response.headers.get("Retry-After");
    if (response.status === 401 && path !== "/v1/session") {
      for (const listener of listeners) listener(problem);
    }
    throw new ApiProblem(problem);
  }
  if (data && typeof data === "object" && !Array.isArray(data)) {
    Object.defineProperty(data, "httpStatus", { value: response.status });
  }
  return data;
}

export const get = (path) => call("GET", path);
