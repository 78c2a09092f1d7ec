import { useMemo, useState } from "react";
import { view } from "../api/client";
import type { Edge, Node } from "../api/types";
import { Failure, Loading } from "../components/common";
import { useLoad } from "../load";
import { useSession } from "../session";

const GROUP_W = 230;
const GAP_X = 140;
const GAP_Y = 40;
const NODE_H = 28;
const HEAD_H = 30;

export const nodeKey = (n: Node) => `${n.cluster}/${n.namespace}/${n.workload}`;
const groupKey = (n: Node) => `${n.cluster}/${n.namespace}`;
const nodeName = (n: Node) => n.workload || (n.namespace ? "(unknown workload)" : "world");

interface Placed {
  node: Node;
  x: number;
  y: number;
}

interface Group {
  key: string;
  cluster: string;
  namespace: string;
  x: number;
  y: number;
  h: number;
}

/** Groups (cluster/namespace) in a grid of columns, workloads stacked in each. */
export function layout(edges: Edge[]): { nodes: Map<string, Placed>; groups: Group[]; width: number; height: number } {
  const members = new Map<string, Map<string, Node>>();
  for (const e of edges)
    for (const n of [e.source, e.destination]) {
      const g = members.get(groupKey(n)) ?? new Map<string, Node>();
      g.set(nodeKey(n), n);
      members.set(groupKey(n), g);
    }
  const keys = [...members.keys()].sort();
  const columns = Math.max(1, Math.ceil(Math.sqrt(keys.length * 1.5)));
  const heights: number[] = new Array<number>(columns).fill(20);
  const nodes = new Map<string, Placed>();
  const groups: Group[] = [];
  keys.forEach((key) => {
    const column = heights.indexOf(Math.min(...heights));
    const list = [...members.get(key)!.values()].sort((a, b) => a.workload.localeCompare(b.workload));
    const x = 20 + column * (GROUP_W + GAP_X);
    const y = heights[column]!;
    const h = HEAD_H + list.length * NODE_H + 10;
    const first = list[0]!;
    groups.push({ key, cluster: first.cluster, namespace: first.namespace, x, y, h });
    list.forEach((node, i) => nodes.set(nodeKey(node), { node, x: x + 10, y: y + HEAD_H + i * NODE_H }));
    heights[column] = y + h + GAP_Y;
  });
  return { nodes, groups, width: 40 + columns * (GROUP_W + GAP_X) - GAP_X, height: Math.max(...heights) };
}

function tone(verdicts: Record<string, number>): "ok" | "bad" | "warn" {
  const dropped = (verdicts.DROPPED ?? 0) + (verdicts.ERROR ?? 0);
  if (!dropped) return "ok";
  return dropped === Object.values(verdicts).reduce((a, b) => a + b, 0) ? "bad" : "warn";
}

/** The ports of an edge; replies' ephemeral ports (32768 and up) are counted, not listed. */
export function ports(e: Edge, max = 6): string {
  const service = e.ports.filter((p) => p.port < 32768);
  const ephemeral = e.ports.length - service.length;
  const shown = service.slice(0, max).map((p) => (p.port ? `${p.port}/${p.protocol}` : p.protocol));
  if (service.length > max) shown.push(`+${service.length - max} more`);
  if (ephemeral) shown.push(`${ephemeral} ephemeral (replies)`);
  return shown.join(", ");
}

/** A curve between two nodes: right side to left side when the target is to the right,
 * left to right when it is to the left, a loop out of the right side in one column. */
function curve(a: Placed, b: Placed): string {
  const w = GROUP_W - 20;
  const ya = a.y + NODE_H / 2 - 2;
  const yb = b.y + NODE_H / 2 - 2;
  if (b.x > a.x) {
    const x1 = a.x + w, x2 = b.x, bend = Math.max(40, (x2 - x1) / 2);
    return `M ${x1} ${ya} C ${x1 + bend} ${ya}, ${x2 - bend} ${yb}, ${x2} ${yb}`;
  }
  if (b.x < a.x) {
    const x1 = a.x, x2 = b.x + w, bend = Math.max(40, (x1 - x2) / 2);
    return `M ${x1} ${ya} C ${x1 - bend} ${ya}, ${x2 + bend} ${yb}, ${x2} ${yb}`;
  }
  const x = a.x + w, out = 30 + Math.min(60, Math.abs(yb - ya) / 3);
  return `M ${x} ${ya} C ${x + out} ${ya}, ${x + out} ${yb}, ${x} ${yb}`;
}

export function ServiceMapPage() {
  const { api } = useSession();
  const [since, setSince] = useState("1h");
  const [verdict, setVerdict] = useState("");
  const [namespace, setNamespace] = useState("");
  const [cluster, setCluster] = useState("");
  const [search, setSearch] = useState("");
  const [focus, setFocus] = useState<string | null>(null);
  const answer = useLoad(
    (signal) =>
      api
        .get("/api/v1/flows/service-map", {
          query: { since, verdict: verdict ? [verdict] : null, namespace: namespace ? [namespace] : null },
          signal,
        })
        .then((a) => view<{ edges: Edge[] }>(a).edges),
    [api, since, verdict, namespace],
  );
  const clusters = useMemo(() => [...new Set((answer.data ?? []).map((e) => e.source.cluster))].sort(), [answer.data]);
  const chosen = cluster || clusters[0] || "";
  const edges = useMemo(() => (answer.data ?? []).filter((e) => e.source.cluster === chosen), [answer.data, chosen]);
  const shown = useMemo(
    () => (focus ? edges.filter((e) => nodeKey(e.source) === focus || nodeKey(e.destination) === focus) : edges),
    [edges, focus],
  );
  const placed = useMemo(() => layout(shown), [shown]);
  const needle = search.trim().toLowerCase();
  const matches = needle ? [...placed.nodes.keys()].filter((k) => k.toLowerCase().includes(needle)) : [];
  const focusEdges = focus ? shown : [];

  return (
    <section aria-labelledby="map-title">
      <h1 id="map-title">Service map</h1>
      <div className="filters" role="group" aria-label="Service map filters">
        <label>
          Cluster
          <select value={chosen} onChange={(e) => (setCluster(e.target.value), setFocus(null))}>
            {clusters.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Window
          <select value={since} onChange={(e) => setSince(e.target.value)}>
            {["5m", "15m", "1h", "6h", "24h"].map((w) => (
              <option key={w}>{w}</option>
            ))}
          </select>
        </label>
        <label>
          Verdict
          <select value={verdict} onChange={(e) => setVerdict(e.target.value)}>
            <option value="">any</option>
            <option>FORWARDED</option>
            <option>DROPPED</option>
          </select>
        </label>
        <label>
          Namespace
          <input value={namespace} onChange={(e) => setNamespace(e.target.value.trim())} placeholder="any" />
        </label>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (matches[0]) setFocus(matches[0]);
          }}
          role="search"
        >
          <label>
            Find workload
            <input value={search} onChange={(e) => setSearch(e.target.value)} placeholder="name, Enter to focus" />
          </label>
        </form>
        {focus && (
          <button type="button" onClick={() => setFocus(null)}>
            Show all workloads
          </button>
        )}
      </div>
      <p className="legend small">
        <span className="swatch ok" /> forwarded <span className="swatch warn" /> some dropped <span className="swatch bad" /> dropped
        (dashed) · {edges.length} edges {focus && `· focused on ${focus}`}
      </p>
      {answer.error && <Failure error={answer.error} what="the service map" />}
      {!answer.data && !answer.error && <Loading what="the service map" />}
      {answer.data && edges.length === 0 && <p className="muted">No flows in this window.</p>}
      {shown.length > 0 && (
        <div className="map-wrap">
          <svg
            className="map"
            width={placed.width}
            height={placed.height}
            viewBox={`0 0 ${placed.width} ${placed.height}`}
            role="img"
            aria-label={`Service map of ${chosen}: ${placed.nodes.size} workloads, ${shown.length} connections`}
            data-testid="service-map"
          >
            <defs>
              {(["ok", "warn", "bad"] as const).map((t) => (
                <marker key={t} id={`arrow-${t}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                  <path d="M 0 0 L 10 5 L 0 10 z" className={`arrow ${t}`} />
                </marker>
              ))}
            </defs>
            {placed.groups.map((g) => (
              <g key={g.key} className="ns-group">
                <rect x={g.x} y={g.y} width={GROUP_W} height={g.h} rx={8} />
                <text x={g.x + 10} y={g.y + 20} className="ns-title">
                  {g.namespace || "outside the cluster"}
                </text>
              </g>
            ))}
            {shown.map((e) => {
              const a = placed.nodes.get(nodeKey(e.source));
              const b = placed.nodes.get(nodeKey(e.destination));
              if (!a || !b) return null;
              const t = tone(e.verdicts);
              const width = Math.min(6, 1 + Math.log10(1 + e.flows));
              return (
                <path
                  key={`${nodeKey(e.source)}>${nodeKey(e.destination)}`}
                  d={curve(a, b)}
                  className={`edge ${t}`}
                  strokeWidth={width}
                  markerEnd={`url(#arrow-${t})`}
                  data-verdict={t}
                >
                  <title>
                    {nodeName(e.source)} → {nodeName(e.destination)}: {ports(e)} · {Object.entries(e.verdicts).map(([v, n]) => `${v} ${n}`).join(", ")}
                  </title>
                </path>
              );
            })}
            {[...placed.nodes.entries()].map(([key, p]) => {
              const hit = matches.includes(key);
              return (
                <g
                  key={key}
                  className={`node${hit ? " match" : ""}${focus === key ? " focused" : ""}`}
                  transform={`translate(${p.x} ${p.y})`}
                  tabIndex={0}
                  role="button"
                  aria-label={`${nodeName(p.node)} in ${p.node.namespace || "the world"}: focus`}
                  aria-pressed={focus === key}
                  onClick={() => setFocus(focus === key ? null : key)}
                  onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), setFocus(focus === key ? null : key))}
                  data-node={key}
                >
                  <rect width={GROUP_W - 20} height={NODE_H - 4} rx={5} />
                  <text x={8} y={17}>
                    {nodeName(p.node)}
                  </text>
                </g>
              );
            })}
          </svg>
        </div>
      )}
      {focus && (
        <table className="focus-edges" data-testid="focus-edges">
          <caption>Connections of {focus}</caption>
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Ports</th>
              <th scope="col">Verdicts</th>
            </tr>
          </thead>
          <tbody>
            {focusEdges.map((e) => (
              <tr key={`${nodeKey(e.source)}>${nodeKey(e.destination)}`}>
                <td>
                  {e.source.namespace}/{nodeName(e.source)}
                </td>
                <td>
                  {e.destination.namespace}/{nodeName(e.destination)}
                </td>
                <td>{ports(e)}</td>
                <td>
                  {Object.entries(e.verdicts)
                    .map(([v, n]) => `${v} ${n}`)
                    .join(", ")}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
