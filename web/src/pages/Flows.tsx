import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { view } from "../api/client";
import { openFlowStream } from "../api/stream";
import type { Blueprint, Cluster, Flow, FlowDocument, Page, PolicyRef, PolicySummary } from "../api/types";
import { Badge, verdictTone } from "../components/common";
import { DataTable } from "../components/DataTable";
import { FilterBar, SelectFilter, TextFilter } from "../components/FilterBar";
import { newStats, Ring, type LiveStats } from "../live";
import { useLoad } from "../load";
import { Link, navigate, useLocation } from "../router";
import { useSession } from "../session";

const CAPACITY = 10_000;
const ROW_HEIGHT = 30;
const TICK_MS = 100; // render at most 10 times a second
const VERDICTS = ["", "FORWARDED", "DROPPED", "AUDIT", "ERROR"];

declare global {
  interface Window {
    netwardenLiveStats?: LiveStats;
  }
}

export interface FlowFilters {
  namespace: string;
  pod: string;
  verdict: string;
}

/** Hubble FlowFilters for the stream, like `netwarden flows --namespace/--pod/--verdict`:
 * a namespace or pod matches either end (two filters, OR-ed); fields of one filter AND. */
export function streamFilters(f: FlowFilters): object[] {
  const verdict = f.verdict ? { verdict: [f.verdict] } : {};
  const prefix = f.pod ? (f.pod.includes("/") ? f.pod : `${f.namespace || "default"}/${f.pod}`) : f.namespace ? `${f.namespace}/` : "";
  if (!prefix) return f.verdict ? [verdict] : [];
  return [
    { source_pod: [prefix], ...verdict },
    { destination_pod: [prefix], ...verdict },
  ];
}

function endpoint(e: Flow["source"], ip: string | undefined, names?: string[]): string {
  if (e?.pod_name) return `${e.namespace}/${e.pod_name}`;
  if (names?.length) return names[0]!;
  if (e?.labels?.some((l) => l === "reserved:world")) return `${ip ?? "world"} (world)`;
  return ip ?? "?";
}

function port(f: Flow): string {
  const l4 = f.l4 ? Object.entries(f.l4)[0] : undefined;
  if (!l4) return "";
  return `${l4[1].destination_port ?? ""}/${l4[0]}`;
}

function clusterOf(f: Flow, side: "source" | "destination"): string {
  return f[side]?.cluster_name || (f.node_name ?? "").split("/")[0] || "";
}

export function FlowsPage() {
  const { query } = useLocation();
  const mode = query.get("mode") === "history" ? "history" : "live";
  return (
    <section aria-labelledby="flows-title" className="flows-page">
      <h1 id="flows-title">Flows</h1>
      <div role="tablist" aria-label="Flows views" className="tabs">
        {(
          [
            ["live", "Live"],
            ["history", "History"],
          ] as const
        ).map(([key, title]) => (
          <button key={key} type="button" role="tab" aria-selected={mode === key} onClick={() => navigate(key === "live" ? "/flows" : "/flows?mode=history", true)}>
            {title}
          </button>
        ))}
      </div>
      <div role="tabpanel">{mode === "live" ? <LiveFlows /> : <FlowHistory />}</div>
    </section>
  );
}

function LiveFlows() {
  const { api } = useSession();
  const ring = useMemo(() => new Ring<FlowDocument>(CAPACITY), []);
  const stats = useRef<LiveStats>(newStats());
  const [filters, setFilters] = useState<FlowFilters>({ namespace: "", pod: "", verdict: "" });
  const [draft, setDraft] = useState<FlowFilters>(filters);
  const [paused, setPaused] = useState<FlowDocument[] | null>(null);
  const [state, setState] = useState("connecting");
  const [, setFrame] = useState(0);
  const [selected, setSelected] = useState<FlowDocument | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [rate, setRate] = useState(0);
  const viewport = useRef<HTMLDivElement>(null);
  const [height, setHeight] = useState(600);

  // The stream: reopened when the filters change.
  useEffect(() => {
    ring.clear();
    stats.current = newStats();
    window.netwardenLiveStats = stats.current;
    const close = openFlowStream(api, streamFilters(filters), {
      onFlows(flows) {
        ring.pushAll(flows);
        stats.current.received += flows.length;
      },
      onLost(count) {
        stats.current.lost += count;
      },
      onState(s, detail) {
        setState(detail ? `${s}: ${detail}` : s);
      },
    });
    return close;
  }, [api, filters, ring]);

  // The render tick: at most 10 frames a second, only when something arrived.
  useEffect(() => {
    let drawn = -1;
    let last = performance.now();
    let windowStart = last;
    let windowReceived = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      const s = stats.current;
      s.maxTickGapMs = Math.max(s.maxTickGapMs, now - last);
      last = now;
      if (now - windowStart >= 1000) {
        setRate(Math.round(((s.received - windowReceived) * 1000) / (now - windowStart)));
        windowStart = now;
        windowReceived = s.received;
      }
      if (ring.version !== drawn) {
        drawn = ring.version;
        setFrame((f) => f + 1);
      }
    }, TICK_MS);
    return () => clearInterval(timer);
  }, [ring]);
  useLayoutEffect(() => {
    stats.current.frames++;
    stats.current.rendered = stats.current.received;
  });

  useEffect(() => {
    const el = viewport.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const size = paused ? paused.length : ring.size;
  const at = (i: number) => (paused ? paused[i] : ring.newest(i));
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - 5);
  const count = Math.min(size - first, Math.ceil(height / ROW_HEIGHT) + 10);
  const rows: { index: number; doc: FlowDocument }[] = [];
  for (let i = first; i < first + count; i++) {
    const doc = at(i);
    if (doc) rows.push({ index: i, doc });
  }

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setPaused(null);
    setFilters({ ...draft });
  };
  const togglePause = useCallback(() => setPaused((p) => (p ? null : ring.snapshot())), [ring]);
  const s = stats.current;
  return (
    <>
      <FilterBar label="Filter live flows" onSubmit={apply}>
        <FlowFilterFields draft={draft} onChange={(next) => setDraft(next)} />
        <button type="submit">Apply filters</button>
        <button type="button" onClick={togglePause} aria-pressed={paused !== null} className={paused ? "primary" : ""}>
          {paused ? "Resume" : "Pause"}
        </button>
      </FilterBar>
      <p className="muted small" role="status" data-testid="live-status">
        Stream {state} · {rate.toLocaleString()} flows/s · {s.received.toLocaleString()} received
        {s.lost > 0 && <span className="bad-text"> · {s.lost.toLocaleString()} lost by the server (reader too slow)</span>}
        {paused && ` · paused: ${(s.received - s.rendered).toLocaleString()} new since`} · keeps the newest{" "}
        {CAPACITY.toLocaleString()}
      </p>
      <div className="flows-layout">
        <div className="live-table" role="table" aria-label="Live flows, newest first" aria-rowcount={size + 1}>
          <div className="live-row live-head" role="row">
            <span role="columnheader">Time</span>
            <span role="columnheader">Source</span>
            <span role="columnheader">Destination</span>
            <span role="columnheader">Port</span>
            <span role="columnheader">Verdict</span>
          </div>
          <div
            className="live-viewport"
            ref={viewport}
            onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
            tabIndex={0}
            aria-label="Flow rows"
            role="rowgroup"
          >
            <div style={{ height: size * ROW_HEIGHT, position: "relative" }}>
              {rows.map(({ index, doc }) => {
                const f = doc.flow;
                const chosen = selected === doc;
                return (
                  <div
                    key={index}
                    role="row"
                    aria-rowindex={index + 2}
                    aria-selected={chosen}
                    tabIndex={0}
                    className={`live-row${chosen ? " selected" : ""}`}
                    style={{ top: index * ROW_HEIGHT }}
                    data-verdict={f.verdict}
                    onClick={() => setSelected(doc)}
                    onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), setSelected(doc))}
                  >
                    <span role="cell">{(doc.time ?? f.time ?? "").slice(11, 23)}</span>
                    <span role="cell">{endpoint(f.source, f.IP?.source)}</span>
                    <span role="cell">{endpoint(f.destination, f.IP?.destination, f.destination_names)}</span>
                    <span role="cell">{port(f)}</span>
                    <span role="cell">
                      <Badge tone={verdictTone(f.verdict)}>{f.verdict}</Badge>
                    </span>
                  </div>
                );
              })}
            </div>
          </div>
        </div>
        {selected && <FlowDetail doc={selected} onClose={() => setSelected(null)} />}
      </div>
    </>
  );
}

/** The filters the live table and history share (those of `netwarden flows`). */
function FlowFilterFields<D extends FlowFilters>({ draft, onChange }: { draft: D; onChange(next: D): void }) {
  return (
    <>
      <TextFilter label="Namespace" name="namespace" value={draft.namespace} onChange={(v) => onChange({ ...draft, namespace: v.trim() })} placeholder="any" />
      <TextFilter label="Pod" name="pod" value={draft.pod} onChange={(v) => onChange({ ...draft, pod: v.trim() })} placeholder="namespace/pod prefix" />
      <SelectFilter label="Verdict" name="verdict" value={draft.verdict} onChange={(v) => onChange({ ...draft, verdict: v })} options={VERDICTS.map((v) => [v, v || "any"] as const)} />
    </>
  );
}

const HISTORY_LIMIT = 500;
const PRESETS: [string, number][] = [
  ["15 min", 15],
  ["1 h", 60],
  ["24 h", 1440],
  ["7 d", 10080],
];

/** A `datetime-local` value (local time, minutes) for a time. */
function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** Stored flows by time range (POST /api/v1/flows/query with since/until and the same
 * filters as the live table), newest first, a page at a time. */
function FlowHistory() {
  const { api } = useSession();
  const [draft, setDraft] = useState<FlowFilters & { since: string; until: string }>(() => {
    const now = Date.now();
    return { namespace: "", pod: "", verdict: "", since: localInput(now - 3600_000), until: localInput(now + 60_000) };
  });
  const [asked, setAsked] = useState<(FlowFilters & { since: string; until: string }) | null>(null);
  const [pages, setPages] = useState<FlowDocument[][]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [selected, setSelected] = useState<FlowDocument | null>(null);

  const run = async (q: FlowFilters & { since: string; until: string }, before?: string) => {
    setBusy(true);
    setError("");
    try {
      const since = new Date(q.since).toISOString();
      const until = before ?? new Date(q.until).toISOString();
      if (Date.parse(since) >= Date.parse(until)) throw new Error("the start of the range is not before its end");
      const answer = view<{ flows: FlowDocument[] }>(
        await api.post("/api/v1/flows/query", {
          body: { whitelist: streamFilters(q) as Record<string, unknown>[], since, until, limit: HISTORY_LIMIT, order: "desc", last: false },
        }),
      );
      setPages((p) => (before ? [...p, answer.flows] : [answer.flows]));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSelected(null);
    setAsked({ ...draft });
    void run(draft);
  };
  const preset = (minutes: number) => {
    const now = Date.now();
    setDraft({ ...draft, since: localInput(now - minutes * 60_000), until: localInput(now + 60_000) });
  };
  const rows = pages.flat();
  const last = pages[pages.length - 1];
  const oldest = rows.length ? (rows[rows.length - 1]!.time ?? rows[rows.length - 1]!.flow.time) : undefined;
  return (
    <>
      <FilterBar label="Query stored flows" onSubmit={submit}>
        <TextFilter label="From" type="datetime-local" name="since" value={draft.since} onChange={(v) => setDraft({ ...draft, since: v })} required />
        <TextFilter label="To" type="datetime-local" name="until" value={draft.until} onChange={(v) => setDraft({ ...draft, until: v })} required />
        <div className="preset-group" role="group" aria-label="Time range presets">
          {PRESETS.map(([label, minutes]) => (
            <button key={label} type="button" onClick={() => preset(minutes)}>
              Last {label}
            </button>
          ))}
        </div>
        <FlowFilterFields draft={draft} onChange={(next) => setDraft(next)} />
        <button type="submit" className="primary" disabled={busy}>
          Query
        </button>
      </FilterBar>
      {error && (
        <p className="alert error" role="alert">
          {error}
        </p>
      )}
      <p className="muted small" role="status" data-testid="history-status">
        {busy
          ? "Querying…"
          : asked
            ? `${rows.length.toLocaleString()} stored flow${rows.length === 1 ? "" : "s"} from ${new Date(asked.since).toLocaleString()} to ${new Date(asked.until).toLocaleString()}, newest first`
            : "Choose a time range and query the stored flows."}
      </p>
      <div className="flows-layout">
        {asked && (
          <DataTable
            testid="history-table"
            caption="Stored flows, newest first"
            data={{ since: new Date(asked.since).toISOString(), until: new Date(asked.until).toISOString() }}
            columns={["Time", "Source", "Destination", "Port", "Verdict"]}
            rows={rows}
            wrap="history-table"
            empty={busy ? undefined : "No stored flow in this range matches."}
            row={(doc, i) => {
              const f = doc.flow;
              const t = doc.time ?? f.time ?? "";
              return (
                <tr
                  key={`${f.uuid ?? i}`}
                  tabIndex={0}
                  className={selected === doc ? "selected" : ""}
                  aria-selected={selected === doc}
                  data-time={t}
                  data-verdict={f.verdict}
                  onClick={() => setSelected(doc)}
                  onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), setSelected(doc))}
                >
                  <td className="nowrap">{t.replace("T", " ").slice(0, 23)}</td>
                  <td>{endpoint(f.source, f.IP?.source)}</td>
                  <td>{endpoint(f.destination, f.IP?.destination, f.destination_names)}</td>
                  <td>{port(f)}</td>
                  <td>
                    <Badge tone={verdictTone(f.verdict)}>{f.verdict}</Badge>
                  </td>
                </tr>
              );
            }}
          >
            {last && last.length === HISTORY_LIMIT && oldest && (
              <button type="button" onClick={() => void run(asked, oldest)} disabled={busy}>
                Older flows
              </button>
            )}
          </DataTable>
        )}
        {selected && <FlowDetail doc={selected} onClose={() => setSelected(null)} />}
      </div>
    </>
  );
}

const DECISIONS: [keyof Flow, string, "source" | "destination"][] = [
  ["egress_denied_by", "Egress denied by", "source"],
  ["ingress_denied_by", "Ingress denied by", "destination"],
  ["egress_allowed_by", "Egress allowed by", "source"],
  ["ingress_allowed_by", "Ingress allowed by", "destination"],
];

function FlowDetail({ doc, onClose }: { doc: FlowDocument; onClose(): void }) {
  const f = doc.flow;
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [doc]);
  const decisions = DECISIONS.filter(([key]) => ((f[key] as PolicyRef[] | undefined) ?? []).length > 0);
  return (
    <aside className="flow-detail" aria-labelledby="flow-detail-title" data-testid="flow-detail">
      <div className="detail-head">
        <h2 id="flow-detail-title" tabIndex={-1} ref={heading}>
          Flow <Badge tone={verdictTone(f.verdict)}>{f.verdict}</Badge>
        </h2>
        <button type="button" onClick={onClose} aria-label="Close flow details">
          ✕
        </button>
      </div>
      <dl className="facts">
        <dt>From</dt>
        <dd>{endpoint(f.source, f.IP?.source)}</dd>
        <dt>To</dt>
        <dd>{endpoint(f.destination, f.IP?.destination, f.destination_names)}</dd>
        <dt>Port</dt>
        <dd>{port(f) || "—"}</dd>
        <dt>Direction</dt>
        <dd>
          {f.traffic_direction ?? "—"}
          {f.is_reply ? " (reply)" : ""}
        </dd>
        {f.drop_reason_desc && (
          <>
            <dt>Drop reason</dt>
            <dd className="bad-text">{f.drop_reason_desc}</dd>
          </>
        )}
        <dt>Node</dt>
        <dd>{doc.node_name ?? f.node_name}</dd>
      </dl>
      <h3>Decided by</h3>
      {decisions.length === 0 ? (
        <p className="muted">No policy selected this flow: the default (allow) decided.</p>
      ) : (
        <ul className="decisions" data-testid="decisions">
          {decisions.map(([key, title, side]) => (
            <li key={key}>
              <strong>{title}</strong>
              <ul>
                {((f[key] as PolicyRef[] | undefined) ?? []).map((ref, i) => (
                  <li key={i} data-policy={ref.name}>
                    {ref.kind ?? "policy"} {ref.namespace ? `${ref.namespace}/` : ""}
                    {ref.name} <PolicyOrigin reference={ref} cluster={clusterOf(f, side)} />
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      )}
      <details>
        <summary>Full record</summary>
        <pre className="code small" data-testid="flow-json">
          {JSON.stringify(doc, null, 2)}
        </pre>
      </details>
    </aside>
  );
}

/** Where a deciding policy comes from: a stored policy (link), or an object of a
 * cluster's desired state rendered from a blueprint (link), or neither. Both lookups go
 * through the API with the user's token, so a user sees only origins they may read. */
function PolicyOrigin({ reference, cluster }: { reference: PolicyRef; cluster: string }) {
  const { api, can } = useSession();
  const origin = useLoad(
    async (signal) => {
      const clusters = view<Page<Cluster>>(await api.get("/api/v1/clusters", { query: { limit: 500 }, signal })).items;
      const c = clusters.find((x) => x.name === cluster);
      if (!c) return null;
      const stored = view<Page<PolicySummary>>(
        await api.get("/api/v1/policies", {
          query: { cluster: c.id, namespace: reference.namespace ?? null, kind: reference.kind ?? null, limit: 500 },
          signal,
        }),
      ).items.find((p) => p.name === reference.name);
      if (stored) return { to: `/policies/${stored.id}`, text: `policy v${stored.version}` };
      if (!can.blueprints) return null;
      const desired = view<{ objects: { kind?: string; metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> } }[] }>(
        await api.get("/api/v1/clusters/{cluster_id}/desired-state", { path: { cluster_id: c.id }, signal }),
      );
      const object = desired.objects.find(
        (o) => o.kind === reference.kind && o.metadata?.name === reference.name && (o.metadata?.namespace ?? "") === (reference.namespace ?? ""),
      );
      const source = object?.metadata?.annotations?.["netwarden.dev/source"] ?? "";
      const match = /^blueprint\/([^@]+)@v(\d+)/.exec(source);
      if (!match) return null;
      const blueprints = view<Page<Blueprint>>(await api.get("/api/v1/blueprints", { signal })).items;
      const bp = blueprints.find((b) => b.name === match[1]);
      return bp ? { to: `/blueprints/${bp.id}`, text: `blueprint ${bp.name} v${match[2]}` } : null;
    },
    [api, can.blueprints, cluster, reference.kind, reference.namespace, reference.name],
  );
  if (origin.loading) return <span className="muted small">…</span>;
  if (!origin.data) return <span className="muted small">(not a policy you can open)</span>;
  return (
    <span className="small">
      — from <Link to={origin.data.to}>{origin.data.text}</Link>
    </span>
  );
}
