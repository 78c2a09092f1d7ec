// Recommendations from recorded traffic (issue 6's API): each workload's status per
// cluster and namespace with counts, the namespace's traffic drift, and a workload's
// current vs recommended policy with the text and connection diff, the evidence of each
// rule and the engine's proof; accepting it previews it first (production clusters need
// the preview's token, as for any policy write).
import { useEffect, useState } from "react";
import { ApiError, view } from "../api/client";
import type {
  Cluster,
  DriftReport,
  EdgeDoc,
  FlowDocument,
  NamespaceDoc,
  Page,
  PolicyDoc,
  Preview,
  RecommendationDetail,
  RecommendationList,
  RecStatus,
  RuleEvidence,
  Validation,
} from "../api/types";
import { Badge, Failure, Loading, Notice, verdictTone } from "../components/common";
import { DataTable, WhenLoaded } from "../components/DataTable";
import { FilterBar, SelectFilter } from "../components/FilterBar";
import { ago, parseTime, useLoad } from "../load";
import { Link, navigate, useLocation } from "../router";
import { useSession } from "../session";
import { ConnectionChanges, ImpactView, UnifiedDiff } from "./Policies";

export const STATUS_TEXT: Record<RecStatus, string> = {
  "policy-applied": "policy applied",
  "recommendation-available": "recommendation available",
  "not-enough-runtime-data": "not enough runtime data",
};

export function statusTone(s: RecStatus): string {
  return s === "policy-applied" ? "ok" : s === "recommendation-available" ? "warn" : "neutral";
}

const LEARNING: readonly (readonly [string, string])[] = [
  ["24h", "24 h (default)"],
  ["1h", "1 h"],
  ["10m", "10 min"],
  ["0s", "none"],
];
const WINDOWS = ["7d", "24h", "1h"];

interface Params {
  cluster: string;
  namespace: string;
  since: string;
  min_learning: string;
  format: "cilium" | "k8s";
}

export function RecommendationsPage() {
  const { api } = useSession();
  const { query } = useLocation();
  const clusters = useLoad(
    (signal) => api.get("/api/v1/clusters", { query: { limit: 500 }, signal }).then((a) => view<Page<Cluster>>(a).items),
    [api],
  );
  const cluster = query.get("cluster") || clusters.data?.[0]?.id || "";
  const namespaces = useLoad(
    (signal) =>
      cluster
        ? api.get("/api/v1/clusters/{cluster_id}/namespaces", { path: { cluster_id: cluster }, signal }).then((a) => view<Page<NamespaceDoc>>(a).items)
        : Promise.resolve([] as NamespaceDoc[]),
    [api, cluster],
  );
  const namespace = query.get("namespace") || namespaces.data?.[0]?.name || "";
  const params: Params = {
    cluster,
    namespace,
    since: query.get("since") || "7d",
    min_learning: query.get("learning") || "24h",
    format: query.get("format") === "k8s" ? "k8s" : "cilium",
  };
  const workload = query.get("workload") ?? "";
  const set = (changes: Record<string, string>) => {
    const next = new URLSearchParams(query);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    navigate(`/recommendations?${next}`, true);
  };
  const clusterName = clusters.data?.find((c) => c.id === cluster)?.name ?? cluster;

  return (
    <section aria-labelledby="rec-title">
      <h1 id="rec-title">Recommendations</h1>
      <FilterBar label="Which workloads" onSubmit={(e) => e.preventDefault()}>
        <SelectFilter
          label="Cluster"
          name="cluster"
          value={cluster}
          onChange={(v) => set({ cluster: v, namespace: "", workload: "" })}
          options={(clusters.data ?? []).map((c) => [c.id, c.name] as const)}
        />
        <SelectFilter
          label="Namespace"
          name="namespace"
          value={namespace}
          onChange={(v) => set({ namespace: v, workload: "" })}
          options={(namespaces.data ?? []).map((n) => n.name)}
        />
        <SelectFilter label="Learn from" name="since" value={params.since} onChange={(v) => set({ since: v })} options={WINDOWS.map((w) => [w, `last ${w}`] as const)} />
        <SelectFilter label="Minimum learning period" name="learning" value={params.min_learning} onChange={(v) => set({ learning: v })} options={LEARNING} />
        <SelectFilter
          label="Output"
          name="format"
          value={params.format}
          onChange={(v) => set({ format: v })}
          options={[
            ["cilium", "CiliumNetworkPolicy"],
            ["k8s", "NetworkPolicy"],
          ]}
        />
      </FilterBar>
      {clusters.error && <Failure error={clusters.error} what="clusters" />}
      {namespaces.error && <Failure error={namespaces.error} what="namespaces" />}
      {namespaces.data && namespaces.data.length === 0 && <p className="muted">No namespace of this cluster is yours to read.</p>}
      {cluster && namespace && !workload && <Listing params={params} clusterName={clusterName} onOpen={(w) => set({ workload: w })} />}
      {cluster && namespace && workload && (
        <>
          <p className="crumbs">
            <Link to={`/recommendations?${new URLSearchParams({ ...Object.fromEntries(query), workload: "" })}`}>
              {clusterName} / {namespace}
            </Link>{" "}
            ›
          </p>
          <WorkloadView params={params} workload={workload} />
        </>
      )}
    </section>
  );
}

function query(params: Params) {
  return { since: params.since, min_learning: params.min_learning, format: params.format };
}

function Listing({ params, clusterName, onOpen }: { params: Params; clusterName: string; onOpen(workload: string): void }) {
  const { api } = useSession();
  const path = { cluster_id: params.cluster, namespace: params.namespace };
  const list = useLoad(
    (signal) =>
      api
        .get("/api/v1/clusters/{cluster_id}/namespaces/{namespace}/recommendations", { path, query: query(params), signal })
        .then(view<RecommendationList>),
    [api, params.cluster, params.namespace, params.since, params.min_learning, params.format],
  );
  const drift = useLoad(
    (signal) =>
      api.get("/api/v1/clusters/{cluster_id}/namespaces/{namespace}/drift", { path, query: { since: params.since }, signal }).then(view<DriftReport>),
    [api, params.cluster, params.namespace, params.since],
  );
  const drifted = drift.data?.workloads.filter((w) => w.drift) ?? [];
  return (
    <>
      <h2>
        {clusterName} / {params.namespace}{" "}
        {drift.data && (
          <span data-testid="drift-badge">
            {drift.data.drift ? (
              <Badge tone="bad">traffic drift: {drifted.length} workload{drifted.length === 1 ? "" : "s"}</Badge>
            ) : (
              <Badge tone="ok">no traffic drift</Badge>
            )}
          </span>
        )}
      </h2>
      {drift.error && <Failure error={drift.error} what="traffic drift" />}
      {drifted.length > 0 && (
        <div className="alert error" role="alert" data-testid="drift-alert">
          New traffic that the current policies deny:
          <ul>
            {drifted.map((w) => (
              <li key={w.workload}>
                <strong>{w.workload}</strong> ({w.edge_count} connection{w.edge_count === 1 ? "" : "s"}, e.g.{" "}
                {w.edges
                  .slice(0, 2)
                  .map((e) => `${e.from} → ${e.to}:${e.port ?? ""}/${e.protocol}`)
                  .join("; ")}
                )
              </li>
            ))}
          </ul>
        </div>
      )}
      <WhenLoaded load={list} what="recommendations">
        {(listing) => (
          <>
            <p data-testid="rec-counts">
              {(Object.keys(STATUS_TEXT) as RecStatus[]).map((s) => (
                <span key={s}>
                  <Badge tone={statusTone(s)}>
                    {listing.counts[s] ?? 0} {STATUS_TEXT[s]}
                  </Badge>{" "}
                </span>
              ))}
            </p>
            <DataTable
              testid="rec-table"
              caption={`Workloads of ${params.namespace} and their recommendation status`}
              columns={[
                "Workload",
                "Status",
                { title: "Rules", num: true },
                { title: "Flows", num: true },
                "Last seen",
                "Policies selecting it",
                "Drift",
              ]}
              rows={listing.workloads}
              empty="No workload with flows or in the inventory."
              row={(w) => (
                <tr key={w.workload} data-workload={w.workload} data-status={w.status}>
                  <th scope="row">
                    <button type="button" className="link" onClick={() => onOpen(w.workload)}>
                      {w.workload}
                    </button>
                    <div className="muted small">{w.kind}</div>
                  </th>
                  <td>
                    <Badge tone={statusTone(w.status)}>{STATUS_TEXT[w.status]}</Badge>
                    {w.status === "policy-applied" && w.recommendation === "recommendation-available" && (
                      <div className="muted small">a recommendation is available too</div>
                    )}
                    {w.reason && <div className="muted small">{w.reason}</div>}
                  </td>
                  <td className="num">{w.rules}</td>
                  <td className="num">{w.flows.toLocaleString()}</td>
                  <td>{ago(w.last_seen)}</td>
                  <td className="small">{w.policies.length ? w.policies.join(", ") : <span className="muted">none</span>}</td>
                  <td>{w.drift ? <Badge tone="bad">{w.drift_edges} new denied</Badge> : <span className="muted">—</span>}</td>
                </tr>
              )}
            />
          </>
        )}
      </WhenLoaded>
    </>
  );
}

function WorkloadView({ params, workload }: { params: Params; workload: string }) {
  const { api } = useSession();
  const path = { cluster_id: params.cluster, namespace: params.namespace, workload };
  const rec = useLoad(
    (signal) =>
      api
        .get("/api/v1/clusters/{cluster_id}/namespaces/{namespace}/recommendations/{workload}", { path, query: query(params), signal })
        .then(view<RecommendationDetail>),
    [api, params.cluster, params.namespace, workload, params.since, params.min_learning, params.format],
  );
  if (rec.error) return <Failure error={rec.error} what="the recommendation" />;
  if (!rec.data) return <Loading what="the recommendation" />;
  const r = rec.data;
  return (
    <div data-testid="rec-detail">
      <h2>
        {r.workload} <span className="muted small">{r.kind}</span> <Badge tone={statusTone(r.status)}>{STATUS_TEXT[r.status]}</Badge>
        {r.drift.drift && <Badge tone="bad">traffic drift</Badge>}
      </h2>
      {r.reason && <p className="muted">{r.reason}</p>}
      <p className="muted small">
        Selector: {Object.entries(r.selector).map(([k, v]) => `${k}=${v}`).join(", ") || "—"} · {r.flows.toLocaleString()} flows, first{" "}
        {ago(r.first_seen)}, last {ago(r.last_seen)}
      </p>
      {r.proof && (
        <p data-testid="proof">
          {r.proof.ok ? (
            <Badge tone="ok">proof holds</Badge>
          ) : (
            <Badge tone="bad">proof fails</Badge>
          )}{" "}
          allows {r.proof.covered_edges} of {r.proof.learned_edges} learned connections; {r.proof.probes_beyond_evidence} probes beyond the evidence denied
          {r.proof.findings.length > 0 && (
            <ul className="bad-text">
              {r.proof.findings.map((f, i) => (
                <li key={i}>
                  {f.kind}: {f.detail}
                </li>
              ))}
            </ul>
          )}
        </p>
      )}
      {r.compare && (
        <>
          <div className="side-by-side">
            <div>
              <h3>Current policy</h3>
              {r.compare.current.length ? (
                <pre className="code" data-testid="rec-current">
                  {r.compare.current.join("---\n")}
                </pre>
              ) : (
                <p className="muted">No policy selects this workload.</p>
              )}
            </div>
            <div>
              <h3>Recommended</h3>
              <pre className="code" data-testid="rec-recommended">
                {r.compare.recommended}
              </pre>
            </div>
          </div>
          <h3>Text diff</h3>
          <UnifiedDiff text={r.compare.text_diff} small />
          <h3>Connections that change</h3>
          {!r.compare.connections.available ? (
            <p className="muted">{r.compare.connections.reason}</p>
          ) : r.compare.connections.changes.length === 0 ? (
            <p className="muted">No connection between the {r.compare.connections.pods} reported pods changes.</p>
          ) : (
            <ConnectionChanges
              testid="rec-connections"
              caption="Connections that accepting would change"
              changes={r.compare.connections.changes.slice(0, 200)}
            />
          )}
        </>
      )}
      <h3>Evidence per rule</h3>
      {r.rule_evidence.length === 0 ? (
        <p className="muted">No rule learned.</p>
      ) : (
        <DataTable
          testid="rec-evidence"
          caption="The rules and the recorded flows behind each"
          columns={["Rule", { title: "Flows", num: true }, "First seen", "Last seen", "Example flows"]}
          rows={r.rule_evidence}
          row={(rule, i) => <EvidenceRow key={i} rule={rule} />}
        />
      )}
      {r.drift.edges.length > 0 && <EdgeTable title="Traffic drift: new connections the current policy denies" edges={r.drift.edges} testid="rec-drift" />}
      {r.excluded.length > 0 && (
        <>
          <h3>Set aside (not learned)</h3>
          <ul className="small">
            {r.excluded.slice(0, 50).map((x, i) => (
              <li key={i}>
                {x.edge.from} → {x.edge.to}:{x.edge.port ?? ""}/{x.edge.protocol}: {x.reason}
              </li>
            ))}
          </ul>
        </>
      )}
      {r.denied.length > 0 && <EdgeTable title="Dropped connections (never learned)" edges={r.denied} />}
      {r.yaml && <Accept params={params} rec={r} />}
    </div>
  );
}

function EdgeTable({ title, edges, testid }: { title: string; edges: EdgeDoc[]; testid?: string }) {
  return (
    <>
      <h3>{title}</h3>
      <DataTable
        testid={testid}
        caption={title}
        columns={["From", "To", "Port", "Verdict", { title: "Flows", num: true }, "Last seen"]}
        rows={edges.slice(0, 50)}
        row={(e, i) => (
          <tr key={i}>
            <td>{e.from}</td>
            <td>{e.to}</td>
            <td>
              {e.port ?? ""}/{e.protocol} {e.l7 && <span className="muted small">{e.l7}</span>}
            </td>
            <td>
              <Badge tone={verdictTone(e.verdict)}>{e.verdict}</Badge>
            </td>
            <td className="num">{e.evidence.flows.toLocaleString()}</td>
            <td>{ago(e.evidence.last_seen)}</td>
          </tr>
        )}
      />
    </>
  );
}

function EvidenceRow({ rule }: { rule: RuleEvidence }) {
  const { api } = useSession();
  const [open, setOpen] = useState(false);
  const e = rule.evidence;
  const examples = useLoad(
    (signal) =>
      open && e.examples.length
        ? api
            .post("/api/v1/flows/query", { body: { whitelist: [{ uuid: e.examples }], limit: e.examples.length, order: "desc", last: false }, signal })
            .then((a) => view<{ flows: FlowDocument[] }>(a).flows)
        : Promise.resolve(null),
    [api, open, e.examples.join(",")],
  );
  return (
    <>
      <tr data-direction={rule.direction}>
        <th scope="row">
          <Badge tone="neutral">{rule.direction}</Badge> {rule.description}
          {rule.note && <div className="warn-text small">{rule.note}</div>}
        </th>
        <td className="num">{e.flows.toLocaleString()}</td>
        <td>{e.first_seen ? new Date(parseTime(e.first_seen)).toLocaleString() : "—"}</td>
        <td>{e.last_seen ? new Date(parseTime(e.last_seen)).toLocaleString() : "—"}</td>
        <td>
          {e.examples.length ? (
            <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>
              {open ? "Hide" : "Show"} {e.examples.length} example{e.examples.length === 1 ? "" : "s"}
            </button>
          ) : (
            <span className="muted">—</span>
          )}
        </td>
      </tr>
      {open && (
        <tr className="examples">
          <td colSpan={5}>
            {examples.error && <Failure error={examples.error} what="example flows" />}
            {examples.data === undefined && <Loading what="example flows" />}
            {examples.data && examples.data.length === 0 && <span className="muted">The example flows are no longer stored (retention).</span>}
            {examples.data && examples.data.length > 0 && (
              <ul className="small" data-testid="example-flows">
                {examples.data.map((d) => (
                  <li key={d.flow.uuid}>
                    {(d.time ?? "").replace("T", " ").slice(0, 23)} · {d.flow.source?.namespace ? `${d.flow.source.namespace}/${d.flow.source.pod_name}` : d.flow.IP?.source} →{" "}
                    {d.flow.destination?.namespace ? `${d.flow.destination.namespace}/${d.flow.destination.pod_name}` : (d.flow.destination_names?.[0] ?? d.flow.IP?.destination)}{" "}
                    <Badge tone={verdictTone(d.flow.verdict)}>{d.flow.verdict}</Badge> <code className="muted">{d.flow.uuid}</code>
                  </li>
                ))}
              </ul>
            )}
          </td>
        </tr>
      )}
    </>
  );
}

/** Accept: preview the recommended YAML on recorded traffic, then accept with the
 * preview's token (production clusters require it). */
function Accept({ params, rec }: { params: Params; rec: RecommendationDetail }) {
  const { api } = useSession();
  const yaml = rec.yaml ?? "";
  const [message, setMessage] = useState("");
  const [preview, setPreview] = useState<Preview | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const [accepted, setAccepted] = useState<PolicyDoc | null>(null);
  const [mayWrite, setMayWrite] = useState<boolean | null>(null);
  useEffect(() => {
    setPreview(null);
    setAccepted(null);
    api.post("/api/v1/policies/validate", { body: { yaml, cluster: params.cluster } }).then(
      (a) => setMayWrite(view<Validation>(a).may_write),
      () => setMayWrite(false),
    );
  }, [api, yaml, params.cluster]);
  const proofFails = rec.proof !== undefined && !rec.proof.ok;
  const available = rec.recommendation === "recommendation-available" && !proofFails;

  const runPreview = async () => {
    setBusy(true);
    setNotice("");
    try {
      setPreview(view<Preview>(await api.post("/api/v1/clusters/{cluster_id}/preview", { path: { cluster_id: params.cluster }, body: { yaml } })));
    } catch (e) {
      setNotice(`No preview: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      setBusy(false);
    }
  };
  const accept = async () => {
    setBusy(true);
    setNotice("");
    try {
      const answer = await api.post("/api/v1/clusters/{cluster_id}/namespaces/{namespace}/recommendations/{workload}/accept", {
        path: { cluster_id: params.cluster, namespace: params.namespace, workload: rec.workload },
        headers: preview ? { [preview.token.header]: preview.token.value } : {},
        body: { format: params.format, since: params.since, min_learning: params.min_learning, allow_external_ips: false, message },
      });
      setAccepted(view<PolicyDoc>(answer));
    } catch (e) {
      setNotice(
        e instanceof ApiError && e.status === 428
          ? "This cluster needs a fresh impact preview of exactly this recommendation: preview again."
          : `Not accepted: ${e instanceof Error ? e.message : String(e)}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="accept" aria-labelledby="accept-title">
      <h3 id="accept-title">Accept</h3>
      {!available && <p className="muted">{proofFails ? "The proof fails: this recommendation cannot be accepted." : "Nothing to accept yet."}</p>}
      {mayWrite === false && <p className="alert">You may read this namespace&apos;s policies but not write them.</p>}
      {accepted ? (
        <p className="alert ok-alert" role="status" data-testid="accepted">
          Accepted: {accepted.kind} {accepted.namespace}/{accepted.name} is now version {accepted.version}.{" "}
          <Link to={`/policies/${accepted.id}?tab=history`}>Open the policy</Link>
        </p>
      ) : (
        <>
          <label>
            Message
            <input value={message} onChange={(e) => setMessage(e.target.value)} placeholder="added to the version message" />
          </label>
          {preview && <ImpactView preview={preview} />}
          <div className="actions">
            <button type="button" onClick={runPreview} disabled={busy || !available || !mayWrite}>
              Preview impact
            </button>
            <button type="button" className="primary" onClick={accept} disabled={busy || !available || !mayWrite || !preview}>
              Accept as {rec.policy_name}
            </button>
          </div>
          {!preview && available && <p className="muted small">Accepting needs an impact preview of the recommended policy first.</p>}
        </>
      )}
      <Notice text={notice} />
    </section>
  );
}
