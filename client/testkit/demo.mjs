// Runs the real demo server (target/debug/fluxlive-demo) for integration and
// browser tests: port 0, URLs parsed from its stdout, killed at the end.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import WS from "ws";

export const DEMO_BIN = process.env.FLUXLIVE_DEMO_BIN || fileURLToPath(new URL("../../target/debug/fluxlive-demo", import.meta.url));

const STARTUP_MS = 20000;

// Never leave a server behind, even when a test run is cut short (timeout, Ctrl-C).
const running = new Set();
const reapAll = () => {
  for (const p of running) p.kill("SIGKILL");
};
process.once("exit", reapAll);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    reapAll();
    process.exit(sig === "SIGINT" ? 130 : 143);
  });
}

/**
 * Starts the demo. `addr` defaults to `127.0.0.1:0`; `debug` adds `--debug`;
 * `env` adds environment variables (e.g. `FLUXLIVE_SECRET`).
 * Resolves with `{url, origin, wsUrl, devtools, port, stop()}` once it printed
 * its URL (and, with debug, its DevTools URL).
 */
export function startDemo({ addr = "127.0.0.1:0", debug = false, env = {} } = {}) {
  if (!existsSync(DEMO_BIN)) {
    throw new Error(`${DEMO_BIN} is missing: build it with \`cargo build -p fluxlive-demo\` (or set FLUXLIVE_DEMO_BIN)`);
  }
  const args = ["--addr", addr];
  if (debug) args.push("--debug");
  const proc = spawn(DEMO_BIN, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn", ...env } });
  let out = "";
  let err = "";
  proc.stderr.on("data", (d) => {
    err = (err + d).slice(-8000);
  });
  const exited = new Promise((r) => proc.once("exit", (code, sig) => r({ code, sig })));
  running.add(proc);
  exited.then(() => running.delete(proc));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`demo printed no URL within ${STARTUP_MS} ms\nstdout: ${out}\nstderr: ${err}`)), STARTUP_MS);
    const fail = (e) => {
      clearTimeout(timer);
      proc.kill("SIGKILL");
      reject(e);
    };
    exited.then(({ code, sig }) => fail(new Error(`demo exited early (${code ?? sig})\nstdout: ${out}\nstderr: ${err}`)));
    proc.stdout.on("data", (d) => {
      out += d;
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      const devtools = /devtools: (http:\/\/\S+)/.exec(out)?.[1];
      if (!url || (debug && !devtools)) return;
      clearTimeout(timer);
      const u = new URL(url);
      resolve({
        url,
        origin: u.origin,
        port: +u.port,
        wsUrl: `ws://${u.host}/__live/ws`,
        devtools,
        token: devtools ? new URL(devtools).searchParams.get("token") : null,
        proc,
        stderr: () => err,
        async stop() {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          proc.kill("SIGTERM");
          const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(t);
        },
      });
    });
  });
}

/**
 * A `ws` WebSocket class that sends the page origin, as a browser would; it
 * records every frame it sends in `sent` (a client `batch` as its frames, in
 * order; `sent.batches` counts the batch messages).
 */
export function wsFor(origin, sent = []) {
  sent.batches ??= 0;
  return class extends WS {
    constructor(url) {
      super(url, { origin });
      const send = this.send.bind(this);
      this.send = (s) => {
        const f = JSON.parse(s);
        if (f.t === "batch") {
          sent.batches++;
          sent.push(...f.frames);
        } else sent.push(f);
        send(s);
      };
    }
  };
}

/** A bare protocol client for checks below the client library: `send(frame)`, `next(pred)`. */
export async function rawClient(wsUrl, origin) {
  const ws = new WS(wsUrl, { origin });
  const inbox = [];
  const waiters = [];
  ws.on("message", (d) => {
    const f = JSON.parse(String(d));
    // `batch` frames (sent only after hello.caps ["batch"]) are flattened in order.
    if (f.t === "batch") inbox.push(...f.frames);
    else inbox.push(f);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((res, rej) => {
    ws.once("open", res);
    ws.once("error", rej);
  });
  return {
    inbox,
    send: (f) => ws.send(typeof f === "string" ? f : JSON.stringify(f)),
    /** Resolves with (and removes) the first received frame matching `pred`. */
    async next(pred = () => true, ms = 5000) {
      const end = Date.now() + ms;
      for (;;) {
        const i = inbox.findIndex(pred);
        if (i >= 0) return inbox.splice(i, 1)[0];
        const left = end - Date.now();
        if (left <= 0) throw new Error(`no matching frame within ${ms} ms; got ${JSON.stringify(inbox)}`);
        await new Promise((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
    close: () => ws.close(),
  };
}
