// The API client: JSON over fetch with the session cookie (sent by the browser under /api),
// the session's CSRF token on every write, and errors as ApiError with the server's code,
// field and message. A 401 anywhere tells the app to show the login form.

const BASE = "/api/v1";
const KEY = "camwatch.csrf";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || "HTTP " + status);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

const listeners = new Set();
/** `f()` is called when the server says the session is gone (401). */
export function onSignedOut(f) {
  listeners.add(f);
}

export function setCsrf(token) {
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
}

/** The URL of an API path (for links and downloads). */
export function url(path, params) {
  const q = params ? query(params) : "";
  return BASE + path + (q ? "?" + q : "");
}

/** `params` without empty values, URL-encoded. */
export function query(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") u.set(k, v);
  }
  return u.toString();
}

/** Calls the API; resolves to the parsed JSON (null for 204), rejects with ApiError. */
export async function api(method, path, body, params) {
  const headers = { accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") {
    const csrf = sessionStorage.getItem(KEY);
    if (csrf) headers["x-csrf-token"] = csrf;
  }
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
    headers["content-type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const r = await fetch(url(path, params), init);
  if (r.status === 204) return null;
  let data = null;
  const type = r.headers.get("content-type") || "";
  if (type.startsWith("application/json")) data = await r.json();
  if (!r.ok) {
    if (r.status === 401 && path !== "/session") listeners.forEach((f) => f());
    throw new ApiError(r.status, data);
  }
  return data;
}

/** GET that answers null on 404 (an endpoint or a thing not there yet). */
export async function maybe(path, params) {
  try {
    return await api("GET", path, undefined, params);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}
