"""Drives the generated Python SDK against the test server.

Usage: python3 python_client.py SDK_DIR BASE_URL API_KEY THROTTLE_TOKEN
Prints "ok" and exits 0 when every check passes.
"""
import sys

sys.path.insert(0, sys.argv[1])
import booga_client  # noqa: E402

base_url, api_key, token = sys.argv[2], sys.argv[3], sys.argv[4]
client = booga_client.Client(base_url, api_key)

created = [client.create_api_key({"name": f"python {i}", "scopes": ["api_keys:read"]}) for i in range(3)]
assert all(k["secret"] for k in created), "create returns the secret"

throttled = booga_client.Client(base_url, api_key, auth_scheme="header", headers={"X-Test-Throttle": token})
retried = throttled.create_api_key({"name": "python retried", "scopes": ["api_keys:read"]})
assert retried["id"].startswith("key_"), retried

ids = [k["id"] for k in client.iter_list_api_keys(limit=2)]
assert len(ids) == len(set(ids)), "pages do not repeat keys"
for k in created + [retried]:
    assert k["id"] in ids, f"{k['id']} missing from the pages"
first = client.list_api_keys(limit=2)
assert first["has_more"] is True and first["next_cursor"], first

try:
    client.create_api_key({"name": "", "scopes": []})
    raise AssertionError("invalid body was accepted")
except booga_client.ValidationError as err:
    assert err.status == 422, err.status
    assert {e["field"] for e in err.errors} == {"name", "scopes"}, err.errors
    assert err.request_id, "problem carries the request id"

try:
    client.get_api_key("key_00000000000000000000000000")
    raise AssertionError("missing key was found")
except booga_client.NotFoundError as err:
    assert err.status == 404

try:
    booga_client.Client(base_url, "wrong").list_api_keys()
    raise AssertionError("wrong key was accepted")
except booga_client.AuthenticationError as err:
    assert err.status == 401

assert client.get_health()["status"] == "ok"
client.delete_api_key(created[0]["id"])
print("ok")
