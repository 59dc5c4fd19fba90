// A webhook receiver for silo's tests, with the reference libraries as a
// real receiver would use them: every delivery is verified with
// standardwebhooks (signature and timestamp) and parsed with cloudevents
// (HTTP.toEvent, then validate). Deliveries go to POST /hook/NAME; the
// test sets each NAME's secret and answer, and reads what arrived, through
// /_control and /_events on the same loopback port. The first line on
// stdout is "listening PORT".
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { HTTP } from "cloudevents";

const hooks = new Map(); // name -> { secret, status, delayMs }
const received = [];     // every attempt, in arrival order

function hook(name) {
  if (!hooks.has(name)) hooks.set(name, { secret: "", status: 200, delayMs: 0 });
  return hooks.get(name);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, "http://x");
    const body = await readBody(req);
    if (url.pathname === "/_control" && req.method === "POST") {
      const c = JSON.parse(body);
      const h = hook(c.name);
      if (c.secret !== undefined) h.secret = c.secret;
      if (c.status !== undefined) h.status = c.status;
      if (c.delay_ms !== undefined) h.delayMs = c.delay_ms;
      return send(res, 200, {});
    }
    if (url.pathname === "/_events" && req.method === "GET") {
      return send(res, 200, { received });
    }
    if (url.pathname.startsWith("/hook/") && req.method === "POST") {
      const name = url.pathname.slice("/hook/".length);
      const h = hook(name);
      const rec = { hook: name, webhook_id: req.headers["webhook-id"], at: Date.now() };
      try {
        new Webhook(h.secret).verify(body, req.headers); // throws on a bad signature or an old timestamp
        rec.verified = true;
      } catch (e) {
        rec.verified = false;
        rec.error = "verify: " + e.message;
      }
      try {
        const ev = HTTP.toEvent({ headers: req.headers, body });
        ev.validate();
        rec.id = ev.id;
        rec.type = ev.type;
        rec.source = ev.source;
        rec.subject = ev.subject;
        rec.time = ev.time;
        rec.specversion = ev.specversion;
        rec.data = ev.data;
        rec.content_type = req.headers["content-type"];
      } catch (e) {
        rec.parsed = false;
        rec.error = (rec.error ? rec.error + "; " : "") + "cloudevents: " + e.message;
      }
      if (h.delayMs > 0) await new Promise((r) => setTimeout(r, h.delayMs));
      const status = rec.error ? 400 : h.status;
      rec.status = status;
      received.push(rec);
      return send(res, status, {});
    }
    send(res, 404, { message: "not found" });
  } catch (e) {
    send(res, 500, { message: String(e) });
  }
});

server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
