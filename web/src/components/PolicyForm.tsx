// The visual policy editor: a form over the model of policyModel.ts. Every change
// writes the YAML again (the text editor shows the same text); YAML the form cannot show
// keeps the form read-only and lists what it cannot show.
import { useEffect, useState } from "react";
import {
  ENTITIES,
  labelsText,
  parseLabels,
  parsePolicy,
  parsePorts,
  portsText,
  writePolicy,
  type Peer,
  type PeerKind,
  type PolicyModel,
  type Rule,
} from "../policyModel";
import { PolicyPicture } from "./PolicyPicture";

const PEER_KINDS: [PeerKind, string][] = [
  ["pods", "Pods (labels)"],
  ["namespace", "Namespace"],
  ["cidr", "CIDR"],
  ["fqdn", "FQDN"],
  ["entity", "Entity"],
];

/** A text field that keeps what is typed and reports a parsed value (or its error). */
function ParsedInput<T>({
  label,
  value,
  format,
  parse,
  onValue,
  placeholder,
  disabled,
}: {
  label: string;
  value: T;
  format(v: T): string;
  parse(text: string): T | string;
  onValue(v: T): void;
  placeholder?: string;
  disabled?: boolean;
}) {
  const [text, setText] = useState(format(value));
  const [error, setError] = useState("");
  const formatted = format(value);
  useEffect(() => {
    setText((t) => {
      const parsed = parse(t);
      return typeof parsed !== "string" && format(parsed) === formatted ? t : formatted;
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [formatted]);
  return (
    <label className={error ? "invalid" : ""}>
      {label}
      <input
        value={text}
        placeholder={placeholder}
        disabled={disabled}
        aria-invalid={error !== ""}
        onChange={(e) => {
          setText(e.target.value);
          const parsed = parse(e.target.value);
          if (typeof parsed === "string") setError(parsed);
          else {
            setError("");
            onValue(parsed);
          }
        }}
      />
      {error && <span className="bad-text small">{error}</span>}
    </label>
  );
}

export function PolicyForm({ text, onChange, disabledReason }: { text: string; onChange(text: string): void; disabledReason?: string }) {
  const parsed = parsePolicy(text);
  if (parsed.error || !parsed.model)
    return (
      <div className="alert" role="alert" data-testid="form-unavailable">
        The form cannot show this draft: {parsed.error}. Edit it as YAML.
      </div>
    );
  const model = parsed.model;
  const readOnly = parsed.unsupported.length > 0 || disabledReason !== undefined;
  const set = (next: PolicyModel) => onChange(writePolicy(next));
  const setRule = (index: number, rule: Rule | null) =>
    set({ ...model, rules: rule ? model.rules.map((r, i) => (i === index ? rule : r)) : model.rules.filter((_, i) => i !== index) });
  const addRule = (direction: "ingress" | "egress") =>
    set({
      ...model,
      [direction]: true,
      rules: [...model.rules, { direction, peers: [{ kind: "pods", labels: {}, namespace: "", value: "" }], ports: [{ port: direction === "ingress" ? "8080" : "443", protocol: "TCP" }], dns: [] }],
    });

  return (
    <div className="policy-form-layout">
      <fieldset className="policy-form" disabled={readOnly} data-testid="policy-form">
        <legend className="sr-only">Visual policy editor</legend>
        {parsed.unsupported.length > 0 && (
          <div className="alert" role="alert" data-testid="form-unsupported">
            This YAML has what the form cannot show, so the form is read-only (edit it as YAML):
            <ul>
              {parsed.unsupported.slice(0, 8).map((u) => (
                <li key={u}>
                  <code>{u}</code>
                </li>
              ))}
            </ul>
          </div>
        )}
        {disabledReason && <p className="muted">{disabledReason}</p>}
        <div className="filters">
          <label>
            Kind
            <select
              value={model.flavor}
              onChange={(e) => set({ ...model, flavor: e.target.value as PolicyModel["flavor"], rules: model.rules.map((r) => ({ ...r, dns: e.target.value === "k8s" ? [] : r.dns, peers: e.target.value === "k8s" ? r.peers.filter((p) => p.kind !== "fqdn" && p.kind !== "entity") : r.peers })) })}
            >
              <option value="cilium">CiliumNetworkPolicy</option>
              <option value="k8s">NetworkPolicy</option>
            </select>
          </label>
          <label>
            Name
            <input value={model.name} onChange={(e) => set({ ...model, name: e.target.value.trim() })} required />
          </label>
          <label>
            Namespace
            <input value={model.namespace} onChange={(e) => set({ ...model, namespace: e.target.value.trim() })} required />
          </label>
          <ParsedInput
            label="Selected pods (labels)"
            value={model.podLabels}
            format={labelsText}
            parse={parseLabels}
            onValue={(podLabels) => set({ ...model, podLabels })}
            placeholder="app=web (empty: every pod)"
          />
        </div>
        {model.flavor === "k8s" && (
          <div className="filters" role="group" aria-label="Directions">
            <label className="check">
              <input type="checkbox" checked={model.ingress} onChange={(e) => set({ ...model, ingress: e.target.checked })} /> Restrict ingress
            </label>
            <label className="check">
              <input type="checkbox" checked={model.egress} onChange={(e) => set({ ...model, egress: e.target.checked })} /> Restrict egress
            </label>
          </div>
        )}
        {(["ingress", "egress"] as const).map((direction) => (
          <section key={direction} aria-label={direction === "ingress" ? "Allow ingress from" : "Allow egress to"}>
            <h3>{direction === "ingress" ? "Allow ingress from" : "Allow egress to"}</h3>
            {model.rules.map((rule, index) =>
              rule.direction !== direction ? null : (
                <RuleEditor key={index} index={index} rule={rule} flavor={model.flavor} onChange={(r) => setRule(index, r)} />
              ),
            )}
            <button type="button" onClick={() => addRule(direction)}>
              Add {direction} rule
            </button>
          </section>
        ))}
      </fieldset>
      <PolicyPicture model={model} />
    </div>
  );
}

function RuleEditor({ index, rule, flavor, onChange }: { index: number; rule: Rule; flavor: PolicyModel["flavor"]; onChange(rule: Rule | null): void }) {
  const setPeer = (i: number, peer: Peer | null) =>
    onChange({ ...rule, peers: peer ? rule.peers.map((p, j) => (j === i ? peer : p)) : rule.peers.filter((_, j) => j !== i) });
  const kinds = PEER_KINDS.filter(([k]) => flavor === "cilium" || (k !== "fqdn" && k !== "entity"));
  const name = `Rule ${index + 1}`;
  return (
    <div className="rule-card" role="group" aria-label={`${name} (${rule.direction})`} data-testid="rule-card">
      {rule.peers.length === 0 && <p className="muted small">Any peer (no peer listed).</p>}
      {rule.peers.map((peer, i) => (
        <div className="peer-row" key={i}>
          <label>
            Peer type
            <select value={peer.kind} onChange={(e) => setPeer(i, { kind: e.target.value as PeerKind, labels: {}, namespace: "", value: e.target.value === "entity" ? "world" : "" })}>
              {kinds.map(([k, t]) => (
                <option key={k} value={k}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          {peer.kind === "pods" && (
            <ParsedInput label="Peer labels" value={peer.labels} format={labelsText} parse={parseLabels} onValue={(labels) => setPeer(i, { ...peer, labels })} placeholder="app=frontend" />
          )}
          {(peer.kind === "pods" || peer.kind === "namespace") && (
            <label>
              {peer.kind === "pods" ? "In namespace" : "Namespace"}
              <input value={peer.namespace} onChange={(e) => setPeer(i, { ...peer, namespace: e.target.value.trim() })} placeholder={peer.kind === "pods" ? "the policy's" : "name"} />
            </label>
          )}
          {(peer.kind === "cidr" || peer.kind === "fqdn") && (
            <label>
              {peer.kind === "cidr" ? "CIDR" : "FQDN"}
              <input value={peer.value} onChange={(e) => setPeer(i, { ...peer, value: e.target.value.trim() })} placeholder={peer.kind === "cidr" ? "10.0.0.0/8" : "api.example.com or *.example.com"} />
            </label>
          )}
          {peer.kind === "entity" && (
            <label>
              Entity
              <select value={peer.value} onChange={(e) => setPeer(i, { ...peer, value: e.target.value })}>
                {ENTITIES.map((x) => (
                  <option key={x}>{x}</option>
                ))}
              </select>
            </label>
          )}
          <button type="button" onClick={() => setPeer(i, null)} aria-label={`Remove peer ${i + 1} of ${name}`}>
            Remove peer
          </button>
        </div>
      ))}
      <div className="peer-row">
        <ParsedInput label="Ports" value={rule.ports} format={portsText} parse={parsePorts} onValue={(ports) => onChange({ ...rule, ports })} placeholder="443/TCP, 53/ANY (empty: all)" />
        {flavor === "cilium" && rule.direction === "egress" && (
          <label className="check">
            <input type="checkbox" checked={rule.dns.length > 0} onChange={(e) => onChange({ ...rule, dns: e.target.checked ? ["*"] : [] })} /> DNS proxy sees lookups (for FQDN rules)
          </label>
        )}
        <button type="button" onClick={() => onChange({ ...rule, peers: [...rule.peers, { kind: "pods", labels: {}, namespace: "", value: "" }] })}>
          Add peer
        </button>
        <button type="button" onClick={() => onChange(null)}>
          Remove {name.toLowerCase()}
        </button>
      </div>
    </div>
  );
}
