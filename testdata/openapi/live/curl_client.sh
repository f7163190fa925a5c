#!/usr/bin/env bash
# Drives the generated cURL script against the running handler.
# Usage: curl_client.sh SCRIPT LIMITED_KEY THROTTLE_TOKEN, with BOOGA_BASE_URL
# and BOOGA_API_KEY (an admin key) set. LIMITED_KEY has used up its
# per-minute limit. Prints "ok" when every check passes.
set -euo pipefail
booga="$1"
limited="$2"
token="$3"

fail() {
  echo "check failed: $1" >&2
  exit 1
}

for i in 1 2 3; do
  out="$(bash "$booga" create_api_key --data "{\"name\":\"curl $i\",\"scopes\":[\"api_keys:read\"]}")"
  grep -q '"api_key":"bk_' <<<"$out" || fail "create returns the plaintext key"
done
id="$(sed -nE 's/.*"id":"(key_[0-9a-z]+)".*/\1/p' <<<"$out")"
[[ -n "$id" ]] || fail "create returns an id"
reader="$(sed -nE 's/.*"api_key":"(bk_[^"]+)".*/\1/p' <<<"$out")"

# The limited key gets a 429; the script waits Retry-After and retries.
out="$(BOOGA_API_KEY="$limited" BOOGA_AUTH_SCHEME=header BOOGA_HEADERS="X-Test-Throttle: $token" \
  bash "$booga" create_api_key --data '{"name":"curl retried","scopes":["api_keys:read"]}')"
grep -q '"name":"curl retried"' <<<"$out" || fail "throttled create retried"

first="$(bash "$booga" list_api_keys --limit 2)"
grep -q '"has_more":true' <<<"$first" || fail "first page has more: $first"
pages="$(bash "$booga" list_api_keys --limit 2 --all)"
[[ "$(wc -l <<<"$pages")" -ge 3 ]] || fail "--all follows next_cursor: $pages"
count="$(grep -o '"id":"key_' <<<"$pages" | wc -l)"
[[ "$count" -ge 6 ]] || fail "pages hold every key, got $count"
grep -q "\"id\":\"$id\"" <<<"$pages" || fail "$id missing from the pages"

set +e
err="$(bash "$booga" create_api_key --data '{"name":"x","scopes":["files:read"],"colour":"red"}' 2>&1 >/dev/null)"
bad=$?
invalid_err="$(bash "$booga" create_api_key --data '{"name":"","scopes":["files:fly"]}' 2>&1 >/dev/null)"
invalid=$?
bash "$booga" get_api_key --id key_01m91aj79d3xnnj8x3cxvch8x3 >/dev/null 2>&1
missing=$?
BOOGA_API_KEY="$reader" bash "$booga" create_api_key --data '{"name":"x","scopes":["api_keys:read"]}' >/dev/null 2>&1
forbidden=$?
BOOGA_API_KEY=bk_not_a_real_key bash "$booga" list_api_keys >/dev/null 2>&1
unauthenticated=$?
bash "$booga" get_api_key >/dev/null 2>&1
usage=$?
set -e
[[ "$bad" == 100 ]] || fail "400 exits with 100, got $bad"
grep -q '"field":"colour"' <<<"$err" || fail "400 names the field: $err"
[[ "$invalid" == 122 ]] || fail "422 exits with 122, got $invalid"
grep -q '"field":"name"' <<<"$invalid_err" || fail "422 names the field: $invalid_err"
[[ "$missing" == 104 ]] || fail "404 exits with 104, got $missing"
[[ "$forbidden" == 103 ]] || fail "403 exits with 103, got $forbidden"
[[ "$unauthenticated" == 101 ]] || fail "401 exits with 101, got $unauthenticated"
[[ "$usage" == 2 ]] || fail "missing --id is a usage error, got $usage"

bash "$booga" get_health | grep -q '"status":"ok"' || fail "health"
bash "$booga" revoke_api_key --id "$id"
bash "$booga" get_api_key --id "$id" | grep -q '"status":"revoked"' || fail "revoked"
echo ok
