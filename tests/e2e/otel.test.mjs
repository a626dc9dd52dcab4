// OpenTelemetry end to end: a click in the demo page (headless Chromium)
// produces one trace in an OTLP/HTTP receiver, rooted at the browser's
// client span, with the server action span under it and the render under that.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { launch } from "../../client/testkit/browser.mjs";
import { startDemo } from "../../client/testkit/demo.mjs";
import { waitFor } from "../../client/testkit/fake.mjs";

let receiver;
let receiverUrl;
const requests = [];
let demo;
let browser;

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try {
        requests.push({ path: req.url, type: req.headers["content-type"], body: JSON.parse(body) });
      } catch (e) {
        requests.push({ path: req.url, error: String(e) });
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  receiverUrl = `http://127.0.0.1:${receiver.address().port}`;
  demo = await startDemo({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "fluxlive-demo-e2e",
    },
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
  await new Promise((r) => receiver?.close(r));
});

/** Every span delivered so far, with its resource's service name. */
function spans() {
  const out = [];
  for (const r of requests) {
    if (r.path !== "/v1/traces" || !r.body) continue;
    for (const rs of r.body.resourceSpans ?? []) {
      const service = (rs.resource?.attributes ?? []).find((a) => a.key === "service.name")?.value?.stringValue;
      for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) out.push({ ...s, service });
    }
  }
  return out;
}

test("a click becomes client span → action span → render span in the collector", async () => {
  const page = await browser.page();
  await page.goto(demo.url);
  await page.evaluate(() => window.ready.then(() => true));
  await page.click('[data-live-id="hero"] [data-action=increment]');
  await page.waitForFunction(() => document.querySelector('[data-live-id="hero"] [data-role=count]')?.textContent === "15");

  let trace;
  await waitFor(
    () => {
      const all = spans();
      const client = all.find((s) => s.name === "call Counter.increment");
      if (!client) return false;
      const same = all.filter((s) => s.traceId === client.traceId);
      const action = same.find((s) => s.name === "Counter.increment");
      const render = same.find((s) => s.name === "render Counter");
      if (!action || !render) return false;
      trace = { client, action, render };
      return true;
    },
    "the click's three spans at the receiver",
    20000,
  );
  const { client, action, render } = trace;
  assert.match(client.traceId, /^[0-9a-f]{32}$/, "OTLP/JSON ids are hex");
  assert.ok(!client.parentSpanId, "the browser's client span is the root");
  assert.equal(action.parentSpanId, client.spanId, "the server action span is the client span's child");
  assert.equal(render.parentSpanId, action.spanId, "the render span is the action span's child");
  assert.equal(client.service, "fluxlive-demo-e2e");
  const attr = (s, k) => s.attributes.find((a) => a.key === k)?.value;
  assert.equal(attr(action, "fluxlive.component.type").stringValue, "Counter");
  assert.equal(attr(action, "fluxlive.component.id").stringValue, "hero");
  assert.equal(attr(action, "fluxlive.action").stringValue, "increment");
  // Real browser timings: the render starts after the action.
  assert.ok(BigInt(render.startTimeUnixNano) >= BigInt(action.startTimeUnixNano));
  assert.ok(requests.every((r) => !r.error), "every request body was valid JSON");
  await page.close();
});
