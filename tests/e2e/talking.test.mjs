// "Components that talk" in a real browser against the real demo: the shared
// chat across two browsers, exactly-once calls across 20 socket kills, a
// server restart (signed rehydration, and a tampered snapshot refused), the
// server-rendered page attaching without a remount, and the offline queue
// surviving a reload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "../../client/testkit/browser.mjs";
import { startDemo } from "../../client/testkit/demo.mjs";

const SECRET = { FLUXLIVE_SECRET: "talking-e2e-secret-0123456789abcdef0123" };
let demo;
const browsers = [];

before(async () => {
  demo = await startDemo({ env: SECRET });
});

after(async () => {
  for (const b of browsers) await b.close();
  await demo?.stop();
});

async function newPage() {
  const b = await launch();
  browsers.push(b);
  const page = await b.page();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.errors = errors;
  return page;
}

const opts = { timeout: 10000 };

test("two browsers in one chat room see each other's messages; a refused message shows its error", async () => {
  const room = `room-${Date.now()}`;
  const [a, b] = [await newPage(), await newPage()];
  for (const p of [a, b]) {
    await p.goto(`${demo.url}chat?room=${room}`);
    await p.waitForSelector("body[data-ready=true]", opts);
  }
  assert.equal(await a.evaluate(() => window.handles.chat.shared), true);
  const messages = (p) => p.$$eval("[data-role=messages] li", (lis) => lis.map((li) => li.textContent));
  const post = async (p, author, text) => {
    await p.fill("input[name=author]", author);
    await p.fill("input[name=text]", text);
    await p.click("form [type=submit]");
  };
  await post(a, "ann", "hello from A");
  await b.waitForFunction(() => document.querySelectorAll("[data-role=messages] li").length === 1, null, opts);
  await post(b, "bob", "hi A, B here");
  await a.waitForFunction(() => document.querySelectorAll("[data-role=messages] li").length === 2, null, opts);
  assert.deepEqual(await messages(a), ["ann: hello from A", "bob: hi A, B here"]);
  assert.deepEqual(await messages(b), await messages(a));
  // Validation happens on the server; the error comes back with its field.
  const e = await a.evaluate(() => window.handles.chat.call("post", "ann", "   ").catch((e) => [e.code, e.detail?.field]));
  assert.deepEqual(e, ["action_failed", "text"]);
  assert.deepEqual(a.errors.concat(b.errors), []);
});

test("20 socket kills while calling add(1): every call applies once, in order, as in the no-fault run", async () => {
  const page = await newPage();
  await page.goto(demo.url);
  await page.evaluate(() => window.ready);
  const run = (faults) =>
    page.evaluate(async (faults) => {
      const live = window.live;
      const h = await live.mount("Counter", {}, { id: `eo-${faults}` });
      const results = [];
      for (let i = 0; i < 20; i++) {
        const ps = [1, 2, 3, 4, 5].map(() => h.call("add", 1).then((r) => results.push(r)));
        if (faults) {
          // Alternate: drop before the frames leave, and after (in flight or answered).
          if (i % 2) await new Promise((r) => setTimeout(r, 0));
          live._dropSocket();
        }
        await Promise.all(ps);
      }
      const state = h.state;
      await h.unmount();
      return { results, state };
    }, faults);
  const clean = await run(false);
  const faulty = await run(true);
  const expected = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.deepEqual(clean.results, expected);
  assert.deepEqual(faulty.results, expected, "every call applied exactly once, in order");
  assert.deepEqual(faulty.state, clean.state);
  assert.equal(await page.evaluate(() => window.live.status), "open");
});

test("server restart with the same secret: state survives; a tampered snapshot is refused and the handle starts fresh", async () => {
  const page = await newPage();
  await page.goto(demo.url);
  await page.evaluate(() => window.ready);
  await page.evaluate(async () => {
    window.errs = [];
    for (const h of Object.values(window.handles)) h.on("error", (e) => window.errs.push([h.id, e.code]));
    await window.handles.hero.call("add", 7);
    await window.handles.todos.call("add", "keep me");
  });
  const before = await page.evaluate(() => Object.fromEntries(Object.entries(window.handles).map(([id, h]) => [id, h.state])));
  const port = demo.port;
  await demo.stop();
  await page.waitForFunction(() => window.live.status !== "open", null, opts);
  // Tamper with the hero's copy while the server is down: its signature no longer matches.
  await page.evaluate(() => {
    const h = window.handles.hero;
    h._srv = { ...h._srv, count: 9999 };
  });
  demo = await startDemo({ addr: `127.0.0.1:${port}`, env: SECRET });
  await page.waitForFunction(() => window.live.status === "open", null, { timeout: 15000 });
  // The next call works on the rebuilt instances.
  assert.equal(await page.evaluate(() => window.handles.todos.call("add", "after restart")), 2);
  const after = await page.evaluate(() => Object.fromEntries(Object.entries(window.handles).map(([id, h]) => [id, h.state])));
  for (const id of Object.keys(before)) if (id !== "hero" && id !== "todos") assert.deepEqual(after[id], before[id], `${id} kept its state`);
  assert.deepEqual(after.todos.items.map((i) => i.text), ["keep me", "after restart"]);
  assert.equal(after.hero.count, 10, "the tampered hero was mounted fresh from its props");
  assert.deepEqual(await page.evaluate(() => window.errs), [["hero", "bad_snapshot"]]);
  await page.click('[data-live-id="hero"] [data-action=increment]');
  await page.waitForFunction(() => document.querySelector('[data-live-id="hero"] [data-role=count]').textContent === "15", null, opts);
});

test("SSR: the first HTML has the state; the client attaches with no mount and a click updates it", async () => {
  const html = await (await fetch(`${demo.url}ssr`)).text();
  assert.match(html, /data-live-id="ssr-counter"/);
  assert.match(html, /data-role="count">3</);
  assert.match(html, /<script type="application\/json" id="fluxlive-ssr">/);
  const page = await newPage();
  // Record every frame the page sends (batches flattened).
  await page.addInitScript(() => {
    window.__sent = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (d) {
      const f = JSON.parse(d);
      window.__sent.push(...(f.t === "batch" ? f.frames : [f]));
      return send.call(this, d);
    };
  });
  await page.goto(`${demo.url}ssr`);
  await page.waitForSelector('[data-live-id="ssr-counter"][data-attached=true]', opts);
  // Mark the server-rendered node: it must still be the one shown afterwards.
  await page.evaluate(() => (document.querySelector('[data-role="count"]').__ssr = true));
  await page.click('[data-live-id="ssr-counter"] [data-action=increment]');
  await page.waitForFunction(() => document.querySelector('[data-live-id="ssr-counter"] [data-role=count]').textContent === "5", null, opts);
  const sent = await page.evaluate(() => window.__sent.map((f) => f.t));
  assert.equal(sent[0], "hello");
  assert.ok(await page.evaluate(() => !!window.__sent[0].resume), "hello resumes the page's session");
  assert.ok(!sent.includes("mount"), `no mount frame: ${sent}`);
  assert.ok(sent.includes("call"));
  assert.equal(await page.evaluate(() => document.querySelector('[data-role="count"]').__ssr), true, "same element, not re-rendered");
  assert.deepEqual(page.errors, []);
});

test("offline queue: messages posted offline survive a reload and are posted once", async () => {
  const room = `reload-${Date.now()}`;
  const page = await newPage();
  await page.goto(`${demo.url}chat?room=${room}`);
  await page.waitForSelector("body[data-ready=true]", opts);
  // Cut the page off: every reconnect attempt fails, as with no network.
  await page.evaluate(() => {
    const live = window.live;
    live._WS = class {
      constructor() {
        throw new Error("offline (test)");
      }
    };
    live._dropSocket();
    for (const t of ["one", "two", "three"]) window.handles.chat.call("post", "me", t).catch(() => {});
  });
  assert.equal(await page.evaluate(() => window.live.pending), 3);
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", opts);
  const out = await page.evaluate(() => window.replayed);
  assert.deepEqual(out, [{ ok: 1 }, { ok: 2 }, { ok: 3 }]);
  await page.waitForFunction(() => document.querySelectorAll("[data-role=messages] li").length === 3, null, opts);
  assert.deepEqual(await page.$$eval("[data-role=messages] li", (lis) => lis.map((li) => li.textContent)), ["me: one", "me: two", "me: three"]);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "nothing left stored");
});
