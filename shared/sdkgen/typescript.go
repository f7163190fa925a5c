package sdkgen

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// tsType returns the TypeScript type of a schema.
func tsType(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return "unknown"
	}
	if name := schemaName(ref); name != "" {
		return name
	}
	s := ref.Value
	if s == nil {
		return "unknown"
	}
	t := tsBaseType(s)
	if s.Nullable {
		t += " | null"
	}
	return t
}

func tsBaseType(s *openapi3.Schema) string {
	if len(s.AllOf) == 1 {
		return tsType(s.AllOf[0])
	}
	if len(s.Enum) > 0 {
		var lits []string
		for _, e := range s.Enum {
			b, _ := json.Marshal(e)
			lits = append(lits, string(b))
		}
		return strings.Join(lits, " | ")
	}
	if s.Type == nil {
		return "unknown"
	}
	switch {
	case s.Type.Is(openapi3.TypeString):
		return "string"
	case s.Type.Is(openapi3.TypeInteger), s.Type.Is(openapi3.TypeNumber):
		return "number"
	case s.Type.Is(openapi3.TypeBoolean):
		return "boolean"
	case s.Type.Is(openapi3.TypeArray):
		item := tsType(s.Items)
		if strings.ContainsAny(item, "|{ ") {
			item = "(" + item + ")"
		}
		return item + "[]"
	case s.Type.Is(openapi3.TypeObject):
		if len(s.Properties) == 0 {
			if s.AdditionalProperties.Schema != nil {
				return "Record<string, " + tsType(s.AdditionalProperties.Schema) + ">"
			}
			return "Record<string, unknown>"
		}
		return "{ " + strings.Join(tsFields(s, "; "), "; ") + " }"
	}
	return "unknown"
}

func tsFields(s *openapi3.Schema, _ string) []string {
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		opt := "?"
		if required[n] {
			opt = ""
		}
		out = append(out, fmt.Sprintf("%s%s: %s", tsKey(n), opt, tsType(s.Properties[n])))
	}
	return out
}

func tsKey(n string) string {
	for _, r := range n {
		if !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Sprintf("%q", n)
		}
	}
	return n
}

func tsInterfaces(api *model) string {
	var b strings.Builder
	names := make([]string, 0, len(api.doc.Components.Schemas))
	for n := range api.doc.Components.Schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := api.doc.Components.Schemas[n].Value
		if desc := strings.TrimSpace(s.Description); desc != "" {
			fmt.Fprintf(&b, "/** %s */\n", strings.ReplaceAll(desc, "*/", "* /"))
		}
		if s.Type != nil && s.Type.Is(openapi3.TypeObject) && len(s.Properties) > 0 {
			fmt.Fprintf(&b, "export interface %s {\n", n)
			for _, f := range tsFields(s, "") {
				fmt.Fprintf(&b, "  %s;\n", f)
			}
			b.WriteString("}\n\n")
			continue
		}
		fmt.Fprintf(&b, "export type %s = %s;\n\n", n, tsBaseType(s))
	}
	return b.String()
}

// jsPath returns a template literal for the operation's path.
func jsPath(op *operation, paramName func(string) string) string {
	path := op.Path
	for _, p := range op.PathParams {
		path = strings.ReplaceAll(path, "{"+p.Name+"}", "${encodeURIComponent("+paramName(p.Name)+")}")
	}
	return "`" + path + "`"
}

func jsIdent(s string) string {
	n := lowerCamel(s)
	switch n {
	case "delete", "new", "function", "class", "default", "in", "for", "body", "options", "query":
		n += "Value"
	}
	return n
}

func typeScriptSDK(api *model) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, tsHeader, api.title, api.version)
	b.WriteString(tsInterfaces(api))
	fmt.Fprintf(&b, tsRuntime, api.version)
	for _, op := range api.operations {
		jsMethod(&b, op, true)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

func javaScriptSDK(api *model) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, jsRuntime, api.title, api.version, api.version)
	for _, op := range api.operations {
		jsMethod(&b, op, false)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// jsMethod writes one operation's method (and its iterator for paginated
// operations) in TypeScript when typed, in JavaScript otherwise.
func jsMethod(b *strings.Builder, op *operation, typed bool) {
	name := lowerCamel(op.ID)
	ann := func(t string) string {
		if typed {
			return ": " + t
		}
		return ""
	}
	var args, jsdoc []string
	for _, p := range op.PathParams {
		args = append(args, jsIdent(p.Name)+ann("string"))
		jsdoc = append(jsdoc, fmt.Sprintf("@param {string} %s", jsIdent(p.Name)))
	}
	switch {
	case op.Body != nil:
		args = append(args, "body"+ann(tsType(op.Body)))
		jsdoc = append(jsdoc, "@param {object} body")
	case op.Form != nil:
		fields, files := formParts(op.Form)
		args = append(args, "form"+ann("FormFields"))
		jsdoc = append(jsdoc, fmt.Sprintf("@param {Record<string, string|number|boolean|Blob>} form multipart fields %s; Blob or File parts %s",
			strings.Join(fields, ", "), strings.Join(files, ", ")))
	case op.Binary:
		args = append(args, "data"+ann("BinaryBody"))
		jsdoc = append(jsdoc, "@param {Blob|ArrayBuffer|Uint8Array} data the raw application/octet-stream body")
	}
	queryType := "Record<string, never>"
	if len(op.QueryParams)+len(op.Headers) > 0 {
		var fields []string
		for _, p := range append(append([]*param(nil), op.QueryParams...), op.Headers...) {
			opt := "?"
			if p.Required {
				opt = ""
			}
			fields = append(fields, fmt.Sprintf("%s%s: %s", tsKey(p.Name), opt, tsType(p.Schema)))
		}
		queryType = "{ " + strings.Join(fields, "; ") + " }"
	}
	optionsType := "RequestOptions"
	if len(op.QueryParams)+len(op.Headers) > 0 {
		args = append(args, "params"+ann(queryType)+" = {}")
		jsdoc = append(jsdoc, "@param {object} [params] query and header parameters")
	}
	args = append(args, "options"+ann(optionsType)+" = {}")
	jsdoc = append(jsdoc, "@param {RequestOptions} [options]")

	result := "void"
	switch {
	case op.ResultText:
		result = "string"
	case op.Result != nil:
		result = tsType(op.Result)
	}
	var query, headers []string
	for _, p := range op.QueryParams {
		query = append(query, fmt.Sprintf("%q: params[%q]", p.Name, p.Name))
	}
	for _, p := range op.Headers {
		headers = append(headers, fmt.Sprintf("%q: params[%q]", p.Name, p.Name))
	}
	call := []string{}
	if len(query) > 0 {
		call = append(call, "query: { "+strings.Join(query, ", ")+" }")
	}
	if len(headers) > 0 {
		call = append(call, "headers: { "+strings.Join(headers, ", ")+" }")
	}
	switch {
	case op.Body != nil:
		call = append(call, "body")
	case op.Form != nil:
		call = append(call, "form")
	case op.Binary:
		call = append(call, "binary: data")
	}
	if op.Idempotent {
		call = append(call, "idempotent: true")
	}
	if op.Public {
		call = append(call, "authenticate: false")
	}
	call = append(call, "options")

	fmt.Fprintf(b, "\n  /**\n   * %s: %s %s.\n", strings.TrimSuffix(op.Summary, "."), op.Method, op.Path)
	if !typed {
		for _, d := range jsdoc {
			fmt.Fprintf(b, "   * %s\n", d)
		}
	}
	b.WriteString("   */\n")
	generic := ""
	if typed {
		generic = "<" + result + ">"
	}
	fmt.Fprintf(b, "  async %s(%s)%s {\n", name, strings.Join(args, ", "), ann("Promise<"+result+">"))
	fmt.Fprintf(b, "    return this.request%s(%q, %s, { %s });\n  }\n", generic, op.Method, jsPath(op, jsIdent), strings.Join(call, ", "))

	if !op.Paginated {
		return
	}
	item := "unknown"
	if op.Result != nil && op.Result.Value != nil {
		if data := op.Result.Value.Properties["data"]; data != nil && data.Value != nil {
			item = tsType(data.Value.Items)
		}
	}
	var iterArgs, passArgs []string
	for _, p := range op.PathParams {
		iterArgs = append(iterArgs, jsIdent(p.Name)+ann("string"))
		passArgs = append(passArgs, jsIdent(p.Name))
	}
	iterArgs = append(iterArgs, "params"+ann(queryType)+" = {}", "options"+ann("RequestOptions")+" = {}")
	passArgs = append(passArgs, "{ ...params, cursor }", "options")
	fmt.Fprintf(b, "\n  /** Yields every item of %s, following next_cursor page by page. */\n", name)
	fmt.Fprintf(b, "  async *iterate%s(%s)%s {\n", upperCamel(op.ID), strings.Join(iterArgs, ", "), ann("AsyncGenerator<"+item+">"))
	fmt.Fprintf(b, "    let cursor%s = params.cursor;\n", ann("string | undefined"))
	b.WriteString("    for (;;) {\n")
	fmt.Fprintf(b, "      const page = await this.%s(%s);\n", name, strings.Join(passArgs, ", "))
	b.WriteString("      yield* page.data;\n      if (!page.has_more) return;\n      cursor = page.next_cursor;\n    }\n  }\n")
}

const tsHeader = `// Client for the %s (version %s).
// Generated from the OpenAPI document by the platform's SDK generator; do not edit.
// Uses the global fetch (Node 18 or later, browsers). Compiles with tsc --strict.

`

const tsRuntime = `export const VERSION = "%s";

/** Options of one call. */
export interface RequestOptions {
  /** Idempotency-Key for operations that honour it; a UUID is generated when absent. */
  idempotencyKey?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** Client settings. */
export interface ClientOptions {
  /** API base URL, ending in /api. */
  baseUrl: string;
  apiKey: string;
  /** "bearer" sends Authorization: Bearer; "header" sends X-API-Key. Default "bearer". */
  authScheme?: "bearer" | "header";
  /** Retries of a 429 response, each after its Retry-After delay. Default 3. */
  maxRetries?: number;
  /** Headers added to every request. */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** Waits the given milliseconds; replace it in tests. */
  sleep?: (ms: number) => Promise<void>;
}

/** An error response, with the fields of its RFC 9457 problem document. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly requestId: string;
  readonly errors: FieldError[];
  readonly headers: Headers;

  constructor(status: number, problem: Problem, headers: Headers) {
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

const errorClasses: Record<number, typeof ApiError> = {
  400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
  409: ConflictError, 422: ValidationError, 429: RateLimitError,
};

/** Returns the delay in milliseconds that a Retry-After header requests. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number {
  if (!value) return 1000;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const when = Date.parse(value);
  return Number.isNaN(when) ? 1000 : Math.max(0, when - now);
}

/** A multipart form: text fields, and Blob or File values as file parts. */
export type FormFields = Record<string, string | number | boolean | Blob | undefined | null>;

/** A raw request body. */
export type BinaryBody = Blob | ArrayBuffer | Uint8Array;

/**
 * Builds a multipart body: text fields first, then Blob (or File) values as
 * file parts, because the server reads the fields before the file.
 */
function formData(form: FormFields): FormData {
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

interface CallSpec {
  query?: Record<string, string | number | boolean | undefined | null>;
  headers?: Record<string, string | number | boolean | undefined | null>;
  body?: unknown;
  form?: FormFields;
  binary?: BinaryBody;
  idempotent?: boolean;
  authenticate?: boolean;
}

export class BoogaClient {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly authScheme: "bearer" | "header";
  private readonly maxRetries: number;
  private readonly headers: Record<string, string>;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: ClientOptions) {
    if (options.authScheme !== undefined && options.authScheme !== "bearer" && options.authScheme !== "header") {
      throw new TypeError("authScheme must be \"bearer\" or \"header\"");
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    this.authScheme = options.authScheme ?? "bearer";
    this.maxRetries = options.maxRetries ?? 3;
    this.headers = options.headers ?? {};
    this.fetchFn = options.fetch ?? fetch;
    this.sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  }

  private async request<T>(method: string, path: string, spec: CallSpec & { options: RequestOptions }): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { Accept: "application/json", ...this.headers };
    for (const [k, v] of Object.entries(spec.headers ?? {})) {
      if (v !== undefined && v !== null) headers[k] = String(v);
    }
    if (spec.authenticate !== false) {
      if (this.authScheme === "bearer") headers["Authorization"] = "Bearer " + this.apiKey;
      else headers["X-API-Key"] = this.apiKey;
    }
    let body: BodyInit | undefined;
    if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers["Content-Type"] = "application/json";
    } else if (spec.form !== undefined) {
      // fetch sets multipart/form-data with its boundary.
      body = formData(spec.form);
    } else if (spec.binary !== undefined) {
      body = spec.binary as BodyInit;
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
        let problem: Problem;
        try {
          problem = JSON.parse(text) as Problem;
        } catch {
          problem = { type: "about:blank", title: response.statusText, status: response.status, detail: text };
        }
        const cls = errorClasses[response.status] ?? (response.status >= 500 ? ServerError : ApiError);
        throw new cls(response.status, problem, response.headers);
      }
      if (text === "") return undefined as T;
      const contentType = response.headers.get("Content-Type") ?? "";
      return (contentType.includes("json") ? JSON.parse(text) : text) as T;
    }
  }
`
