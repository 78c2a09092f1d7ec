import { useEffect, useState } from "react";
import { view } from "../api/client";
import type { Cluster, Edge, Page, SyncState } from "../api/types";
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
      {!can.fleetHealth && (
        <p className="muted small">
          Agent health and sync state are shown to cluster-wide roles; flow counts cover the namespaces you may see.
        </p>
      )}
    </section>
  );
}
