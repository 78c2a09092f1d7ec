// What a policy allows, drawn: the selected pods in the middle, the peers allowed in
// (ingress) on the left, the peers allowed out (egress) on the right, ports on the edges.
// A direction the policy isolates with no rule says "nothing allowed".
import { labelsText, peerText, portsText, type PolicyModel } from "../policyModel";

const W = 720;
const NODE_W = 200;
const NODE_H = 40;
const GAP = 16;

interface Placed {
  label: string;
  ports: string;
  y: number;
}

function place(model: PolicyModel, direction: "ingress" | "egress"): Placed[] {
  const out: Placed[] = [];
  for (const rule of model.rules.filter((r) => r.direction === direction)) {
    const ports = portsText(rule.ports) || "any port";
    const peers = rule.peers.length ? rule.peers.map((p) => peerText(p, model.namespace)) : ["any peer"];
    for (const label of peers) out.push({ label, ports: rule.dns.length ? `${ports} + DNS proxy` : ports, y: 0 });
  }
  return out;
}

function clip(text: string, max = 28): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function PolicyPicture({ model }: { model: PolicyModel }) {
  const ins = place(model, "ingress");
  const outs = place(model, "egress");
  const rows = Math.max(ins.length, outs.length, 1);
  const height = Math.max(160, rows * (NODE_H + GAP) + 60);
  const cy = height / 2;
  const layout = (items: Placed[]) => {
    const total = items.length * (NODE_H + GAP) - GAP;
    items.forEach((p, i) => (p.y = cy - total / 2 + i * (NODE_H + GAP)));
  };
  layout(ins);
  layout(outs);
  const cx = W / 2 - NODE_W / 2;
  const selected = labelsText(model.podLabels) || "all pods";
  const describe =
    `Pods ${selected} in ${model.namespace || "the namespace"}: ` +
    `ingress ${model.ingress ? (ins.length ? `from ${ins.map((p) => `${p.label} on ${p.ports}`).join("; ")}` : "nothing allowed") : "not restricted"}; ` +
    `egress ${model.egress ? (outs.length ? `to ${outs.map((p) => `${p.label} on ${p.ports}`).join("; ")}` : "nothing allowed") : "not restricted"}.`;
  return (
    <figure className="policy-picture" data-testid="policy-picture">
      <svg viewBox={`0 0 ${W} ${height}`} role="img" aria-label={describe} width="100%" style={{ maxWidth: W }}>
        <defs>
          <marker id="pp-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="pp-arrow" />
          </marker>
        </defs>
        <text x={10} y={18} className="pp-title">
          Ingress: {model.ingress ? "only what is drawn" : "not restricted"}
        </text>
        <text x={W - 10} y={18} className="pp-title" textAnchor="end">
          Egress: {model.egress ? "only what is drawn" : "not restricted"}
        </text>
        {ins.map((p, i) => (
          <g key={`in${i}`} className="pp-peer" data-direction="ingress">
            <path d={`M${10 + NODE_W},${p.y + NODE_H / 2} C${cx - 40},${p.y + NODE_H / 2} ${cx - 60},${cy} ${cx},${cy}`} className="pp-edge" markerEnd="url(#pp-arrow)" />
            <rect x={10} y={p.y} width={NODE_W} height={NODE_H} rx={6} />
            <text x={20} y={p.y + 17}>{clip(p.label)}</text>
            <text x={20} y={p.y + 33} className="pp-ports">
              {clip(p.ports, 30)}
            </text>
          </g>
        ))}
        {outs.map((p, i) => (
          <g key={`out${i}`} className="pp-peer" data-direction="egress">
            <path d={`M${cx + NODE_W},${cy} C${cx + NODE_W + 60},${cy} ${W - NODE_W - 50},${p.y + NODE_H / 2} ${W - 10 - NODE_W},${p.y + NODE_H / 2}`} className="pp-edge" markerEnd="url(#pp-arrow)" />
            <rect x={W - 10 - NODE_W} y={p.y} width={NODE_W} height={NODE_H} rx={6} />
            <text x={W - NODE_W} y={p.y + 17}>{clip(p.label)}</text>
            <text x={W - NODE_W} y={p.y + 33} className="pp-ports">
              {clip(p.ports, 30)}
            </text>
          </g>
        ))}
        {model.ingress && ins.length === 0 && (
          <text x={10 + NODE_W / 2} y={cy} textAnchor="middle" className="pp-deny">
            ✕ nothing allowed in
          </text>
        )}
        {model.egress && outs.length === 0 && (
          <text x={W - 10 - NODE_W / 2} y={cy} textAnchor="middle" className="pp-deny">
            ✕ nothing allowed out
          </text>
        )}
        <g className="pp-selected">
          <rect x={cx} y={cy - 30} width={NODE_W} height={60} rx={10} />
          <text x={W / 2} y={cy - 6} textAnchor="middle" className="pp-strong">
            {clip(selected, 26)}
          </text>
          <text x={W / 2} y={cy + 14} textAnchor="middle" className="pp-ports">
            {model.namespace ? `in ${clip(model.namespace, 22)}` : "selected pods"}
          </text>
        </g>
      </svg>
      <figcaption className="muted small">{describe}</figcaption>
    </figure>
  );
}
