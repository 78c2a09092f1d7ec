// What a policy allows, drawn: the selected pods in the middle, the peers of ingress
// rules on the left, those of egress rules on the right, ports on the edges. A direction
// the policy isolates with no rule says "nothing allowed". Admin policies draw each peer
// with its rule's action (Allow, Deny, Pass), never by colour alone.
import { adminPeerText, adminPortsText, BANP, selectionText, type AdminModel } from "../adminModel";
import { isCilium, labelsText, peerText, portsText, type PolicyModel } from "../policyModel";

const W = 720;
const NODE_W = 200;
const NODE_H = 40;
const GAP = 16;

interface Placed {
  label: string;
  ports: string;
  /** allow / deny / pass (admin rules); allow for the namespaced kinds. */
  action: "allow" | "deny" | "pass";
  y: number;
}

interface Drawing {
  selected: string;
  where: string;
  titles: { ingress: string; egress: string };
  /** The direction is isolated: no rule means nothing gets through. */
  isolated: { ingress: boolean; egress: boolean };
  ins: Placed[];
  outs: Placed[];
  describe: string;
}

function clip(text: string, max = 28): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function policyDrawing(model: PolicyModel): Drawing {
  const own = model.flavor === "ccnp" ? null : model.namespace;
  const place = (direction: "ingress" | "egress") =>
    model.rules
      .filter((r) => r.direction === direction)
      .flatMap((rule) => {
        const ports = portsText(rule.ports) || "any port";
        const peers = rule.peers.length ? rule.peers.map((p) => peerText(p, own)) : ["any peer"];
        return peers.map((label) => ({ label, ports: rule.dns.length ? `${ports} + DNS proxy` : ports, action: "allow" as const, y: 0 }));
      });
  const ins = place("ingress");
  const outs = place("egress");
  const isolated = {
    ingress: model.ingress && (!isCilium(model.flavor) || model.defaultDeny.ingress),
    egress: model.egress && (!isCilium(model.flavor) || model.defaultDeny.egress),
  };
  const title = (d: "ingress" | "egress") =>
    isolated[d] ? "only what is drawn" : model[d] ? "adds what is drawn (no default deny)" : "not restricted";
  const selected = labelsText(model.podLabels) || "all pods";
  const where = model.flavor === "ccnp" ? `in ${model.namespace || "every namespace"}` : model.namespace ? `in ${model.namespace}` : "selected pods";
  const words = (d: "ingress" | "egress", items: Placed[]) =>
    isolated[d] || model[d]
      ? items.length
        ? `${d === "ingress" ? "from" : "to"} ${items.map((p) => `${p.label} on ${p.ports}`).join("; ")}${isolated[d] ? "" : " (added to other policies' allows)"}`
        : "nothing allowed"
      : "not restricted";
  const describe = `Pods ${selected} ${model.flavor === "ccnp" ? where : `in ${model.namespace || "the namespace"}`}: ingress ${words("ingress", ins)}; egress ${words("egress", outs)}.`;
  return { selected, where, titles: { ingress: title("ingress"), egress: title("egress") }, isolated, ins, outs, describe };
}

function adminDrawing(model: AdminModel): Drawing {
  const place = (direction: "ingress" | "egress") =>
    model.rules
      .filter((r) => r.direction === direction)
      .flatMap((rule) => {
        const ports = adminPortsText(rule.ports) || "any port";
        const action = rule.action.toLowerCase() as Placed["action"];
        const peers = rule.peers.length ? rule.peers.map(adminPeerText) : ["no peer (matches nothing)"];
        return peers.map((label) => ({ label: `${rule.action}: ${label}`, ports, action, y: 0 }));
      });
  const ins = place("ingress");
  const outs = place("egress");
  const subject = model.subject;
  const selected = subject.kind === "pods" ? labelsText(subject.podLabels) || "all pods" : "all pods";
  const where = `in ${selectionText("namespaces", subject.namespaceLabels, {})}`;
  const tier = model.kind === BANP ? "baseline tier" : `admin tier, priority ${model.priority}`;
  const title = "first match decides";
  const words = (items: Placed[]) => (items.length ? items.map((p) => `${p.label} on ${p.ports}`).join("; ") : "no rule");
  return {
    selected,
    where,
    titles: { ingress: title, egress: title },
    isolated: { ingress: false, egress: false },
    ins,
    outs,
    describe: `${model.kind} ${model.name}, ${tier}: subject ${selectionText(subject.kind, subject.namespaceLabels, subject.podLabels)}; ingress: ${words(ins)}; egress: ${words(outs)}.`,
  };
}

export function PolicyPicture({ model }: { model: PolicyModel }) {
  return <Picture drawing={policyDrawing(model)} />;
}

export function AdminPicture({ model }: { model: AdminModel }) {
  return <Picture drawing={adminDrawing(model)} />;
}

function Picture({ drawing: d }: { drawing: Drawing }) {
  const rows = Math.max(d.ins.length, d.outs.length, 1);
  const height = Math.max(160, rows * (NODE_H + GAP) + 60);
  const cy = height / 2;
  const layout = (items: Placed[]) => {
    const total = items.length * (NODE_H + GAP) - GAP;
    items.forEach((p, i) => (p.y = cy - total / 2 + i * (NODE_H + GAP)));
  };
  layout(d.ins);
  layout(d.outs);
  const cx = W / 2 - NODE_W / 2;
  return (
    <figure className="policy-picture" data-testid="policy-picture">
      <svg viewBox={`0 0 ${W} ${height}`} role="img" aria-label={d.describe} width="100%" style={{ maxWidth: W }}>
        <defs>
          {(["allow", "deny", "pass"] as const).map((a) => (
            <marker key={a} id={`pp-arrow-${a}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" className={`pp-arrow ${a}`} />
            </marker>
          ))}
        </defs>
        <text x={10} y={18} className="pp-title">
          Ingress: {d.titles.ingress}
        </text>
        <text x={W - 10} y={18} className="pp-title" textAnchor="end">
          Egress: {d.titles.egress}
        </text>
        {d.ins.map((p, i) => (
          <g key={`in${i}`} className={`pp-peer ${p.action}`} data-direction="ingress" data-action={p.action}>
            <path d={`M${10 + NODE_W},${p.y + NODE_H / 2} C${cx - 40},${p.y + NODE_H / 2} ${cx - 60},${cy} ${cx},${cy}`} className="pp-edge" markerEnd={`url(#pp-arrow-${p.action})`} />
            <rect x={10} y={p.y} width={NODE_W} height={NODE_H} rx={6} />
            <text x={20} y={p.y + 17}>{clip(p.label)}</text>
            <text x={20} y={p.y + 33} className="pp-ports">
              {clip(p.ports, 30)}
            </text>
          </g>
        ))}
        {d.outs.map((p, i) => (
          <g key={`out${i}`} className={`pp-peer ${p.action}`} data-direction="egress" data-action={p.action}>
            <path d={`M${cx + NODE_W},${cy} C${cx + NODE_W + 60},${cy} ${W - NODE_W - 50},${p.y + NODE_H / 2} ${W - 10 - NODE_W},${p.y + NODE_H / 2}`} className="pp-edge" markerEnd={`url(#pp-arrow-${p.action})`} />
            <rect x={W - 10 - NODE_W} y={p.y} width={NODE_W} height={NODE_H} rx={6} />
            <text x={W - NODE_W} y={p.y + 17}>{clip(p.label)}</text>
            <text x={W - NODE_W} y={p.y + 33} className="pp-ports">
              {clip(p.ports, 30)}
            </text>
          </g>
        ))}
        {d.isolated.ingress && d.ins.length === 0 && (
          <text x={10 + NODE_W / 2} y={cy} textAnchor="middle" className="pp-deny">
            ✕ nothing allowed in
          </text>
        )}
        {d.isolated.egress && d.outs.length === 0 && (
          <text x={W - 10 - NODE_W / 2} y={cy} textAnchor="middle" className="pp-deny">
            ✕ nothing allowed out
          </text>
        )}
        <g className="pp-selected">
          <rect x={cx} y={cy - 30} width={NODE_W} height={60} rx={10} />
          <text x={W / 2} y={cy - 6} textAnchor="middle" className="pp-strong">
            {clip(d.selected, 26)}
          </text>
          <text x={W / 2} y={cy + 14} textAnchor="middle" className="pp-ports">
            {clip(d.where, 30)}
          </text>
        </g>
      </svg>
      <figcaption className="muted small">{d.describe}</figcaption>
    </figure>
  );
}
