import { useCallback, useEffect, useState } from "react";

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload(): void;
}

/** Runs `load` when `deps` change (and on reload); the latest answer wins. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const run = useCallback(load, deps);
  useEffect(() => {
    const abort = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    run(abort.signal).then(
      (data) => !abort.signal.aborted && setState({ data, loading: false }),
      (error: unknown) =>
        !abort.signal.aborted &&
        setState({ error: error instanceof Error ? error : new Error(String(error)), loading: false }),
    );
    return () => abort.abort();
  }, [run, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) } as Loaded<T>;
}

/** The server's times, in milliseconds: ISO 8601 (UTC when they carry no offset), or
 * Unix nanoseconds (the recommendation engine's evidence). */
export function parseTime(time: string | number): number {
  if (typeof time === "number") return time / 1e6;
  return Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(time) ? time : `${time}Z`);
}

export function ago(iso: string | number | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - parseTime(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
