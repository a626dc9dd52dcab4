// Draws docs/extension.png: Chromium DevTools (docked at the bottom) showing
// the fluxlive panel on the demo, with the hero counter selected. Headless
// Chromium renders the page and the DevTools front end as separate surfaces,
// so the two screenshots are composed on a canvas.
//
// Run from the repo root after `cargo xtask dist` and
// `cargo build -p fluxlive-demo`:  node manifest/tools/devtools-screenshot.mjs
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { spawn } from 'node:child_process';
import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
async function connectCdp(wsUrl) {
  const ws = new WebSocket(wsUrl);
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  let id = 0; const pending = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data);
    if (msg.id && pending.has(msg.id)) { const { res, rej } = pending.get(msg.id); pending.delete(msg.id); msg.error ? rej(new Error(JSON.stringify(msg.error))) : res(msg.result); }
  });
  return {
    send(method, params = {}, sessionId) { const mid = ++id; ws.send(JSON.stringify({ id: mid, method, params, sessionId })); return new Promise((res, rej) => pending.set(mid, { res, rej })); },
    close() { ws.close(); },
  };
}

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const EXT = path.join(ROOT, 'dist/chrome');
const demo = spawn(path.join(ROOT, 'target/debug/fluxlive-demo'), ['--addr', '127.0.0.1:0', '--debug'], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = ''; demo.stdout.on('data', d => out += d);
for (let i = 0; i < 200 && !/listening on (http:\/\/\S+)/.test(out); i++) await new Promise(r => setTimeout(r, 50));
const url = out.match(/listening on (http:\/\/\S+)/)[1];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shot-'));
const ctx = await chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: false, viewport: null,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--disable-extensions-except=${EXT}`, `--load-extension=${EXT}`, '--auto-open-devtools-for-tabs', '--remote-debugging-port=0', '--window-size=1400,1000'] });
const page = ctx.pages()[0];
await page.goto(url);
const port = fs.readFileSync(path.join(dir, 'DevToolsActivePort'), 'utf8').split('\n')[0];
const ver = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
const cdp = await connectCdp(ver.webSocketDebuggerUrl);
const targets = async () => (await cdp.send('Target.getTargets')).targetInfos;
let dt; for (let i = 0; i < 100 && !dt; i++) { dt = (await targets()).find(t => t.url.startsWith('devtools://')); if (!dt) await new Promise(r => setTimeout(r, 100)); }
const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: dt.targetId, flatten: true });
let panel;
for (let i = 0; i < 40 && !panel; i++) {
  for (const type of ['rawKeyDown', 'keyUp']) await cdp.send('Input.dispatchKeyEvent', { type, modifiers: 2, key: ']', code: 'BracketRight', windowsVirtualKeyCode: 221, nativeVirtualKeyCode: 221 }, sessionId);
  await new Promise(r => setTimeout(r, 300));
  panel = (await targets()).find(t => t.url.includes('/panel.html'));
}
const dock = await cdp.send('Runtime.evaluate', { expression: "(async () => { const m = await import('./ui/legacy/legacy.js'); m.DockController.DockController.instance().setDockSide('bottom'); return 'ok'; })()", awaitPromise: true, returnByValue: true }, sessionId).catch(e => ({ err: e.message }));
if (dock.err) console.warn('could not dock DevTools at the bottom:', dock.err);
await new Promise(r => setTimeout(r, 800));
// click the counters a few times to get records
for (let i = 0; i < 3; i++) await page.click('[data-live-id="hero"] [data-action=increment]').catch(e => console.log('click', e.message));
await page.click('[data-live-id="todos"] input').catch(() => {});
await new Promise(r => setTimeout(r, 1500));
const ps = (await cdp.send('Target.attachToTarget', { targetId: panel.targetId, flatten: true })).sessionId;
await cdp.send('Runtime.evaluate', { expression: `document.querySelector('[data-testid="tree-instance"][data-id="hero"]')?.click()`, returnByValue: true }, ps);
await new Promise(r => setTimeout(r, 1000));
const shot = await cdp.send('Page.captureScreenshot', { format: 'png' }, sessionId);
const pageShot = (await page.screenshot()).toString('base64');
const [w, h] = await page.evaluate(() => [innerWidth, innerHeight]);
const canvasPage = await ctx.newPage();
await canvasPage.setContent('<canvas id=c width=1400 height=913></canvas>');
const png = await canvasPage.evaluate(async ([a, b, w, h]) => {
  const load = (d) => new Promise((r) => { const i = new Image(); i.onload = () => r(i); i.src = 'data:image/png;base64,' + d; });
  const [dt, pg] = await Promise.all([load(a), load(b)]);
  const c = document.getElementById('c'); const g = c.getContext('2d');
  g.drawImage(dt, 0, 0); g.drawImage(pg, 0, 0, w, h);
  return c.toDataURL('image/png').split(',')[1];
}, [shot.data, pageShot, w, h]);
fs.writeFileSync(path.join(ROOT, 'docs/extension.png'), Buffer.from(png, 'base64'));
console.log('wrote docs/extension.png');
fs.rmSync(dir, { recursive: true, force: true });
await ctx.close(); demo.kill();
