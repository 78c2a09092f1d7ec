// What a staged version would do: the stored flows the flow pipeline marked with its
// outcome (would deny / would allow), read with the flows filter's `netwarden` extension
// and grouped by connection. Shared by a staged policy and a staged blueprint.
import type { Api } from "../api/client";
import { view } from "../api/client";
import type { AuditEntry, FlowDocument, Page, StagedPreview } from "../api/types";
import { ago, useLoad } from "../load";
import { useSession } from "../session";
import { Badge } from "./common";
import { DataTable, WhenLoaded } from "./DataTable";
import { FilterBar, SelectFilter } from "./FilterBar";

export const OUTCOME_LIMIT = 5000;

interface Outcome {
  outcome: "deny" | "allow";
  cluster: string;
  source: string;
  destination: string;
  port: string;
  flows: number;
  last: string;
}

function end(e: FlowDocument["flow"]["source"], ip: string | undefined, names?: string[]): string {
  if (e?.namespace) return `${e.namespace}/${e.workloads?.[0]?.name ?? e.pod_name ?? "?"}`;
  return names?.[0] ?? ip ?? "?";
}

/** The cluster a stored flow came from: its node is `cluster/node`. */
function clusterOf(doc: FlowDocument): string {
  const node = doc.node_name ?? doc.flow.node_name ?? "";
  return node.includes("/") ? (node.split("/")[0] ?? "") : (doc.flow.source?.cluster_name ?? "");
}

/** Staged outcomes from the stored flows the user may see: flows marked would-deny /
 * would-allow by this staged version, grouped by connection (a reply counts on its
 * connection, client -> server), and by cluster when `byCluster` (a blueprint reaches
 * several). */
export function stagedOutcomes(docs: FlowDocument[], label: string, version: number, byCluster = false) {
  const totals = { deny: 0, allow: 0 };
  const groups = new Map<string, Outcome>();
  for (const doc of docs) {
    const f = doc.flow;
    for (const mark of f.extensions?.staged ?? []) {
      if (mark.policy !== label || mark.version !== version) continue;
      totals[mark.outcome]++;
      const l4 = f.l4 ? Object.entries(f.l4)[0] : undefined;
      let source = end(f.source, f.IP?.source, undefined);
      let destination = end(f.destination, f.IP?.destination, f.destination_names);
      let port = l4 ? `${l4[1].destination_port ?? ""}/${l4[0]}` : "";
      if (f.is_reply) {
        [source, destination] = [destination, source];
        port = l4 ? `${l4[1].source_port ?? ""}/${l4[0]}` : "";
      }
      const cluster = byCluster ? clusterOf(doc) : "";
      const key = `${mark.outcome}|${cluster}|${source}|${destination}|${port}`;
      const g = groups.get(key) ?? { outcome: mark.outcome, cluster, source, destination, port, flows: 0, last: "" };
      g.flows++;
      const t = doc.time ?? f.time ?? "";
      if (t > g.last) g.last = t;
      groups.set(key, g);
    }
  }
  return { totals, connections: [...groups.values()].sort((a, b) => b.flows - a.flows) };
}

/** The window select, the totals and the connections of one staged version (`label` as
 * flows carry it: `Kind/namespace/name` or `Blueprint//name`). The caller keeps the
 * window (`hours`): a promotion reports the same one. */
export function StagedOutcomes({
  label,
  version,
  hours,
  onHours,
  byCluster = false,
}: {
  label: string;
  version: number;
  hours: number;
  onHours(hours: number): void;
  byCluster?: boolean;
}) {
  const { api } = useSession();
  const outcomes = useLoad(
    async (signal) => {
      const since = new Date(Date.now() - hours * 3600_000).toISOString();
      const read = (key: "staged_denied" | "staged_allowed") =>
        api
          .post("/api/v1/flows/query", {
            body: { whitelist: [{ netwarden: { [key]: [label] } }], since, limit: OUTCOME_LIMIT, order: "desc", last: false },
            signal,
          })
          .then((a) => view<{ flows: FlowDocument[]; count: number }>(a));
      const [denied, allowed] = await Promise.all([read("staged_denied"), read("staged_allowed")]);
      return {
        ...stagedOutcomes([...denied.flows, ...allowed.flows], label, version, byCluster),
        truncated: denied.count >= OUTCOME_LIMIT || allowed.count >= OUTCOME_LIMIT,
      };
    },
    [api, label, version, hours, byCluster],
  );
  return (
    <>
      <FilterBar>
        <SelectFilter
          label="Window"
          value={hours}
          onChange={(v) => onHours(Number(v))}
          options={[1, 6, 24, 168].map((h) => [h, `last ${h < 24 ? `${h} h` : `${h / 24} d`}`] as const)}
        />
        <button type="button" onClick={outcomes.reload}>
          Refresh
        </button>
      </FilterBar>
      <WhenLoaded load={outcomes} what="staged outcomes">
        {(o) => (
          <>
            <p data-testid="staged-totals">
              <Badge tone={o.totals.deny ? "bad" : "ok"}>{o.totals.deny.toLocaleString()} would be denied</Badge>{" "}
              <Badge tone="neutral">{o.totals.allow.toLocaleString()} would be allowed</Badge>
              {o.truncated && <span className="muted small"> (the newest {OUTCOME_LIMIT.toLocaleString()} flows of each outcome)</span>}
            </p>
            {o.connections.length > 0 ? (
              <DataTable
                caption="Connections the staged version decides"
                columns={["Outcome", ...(byCluster ? ["Cluster"] : []), "From", "To", "Port", { title: "Flows", num: true }, "Last seen"]}
                rows={o.connections.slice(0, 100)}
                row={(c) => (
                  <tr key={`${c.outcome}|${c.cluster}|${c.source}|${c.destination}|${c.port}`}>
                    <td>
                      <Badge tone={c.outcome === "deny" ? "bad" : "ok"}>would {c.outcome}</Badge>
                    </td>
                    {byCluster && <td>{c.cluster}</td>}
                    <td>{c.source}</td>
                    <td>{c.destination}</td>
                    <td>{c.port}</td>
                    <td className="num">{c.flows.toLocaleString()}</td>
                    <td>{c.last ? ago(c.last) : "—"}</td>
                  </tr>
                )}
              />
            ) : (
              <p className="muted">No flow marked yet: flows are marked as they arrive after the staged version was published.</p>
            )}
          </>
        )}
      </WhenLoaded>
    </>
  );
}

/** The staged outcomes the server attached to the promotion's audit entry (`after.
 * staged_preview`: its own count over the same hours) of object `id`; null when not found.
 * For readers of the audit log only. */
export async function promotionRecord(api: Api, id: string): Promise<StagedPreview | null> {
  const audit = view<Page<AuditEntry>>(await api.get("/api/v1/audit", { query: { action: "promote", limit: 20 } }));
  const entry = audit.items.find((a) => a.id === id);
  return ((entry?.after as { staged_preview?: StagedPreview } | null)?.staged_preview ?? null) as StagedPreview | null;
}

export function PromotionRecord({ preview }: { preview: StagedPreview }) {
  return (
    <p data-testid="promotion-record">
      Recorded in the audit entry: over the last {preview.hours} h, {preview.flows.deny} flows would have been denied and{" "}
      {preview.flows.allow} allowed ({preview.connections_total} connections).
    </p>
  );
}
