"""Drives the generated Python SDK against the running handler.

Usage: python3 -I python_client.py SDK_DIR BASE_URL ADMIN_KEY LIMITED_KEY THROTTLE_TOKEN
LIMITED_KEY has used up its per-minute limit, so its first request is a 429.
Prints "ok" and exits 0 when every check passes.
"""
import sys

sys.path.insert(0, sys.argv[1])
import booga_client  # noqa: E402

base_url, admin_key, limited_key, token = sys.argv[2:6]
client = booga_client.Client(base_url, admin_key)

created = [client.create_api_key({"name": f"python {i}", "scopes": ["api_keys:read"]}) for i in range(3)]
for k in created:
    assert k["api_key"].startswith("bk_"), "create returns the plaintext key once"
    assert k["status"] == "active", k

# The limited key gets a 429; the client waits Retry-After and retries
# with the same Idempotency-Key.
throttled = booga_client.Client(base_url, limited_key, auth_scheme="header", headers={"X-Test-Throttle": token})
retried = throttled.create_api_key({"name": "python retried", "scopes": ["api_keys:read"]})
assert retried["id"].startswith("key_"), retried

ids = [k["id"] for k in client.iter_list_api_keys(limit=2)]
assert len(ids) == len(set(ids)), "pages do not repeat keys"
for k in created + [retried]:
    assert k["id"] in ids, f"{k['id']} missing from the pages"
first = client.list_api_keys(limit=2)
assert len(first["data"]) == 2, first
assert first["has_more"] is True, "first page has more"
assert first["next_cursor"], "first page has a next_cursor"

try:
    client.create_api_key({"name": "x", "scopes": ["files:read"], "colour": "red"})
    raise AssertionError("unknown field was accepted")
except booga_client.BadRequestError as err:
    assert err.status == 400, err.status
    assert [e["field"] for e in err.errors] == ["colour"], err.errors

try:
    client.create_api_key({"name": "", "scopes": ["files:fly"]})
    raise AssertionError("invalid body was accepted")
except booga_client.ValidationError as err:
    assert err.status == 422, err.status
    assert {"name", "scopes[0]"} <= {e["field"] for e in err.errors}, err.errors
    assert err.request_id, "problem carries the request id"

try:
    client.get_api_key("key_01m91aj79d3xnnj8x3cxvch8x3")
    raise AssertionError("missing key was found")
except booga_client.NotFoundError as err:
    assert err.status == 404

try:
    booga_client.Client(base_url, created[0]["api_key"]).create_api_key({"name": "x", "scopes": ["api_keys:read"]})
    raise AssertionError("a read-only key created a key")
except booga_client.PermissionDeniedError as err:
    assert err.status == 403

try:
    booga_client.Client(base_url, "bk_not_a_real_key").list_api_keys()
    raise AssertionError("wrong key was accepted")
except booga_client.AuthenticationError as err:
    assert err.status == 401

assert client.get_health()["status"] == "ok"
client.revoke_api_key(created[0]["id"])
assert client.get_api_key(created[0]["id"])["status"] == "revoked"
print("ok")
