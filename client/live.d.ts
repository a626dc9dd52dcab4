// Type declarations for client/live.js, the fluxlive browser client.
// Wire protocol: docs/protocol.md (app channel, v1).

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One RFC 6902 operation as the server sends it in a `patch` frame. */
export type PatchOp =
  | { op: "add"; path: string; value: Json }
  | { op: "remove"; path: string }
  | { op: "replace"; path: string; value: Json }
  | { op: "move"; from: string; path: string }
  | { op: "copy"; from: string; path: string }
  | { op: "test"; path: string; value: Json };

/** Error codes the server sends (`protocol/src/error.rs`). */
export type ServerErrorCode =
  | "bad_frame"
  | "frame_too_large"
  | "protocol_mismatch"
  | "unknown_component"
  | "unknown_method"
  | "bad_args"
  | "bad_props"
  | "not_mounted"
  | "duplicate_id"
  | "action_failed"
  | "action_panicked"
  | "overloaded"
  | "state_error"
  | "unauthorized"
  | "version_unavailable"
  | "bad_session"
  | "bad_snapshot"
  | "internal";

/** Error codes the client raises itself, without asking the server. */
export type ClientErrorCode =
  /** The socket died while the request was in flight; it may or may not have run (see `retry`). */
  | "connection_lost"
  /** `live.close()` was called, or reconnecting gave up. */
  | "closed"
  /** Too many requests were already waiting for the connection. */
  | "queue_full"
  /** A throttled call was replaced by a later one before it was sent (`throttled` in live-extras.js). */
  | "superseded"
  /** The encoded frame is larger than the server's `max_frame`. */
  | "frame_too_large"
  /** The handle was unmounted. */
  | "not_mounted"
  /** A patch could not be applied (only thrown by `applyPatch`; the connection resyncs instead). */
  | "bad_patch";

/** Every code a `LiveError` may carry. */
export type ErrorCode = ServerErrorCode | ClientErrorCode;

/** The error every rejected promise of this client carries. */
export class LiveError extends Error {
  /** Always `"LiveError"`. */
  readonly name: "LiveError";
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Instance id concerned, when known. */
  readonly id?: string;
  /** Component type concerned, when known. */
  readonly component?: string;
  /** Action concerned, when known. */
  readonly method?: string;
  /** Application payload of the error (e.g. `{field, message}` from a failed validation). */
  readonly detail?: Json;
  /** Builds an error; `fields` takes the shape of an `error` frame. */
  constructor(code: ErrorCode, message?: string, fields?: { id?: string; type?: string; component?: string; method?: string; detail?: Json });
}

/**
 * Connection status: first connect, connected (after `welcome`), lost and retrying, lost and
 * retrying while the browser reports no network (`navigator.onLine === false`), closed for good.
 */
export type Status = "connecting" | "open" | "reconnecting" | "offline" | "closed";

/** Options for `connect`. */
export interface ConnectOptions {
  /** WebSocket URL; defaults to `ws(s)://location.host/__live/ws`. */
  url?: string;
  /** WebSocket constructor to use (e.g. `ws` in node); defaults to the global one. */
  WebSocket?: { new (url: string): WebSocket };
  /** Reconnect backoff window; `false` never reconnects. `maxAttempts` defaults to unlimited. */
  reconnect?: false | { minMs?: number; maxMs?: number; maxAttempts?: number };
  /** How many requests may wait while disconnected (default 256); more reject with `queue_full`. */
  queueMax?: number;
  /** Send render and span reports to the server (default `true`). */
  metrics?: boolean;
  /**
   * Resend calls (and `batch_call`s) caught in flight by a lost connection, with their idempotency
   * keys, instead of rejecting them with `connection_lost` (default `true`): the server applies each
   * key once, so every call takes effect exactly once. Every call carries a key either way.
   */
  retry?: boolean;
  /**
   * Read `<script type="application/json" id="fluxlive-ssr">` (server-side rendering) and resume
   * the session it names, so `attach(id)` returns its instances without mounting (default `true`).
   */
  ssr?: boolean;
}

/** Options for `live.mount`. */
export interface MountOptions {
  /** Instance id, unique within the connection; the server picks one when absent. */
  id?: string;
  /** Element that renders this instance; gets `data-live-id` so DevTools can find it. */
  el?: Element;
}

/** Options for `handle.invoke`. */
export interface InvokeOptions {
  /** W3C traceparent for the call; a random one is made when absent. */
  traceparent?: string;
  /** Idempotency key: the server applies a call with the same key once (default: `<session prefix>-<counter>`). */
  key?: string;
}

/** A function that removes the listener it came from. */
export type Unbind = () => void;

/** A mounted component instance whose state mirrors the server's. */
export interface Handle<S = any> {
  /** Instance id (unique within the connection). */
  readonly id: string;
  /** Component type name. */
  readonly type: string;
  /** Props it was mounted with (sent again if the server has to remount it). */
  readonly props: Json;
  /**
   * Current state as shown: the server's state with pending optimistic guesses applied on top
   * (see `optimistic` in live-extras.js); replaced by a new object on every change.
   */
  readonly state: S;
  /** Server version of `state`; only ever moves forward. */
  readonly version: number;
  /** False once unmounted. */
  readonly mounted: boolean;
  /** True for an instance of a shared component type: other connections see and change it too. */
  readonly shared: boolean;
  /** Called after each state change of this instance only, with the new state. */
  on(ev: "state", fn: (state: S, handle: Handle<S>) => void): Unbind;
  /** Called for each event the instance's actions emit. */
  on(ev: "event", fn: (name: string, data: Json) => void): Unbind;
  /** Called for server errors about this instance that answer no request of this page. */
  on(ev: "error", fn: (err: LiveError) => void): Unbind;
  /** Called when the server unmounted the instance on its own. */
  on(ev: "unmounted", fn: (handle: Handle<S>) => void): Unbind;
  /** Called for each event of this name the instance's actions emit (names `state`, `event`, `error`, `unmounted` only reach `"event"`). */
  on(ev: string, fn: (data: Json) => void): Unbind;
  /** Calls an action with positional arguments; resolves with its return value. */
  call<R = Json>(method: string, ...args: Json[]): Promise<R>;
  /** Calls an action, with a traceparent or an idempotency key. */
  invoke<R = Json>(method: string, args?: Json[], opts?: InvokeOptions): Promise<R>;
  /** Gives the instance new props (its `on_props_changed` runs); resolves like a call, then `props` holds them. */
  setProps(props: Json): Promise<Json>;
  /** Frees the instance on the server. */
  unmount(): Promise<void>;
}

/** One connection to a fluxlive runtime. */
export interface Live {
  /** Current connection status. */
  readonly status: Status;
  /** Session id from the last `welcome`, or null before the first one. */
  readonly session: string | null;
  /** Largest frame the server accepts, in bytes (Infinity until `welcome`). */
  readonly maxFrame: number;
  /** Render/span reports dropped because the connection was down too long to send them. */
  readonly droppedReports: number;
  /** Requests not answered yet: waiting for the connection plus in flight. */
  readonly pending: number;
  /** Called on every status change. */
  on(ev: "status", fn: (status: Status) => void): Unbind;
  /** Called for server errors that belong to no request and no known instance. */
  on(ev: "error", fn: (err: LiveError) => void): Unbind;
  /**
   * The page bus: every event of every instance of this connection (`id` set) and every
   * `live.emit` (`id` null), in arrival order.
   */
  on(ev: "event", fn: (id: string | null, name: string, data: Json) => void): Unbind;
  /** Emits a page-local event to `live.on("event")` listeners (nothing goes to the server). */
  emit(name: string, data?: Json): void;
  /**
   * The handle of a server-rendered instance (see `ConnectOptions.ssr`), once the session is
   * resumed (or its instances rebuilt from their signed states); rejects with `not_mounted` for an
   * id the page does not hold.
   */
  attach<S = any>(id: string): Promise<Handle<S>>;
  /**
   * Mounts an instance; resolves with its handle once the server answers. For a shared component
   * type the id is the shared key, and `handle.shared` is true.
   */
  mount<S = any>(type: string, props?: Json, opts?: MountOptions): Promise<Handle<S>>;
  /** Closes the connection for good; waiting requests reject with `closed`. */
  close(): void;
  /** Test hook: drops the socket as a network failure would; the client reconnects. */
  _dropSocket(): void;
}

/** Opens a connection (the socket opens at once; requests wait for it). */
export function connect(opts?: ConnectOptions): Live;

/** Client version, as announced to DevTools. */
export const VERSION: string;
/** App protocol version this client speaks. */
export const PROTOCOL: 1;

/** Applies RFC 6902 ops without mutating `doc`; throws `LiveError("bad_patch")` when one fails. */
export function applyPatch<T = Json>(doc: T, ops: PatchOp[]): T;
/** Splits a JSON Pointer into unescaped tokens (`~1` → `/`, `~0` → `~`). */
export function parsePointer(pointer: string): string[];
/** Deep equality of two JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean;
/** Reconnect delay in ms for a 0-based attempt: exponential with jitter, within `[minMs, maxMs]`. */
export function backoffDelay(attempt: number, window?: { minMs?: number; maxMs?: number }, rand?: () => number): number;
/** A fresh random W3C traceparent (`00-<trace>-<span>-01`). */
export function traceparent(): string;

/** What the page announces to DevTools in `window.__FLUXLIVE__` and the `announce` message. */
export interface Announce {
  /** Client version. */
  version: string;
  /** App protocol version. */
  protocol: number;
  /** Absolute WebSocket URL of the debug channel and its token (null outside dev mode). */
  debug: { url: string; token: string | null };
}

declare global {
  interface Window {
    /** Set by the client when the server announces a debug channel. */
    __FLUXLIVE__?: Announce;
  }
}
