package sdkgen

const jsRuntime = `// Client for the %s (version %s).
// Generated from the OpenAPI document by the platform's SDK generator; do not edit.
// ES module using the global fetch (Node 20 or later, browsers).

export const VERSION = "%s";

/**
 * @typedef {object} RequestOptions
 * @property {string} [idempotencyKey] Idempotency-Key for operations that honour it; a UUID is generated when absent.
 * @property {AbortSignal} [signal] Aborts the request.
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} baseUrl API base URL, ending in /api.
 * @property {string} apiKey
 * @property {"bearer"|"header"} [authScheme] "bearer" sends Authorization: Bearer; "header" sends X-API-Key.
 * @property {number} [maxRetries] Retries of a 429 response, each after its Retry-After delay. Default 3.
 * @property {Record<string,string>} [headers] Headers added to every request.
 * @property {typeof fetch} [fetch]
 * @property {(ms: number) => Promise<void>} [sleep] Waits the given milliseconds; replace it in tests.
 */

/** An error response, with the fields of its RFC 9457 problem document. */
export class ApiError extends Error {
  constructor(status, problem, headers) {
    const requestId = problem.request_id ?? headers.get("X-Request-ID") ?? "";
    super(status + " " + problem.title + ": " + (problem.detail ?? "") + " (request id " + requestId + ")");
    this.name = new.target.name;
    this.status = status;
    this.problem = problem;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail ?? "";
    this.requestId = requestId;
    this.errors = problem.errors ?? [];
    this.headers = headers;
  }
}

/** 400: the request is malformed. */
export class BadRequestError extends ApiError {}
/** 401: the API key is missing or not valid. */
export class AuthenticationError extends ApiError {}
/** 403: the key may not perform this operation. */
export class PermissionDeniedError extends ApiError {}
/** 404: no such resource. */
export class NotFoundError extends ApiError {}
/** 409: the request conflicts with the resource's state. */
export class ConflictError extends ApiError {}
/** 422: fields are invalid; see errors. */
export class ValidationError extends ApiError {}
/** 429: the key is over its rate limit, after every retry. */
export class RateLimitError extends ApiError {}
/** 5xx: the platform failed. */
export class ServerError extends ApiError {}

const errorClasses = {
  400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
  409: ConflictError, 422: ValidationError, 429: RateLimitError,
};

/** Returns the delay in milliseconds that a Retry-After header requests. */
export function retryAfterMs(value, now = Date.now()) {
  if (!value) return 1000;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const when = Date.parse(value);
  return Number.isNaN(when) ? 1000 : Math.max(0, when - now);
}

/**
 * Builds a multipart body: text fields first, then Blob (or File) values as
 * file parts, because the server reads the fields before the file.
 * @param {Record<string, string|number|boolean|Blob|undefined|null>} form
 */
function formData(form) {
  const data = new FormData();
  const entries = Object.entries(form).filter(([, v]) => v !== undefined && v !== null);
  for (const [k, v] of entries) {
    if (!(v instanceof Blob)) data.append(k, String(v));
  }
  for (const [k, v] of entries) {
    if (v instanceof Blob) data.append(k, v, typeof File !== "undefined" && v instanceof File ? v.name : k);
  }
  return data;
}

export class BoogaClient {
  /** @param {ClientOptions} options */
  constructor(options) {
    if (options.authScheme !== undefined && options.authScheme !== "bearer" && options.authScheme !== "header") {
      throw new TypeError("authScheme must be \"bearer\" or \"header\"");
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    this.authScheme = options.authScheme ?? "bearer";
    this.maxRetries = options.maxRetries ?? 3;
    this.headers = options.headers ?? {};
    this.fetchFn = options.fetch ?? fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async request(method, path, spec) {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const headers = { Accept: "application/json", ...this.headers };
    for (const [k, v] of Object.entries(spec.headers ?? {})) {
      if (v !== undefined && v !== null) headers[k] = String(v);
    }
    if (spec.authenticate !== false) {
      if (this.authScheme === "bearer") headers["Authorization"] = "Bearer " + this.apiKey;
      else headers["X-API-Key"] = this.apiKey;
    }
    let body;
    if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers["Content-Type"] = "application/json";
    } else if (spec.form !== undefined) {
      // fetch sets multipart/form-data with its boundary.
      body = formData(spec.form);
    } else if (spec.binary !== undefined) {
      body = spec.binary;
      headers["Content-Type"] = "application/octet-stream";
    }
    if (spec.idempotent) {
      // One key for every attempt, so a retry cannot act twice.
      headers["Idempotency-Key"] = spec.options.idempotencyKey ?? crypto.randomUUID();
    }
    for (let attempt = 0; ; attempt++) {
      const response = await this.fetchFn(url, { method, headers, body, signal: spec.options.signal });
      if (response.status === 429 && attempt < this.maxRetries) {
        await response.arrayBuffer();
        await this.sleep(retryAfterMs(response.headers.get("Retry-After")));
        continue;
      }
      const text = await response.text();
      if (!response.ok) {
        let problem;
        try {
          problem = JSON.parse(text);
        } catch {
          problem = { type: "about:blank", title: response.statusText, status: response.status, detail: text };
        }
        const cls = errorClasses[response.status] ?? (response.status >= 500 ? ServerError : ApiError);
        throw new cls(response.status, problem, response.headers);
      }
      if (text === "") return undefined;
      const contentType = response.headers.get("Content-Type") ?? "";
      return contentType.includes("json") ? JSON.parse(text) : text;
    }
  }
`
