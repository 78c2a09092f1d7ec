// The visual editor's model of the admin tiers' policies: AdminNetworkPolicy and
// BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1): a subject (namespaces,
// or pods in namespaces, by labels), a priority (ANP), and ordered ingress and egress
// rules, each with a name, an action (Allow, Deny, Pass; the baseline has no Pass),
// peers (namespaces or pods by labels; networks by CIDR for egress) and ports (numbers,
// ranges, named ports). As with policyModel.ts, `parseAdmin` lists everything the form
// cannot show (matchExpressions, nodes and domainNames peers, ...) so that the form stays
// read-only rather than drop it, and `writeAdmin` writes the model back as YAML.
import { parseDocument, stringify } from "yaml";
import { labelsText } from "./policyModel";

export const ANP = "AdminNetworkPolicy";
export const BANP = "BaselineAdminNetworkPolicy";
export type AdminKind = typeof ANP | typeof BANP;
export type AdminAction = "Allow" | "Deny" | "Pass";
export const ACTIONS: AdminAction[] = ["Allow", "Deny", "Pass"];
export const ADMIN_PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
/** The baseline tier's policy has one name (the API server rejects any other). */
export const BANP_NAME = "default";

type Labels = Record<string, string>;

export interface Subject {
  /** namespaces: every pod of the namespaces selected; pods: the pods selected in them. */
  kind: "namespaces" | "pods";
  /** Empty: every namespace. */
  namespaceLabels: Labels;
  /** pods only; empty: every pod. */
  podLabels: Labels;
}

export interface AdminPeer {
  kind: "namespaces" | "pods" | "networks";
  namespaceLabels: Labels;
  podLabels: Labels;
  /** networks (egress only): CIDRs. */
  networks: string[];
}

export interface AdminPort {
  kind: "number" | "range" | "named";
  protocol: string;
  /** number: the port; range: its start. */
  port: number;
  end: number;
  name: string;
}

export interface AdminRule {
  direction: "ingress" | "egress";
  name: string;
  action: AdminAction;
  peers: AdminPeer[];
  /** Empty: every port. */
  ports: AdminPort[];
}

export interface AdminModel {
  kind: AdminKind;
  name: string;
  /** ANP only: 0-1000, lower numbers first. */
  priority: number;
  subject: Subject;
  rules: AdminRule[];
}

export interface ParsedAdmin {
  model: AdminModel | null;
  unsupported: string[];
  error: string | null;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function only(o: Obj, allowed: string[], path: string, bad: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad.push(path ? `${path}.${k}` : k);
}

function list(v: unknown, path: string, bad: string[]): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    bad.push(path);
    return [];
  }
  return v;
}

/** A `{matchLabels}` selector; `{}` selects everything. */
function selector(v: unknown, path: string, bad: string[]): Labels {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) {
    bad.push(path);
    return {};
  }
  only(v, ["matchLabels"], path, bad);
  if (v.matchLabels === undefined) return {};
  if (!isObj(v.matchLabels)) {
    bad.push(`${path}.matchLabels`);
    return {};
  }
  const out: Labels = {};
  for (const [k, x] of Object.entries(v.matchLabels)) {
    if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") out[k] = String(x);
    else bad.push(`${path}.matchLabels.${k}`);
  }
  return out;
}

export function adminKindOf(text: string): string | null {
  try {
    const doc = parseDocument(text).toJS() as unknown;
    return isObj(doc) && typeof doc.kind === "string" ? doc.kind : null;
  } catch {
    return null;
  }
}

export function isAdminKind(kind: string | null): kind is AdminKind {
  return kind === ANP || kind === BANP;
}

export function parseAdmin(text: string): ParsedAdmin {
  let doc: unknown;
  try {
    const parsed = parseDocument(text);
    if (parsed.errors.length) return { model: null, unsupported: [], error: parsed.errors[0]!.message };
    doc = parsed.toJS();
  } catch (e) {
    return { model: null, unsupported: [], error: e instanceof Error ? e.message : String(e) };
  }
  if (!isObj(doc) || !isAdminKind(typeof doc.kind === "string" ? doc.kind : null))
    return { model: null, unsupported: [], error: `this form edits ${ANP} and ${BANP}` };
  const kind = doc.kind as AdminKind;
  const bad: string[] = [];
  only(doc, ["apiVersion", "kind", "metadata", "spec"], "", bad);
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  only(meta, ["name"], "metadata", bad);
  const spec = isObj(doc.spec) ? doc.spec : {};
  only(spec, kind === ANP ? ["priority", "subject", "ingress", "egress"] : ["subject", "ingress", "egress"], "spec", bad);
  const model: AdminModel = {
    kind,
    name: String(meta.name ?? ""),
    priority: 0,
    subject: { kind: "namespaces", namespaceLabels: {}, podLabels: {} },
    rules: [],
  };
  if (kind === ANP) {
    if (typeof spec.priority === "number" && Number.isInteger(spec.priority)) model.priority = spec.priority;
    else if (spec.priority !== undefined) bad.push("spec.priority");
  }
  const subject = isObj(spec.subject) ? spec.subject : {};
  if (spec.subject !== undefined && !isObj(spec.subject)) bad.push("spec.subject");
  const keys = Object.keys(subject);
  if (keys.length > 1) bad.push("spec.subject (more than one of namespaces, pods)");
  if (subject.pods !== undefined) {
    const pods = isObj(subject.pods) ? subject.pods : {};
    only(pods, ["namespaceSelector", "podSelector"], "spec.subject.pods", bad);
    model.subject = {
      kind: "pods",
      namespaceLabels: selector(pods.namespaceSelector, "spec.subject.pods.namespaceSelector", bad),
      podLabels: selector(pods.podSelector, "spec.subject.pods.podSelector", bad),
    };
  } else if (subject.namespaces !== undefined) {
    model.subject.namespaceLabels = selector(subject.namespaces, "spec.subject.namespaces", bad);
  }
  only(subject, ["namespaces", "pods"], "spec.subject", bad);
  for (const direction of ["ingress", "egress"] as const) {
    list(spec[direction], `spec.${direction}`, bad).forEach((r, i) => {
      const rule = adminRule(r, direction, `spec.${direction}[${i}]`, bad, kind);
      if (rule) model.rules.push(rule);
    });
  }
  return { model, unsupported: bad, error: null };
}

function adminRule(r: unknown, direction: "ingress" | "egress", path: string, bad: string[], kind: AdminKind): AdminRule | null {
  if (!isObj(r)) {
    bad.push(path);
    return null;
  }
  const peersKey = direction === "ingress" ? "from" : "to";
  only(r, ["name", "action", peersKey, "ports"], path, bad);
  const action = String(r.action ?? "Allow");
  if (!(ACTIONS as string[]).includes(action) || (kind === BANP && action === "Pass")) bad.push(`${path}.action`);
  const rule: AdminRule = { direction, name: String(r.name ?? ""), action: action as AdminAction, peers: [], ports: [] };
  list(r[peersKey], `${path}.${peersKey}`, bad).forEach((p, i) => {
    const at = `${path}.${peersKey}[${i}]`;
    if (!isObj(p)) return bad.push(at);
    const keys = Object.keys(p);
    if (keys.length !== 1) return bad.push(`${at} (one of namespaces, pods${direction === "egress" ? ", networks" : ""})`);
    if (p.namespaces !== undefined)
      rule.peers.push({ kind: "namespaces", namespaceLabels: selector(p.namespaces, `${at}.namespaces`, bad), podLabels: {}, networks: [] });
    else if (p.pods !== undefined) {
      const pods = isObj(p.pods) ? p.pods : {};
      only(pods, ["namespaceSelector", "podSelector"], `${at}.pods`, bad);
      rule.peers.push({
        kind: "pods",
        namespaceLabels: selector(pods.namespaceSelector, `${at}.pods.namespaceSelector`, bad),
        podLabels: selector(pods.podSelector, `${at}.pods.podSelector`, bad),
        networks: [],
      });
    } else if (p.networks !== undefined && direction === "egress")
      rule.peers.push({ kind: "networks", namespaceLabels: {}, podLabels: {}, networks: list(p.networks, `${at}.networks`, bad).map(String) });
    else bad.push(`${at}.${keys[0]}`);
  });
  list(r.ports, `${path}.ports`, bad).forEach((p, i) => {
    const at = `${path}.ports[${i}]`;
    if (!isObj(p) || Object.keys(p).length !== 1) return bad.push(at);
    if (isObj(p.portNumber)) {
      only(p.portNumber, ["port", "protocol"], `${at}.portNumber`, bad);
      const port = Number(p.portNumber.port);
      if (!Number.isInteger(port)) return bad.push(`${at}.portNumber.port`);
      rule.ports.push({ kind: "number", protocol: String(p.portNumber.protocol ?? "TCP"), port, end: port, name: "" });
    } else if (isObj(p.portRange)) {
      only(p.portRange, ["start", "end", "protocol"], `${at}.portRange`, bad);
      if (!Number.isInteger(p.portRange.start) || !Number.isInteger(p.portRange.end)) return bad.push(`${at}.portRange`);
      rule.ports.push({
        kind: "range",
        protocol: String(p.portRange.protocol ?? "TCP"),
        port: Number(p.portRange.start),
        end: Number(p.portRange.end),
        name: "",
      });
    } else if (typeof p.namedPort === "string") rule.ports.push({ kind: "named", protocol: "", port: 0, end: 0, name: p.namedPort });
    else bad.push(at);
  });
  return rule;
}

// ---- writing --------------------------------------------------------------------------

function sel(labels: Labels): Obj {
  return Object.keys(labels).length ? { matchLabels: labels } : {};
}

function peerDoc(p: AdminPeer): Obj {
  if (p.kind === "networks") return { networks: p.networks };
  if (p.kind === "namespaces") return { namespaces: sel(p.namespaceLabels) };
  return { pods: { namespaceSelector: sel(p.namespaceLabels), podSelector: sel(p.podLabels) } };
}

function portDoc(p: AdminPort): Obj {
  if (p.kind === "named") return { namedPort: p.name };
  if (p.kind === "range") return { portRange: { protocol: p.protocol, start: p.port, end: p.end } };
  return { portNumber: { protocol: p.protocol, port: p.port } };
}

export function writeAdmin(m: AdminModel): string {
  const spec: Obj = {};
  if (m.kind === ANP) spec.priority = m.priority;
  spec.subject =
    m.subject.kind === "namespaces"
      ? { namespaces: sel(m.subject.namespaceLabels) }
      : { pods: { namespaceSelector: sel(m.subject.namespaceLabels), podSelector: sel(m.subject.podLabels) } };
  for (const direction of ["ingress", "egress"] as const) {
    const rules = m.rules.filter((r) => r.direction === direction);
    if (!rules.length) continue;
    spec[direction] = rules.map((r) => {
      const out: Obj = {};
      if (r.name) out.name = r.name;
      out.action = r.action;
      out[direction === "ingress" ? "from" : "to"] = r.peers.map(peerDoc);
      if (r.ports.length) out.ports = r.ports.map(portDoc);
      return out;
    });
  }
  const doc = {
    apiVersion: "policy.networking.k8s.io/v1alpha1",
    kind: m.kind,
    metadata: { name: m.kind === BANP ? BANP_NAME : m.name },
    spec,
  };
  return stringify(doc, { lineWidth: 0 });
}

export function emptyAdmin(kind: AdminKind, name = ""): AdminModel {
  return {
    kind,
    name: kind === BANP ? BANP_NAME : name,
    priority: 50,
    subject: { kind: "namespaces", namespaceLabels: {}, podLabels: {} },
    rules: [],
  };
}

/** `80/TCP, 8000-9000/UDP, http` <-> ports (protocol TCP by default; a name is a named port). */
export function adminPortsText(ports: AdminPort[]): string {
  return ports
    .map((p) => (p.kind === "named" ? p.name : `${p.kind === "range" ? `${p.port}-${p.end}` : p.port}/${p.protocol}`))
    .join(", ");
}

export function parseAdminPorts(text: string): AdminPort[] | string {
  const out: AdminPort[] = [];
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (/^[a-z][a-z0-9-]{0,14}$/.test(part)) {
      out.push({ kind: "named", protocol: "", port: 0, end: 0, name: part });
      continue;
    }
    const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(\w+))?$/.exec(part);
    if (!m) return `"${part}" is not a port, a range (8000-9000/TCP) or a port name`;
    const protocol = (m[3] ?? "TCP").toUpperCase();
    if (!(ADMIN_PROTOCOLS as readonly string[]).includes(protocol)) return `unknown protocol "${m[3]}" (TCP, UDP, SCTP)`;
    const port = Number(m[1]);
    const end = m[2] === undefined ? port : Number(m[2]);
    out.push({ kind: m[2] === undefined ? "number" : "range", protocol, port, end, name: "" });
  }
  return out;
}

export function networksText(networks: string[]): string {
  return networks.join(", ");
}

/** A subject or peer in words. */
export function selectionText(kind: "namespaces" | "pods", namespaceLabels: Labels, podLabels: Labels): string {
  const ns = labelsText(namespaceLabels);
  const namespaces = ns ? `namespaces ${ns}` : "every namespace";
  if (kind === "namespaces") return namespaces;
  return `${labelsText(podLabels) || "all pods"} in ${namespaces}`;
}

export function adminPeerText(p: AdminPeer): string {
  return p.kind === "networks" ? networksText(p.networks) || "no network" : selectionText(p.kind, p.namespaceLabels, p.podLabels);
}
