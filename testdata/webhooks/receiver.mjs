// A webhook receiver for tests. It listens on 127.0.0.1 on a free port and
// prints {"port": N} first. POST /secrets sets the secrets to verify with
// (a JSON array); every other POST is verified with each secret by the
// standardwebhooks package and printed as one JSON line:
// {"id": webhook-id, "type": event type, "verified": [true|false per secret]}.
// It answers 204 when any secret verifies and 400 otherwise.
import http from "node:http";
import { createRequire } from "node:module";

const require = createRequire(process.env.STANDARDWEBHOOKS_DIR + "/");
const { Webhook } = require("standardwebhooks");

let secrets = [];

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    if (req.url === "/secrets") {
      secrets = JSON.parse(body);
      res.writeHead(204).end();
      return;
    }
    const verified = secrets.map((s) => {
      try {
        new Webhook(s).verify(body, req.headers);
        return true;
      } catch {
        return false;
      }
    });
    let type = "";
    try {
      type = JSON.parse(body).type;
    } catch {}
    process.stdout.write(JSON.stringify({ id: req.headers["webhook-id"], type, verified }) + "\n");
    res.writeHead(verified.some(Boolean) ? 204 : 400).end();
  });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
