// Type declarations for client/live-extras.js: optional client features.
import type { Handle, InvokeOptions, Json, Live, LiveError } from "./live.js";

/** One call of `batch`: a handle (or an instance id), an action and its arguments. */
export interface BatchItem {
  /** The instance to call; or give `id`. */
  handle?: Handle;
  /** Instance id, when no handle is given. */
  id?: string;
  /** Action name. */
  method: string;
  /** Positional arguments. */
  args?: Json[];
  /** Idempotency key; one is made when absent. */
  key?: string;
}

/** The outcome of one call of a batch (or of a replayed call). */
export type Outcome<R = Json> = { ok: R; error?: undefined } | { error: LiveError; ok?: undefined };

/** Sends the calls as one `batch_call` (run in order on the server); resolves once with one outcome per call. */
export function batch(live: Live, items: BatchItem[]): Promise<Outcome[]>;

/**
 * Calls `method` and shows `guess(state)` at once; the call's own patch replaces the guess, other
 * patches are rebased under it, and an error rolls it back (firing `state` again).
 */
export function optimistic<S, R = Json>(handle: Handle<S>, method: string, args: Json[], guess: (state: S) => S, opts?: InvokeOptions): Promise<R>;

/** A function like `handle.call` that sends only the last call of each burst (`ms` of quiet); every caller of the burst gets its outcome. */
export function debounced<R = Json>(handle: Handle, ms: number): (method: string, ...args: Json[]) => Promise<R>;

/** A function like `handle.call` that sends at most one call per `ms`; calls replaced by a later one reject with `superseded`. */
export function throttled<R = Json>(handle: Handle, ms: number): (method: string, ...args: Json[]) => Promise<R>;

/** What `persistQueue` returns. */
export interface PersistedQueue {
  /** Writes the unanswered calls now (done automatically on `pagehide`). */
  save(): void;
  /** Outcomes of the calls a previous page left, replayed in order. */
  done: Promise<Outcome[]>;
}

/**
 * Keeps unanswered calls in `storage` (default `sessionStorage`, key `fluxlive:<path>`) when the
 * page goes away and replays the ones a previous page left, with their keys. Call it after mounting
 * the instances they target.
 */
export function persistQueue(live: Live, storage?: Pick<Storage, "getItem" | "setItem" | "removeItem">, name?: string): PersistedQueue;
