// The visual policy editor: a form over the model of policyModel.ts (NetworkPolicy,
// CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy) or of adminModel.ts
// (AdminNetworkPolicy, BaselineAdminNetworkPolicy), chosen by the draft's kind. Every
// change writes the YAML again (the text editor shows the same text); YAML the form
// cannot show keeps the form read-only and lists what it cannot show.
import { useEffect, useState } from "react";
import {
  ACTIONS,
  adminKindOf,
  adminPortsText,
  ANP,
  BANP,
  BANP_NAME,
  emptyAdmin,
  isAdminKind,
  parseAdmin,
  parseAdminPorts,
  writeAdmin,
  type AdminKind,
  type AdminModel,
  type AdminPeer,
  type AdminRule,
} from "../adminModel";
import {
  ENTITIES,
  FLAVOR_KIND,
  isCilium,
  labelsText,
  parseLabels,
  parsePolicy,
  parsePorts,
  portsText,
  writePolicy,
  type Flavor,
  type Peer,
  type PeerKind,
  type PolicyModel,
  type Rule,
} from "../policyModel";
import { AdminPicture, PolicyPicture } from "./PolicyPicture";

/** Every kind the forms edit, in the Kind select of both. */
const KIND_OPTIONS: [string, string][] = [
  ["CiliumNetworkPolicy", "CiliumNetworkPolicy"],
  ["NetworkPolicy", "NetworkPolicy"],
  ["CiliumClusterwideNetworkPolicy", "CiliumClusterwideNetworkPolicy (cluster-wide)"],
  [ANP, "AdminNetworkPolicy (cluster-wide, admin tier)"],
  [BANP, "BaselineAdminNetworkPolicy (cluster-wide, baseline tier)"],
];

const FLAVOR_OF: Record<string, Flavor> = Object.fromEntries(Object.entries(FLAVOR_KIND).map(([f, k]) => [k, f as Flavor]));

/** Switching to a kind of the other form starts that form afresh (keeping the name):
 * offered only while the draft has no rule, so that nothing written is dropped. */
function KindSelect({ kind, hasRules, onKind }: { kind: string; hasRules: boolean; onKind(kind: string): void }) {
  const admin = isAdminKind(kind);
  return (
    <label>
      Kind
      <select value={kind} onChange={(e) => onKind(e.target.value)}>
        {KIND_OPTIONS.map(([k, text]) => (
          <option key={k} value={k} disabled={hasRules && isAdminKind(k) !== admin}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

function Unsupported({ paths }: { paths: string[] }) {
  if (!paths.length) return null;
  return (
    <div className="alert" role="alert" data-testid="form-unsupported">
      This YAML has what the form cannot show, so the form is read-only (edit it as YAML):
      <ul>
        {paths.slice(0, 8).map((u) => (
          <li key={u}>
            <code>{u}</code>
          </li>
        ))}
      </ul>
    </div>
  );
}

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
  if (isAdminKind(adminKindOf(text))) return <AdminPolicyForm text={text} onChange={onChange} disabledReason={disabledReason} />;
  return <NamespacedForm text={text} onChange={onChange} disabledReason={disabledReason} />;
}

/** NetworkPolicy, CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy. */
function NamespacedForm({ text, onChange, disabledReason }: { text: string; onChange(text: string): void; disabledReason?: string }) {
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
  const setKind = (kind: string) => {
    if (isAdminKind(kind)) return onChange(writeAdmin(emptyAdmin(kind, model.name)));
    const flavor = FLAVOR_OF[kind]!;
    const k8s = flavor === "k8s";
    set({
      ...model,
      flavor,
      rules: model.rules.map((r) => ({ ...r, dns: k8s ? [] : r.dns, peers: k8s ? r.peers.filter((p) => p.kind !== "fqdn" && p.kind !== "entity") : r.peers })),
    });
  };
  const clusterWide = model.flavor === "ccnp";

  return (
    <div className="policy-form-layout">
      <fieldset className="policy-form" disabled={readOnly} data-testid="policy-form">
        <legend className="sr-only">Visual policy editor</legend>
        <Unsupported paths={parsed.unsupported} />
        {disabledReason && <p className="muted">{disabledReason}</p>}
        <div className="filters">
          <KindSelect kind={FLAVOR_KIND[model.flavor]} hasRules={model.rules.length > 0} onKind={setKind} />
          <label>
            Name
            <input value={model.name} onChange={(e) => set({ ...model, name: e.target.value.trim() })} required />
          </label>
          <label>
            {clusterWide ? "Namespace of the selected pods" : "Namespace"}
            <input
              value={model.namespace}
              onChange={(e) => set({ ...model, namespace: e.target.value.trim() })}
              required={!clusterWide}
              placeholder={clusterWide ? "every namespace" : ""}
            />
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
        {isCilium(model.flavor) && (
          <div className="filters" role="group" aria-label="Default deny">
            {(["ingress", "egress"] as const).map((d) => (
              <label className="check" key={d}>
                <input
                  type="checkbox"
                  checked={model.defaultDeny[d]}
                  onChange={(e) => set({ ...model, defaultDeny: { ...model.defaultDeny, [d]: e.target.checked } })}
                />{" "}
                Default deny {d} (rules allow only what they list)
              </label>
            ))}
          </div>
        )}
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
  const kinds = PEER_KINDS.filter(([k]) => isCilium(flavor) || (k !== "fqdn" && k !== "entity"));
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
              <input
                value={peer.namespace}
                onChange={(e) => setPeer(i, { ...peer, namespace: e.target.value.trim() })}
                placeholder={peer.kind === "pods" ? (flavor === "ccnp" ? "any namespace" : "the policy's") : "name"}
              />
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
        {isCilium(flavor) && rule.direction === "egress" && (
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

// ---- AdminNetworkPolicy, BaselineAdminNetworkPolicy ------------------------------------

function AdminPolicyForm({ text, onChange, disabledReason }: { text: string; onChange(text: string): void; disabledReason?: string }) {
  const parsed = parseAdmin(text);
  if (parsed.error || !parsed.model)
    return (
      <div className="alert" role="alert" data-testid="form-unavailable">
        The form cannot show this draft: {parsed.error}. Edit it as YAML.
      </div>
    );
  const model = parsed.model;
  const readOnly = parsed.unsupported.length > 0 || disabledReason !== undefined;
  const set = (next: AdminModel) => onChange(writeAdmin(next));
  const setRule = (index: number, rule: AdminRule | null) =>
    set({ ...model, rules: rule ? model.rules.map((r, i) => (i === index ? rule : r)) : model.rules.filter((_, i) => i !== index) });
  const addRule = (direction: "ingress" | "egress") =>
    set({
      ...model,
      rules: [
        ...model.rules,
        { direction, name: "", action: "Allow", peers: [{ kind: "namespaces", namespaceLabels: {}, podLabels: {}, networks: [] }], ports: [] },
      ],
    });
  const setKind = (kind: string) => {
    if (!isAdminKind(kind)) {
      const flavor = FLAVOR_OF[kind]!;
      return onChange(
        writePolicy({ flavor, name: model.name, namespace: "", podLabels: {}, ingress: true, egress: false, defaultDeny: { ingress: true, egress: true }, rules: [] }),
      );
    }
    set({ ...model, kind: kind as AdminKind, name: kind === BANP ? BANP_NAME : model.name === BANP_NAME ? "" : model.name });
  };
  const baseline = model.kind === BANP;
  const subject = model.subject;
  return (
    <div className="policy-form-layout">
      <fieldset className="policy-form" disabled={readOnly} data-testid="policy-form">
        <legend className="sr-only">Visual policy editor</legend>
        <Unsupported paths={parsed.unsupported} />
        {disabledReason && <p className="muted">{disabledReason}</p>}
        <div className="filters">
          <KindSelect kind={model.kind} hasRules={model.rules.length > 0} onKind={setKind} />
          <label>
            Name
            <input value={model.name} onChange={(e) => set({ ...model, name: e.target.value.trim() })} readOnly={baseline} required />
          </label>
          {!baseline && (
            <label>
              Priority
              <input
                type="number"
                min={0}
                max={1000}
                value={model.priority}
                onChange={(e) => set({ ...model, priority: Math.max(0, Math.min(1000, Math.round(Number(e.target.value) || 0))) })}
              />
            </label>
          )}
        </div>
        <p className="muted small">
          {baseline
            ? "The baseline tier: after every namespaced policy, before the default allow. Its one policy is named default; rules Allow or Deny."
            : "The admin tier: before every namespaced policy, the lowest priority first. Rules Allow, Deny or Pass (leave it to the namespaced policies)."}{" "}
          In each direction the first rule that matches decides.
        </p>
        <div className="filters" role="group" aria-label="Subject">
          <label>
            Subject
            <select
              value={subject.kind}
              onChange={(e) => set({ ...model, subject: { ...subject, kind: e.target.value as AdminModel["subject"]["kind"] } })}
            >
              <option value="namespaces">Every pod of namespaces</option>
              <option value="pods">Pods in namespaces</option>
            </select>
          </label>
          <ParsedInput
            label="Namespace labels"
            value={subject.namespaceLabels}
            format={labelsText}
            parse={parseLabels}
            onValue={(namespaceLabels) => set({ ...model, subject: { ...subject, namespaceLabels } })}
            placeholder="kubernetes.io/metadata.name=shop (empty: every namespace)"
          />
          {subject.kind === "pods" && (
            <ParsedInput
              label="Pod labels"
              value={subject.podLabels}
              format={labelsText}
              parse={parseLabels}
              onValue={(podLabels) => set({ ...model, subject: { ...subject, podLabels } })}
              placeholder="app=web (empty: every pod)"
            />
          )}
        </div>
        {(["ingress", "egress"] as const).map((direction) => (
          <section key={direction} aria-label={direction === "ingress" ? "Ingress rules" : "Egress rules"}>
            <h3>{direction === "ingress" ? "Ingress rules (from)" : "Egress rules (to)"}</h3>
            {model.rules.map((rule, index) =>
              rule.direction !== direction ? null : (
                <AdminRuleEditor key={index} index={index} rule={rule} baseline={baseline} onChange={(r) => setRule(index, r)} />
              ),
            )}
            <button type="button" onClick={() => addRule(direction)}>
              Add {direction} rule
            </button>
          </section>
        ))}
      </fieldset>
      <AdminPicture model={model} />
    </div>
  );
}

function AdminRuleEditor({ index, rule, baseline, onChange }: { index: number; rule: AdminRule; baseline: boolean; onChange(rule: AdminRule | null): void }) {
  const setPeer = (i: number, peer: AdminPeer | null) =>
    onChange({ ...rule, peers: peer ? rule.peers.map((p, j) => (j === i ? peer : p)) : rule.peers.filter((_, j) => j !== i) });
  const name = `Rule ${index + 1}`;
  const kinds: [AdminPeer["kind"], string][] = [
    ["namespaces", "Namespaces (labels)"],
    ["pods", "Pods (labels) in namespaces"],
    ...(rule.direction === "egress" ? ([["networks", "Networks (CIDRs)"]] as [AdminPeer["kind"], string][]) : []),
  ];
  return (
    <div className={`rule-card ${rule.action.toLowerCase()}`} role="group" aria-label={`${name} (${rule.direction})`} data-testid="rule-card">
      <div className="peer-row">
        <label>
          Rule name
          <input value={rule.name} onChange={(e) => onChange({ ...rule, name: e.target.value })} placeholder="optional" />
        </label>
        <label>
          Action
          <select value={rule.action} onChange={(e) => onChange({ ...rule, action: e.target.value as AdminRule["action"] })}>
            {ACTIONS.map((a) => (
              <option key={a} value={a} disabled={baseline && a === "Pass"}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <ParsedInput
          label="Ports"
          value={rule.ports}
          format={adminPortsText}
          parse={parseAdminPorts}
          onValue={(ports) => onChange({ ...rule, ports })}
          placeholder="80/TCP, 8000-9000/TCP, http (empty: all)"
        />
      </div>
      {rule.peers.length === 0 && <p className="muted small">No peer: the rule matches nothing.</p>}
      {rule.peers.map((peer, i) => (
        <div className="peer-row" key={i}>
          <label>
            Peer type
            <select value={peer.kind} onChange={(e) => setPeer(i, { kind: e.target.value as AdminPeer["kind"], namespaceLabels: {}, podLabels: {}, networks: [] })}>
              {kinds.map(([k, t]) => (
                <option key={k} value={k}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          {peer.kind !== "networks" && (
            <ParsedInput
              label="Namespace labels"
              value={peer.namespaceLabels}
              format={labelsText}
              parse={parseLabels}
              onValue={(namespaceLabels) => setPeer(i, { ...peer, namespaceLabels })}
              placeholder="empty: every namespace"
            />
          )}
          {peer.kind === "pods" && (
            <ParsedInput
              label="Pod labels"
              value={peer.podLabels}
              format={labelsText}
              parse={parseLabels}
              onValue={(podLabels) => setPeer(i, { ...peer, podLabels })}
              placeholder="empty: every pod"
            />
          )}
          {peer.kind === "networks" && (
            <ParsedInput
              label="Networks"
              value={peer.networks}
              format={(n) => n.join(", ")}
              parse={parseNetworks}
              onValue={(networks) => setPeer(i, { ...peer, networks })}
              placeholder="10.0.0.0/8, 192.168.0.0/16"
            />
          )}
          <button type="button" onClick={() => setPeer(i, null)} aria-label={`Remove peer ${i + 1} of ${name}`}>
            Remove peer
          </button>
        </div>
      ))}
      <div className="peer-row">
        <button type="button" onClick={() => onChange({ ...rule, peers: [...rule.peers, { kind: "namespaces", namespaceLabels: {}, podLabels: {}, networks: [] }] })}>
          Add peer
        </button>
        <button type="button" onClick={() => onChange(null)}>
          Remove {name.toLowerCase()}
        </button>
      </div>
    </div>
  );
}

function parseNetworks(text: string): string[] | string {
  const out = text.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = out.find((c) => !/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(c));
  return bad ? `"${bad}" is not a CIDR` : out;
}
