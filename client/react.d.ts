// Type declarations for client/react.js, the React bindings of the fluxlive client.
import type { Handle, Json, Live, LiveError } from "./live.js";

/** What `useLive` returns on every render. */
export interface UseLive<S = any> {
  /** Current state, `null` until the instance is mounted (or when mounting failed). */
  state: S | null;
  /** Version of `state`, `null` until mounted. */
  version: number | null;
  /** The instance handle, `null` until mounted. */
  handle: Handle<S> | null;
  /** Why mounting failed, if it did. */
  error: LiveError | null;
  /** Calls an action; rejects while the instance is not mounted yet. */
  call<R = Json>(method: string, ...args: Json[]): Promise<R>;
}

/** The React APIs the hook needs (pass the `React` namespace). */
export interface ReactLike {
  /** React's `useState`. */
  useState: <T>(init: T) => [T, (v: T | ((p: T) => T)) => void];
  /** React's `useEffect`. */
  useEffect: (fn: () => void | (() => void), deps: unknown[]) => void;
  /** React's `useCallback`. */
  useCallback: <F extends (...a: any[]) => any>(fn: F, deps: unknown[]) => F;
}

/**
 * Mounts an instance while the calling component is mounted and re-renders
 * it on that instance's state changes only. Instances with an `id` are
 * shared by every component asking for that id.
 */
export type UseLiveHook = <S = any>(live: Live, type: string, props?: Json, opts?: { id?: string }) => UseLive<S>;

/** Builds `useLive` for the given React: `const useLive = createUseLive(React)`. */
export function createUseLive(React: ReactLike): UseLiveHook;
