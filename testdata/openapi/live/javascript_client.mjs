// Drives the generated JavaScript SDK against the running handler with node.
// Arguments: SDK_FILE_URL BASE_URL ADMIN_KEY LIMITED_KEY THROTTLE_TOKEN, where
// LIMITED_KEY has used up its per-minute limit. Prints "ok" when every check passes.
const { AuthenticationError, BadRequestError, BoogaClient, NotFoundError, PermissionDeniedError, ValidationError } =
  await import(process.argv[2]);

function check(cond, message) {
  if (!cond) throw new Error("check failed: " + message);
}

async function rejects(promise, type, status, message) {
  try {
    await promise;
  } catch (err) {
    check(err instanceof type, message + ": got " + String(err));
    check(err.status === status, message + ": status " + err.status);
    return err;
  }
  throw new Error("check failed: " + message + ": the request succeeded");
}

async function main() {
  const [baseUrl, adminKey, limitedKey, token] = process.argv.slice(3);
  const client = new BoogaClient({ baseUrl, apiKey: adminKey });

  const created = [];
  for (let i = 0; i < 3; i++) {
    const k = await client.createApiKey({ name: "javascript " + i, scopes: ["api_keys:read"] });
    check(k.api_key.startsWith("bk_"), "create returns the plaintext key once");
    created.push(k);
  }
  // The limited key gets a 429; the client waits Retry-After and retries.
  const throttled = new BoogaClient({ baseUrl, apiKey: limitedKey, authScheme: "header", headers: { "X-Test-Throttle": token } });
  created.push(await throttled.createApiKey({ name: "javascript retried", scopes: ["api_keys:read"] }));

  const ids = [];
  for await (const key of client.iterateListApiKeys({ limit: 2 })) ids.push(key.id);
  check(new Set(ids).size === ids.length, "pages do not repeat keys");
  for (const k of created) check(ids.includes(k.id), k.id + " missing from the pages");
  const first = await client.listApiKeys({ limit: 2 });
  check(first.data.length === 2 && first.has_more && first.next_cursor !== "", "first page has more");

  const bad = await rejects(client.createApiKey({ name: "x", scopes: ["files:read"], colour: "red" }), BadRequestError, 400, "unknown field");
  check(bad.errors.map((e) => e.field).join(",") === "colour", "400 names the field");
  const invalid = await rejects(client.createApiKey({ name: "", scopes: ["files:fly"] }), ValidationError, 422, "invalid fields");
  const fields = invalid.errors.map((e) => e.field);
  check(fields.includes("name") && fields.includes("scopes[0]"), "422 names the fields: " + fields);
  check(invalid.requestId !== "", "problem carries the request id");
  await rejects(client.getApiKey("key_01m91aj79d3xnnj8x3cxvch8x3"), NotFoundError, 404, "missing key");
  await rejects(new BoogaClient({ baseUrl, apiKey: created[0].api_key }).createApiKey({ name: "x", scopes: ["api_keys:read"] }),
    PermissionDeniedError, 403, "read-only key creates a key");
  await rejects(new BoogaClient({ baseUrl, apiKey: "bk_not_a_real_key" }).listApiKeys(), AuthenticationError, 401, "wrong key");

  const health = await client.getHealth();
  check(health.status === "ok", "health");
  await client.revokeApiKey(created[0].id);
  check((await client.getApiKey(created[0].id)).status === "revoked", "revoked");
  console.log("ok");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
