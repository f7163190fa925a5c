// Drives the generated JavaScript SDK against the test server with node.
// Arguments: SDK_FILE_URL BASE_URL API_KEY THROTTLE_TOKEN. Prints "ok" when every check passes.
const { AuthenticationError, BoogaClient, NotFoundError, ValidationError } = await import(process.argv[2]);

function check(cond, message) {
  if (!cond) throw new Error("check failed: " + message);
}

async function main() {
  const [baseUrl, apiKey, token] = process.argv.slice(3);
  const client = new BoogaClient({ baseUrl, apiKey });

  const created = [];
  for (let i = 0; i < 3; i++) {
    created.push(await client.createApiKey({ name: "javascript " + i, scopes: ["api_keys:read"] }));
  }
  const throttled = new BoogaClient({ baseUrl, apiKey, authScheme: "header", headers: { "X-Test-Throttle": token } });
  created.push(await throttled.createApiKey({ name: "javascript retried", scopes: ["api_keys:read"] }));

  const ids = [];
  for await (const key of client.iterateListApiKeys({ limit: 2 })) ids.push(key.id);
  check(new Set(ids).size === ids.length, "pages do not repeat keys");
  for (const k of created) check(ids.includes(k.id), k.id + " missing from the pages");
  const first = await client.listApiKeys({ limit: 2 });
  check(first.has_more && first.next_cursor !== "", "first page has more");

  try {
    await client.createApiKey({ name: "", scopes: [] });
    check(false, "invalid body was accepted");
  } catch (err) {
    check(err instanceof ValidationError, "422 is a ValidationError: " + String(err));
    const v = err;
    check(v.status === 422, "status 422");
    check(v.errors.map((e) => e.field).sort().join(",") === "name,scopes", "fields named");
    check(v.requestId !== "", "request id");
  }
  try {
    await client.getApiKey("key_00000000000000000000000000");
    check(false, "missing key was found");
  } catch (err) {
    check(err instanceof NotFoundError, "404 is a NotFoundError");
  }
  try {
    await new BoogaClient({ baseUrl, apiKey: "wrong" }).listApiKeys();
    check(false, "wrong key was accepted");
  } catch (err) {
    check(err instanceof AuthenticationError, "401 is an AuthenticationError");
  }
  const health = await client.getHealth();
  check(health.status === "ok", "health");
  await client.deleteApiKey(created[0].id);
  console.log("ok");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
