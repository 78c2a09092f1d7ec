import { useEffect, useState } from "react";
import { view } from "../api/client";
import type { Cluster, Edge, NamespaceDoc, Page, RecommendationList, SyncState } from "../api/types";
import { Badge, Failure, Labels, Loading, stateTone } from "../components/common";
import { ago, useLoad } from "../load";
import { Link } from "../router";
import { useSession } from "../session";

interface Counts {
  flows: number;
  drops: number;
}

/** Flows and drops per cluster over the last hour, from the service map's edge counts
 * (per-minute rollups, already limited to the caller's flow scope by the server). */
export function countsByCluster(edges: Edge[]): Map<string, Counts> {
  const out = new Map<string, Counts>();
  for (const edge of edges) {
    const c = out.get(edge.source.cluster) ?? { flows: 0, drops: 0 };
    c.flows += edge.flows;
    c.drops += edge.verdicts.DROPPED ?? 0;
    out.set(edge.source.cluster, c);
  }
  return out;
}

export interface Coverage {
  workloads: number;
  covered: number;
  /** Namespaces with workloads no policy selects: name -> count. */
  uncovered: Map<string, number>;
  drift: { namespace: string; workload: string; edges: number }[];
  failed: string[];
}

/** Coverage and traffic drift of every cluster: each namespace the user may read, from
 * the recommendations listing (status per workload, `drift` per workload). Loaded once
 * (and on demand): it replays a week of edges per namespace on the server. */
function useCoverage(clusters: Cluster[] | undefined, tick: number) {
  const { api, can } = useSession();
  return useLoad(
    async (signal) => {
      const out = new Map<string, Coverage>();
      // Coverage is computed from namespace policies: roles that may not read them
      // (Infra roles) would only meet refusals.
      if (!clusters || !can.namespacePolicies) return out;
      await Promise.all(
        clusters.map(async (c) => {
          const cov: Coverage = { workloads: 0, covered: 0, uncovered: new Map(), drift: [], failed: [] };
          out.set(c.id, cov);
          const namespaces = view<Page<NamespaceDoc>>(
            await api.get("/api/v1/clusters/{cluster_id}/namespaces", { path: { cluster_id: c.id }, signal }),
          ).items;
          for (const ns of namespaces) {
            try {
              const list = view<RecommendationList>(
                await api.get("/api/v1/clusters/{cluster_id}/namespaces/{namespace}/recommendations", {
                  path: { cluster_id: c.id, namespace: ns.name },
                  signal,
                }),
              );
              for (const w of list.workloads) {
                cov.workloads++;
                if (w.status === "policy-applied") cov.covered++;
                else cov.uncovered.set(ns.name, (cov.uncovered.get(ns.name) ?? 0) + 1);
                if (w.drift) cov.drift.push({ namespace: ns.name, workload: w.workload, edges: w.drift_edges });
              }
            } catch (e) {
              if (signal.aborted) throw e;
              cov.failed.push(ns.name); // e.g. a namespace the user may list but not read policies of
            }
          }
        }),
      );
      return out;
    },
    [api, can.namespacePolicies, clusters, tick],
  );
}

function recLink(cluster: Cluster, namespace: string): string {
  return `/recommendations?${new URLSearchParams({ cluster: cluster.id, namespace })}`;
}

export function FleetPage() {
  const { api, can } = useSession();
  const [tick, setTick] = useState(0); // health and traffic refresh every 10 s
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), 10_000);
    return () => clearInterval(timer);
  }, []);
  const clusters = useLoad(
    (signal) => api.get("/api/v1/clusters", { query: { limit: 500 }, signal }).then(view<Page<Cluster>>),
    [api],
  );
  const health = useLoad(
    (signal) =>
      can.fleetHealth
        ? api.get("/api/v1/rollout", { signal }).then((a) => view<Page<SyncState>>(a).items)
        : Promise.resolve(null),
    [api, can.fleetHealth, tick],
  );
  const traffic = useLoad(
    (signal) =>
      api
        .get("/api/v1/flows/service-map", { query: { since: "1h" }, signal })
        .then((a) => countsByCluster(view<{ edges: Edge[] }>(a).edges)),
    [api, tick],
  );
  const [coverageTick, setCoverageTick] = useState(0);
  const coverage = useCoverage(clusters.data?.items, coverageTick);
  const ready = clusters.data !== undefined;
  useEffect(() => {
    if (ready && !performance.getEntriesByName("netwarden:fleet-rendered").length)
      performance.mark("netwarden:fleet-rendered");
  }, [ready]);

  const byName = new Map((health.data ?? []).map((s) => [s.cluster, s]));
  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">Fleet</h1>
      {clusters.error && <Failure error={clusters.error} what="clusters" />}
      {traffic.error && <Failure error={traffic.error} what="flow counts" />}
      {!clusters.data && !clusters.error && <Loading what="clusters" />}
      {clusters.data && coverage.data && can.namespacePolicies && <DriftAlerts clusters={clusters.data.items} coverage={coverage.data} />}
      {clusters.data && (
        <div className="table-wrap">
          <table data-testid="fleet-table">
            <caption className="sr-only">Clusters, agent health and traffic over the last hour</caption>
            <thead>
              <tr>
                <th scope="col">Cluster</th>
                <th scope="col">Labels</th>
                <th scope="col">Enforcement</th>
                {can.fleetHealth && <th scope="col">Agent</th>}
                {can.fleetHealth && <th scope="col">Heartbeat</th>}
                {can.fleetHealth && <th scope="col">Spool</th>}
                {can.namespacePolicies && <th scope="col">Coverage</th>}
                <th scope="col" className="num">
                  Flows (1h)
                </th>
                <th scope="col" className="num">
                  Drops (1h)
                </th>
              </tr>
            </thead>
            <tbody>
              {clusters.data.items.map((c) => {
                const s = byName.get(c.name);
                const t = traffic.data?.get(c.name);
                return (
                  <tr key={c.id} data-cluster={c.name}>
                    <th scope="row">
                      <Link to={`/policies?cluster=${encodeURIComponent(c.id)}`} title="Policies of this cluster">
                        {c.name}
                      </Link>
                      <div className="muted small">Cilium {c.cilium_version}</div>
                    </th>
                    <td>
                      <Labels labels={c.labels} />
                    </td>
                    <td>
                      <Badge tone={stateTone(c.enforcement_mode)}>{c.enforcement_mode}</Badge>
                      <div className="muted small">policy: {c.policy_enforcement}</div>
                    </td>
                    {can.fleetHealth && (
                      <td data-testid="agent-state">
                        {s ? <Badge tone={stateTone(s.state)}>{s.state}</Badge> : <span className="muted">no report</span>}
                        {s && (
                          <div className="muted small">
                            generation {s.applied_generation}/{s.desired_generation}
                            {s.drift.length > 0 && `, ${s.drift.length} drifted`}
                          </div>
                        )}
                      </td>
                    )}
                    {can.fleetHealth && <td>{ago(s?.last_heartbeat ?? c.last_heartbeat)}</td>}
                    {can.fleetHealth && (
                      <td>
                        {s?.spool ? (
                          <span>
                            {s.spool.pending_flows} pending
                            {s.spool.dropped_flows > 0 && (
                              <Badge tone="bad">{s.spool.dropped_flows} dropped</Badge>
                            )}
                          </span>
                        ) : (
                          <span className="muted">—</span>
                        )}
                      </td>
                    )}
                    {can.namespacePolicies && (
                      <td data-testid="coverage">
                        <CoverageCell cluster={c} coverage={coverage.data?.get(c.id)} loading={coverage.loading} />
                      </td>
                    )}
                    <td className="num" data-testid="flows-1h">
                      {t ? t.flows.toLocaleString() : traffic.data ? "0" : "…"}
                    </td>
                    <td className="num" data-testid="drops-1h">
                      {t ? <span className={t.drops ? "bad-text" : ""}>{t.drops.toLocaleString()}</span> : traffic.data ? "0" : "…"}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {coverage.error && <Failure error={coverage.error} what="coverage" />}
      {can.namespacePolicies ? (
        <p className="muted small">
          Coverage: workloads some policy selects, per namespace you may read (from the recommendations listing, last 7 days
          of flows and the agent&apos;s inventory).{" "}
          <button type="button" className="link" onClick={() => setCoverageTick((t) => t + 1)} disabled={coverage.loading}>
            {coverage.loading ? "Computing coverage…" : "Recompute coverage and drift"}
          </button>
        </p>
      ) : (
        <p className="muted small" data-testid="no-coverage">
          Coverage and traffic drift are computed from namespace policies, which your role does not read.
        </p>
      )}
      {!can.fleetHealth && (
        <p className="muted small">
          Agent health and sync state are shown to cluster-wide roles; flow counts cover the namespaces you may see.
        </p>
      )}
    </section>
  );
}

function CoverageCell({ cluster, coverage, loading }: { cluster: Cluster; coverage: Coverage | undefined; loading: boolean }) {
  if (!coverage) return <span className="muted">{loading ? "…" : "—"}</span>;
  const missing = coverage.workloads - coverage.covered;
  return (
    <div>
      {coverage.workloads === 0 ? (
        <span className="muted">no workload seen</span>
      ) : (
        <Badge tone={missing ? "warn" : "ok"}>
          {coverage.covered}/{coverage.workloads} with a policy
        </Badge>
      )}
      {missing > 0 && (
        <div className="small" data-testid="uncovered">
          without:{" "}
          {[...coverage.uncovered].map(([ns, n], i) => (
            <span key={ns}>
              {i > 0 && ", "}
              <Link to={recLink(cluster, ns)}>
                {n} in {ns}
              </Link>
            </span>
          ))}
        </div>
      )}
      {coverage.drift.length > 0 && <Badge tone="bad">drift: {coverage.drift.length}</Badge>}
      {coverage.failed.length > 0 && <div className="muted small">not readable: {coverage.failed.join(", ")}</div>}
    </div>
  );
}

function DriftAlerts({ clusters, coverage }: { clusters: Cluster[]; coverage: Map<string, Coverage> }) {
  const alerts = clusters.flatMap((c) => (coverage.get(c.id)?.drift ?? []).map((d) => ({ cluster: c, ...d })));
  if (!alerts.length)
    return (
      <p className="muted small" data-testid="drift-alerts">
        No traffic drift: no workload with a policy has new traffic its policy denies.
      </p>
    );
  return (
    <div className="alert error" role="alert" data-testid="drift-alerts">
      <strong>Traffic drift:</strong> new traffic that current policies deny
      <ul>
        {alerts.map((a) => (
          <li key={`${a.cluster.id}/${a.namespace}/${a.workload}`}>
            <Link to={`${recLink(a.cluster, a.namespace)}&workload=${encodeURIComponent(a.workload)}`}>
              {a.cluster.name} / {a.namespace} / {a.workload}
            </Link>{" "}
            ({a.edges} connection{a.edges === 1 ? "" : "s"})
          </li>
        ))}
      </ul>
    </div>
  );
}
