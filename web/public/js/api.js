// The one HTTP client of the Celeste functions: bearer token in, problem+json errors out.
import { idToken } from "./session.js";

let base = "";

/** Set the functions base URL, e.g. http://127.0.0.1:5001/demo-celeste/us-central1. */
export function setBase(url) {
  base = url.replace(/\/+$/, "");
}

/** A failed call: the RFC 9457 problem the API answered (status, title, detail, errors). */
export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.title = body?.title ?? `HTTP ${status}`;
    this.detail = body?.detail ?? this.message;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
    this.body = body;
  }
}

/**
 * Call `{base}/{path}` (path starts with the function name, e.g. "products/abc?quantity=2").
 * Sends the signed-in user's token; returns the decoded JSON (null for 204); throws Problem.
 */
export async function call(method, path, { body, headers = {} } = {}) {
  const sent = { ...headers };
  const token = await idToken();
  if (token) sent.Authorization = `Bearer ${token}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  // A read is safe to repeat: one that never reached the API (a dropped connection, a proxy
  // answering without CORS headers) is tried again twice, briefly apart, before it is shown.
  const tries = method === "GET" ? 3 : 1;
  for (let attempt = 1; !response; attempt++) {
    try {
      response = await fetch(`${base}/${path.replace(/^\/+/, "")}`, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      if (attempt >= tries) {
        throw new Problem(0, {
          title: "Network error",
          detail: `could not reach the shop's API (${error.message})`,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") ?? "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Problem(response.status, data);
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body, headers) => call("POST", path, { body, headers });
export const put = (path, body) => call("PUT", path, { body });
export const patch = (path, body) => call("PATCH", path, { body });
export const del = (path) => call("DELETE", path);
