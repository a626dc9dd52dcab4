// Takes docs/panel.png: the panel on the running demo after a few clicks,
// timeline tab with an action's diff open. Needs dist/panel/ and the demo
// binary built. Run from the workspace root:
//   node extension-ui/scripts/screenshot.mjs [out.png] [light|dark] [timeline|components|profiler|sessions]
import { launch } from "../../client/testkit/browser.mjs";
import { startDemo } from "../../client/testkit/demo.mjs";

const out = process.argv[2] || "docs/panel.png";
const scheme = process.argv[3] || "light";
const view = process.argv[4] || "timeline";
const demo = await startDemo({ debug: true });
const browser = await launch();
try {
  const app = await browser.page();
  await app.goto(demo.url);
  await app.evaluate(() => window.ready.then(() => true));
  const panel = await browser.page();
  await panel.setViewportSize({ width: 1360, height: 760 });
  await panel.emulateMedia({ colorScheme: scheme });
  // The runtime serves the panel at /__live/devtools/ (relative asset URLs need the slash).
  await panel.goto(demo.devtools.replace("/__live/devtools?", "/__live/devtools/?"));
  await panel.waitForSelector('[data-testid="conn-status"][data-state=connected]');
  for (let i = 0; i < 3; i++) await app.click('[data-live-id="hero"] [data-action=increment]');
  await app.evaluate(() => window.handles.todos.call("add", "Buy milk"));
  await app.evaluate(() => window.handles.todos.call("add", "").catch(() => null));
  await app.evaluate(() => window.handles.hero.call("add", 7));
  await app.waitForFunction(() => document.querySelector('[data-live-id="hero"] [data-role=count]').textContent === "32");
  await panel.click('[data-testid="tab-timeline"]');
  const row = '[data-testid="timeline-row"][data-method=add]';
  await panel.waitForSelector(row);
  await panel.locator(row).last().click();
  await panel.waitForSelector('[data-testid="diff-op"]');
  if (view === "components") {
    await panel.click('[data-testid="tab-components"]');
    await panel.click('[data-testid="tree-instance"][data-id="todos"]');
    await panel.fill('[data-testid="state-search"]', "milk");
  } else if (view === "profiler") {
    await panel.click('[data-testid="tab-profiler"]');
  } else if (view === "sessions") {
    await panel.click('[data-testid="tab-sessions"]');
    await panel.click('[data-testid="export"]');
    await panel.click('[data-testid="replay"]');
    await panel.waitForSelector('[data-testid="replay-report"]:not([data-status=running])');
  }
  await panel.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await demo.stop();
}
