// Type checks for live.d.ts: valid uses compile, each misuse below must be
// an error (`@ts-expect-error` fails the check when the line compiles).
import { connect, LiveError, applyPatch, type Handle, type Status } from "../live.js";

interface CounterState {
  count: number;
  step: number;
  label: string;
}

async function valid(el: HTMLElement): Promise<void> {
  const live = connect({ reconnect: { minMs: 50, maxMs: 1000 } });
  const unbind: () => void = live.on("status", (s: Status) => console.log(s));
  unbind();
  const h: Handle<CounterState> = await live.mount<CounterState>("Counter", { start: 1 }, { id: "hero", el });
  h.on("state", (state) => console.log(state.count + 1, state.label.toUpperCase()));
  h.on("event", (name, data) => console.log(name, data));
  h.on("error", (e) => console.log(e.code, e.detail));
  const n = await h.call<number>("add", 5);
  console.log(n.toFixed(0));
  await h.invoke("add", [5], { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", key: "k" });
  await h.unmount();
  try {
    await h.call("fail");
  } catch (e) {
    if (e instanceof LiveError && e.code === "action_failed") console.log(e.component, e.method);
  }
  const doc = applyPatch({ a: 1 }, [{ op: "replace", path: "/a", value: 2 }]);
  console.log(doc.a, window.__FLUXLIVE__?.debug.url);
  live.close();
}

async function misuse(): Promise<void> {
  const live = connect();
  // @ts-expect-error unknown live event
  live.on("state", () => {});
  // @ts-expect-error the type name is required
  await live.mount();
  const h = await live.mount<CounterState>("Counter");
  // @ts-expect-error state listeners get the typed state
  h.on("state", (s: { count: string }) => s);
  // @ts-expect-error args are JSON values
  await h.call("add", () => 1);
  // @ts-expect-error invoke takes an args array
  await h.invoke("add", 5);
  // @ts-expect-error status is read-only
  live.status = "open";
  // @ts-expect-error unknown error code
  new LiveError("nope");
  // @ts-expect-error unknown patch op
  applyPatch({}, [{ op: "merge", path: "/a", value: 1 }]);
}

export { valid, misuse };

import { createUseLive, type ReactLike } from "../react.js";
declare const React: ReactLike;
const useLive = createUseLive(React);
export function Component(live: ReturnType<typeof connect>): string {
  const { state, call, error } = useLive<CounterState>(live, "Counter", { start: 1 }, { id: "hero" });
  if (error) return error.code;
  void call("increment");
  // @ts-expect-error state may be null before mount
  return String(state.count);
}

// ---- components that talk (live.js and live-extras.js) ----
import { batch, debounced, optimistic, persistQueue, throttled } from "../live-extras.js";

async function talking(): Promise<void> {
  const live = connect({ retry: false, ssr: false });
  const pending: number = live.pending;
  console.log(pending);
  live.on("event", (id, name, data) => console.log(id?.length, name.length, data));
  live.emit("page-note", { x: 1 });
  const h = await live.attach<CounterState>("ssr-counter");
  h.on("count-changed", (data) => console.log(data));
  const out = await batch(live, [{ handle: h, method: "add", args: [1] }, { id: "b", method: "reset" }]);
  for (const o of out) console.log(o.error ? o.error.code : o.ok);
  const n = await optimistic<CounterState, number>(h, "add", [1], (s) => ({ ...s, count: s.count + 1 }));
  console.log(n.toFixed(0));
  await debounced(h, 100)("add", 1);
  await throttled(h, 100)("add", 1);
  const q = persistQueue(live);
  q.save();
  console.log((await q.done).length);
  // @ts-expect-error a guess must return a state
  await optimistic<CounterState>(h, "add", [1], (s) => s.count);
  // @ts-expect-error batch items need a method
  await batch(live, [{ id: "a" }]);
}
console.log(talking);
