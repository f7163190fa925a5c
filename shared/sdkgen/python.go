package sdkgen

import (
	"fmt"
	"strings"
)

var pythonKeywords = map[string]bool{"and": true, "as": true, "assert": true, "async": true, "await": true, "break": true,
	"class": true, "continue": true, "def": true, "del": true, "elif": true, "else": true, "except": true, "finally": true,
	"for": true, "from": true, "global": true, "if": true, "import": true, "in": true, "is": true, "lambda": true,
	"nonlocal": true, "not": true, "or": true, "pass": true, "raise": true, "return": true, "try": true, "while": true,
	"with": true, "yield": true, "self": true, "body": true, "True": true, "False": true, "None": true}

func pyName(s string) string {
	n := snake(s)
	if pythonKeywords[n] {
		n += "_"
	}
	return n
}

func pythonSDK(api *model) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, pythonRuntime, api.title, api.version, api.version)
	for _, op := range api.operations {
		pythonMethod(&b, op, false)
		if op.Paginated {
			pythonMethod(&b, op, true)
		}
	}
	return []byte(b.String())
}

func pythonMethod(b *strings.Builder, op *operation, iterate bool) {
	name := pyName(op.ID)
	args := []string{"self"}
	for _, p := range op.PathParams {
		args = append(args, pyName(p.Name)+": str")
	}
	switch {
	case op.Body != nil:
		args = append(args, "body: Dict[str, Any]")
	case op.Form != nil:
		args = append(args, "form: Dict[str, Any]")
	case op.Binary:
		args = append(args, "data: bytes")
	}
	var kw []string
	for _, p := range append(append([]*param(nil), op.QueryParams...), op.Headers...) {
		if iterate && p.Name == "cursor" {
			continue
		}
		kw = append(kw, pyName(p.Name)+": Any = None")
	}
	if op.Idempotent {
		kw = append(kw, "idempotency_key: Optional[str] = None")
	}
	if len(kw) > 0 {
		args = append(args, "*")
		args = append(args, kw...)
	}
	if iterate {
		fmt.Fprintf(b, "\n    def iter_%s(%s) -> Iterator[Any]:\n", name, strings.Join(args, ", "))
		fmt.Fprintf(b, "        \"\"\"Yield every item of %s, following next_cursor page by page.\"\"\"\n", name)
		fmt.Fprintf(b, "        cursor = None\n        while True:\n")
		var call []string
		for _, p := range op.PathParams {
			call = append(call, pyName(p.Name))
		}
		for _, p := range append(append([]*param(nil), op.QueryParams...), op.Headers...) {
			if p.Name == "cursor" {
				call = append(call, "cursor=cursor")
				continue
			}
			call = append(call, pyName(p.Name)+"="+pyName(p.Name))
		}
		fmt.Fprintf(b, "            page = self.%s(%s)\n", name, strings.Join(call, ", "))
		b.WriteString("            yield from page[\"data\"]\n            if not page.get(\"has_more\"):\n                return\n            cursor = page[\"next_cursor\"]\n")
		return
	}

	ret := "Any"
	if op.ResultText {
		ret = "str"
	} else if op.Result == nil {
		ret = "None"
	}
	fmt.Fprintf(b, "\n    def %s(%s) -> %s:\n", name, strings.Join(args, ", "), ret)
	fmt.Fprintf(b, "        \"\"\"%s: %s %s.", strings.TrimSuffix(op.Summary, "."), op.Method, op.Path)
	if op.Form != nil {
		fields, files := formParts(op.Form)
		fmt.Fprintf(b, "\n\n        form is sent as multipart/form-data: text fields %s, then file parts %s.\n"+
			"        A file part's value is bytes, a binary file object or a (filename, content) tuple.\n        ",
			strings.Join(fields, ", "), strings.Join(files, ", "))
	}
	if op.Binary {
		b.WriteString("\n\n        data is sent as the raw application/octet-stream body.\n        ")
	}
	b.WriteString("\"\"\"\n")
	path := op.Path
	for _, p := range op.PathParams {
		path = strings.ReplaceAll(path, "{"+p.Name+"}", "{_path("+pyName(p.Name)+")}")
	}
	call := []string{fmt.Sprintf("%q", op.Method), "f\"" + path + "\""}
	if len(op.QueryParams) > 0 {
		var q []string
		for _, p := range op.QueryParams {
			q = append(q, fmt.Sprintf("%q: %s", p.Name, pyName(p.Name)))
		}
		call = append(call, "query={"+strings.Join(q, ", ")+"}")
	}
	if len(op.Headers) > 0 {
		var h []string
		for _, p := range op.Headers {
			h = append(h, fmt.Sprintf("%q: %s", p.Name, pyName(p.Name)))
		}
		call = append(call, "headers={"+strings.Join(h, ", ")+"}")
	}
	switch {
	case op.Body != nil:
		call = append(call, "body=body")
	case op.Form != nil:
		call = append(call, "form=form")
	case op.Binary:
		call = append(call, "data=data")
	}
	if op.Idempotent {
		call = append(call, "idempotent=True", "idempotency_key=idempotency_key")
	}
	if op.Public {
		call = append(call, "authenticate=False")
	}
	fmt.Fprintf(b, "        return self._send(%s)\n", strings.Join(call, ", "))
}

const pythonRuntime = `"""Client for the %s (version %s).

Generated from the OpenAPI document by the platform's SDK generator; do not
edit. Needs only the Python standard library (3.8 or later).

    client = Client("https://host/api", api_key)
    key = client.create_api_key({"name": "CI", "scopes": ["api_keys:read"]})
    for k in client.iter_list_api_keys():
        print(k["id"])

Problem responses raise ApiError subclasses; a 429 is retried after its
Retry-After delay up to max_retries times.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

VERSION = "%s"


class ApiError(Exception):
    """An error response, with the fields of its RFC 9457 problem document."""

    def __init__(self, status: int, problem: Dict[str, Any], headers: Mapping[str, str]):
        self.status = status
        self.problem = problem
        self.type = problem.get("type", "about:blank")
        self.title = problem.get("title", "")
        self.detail = problem.get("detail", "")
        self.request_id = problem.get("request_id") or headers.get("X-Request-ID", "")
        self.errors = problem.get("errors", [])
        self.headers = dict(headers)
        super().__init__(f"{status} {self.title}: {self.detail} (request id {self.request_id})")


class BadRequestError(ApiError):
    """400: the request is malformed."""


class AuthenticationError(ApiError):
    """401: the API key is missing or not valid."""


class PermissionDeniedError(ApiError):
    """403: the key may not perform this operation."""


class NotFoundError(ApiError):
    """404: no such resource."""


class ConflictError(ApiError):
    """409: the request conflicts with the resource's state."""


class ValidationError(ApiError):
    """422: fields are invalid; see errors."""


class RateLimitError(ApiError):
    """429: the key is over its rate limit, after every retry."""


class ServerError(ApiError):
    """5xx: the platform failed."""


_ERRORS = {400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
           409: ConflictError, 422: ValidationError, 429: RateLimitError}


def _error(status: int, raw: bytes, headers: Mapping[str, str]) -> ApiError:
    try:
        problem = json.loads(raw) if raw else {}
        if not isinstance(problem, dict):
            problem = {"detail": str(problem)}
    except ValueError:
        problem = {"detail": raw.decode("utf-8", "replace")}
    cls = _ERRORS.get(status, ServerError if status >= 500 else ApiError)
    return cls(status, problem, headers)


def _retry_after(value: Optional[str], now: Callable[[], float] = time.time) -> float:
    """Return the delay in seconds that a Retry-After header requests."""
    if not value:
        return 1.0
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - now())
    except (TypeError, ValueError):
        return 1.0


def _path(value: Any) -> str:
    return urllib.parse.quote(str(value), safe="")


def _multipart(form: Dict[str, Any]) -> Tuple[bytes, str]:
    """Encode form as multipart/form-data: text fields first, then file parts.

    A file part's value is bytes, a binary file object or a (filename, content)
    tuple; the server reads the text fields before the file, so they go first.
    """
    boundary = "booga-" + uuid.uuid4().hex
    texts, files = [], []
    for name, value in form.items():
        if value is None:
            continue
        if isinstance(value, (bytes, bytearray, tuple)) or hasattr(value, "read"):
            files.append((name, value))
        else:
            texts.append((name, value))
    out = bytearray()
    for name, value in texts:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode("utf-8")
        out += _query_value(value).encode("utf-8") + b"\r\n"
    for name, value in files:
        filename = name
        if isinstance(value, tuple):
            filename, value = value
        elif hasattr(value, "read"):
            filename = os.path.basename(getattr(value, "name", "") or name)
            value = value.read()
        quoted = str(filename).replace("\\", "\\\\").replace('"', '\\"')
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{quoted}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode("utf-8")
        out += bytes(value) + b"\r\n"
    out += f"--{boundary}--\r\n".encode("utf-8")
    return bytes(out), "multipart/form-data; boundary=" + boundary


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Client:
    """API client. auth_scheme is "bearer" (Authorization: Bearer) or "header" (X-API-Key)."""

    def __init__(self, base_url: str, api_key: str, *, auth_scheme: str = "bearer", max_retries: int = 3,
                 timeout: float = 30.0, headers: Optional[Mapping[str, str]] = None,
                 sleep: Callable[[float], None] = time.sleep):
        if auth_scheme not in ("bearer", "header"):
            raise ValueError(f"auth_scheme must be 'bearer' or 'header', got {auth_scheme!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.auth_scheme = auth_scheme
        self.max_retries = max_retries
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._sleep = sleep

    def _send(self, method: str, path: str, *, query: Optional[Dict[str, Any]] = None, body: Any = None,
              form: Optional[Dict[str, Any]] = None, data: Optional[bytes] = None,
              headers: Optional[Dict[str, Any]] = None, idempotent: bool = False,
              idempotency_key: Optional[str] = None, authenticate: bool = True) -> Any:
        url = self.base_url + path
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        sent = {"Accept": "application/json", "User-Agent": "booga-python/" + VERSION}
        sent.update(self.headers)
        sent.update({k: str(v) for k, v in (headers or {}).items() if v is not None})
        if authenticate:
            if self.auth_scheme == "bearer":
                sent["Authorization"] = "Bearer " + self.api_key
            else:
                sent["X-API-Key"] = self.api_key
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        elif form is not None:
            data, sent["Content-Type"] = _multipart(form)
        elif data is not None:
            data = bytes(data)
            sent["Content-Type"] = "application/octet-stream"
        if idempotent:
            # One key for every attempt, so a retry cannot act twice.
            sent["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())

        attempt = 0
        while True:
            request = urllib.request.Request(url, data=data, method=method, headers=sent)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                    content_type = response.headers.get("Content-Type", "")
            except urllib.error.HTTPError as err:
                raw = err.read()
                if err.code == 429 and attempt < self.max_retries:
                    attempt += 1
                    self._sleep(_retry_after(err.headers.get("Retry-After")))
                    continue
                raise _error(err.code, raw, err.headers) from None
            if not raw:
                return None
            if "json" in content_type:
                return json.loads(raw)
            return raw.decode("utf-8")
`
