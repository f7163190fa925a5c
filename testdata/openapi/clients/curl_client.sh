#!/usr/bin/env bash
# Drives the generated cURL script against the test server.
# Usage: curl_client.sh SCRIPT THROTTLE_TOKEN, with BOOGA_BASE_URL and
# BOOGA_API_KEY set. Prints "ok" when every check passes.
set -euo pipefail
booga="$1"
token="$2"

fail() {
  echo "check failed: $1" >&2
  exit 1
}

for i in 1 2 3; do
  out="$(bash "$booga" create_api_key --data "{\"name\":\"curl $i\",\"scopes\":[\"api_keys:read\"]}")"
  grep -q '"secret":"bk_' <<<"$out" || fail "create returns the secret: $out"
done
id="$(sed -nE 's/.*"id":"(key_[0-9a-z]+)".*/\1/p' <<<"$out")"
[[ -n "$id" ]] || fail "create returns an id"

out="$(BOOGA_AUTH_SCHEME=header BOOGA_HEADERS="X-Test-Throttle: $token" bash "$booga" create_api_key \
  --data '{"name":"curl retried","scopes":["api_keys:read"]}')"
grep -q '"name":"curl retried"' <<<"$out" || fail "throttled create retried: $out"

pages="$(bash "$booga" list_api_keys --limit 2 --all)"
[[ "$(wc -l <<<"$pages")" -ge 2 ]] || fail "--all follows next_cursor: $pages"
count="$(grep -o '"id":"key_' <<<"$pages" | wc -l)"
[[ "$count" -ge 4 ]] || fail "pages hold every key, got $count"
grep -q "\"id\":\"$id\"" <<<"$pages" || fail "$id missing from the pages"

set +e
err="$(bash "$booga" create_api_key --data '{"name":"","scopes":[]}' 2>&1 >/dev/null)"
status=$?
set -e
[[ "$status" == 122 ]] || fail "422 exits with 122, got $status"
grep -q '"field":"name"' <<<"$err" || fail "problem names the field: $err"

set +e
BOOGA_API_KEY=wrong bash "$booga" list_api_keys >/dev/null 2>&1
status=$?
bash "$booga" get_api_key --id key_00000000000000000000000000 >/dev/null 2>&1
missing=$?
bash "$booga" get_api_key >/dev/null 2>&1
usage=$?
set -e
[[ "$status" == 101 ]] || fail "401 exits with 101, got $status"
[[ "$missing" == 104 ]] || fail "404 exits with 104, got $missing"
[[ "$usage" == 2 ]] || fail "missing --id is a usage error, got $usage"

bash "$booga" get_health | grep -q '"status":"ok"' || fail "health"
bash "$booga" delete_api_key --id "$id"
echo ok
