package sdkgen

import (
	"fmt"
	"strings"
)

func curlSDK(api *model) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, curlHeader, api.title, api.version)
	b.WriteString("\nbooga_help() {\n  cat <<'HELP'\nUsage: booga.sh OPERATION [--PARAMETER VALUE]... [--data JSON | --form NAME=VALUE... | --data-file PATH] [--idempotency-key KEY] [--all]\n\nOperations:\n")
	for _, op := range api.operations {
		fmt.Fprintf(&b, "  %-28s %s %s\n", snake(op.ID), op.Method, op.Path)
	}
	b.WriteString("HELP\n}\n\nbooga_main() {\n  local op=\"${1:-help}\"\n  shift || true\n  case \"$op\" in\n")
	for _, op := range api.operations {
		var names []string
		for _, p := range op.PathParams {
			names = append(names, p.Name)
		}
		for _, p := range op.QueryParams {
			names = append(names, p.Name)
		}
		for _, p := range op.Headers {
			names = append(names, p.Name)
		}
		body := "0"
		switch {
		case op.Body != nil:
			body = "1"
		case op.Form != nil:
			body = "form"
		case op.Binary:
			body = "binary"
		}
		fmt.Fprintf(&b, "    %s)\n", snake(op.ID))
		fmt.Fprintf(&b, "      booga_parse %q %s \"$@\"\n", strings.Join(names, " "), body)
		for _, p := range op.PathParams {
			fmt.Fprintf(&b, "      booga_require %s >/dev/null\n", p.Name)
		}
		path := op.Path
		for _, p := range op.PathParams {
			path = strings.ReplaceAll(path, "{"+p.Name+"}", "$(booga_urlencode \"$(booga_require "+p.Name+")\")")
		}
		fmt.Fprintf(&b, "      BOOGA_PATH=\"%s\"\n", path)
		var query, headers []string
		for _, p := range op.QueryParams {
			query = append(query, p.Name)
			if p.Required {
				fmt.Fprintf(&b, "      booga_require %s >/dev/null\n", p.Name)
			}
		}
		for _, p := range op.Headers {
			headers = append(headers, p.Name)
		}
		switch {
		case op.Body != nil:
			b.WriteString("      [[ -n \"${BOOGA_ARGS[data]:-}\" ]] || booga_usage \"--data JSON is required\"\n")
		case op.Form != nil:
			fields, files := formParts(op.Form)
			fmt.Fprintf(&b, "      # multipart fields: %s; file parts (--form NAME=@PATH): %s\n", strings.Join(fields, " "), strings.Join(files, " "))
			b.WriteString("      ((${#BOOGA_FORM[@]} > 0)) || booga_usage \"--form NAME=VALUE is required\"\n")
		case op.Binary:
			b.WriteString("      [[ -n \"${BOOGA_ARGS[data-file]:-}\" ]] || booga_usage \"--data-file PATH is required\"\n")
		}
		flags := []string{"0", "1", "0"}
		if op.Idempotent {
			flags[0] = "1"
		}
		if op.Public {
			flags[1] = "0"
		}
		if op.Paginated {
			flags[2] = "1"
		}
		fmt.Fprintf(&b, "      booga_call %s \"$BOOGA_PATH\" %q %q %s\n      ;;\n", op.Method, strings.Join(query, " "), strings.Join(headers, " "), strings.Join(flags, " "))
	}
	b.WriteString("    help | -h | --help) booga_help ;;\n    *) booga_usage \"unknown operation: $op\" ;;\n  esac\n}\n\nbooga_main \"$@\"\n")
	return []byte(b.String())
}

const curlHeader = `#!/usr/bin/env bash
# Command-line client for the %s (version %s), over curl.
# Generated from the OpenAPI document by the platform's SDK generator; do not edit.
#
# Usage: booga.sh OPERATION [--PARAMETER VALUE]... [--data JSON | --form NAME=VALUE... | --data-file PATH]
#                 [--idempotency-key KEY] [--all]
#        booga.sh help
#
# --data sends a JSON body. --form adds one multipart/form-data part in
# curl -F syntax (NAME=VALUE for a field, NAME=@PATH for a file), repeated
# in the order the operation reads them. --data-file sends PATH's bytes as
# an application/octet-stream body.
#
# Environment:
#   BOOGA_BASE_URL     API base URL, ending in /api (required)
#   BOOGA_API_KEY      the API key (required for operations that need one)
#   BOOGA_AUTH_SCHEME  bearer (Authorization: Bearer, the default) or header (X-API-Key)
#   BOOGA_MAX_RETRIES  retries of a 429 response after its Retry-After delay (default 3)
#   BOOGA_HEADERS      extra request headers, one "Name: value" per line
#
# The response body goes to stdout. With --all, a paginated operation follows
# next_cursor and prints each page's body on its own line. A problem response
# goes to stderr and the exit status is the HTTP status minus 300 (400 -> 100,
# 401 -> 101, 404 -> 104, 422 -> 122, 429 -> 129, 500 -> 200). Exit status 2
# is a usage error and 3 a transport failure reported by curl.
# The API key is passed to curl in a private temporary file, not on its
# command line, so other users cannot read it from the process list.
#
# NOTE: --all finds next_cursor and has_more with sed and grep, not a JSON
# parser; that relies on the platform's compact JSON, which puts each on
# one line.

set -euo pipefail

declare -A BOOGA_ARGS=()
BOOGA_FORM=()
BOOGA_TMP="$(mktemp -d)"
trap 'rm -rf "$BOOGA_TMP"' EXIT
chmod 700 "$BOOGA_TMP"

booga_usage() {
  echo "booga.sh: $1 (run booga.sh help)" >&2
  exit 2
}

booga_urlencode() {
  local LC_ALL=C s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [a-zA-Z0-9.~_-]) out+="$c" ;;
      *) out+="$(printf '%%%%%%02X' "'$c")" ;;
    esac
  done
  printf '%%s' "$out"
}

# booga_parse "ALLOWED NAMES" BODY ARGS... fills BOOGA_ARGS and BOOGA_FORM.
# BODY is 0 (none), 1 (JSON), form (multipart) or binary (raw bytes).
booga_parse() {
  local allowed=" $1 " body="$2" name
  shift 2
  BOOGA_ARGS=()
  BOOGA_FORM=()
  while (($# > 0)); do
    case "$1" in
      --all) BOOGA_ARGS[all]=1; shift; continue ;;
      --data) [[ "$body" == 1 ]] || booga_usage "this operation takes no --data" ;;
      --form)
        [[ "$body" == form ]] || booga_usage "this operation takes no --form"
        (($# >= 2)) || booga_usage "--form needs a value"
        BOOGA_FORM+=("$2")
        shift 2
        continue
        ;;
      --data-file)
        [[ "$body" == binary ]] || booga_usage "this operation takes no --data-file"
        [[ -r "${2:-}" ]] || booga_usage "--data-file needs a readable file"
        ;;
      --idempotency-key) ;;
      --*) name="${1#--}"; [[ "$allowed" == *" $name "* ]] || booga_usage "unknown option $1" ;;
      *) booga_usage "unexpected argument $1" ;;
    esac
    (($# >= 2)) || booga_usage "$1 needs a value"
    BOOGA_ARGS["${1#--}"]="$2"
    shift 2
  done
}

booga_require() {
  [[ -n "${BOOGA_ARGS[$1]:-}" ]] || booga_usage "--$1 is required"
  printf '%%s' "${BOOGA_ARGS[$1]}"
}

booga_uuid() {
  if [[ -r /proc/sys/kernel/random/uuid ]]; then
    cat /proc/sys/kernel/random/uuid
  else
    printf '%%04x%%04x-%%04x-4%%03x-%%04x-%%04x%%04x%%04x\n' $RANDOM $RANDOM $RANDOM $((RANDOM %% 4096)) $(((RANDOM %% 16384) | 32768)) $RANDOM $RANDOM $RANDOM
  fi
}

# booga_send METHOD URL IDEMPOTENCY_KEY AUTHENTICATE HEADER_NAMES prints the
# body, retrying a 429 after its Retry-After delay.
booga_send() {
  local method="$1" url="$2" idem="$3" auth="$4" header_names="$5"
  local headers="$BOOGA_TMP/headers" max="${BOOGA_MAX_RETRIES:-3}" attempt=0 status name wait

  : >"$headers"
  echo "Accept: application/json" >>"$headers"
  if [[ "$auth" == 1 ]]; then
    [[ -n "${BOOGA_API_KEY:-}" ]] || booga_usage "BOOGA_API_KEY is not set"
    case "${BOOGA_AUTH_SCHEME:-bearer}" in
      bearer) echo "Authorization: Bearer $BOOGA_API_KEY" >>"$headers" ;;
      header) echo "X-API-Key: $BOOGA_API_KEY" >>"$headers" ;;
      *) booga_usage "BOOGA_AUTH_SCHEME must be bearer or header" ;;
    esac
  fi
  [[ -n "$idem" ]] && echo "Idempotency-Key: $idem" >>"$headers"
  for name in $header_names; do
    [[ -n "${BOOGA_ARGS[$name]:-}" ]] && echo "$name: ${BOOGA_ARGS[$name]}" >>"$headers"
  done
  [[ -n "${BOOGA_HEADERS:-}" ]] && printf '%%s\n' "$BOOGA_HEADERS" >>"$headers"

  local args=(-sS -X "$method" -H "@$headers" -o "$BOOGA_TMP/body" -D "$BOOGA_TMP/response-headers" -w '%%{http_code}')
  if [[ -n "${BOOGA_ARGS[data]:-}" ]]; then
    args+=(-H "Content-Type: application/json" --data-binary "${BOOGA_ARGS[data]}")
  elif [[ -n "${BOOGA_ARGS[data-file]:-}" ]]; then
    args+=(-H "Content-Type: application/octet-stream" --data-binary "@${BOOGA_ARGS[data-file]}")
  fi
  local part
  for part in "${BOOGA_FORM[@]}"; do
    args+=(-F "$part")
  done

  while :; do
    status="$(curl "${args[@]}" "$url")" || exit 3
    if [[ "$status" == 429 && "$attempt" -lt "$max" ]]; then
      attempt=$((attempt + 1))
      wait="$(tr -d '\r' <"$BOOGA_TMP/response-headers" | sed -nE 's/^[Rr]etry-[Aa]fter:[[:space:]]*([0-9]+)[[:space:]]*$/\1/p' | tail -n 1)"
      sleep "${wait:-1}"
      continue
    fi
    break
  done

  if ((status >= 400)); then
    cat "$BOOGA_TMP/body" >&2
    echo >&2
    return $((status - 300))
  fi
  if [[ -s "$BOOGA_TMP/body" ]]; then
    cat "$BOOGA_TMP/body"
    [[ "$(tail -c 1 "$BOOGA_TMP/body")" == "" ]] || echo
  fi
}

# booga_call METHOD PATH "QUERY NAMES" "HEADER NAMES" IDEMPOTENT AUTHENTICATE PAGINATED
booga_call() {
  local method="$1" path="$2" query_names="$3" header_names="$4" idempotent="$5" auth="$6" paginated="$7"
  [[ -n "${BOOGA_BASE_URL:-}" ]] || booga_usage "BOOGA_BASE_URL is not set"
  local idem=""
  if [[ "$idempotent" == 1 ]]; then
    idem="${BOOGA_ARGS[idempotency-key]:-$(booga_uuid)}"
  fi
  if [[ -n "${BOOGA_ARGS[all]:-}" && "$paginated" != 1 ]]; then
    booga_usage "--all works only on paginated operations"
  fi
  local body
  while :; do
    local query="" name
    for name in $query_names; do
      if [[ -n "${BOOGA_ARGS[$name]:-}" ]]; then
        query+="${query:+&}$name=$(booga_urlencode "${BOOGA_ARGS[$name]}")"
      fi
    done
    body="$(booga_send "$method" "${BOOGA_BASE_URL%%/}$path${query:+?$query}" "$idem" "$auth" "$header_names")" || return $?
    [[ -n "$body" ]] && printf '%%s\n' "$body"
    [[ -n "${BOOGA_ARGS[all]:-}" ]] || return 0
    grep -Eq '"has_more"[[:space:]]*:[[:space:]]*true' <<<"$body" || return 0
    BOOGA_ARGS[cursor]="$(sed -nE 's/.*"next_cursor"[[:space:]]*:[[:space:]]*"([^"]*)".*/\1/p' <<<"$body")"
    [[ -n "${BOOGA_ARGS[cursor]}" ]] || return 0
  done
}
`
