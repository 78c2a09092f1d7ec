import type { ReactNode } from "react";
import { ApiError } from "../api/client";

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Failure({ error, what }: { error: Error; what: string }) {
  const status = error instanceof ApiError ? ` (${error.status})` : "";
  return (
    <div className="alert error" role="alert">
      Could not load {what}
      {status}: {error.message}
    </div>
  );
}

/** An alert line saying what went wrong (nothing while `text` is empty). */
export function Notice({ text }: { text: string }) {
  if (!text) return null;
  return (
    <p className="alert" role="alert">
      {text}
    </p>
  );
}

export function NotAvailable({ page }: { page: string }) {
  return (
    <section aria-labelledby="na-title" className="not-available">
      <h1 id="na-title">{page}</h1>
      <p className="alert" role="alert" data-testid="not-available">
        This page is not available to your role.
      </p>
    </section>
  );
}

export function Badge({ tone, children }: { tone: string; children: ReactNode }) {
  return <span className={`badge ${tone}`}>{children}</span>;
}

export function verdictTone(verdict: string | undefined): string {
  switch (verdict) {
    case "FORWARDED":
      return "ok";
    case "DROPPED":
    case "ERROR":
      return "bad";
    case "AUDIT":
      return "warn";
    default:
      return "neutral";
  }
}

export function stateTone(state: string): string {
  if (["synced", "done", "completed", "enforce"].includes(state)) return "ok";
  if (["failed", "drifted", "error", "paused", "unreachable"].includes(state)) return "bad";
  if (["pending", "in-progress", "waiting", "soaking", "active"].includes(state)) return "warn";
  return "neutral";
}

export function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (!entries.length) return <span className="muted">none</span>;
  return (
    <ul className="chips" aria-label="labels">
      {entries.map(([k, v]) => (
        <li key={k} className="chip">
          {k}={v}
        </li>
      ))}
    </ul>
  );
}
