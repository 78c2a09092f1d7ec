// The visual editor's model of a policy: the common cases of NetworkPolicy,
// CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (pods selected by labels, for
// the cluster-wide kind in one namespace or all; rules allowing peers by workload labels,
// namespace, CIDR, FQDN (Cilium) or entity (Cilium), on ports; Cilium's enableDefaultDeny).
// The admin kinds have their own model (adminModel.ts). `parsePolicy` reads YAML
// into the model and lists everything the form cannot show (then the form stays
// read-only, so nothing is lost); `writePolicy` writes the model back as YAML. The text
// editor and the form edit the same YAML: the form rewrites it only when the form changes.
import { parseDocument, stringify } from "yaml";

/** cilium: CiliumNetworkPolicy; ccnp: CiliumClusterwideNetworkPolicy; k8s: NetworkPolicy. */
export type Flavor = "cilium" | "ccnp" | "k8s";

export const FLAVOR_KIND: Record<Flavor, string> = {
  cilium: "CiliumNetworkPolicy",
  ccnp: "CiliumClusterwideNetworkPolicy",
  k8s: "NetworkPolicy",
};

/** Cilium's flavors: FQDN and entity peers, the DNS proxy rule, enableDefaultDeny. */
export function isCilium(flavor: Flavor): boolean {
  return flavor !== "k8s";
}
export type PeerKind = "pods" | "namespace" | "cidr" | "fqdn" | "entity";
export const PROTOCOLS = ["TCP", "UDP", "SCTP", "ANY"] as const;

export interface Peer {
  kind: PeerKind;
  /** pods: the peer's labels (namespace aside); empty: every pod of the namespace. */
  labels: Record<string, string>;
  /** pods and namespace: the namespace (empty for pods: the policy's own; in a
   * cluster-wide policy, every namespace). */
  namespace: string;
  /** cidr: a CIDR; fqdn: a name or a pattern with `*`; entity: world, host, cluster, ... */
  value: string;
}

export interface Port {
  port: string;
  protocol: string;
}

export interface Rule {
  direction: "ingress" | "egress";
  /** No peer: any peer (on the ports). */
  peers: Peer[];
  /** No port: every port. */
  ports: Port[];
  /** Cilium DNS proxy patterns on the ports (`rules.dns[].matchPattern`), for toFQDNs. */
  dns: string[];
}

export interface PolicyModel {
  flavor: Flavor;
  name: string;
  /** The policy's namespace; for the cluster-wide kind, the namespace of the selected
   * pods (the `k8s:io.kubernetes.pod.namespace` label; empty: every namespace). */
  namespace: string;
  podLabels: Record<string, string>;
  /** Directions the policy isolates (NetworkPolicy policyTypes; Cilium: a direction
   * with rules). A direction on with no rule denies everything in it. */
  ingress: boolean;
  egress: boolean;
  /** Cilium's enableDefaultDeny per direction (true, the default: a direction with rules
   * denies what they do not allow; false: the rules only add allows). */
  defaultDeny: { ingress: boolean; egress: boolean };
  rules: Rule[];
}

export interface Parsed {
  model: PolicyModel | null;
  /** What the form cannot show, with its path ("spec.ingress[0].fromRequires"). */
  unsupported: string[];
  /** The YAML does not parse, or is not one policy object. */
  error: string | null;
}

const CILIUM_NS = ["k8s:io.kubernetes.pod.namespace", "io.kubernetes.pod.namespace"];
const K8S_NS_NAME = "kubernetes.io/metadata.name";
export const ENTITIES = ["world", "cluster", "host", "remote-node", "kube-apiserver", "all"];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, path: string, bad: string[]): Record<string, string> {
  if (!isObj(v)) {
    bad.push(path);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") out[k] = String(x);
    else bad.push(`${path}.${k}`);
  }
  return out;
}

/** Keys of `o` other than `allowed`, reported as unsupported. */
function only(o: Obj, allowed: string[], path: string, bad: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad.push(`${path}.${k}`);
}

/** A `{matchLabels}` selector (no matchExpressions). */
function selector(v: unknown, path: string, bad: string[]): Record<string, string> {
  if (v === null || v === undefined) return {};
  if (!isObj(v)) {
    bad.push(path);
    return {};
  }
  only(v, ["matchLabels"], path, bad);
  return v.matchLabels === undefined ? {} : stringMap(v.matchLabels, `${path}.matchLabels`, bad);
}

function list(v: unknown, path: string, bad: string[]): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    bad.push(path);
    return [];
  }
  return v;
}

export function parsePolicy(text: string): Parsed {
  let doc: unknown;
  try {
    const parsed = parseDocument(text);
    if (parsed.errors.length) return { model: null, unsupported: [], error: parsed.errors[0]!.message };
    doc = parsed.toJS();
  } catch (e) {
    return { model: null, unsupported: [], error: e instanceof Error ? e.message : String(e) };
  }
  if (!isObj(doc)) return { model: null, unsupported: [], error: "not a policy object" };
  const kind = doc.kind;
  const flavor = (Object.keys(FLAVOR_KIND) as Flavor[]).find((f) => FLAVOR_KIND[f] === kind) ?? null;
  if (!flavor)
    return {
      model: null,
      unsupported: [],
      error: `this form edits ${Object.values(FLAVOR_KIND).join(", ")}, not ${String(kind ?? "this object")}`,
    };
  const bad: string[] = [];
  only(doc, ["apiVersion", "kind", "metadata", "spec"], "", bad);
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  only(meta, flavor === "ccnp" ? ["name"] : ["name", "namespace"], "metadata", bad);
  const spec = isObj(doc.spec) ? doc.spec : {};
  const model: PolicyModel = {
    flavor,
    name: String(meta.name ?? ""),
    namespace: flavor === "ccnp" ? "" : String(meta.namespace ?? ""),
    podLabels: {},
    ingress: false,
    egress: false,
    defaultDeny: { ingress: true, egress: true },
    rules: [],
  };
  if (isCilium(flavor)) {
    only(spec, ["endpointSelector", "enableDefaultDeny", "ingress", "egress"], "spec", bad);
    if (spec.endpointSelector === undefined) bad.push("spec (no endpointSelector: a nodeSelector or none)");
    model.podLabels = selector(spec.endpointSelector, "spec.endpointSelector", bad);
    if (flavor === "ccnp") {
      // The selected pods' namespace is a label of the cluster-wide selector.
      const nsKey = CILIUM_NS.find((k) => k in model.podLabels);
      if (nsKey) {
        model.namespace = model.podLabels[nsKey]!;
        delete model.podLabels[nsKey];
      }
    }
    if (spec.enableDefaultDeny !== undefined) {
      const dd = isObj(spec.enableDefaultDeny) ? spec.enableDefaultDeny : {};
      if (!isObj(spec.enableDefaultDeny)) bad.push("spec.enableDefaultDeny");
      only(dd, ["ingress", "egress"], "spec.enableDefaultDeny", bad);
      for (const d of ["ingress", "egress"] as const) {
        if (dd[d] === undefined) continue;
        if (typeof dd[d] === "boolean") model.defaultDeny[d] = dd[d];
        else bad.push(`spec.enableDefaultDeny.${d}`);
      }
    }
    for (const direction of ["ingress", "egress"] as const) {
      const rules = list(spec[direction], `spec.${direction}`, bad);
      rules.forEach((r, i) => {
        const path = `spec.${direction}[${i}]`;
        const rule = ciliumRule(r, direction, path, bad);
        if (rule) model.rules.push(rule);
      });
      model[direction] = model.rules.some((r) => r.direction === direction);
    }
  } else {
    only(spec, ["podSelector", "policyTypes", "ingress", "egress"], "spec", bad);
    model.podLabels = selector(spec.podSelector ?? {}, "spec.podSelector", bad);
    const types = list(spec.policyTypes, "spec.policyTypes", bad).map(String);
    for (const direction of ["ingress", "egress"] as const) {
      const rules = list(spec[direction], `spec.${direction}`, bad);
      rules.forEach((r, i) => {
        const rule = k8sRule(r, direction, `spec.${direction}[${i}]`, bad);
        if (rule) model.rules.push(rule);
      });
      const named = direction === "ingress" ? "Ingress" : "Egress";
      // Without policyTypes, Kubernetes isolates ingress always, egress when it has rules.
      model[direction] = spec.policyTypes !== undefined ? types.includes(named) : direction === "ingress" || rules.length > 0;
    }
  }
  return { model, unsupported: bad, error: null };
}

function ports(v: unknown, path: string, bad: string[], flavor: Flavor): Port[] {
  const out: Port[] = [];
  list(v, path, bad).forEach((p, i) => {
    const at = `${path}[${i}]`;
    if (!isObj(p)) return bad.push(at);
    only(p, ["port", "protocol"], at, bad);
    out.push({ port: p.port === undefined ? "" : String(p.port), protocol: String(p.protocol ?? (flavor === "k8s" ? "TCP" : "ANY")) });
  });
  return out;
}

function ciliumRule(r: unknown, direction: "ingress" | "egress", path: string, bad: string[]): Rule | null {
  if (!isObj(r)) {
    bad.push(path);
    return null;
  }
  const from = direction === "ingress";
  const keys = from
    ? ["fromEndpoints", "fromCIDR", "fromEntities", "toPorts"]
    : ["toEndpoints", "toCIDR", "toFQDNs", "toEntities", "toPorts"];
  only(r, keys, path, bad);
  if (Object.keys(r).length === 0) bad.push(`${path} (an empty rule: allow everything from the selected endpoints' point of view)`);
  const peers: Peer[] = [];
  list(r[from ? "fromEndpoints" : "toEndpoints"], `${path}.${from ? "fromEndpoints" : "toEndpoints"}`, bad).forEach((s, i) => {
    const labels = selector(s, `${path}.${from ? "fromEndpoints" : "toEndpoints"}[${i}]`, bad);
    const nsKey = CILIUM_NS.find((k) => k in labels);
    const namespace = nsKey ? labels[nsKey]! : "";
    if (nsKey) delete labels[nsKey];
    peers.push(Object.keys(labels).length === 0 && namespace ? { kind: "namespace", labels: {}, namespace, value: "" } : { kind: "pods", labels, namespace, value: "" });
  });
  for (const c of list(r[from ? "fromCIDR" : "toCIDR"], `${path}.${from ? "fromCIDR" : "toCIDR"}`, bad))
    peers.push({ kind: "cidr", labels: {}, namespace: "", value: String(c) });
  list(r[from ? "fromEntities" : "toEntities"], `${path}.${from ? "fromEntities" : "toEntities"}`, bad).forEach((e) =>
    peers.push({ kind: "entity", labels: {}, namespace: "", value: String(e) }),
  );
  if (!from)
    list(r.toFQDNs, `${path}.toFQDNs`, bad).forEach((f, i) => {
      if (!isObj(f)) return bad.push(`${path}.toFQDNs[${i}]`);
      only(f, ["matchName", "matchPattern"], `${path}.toFQDNs[${i}]`, bad);
      peers.push({ kind: "fqdn", labels: {}, namespace: "", value: String(f.matchName ?? f.matchPattern ?? "") });
    });
  const rule: Rule = { direction, peers, ports: [], dns: [] };
  const toPorts = list(r.toPorts, `${path}.toPorts`, bad);
  if (toPorts.length > 1) bad.push(`${path}.toPorts (more than one port group)`);
  const group = toPorts[0];
  if (isObj(group)) {
    only(group, ["ports", "rules"], `${path}.toPorts[0]`, bad);
    rule.ports = ports(group.ports, `${path}.toPorts[0].ports`, bad, "cilium");
    if (group.rules !== undefined) {
      const rules = isObj(group.rules) ? group.rules : {};
      only(rules, ["dns"], `${path}.toPorts[0].rules`, bad);
      list(rules.dns, `${path}.toPorts[0].rules.dns`, bad).forEach((d, i) => {
        if (isObj(d) && typeof d.matchPattern === "string" && Object.keys(d).length === 1) rule.dns.push(d.matchPattern);
        else bad.push(`${path}.toPorts[0].rules.dns[${i}]`);
      });
    }
  }
  return rule;
}

function k8sRule(r: unknown, direction: "ingress" | "egress", path: string, bad: string[]): Rule | null {
  if (!isObj(r)) {
    bad.push(path);
    return null;
  }
  const peersKey = direction === "ingress" ? "from" : "to";
  only(r, [peersKey, "ports"], path, bad);
  const peers: Peer[] = [];
  list(r[peersKey], `${path}.${peersKey}`, bad).forEach((p, i) => {
    const at = `${path}.${peersKey}[${i}]`;
    if (!isObj(p)) return bad.push(at);
    only(p, ["podSelector", "namespaceSelector", "ipBlock"], at, bad);
    if (p.ipBlock !== undefined) {
      const block = isObj(p.ipBlock) ? p.ipBlock : {};
      only(block, ["cidr"], `${at}.ipBlock`, bad);
      peers.push({ kind: "cidr", labels: {}, namespace: "", value: String(block.cidr ?? "") });
      return;
    }
    let namespace = "";
    if (p.namespaceSelector !== undefined) {
      const nsLabels = selector(p.namespaceSelector, `${at}.namespaceSelector`, bad);
      const keys = Object.keys(nsLabels);
      if (keys.length === 1 && keys[0] === K8S_NS_NAME) namespace = nsLabels[K8S_NS_NAME]!;
      else bad.push(`${at}.namespaceSelector (only ${K8S_NS_NAME} is shown: namespaces by name)`);
    }
    const labels = p.podSelector !== undefined ? selector(p.podSelector, `${at}.podSelector`, bad) : {};
    if (p.podSelector === undefined && namespace) peers.push({ kind: "namespace", labels: {}, namespace, value: "" });
    else peers.push({ kind: "pods", labels, namespace, value: "" });
  });
  return { direction, peers, ports: ports(r.ports, `${path}.ports`, bad, "k8s"), dns: [] };
}

// ---- writing --------------------------------------------------------------------------

function portValue(port: string, flavor: Flavor): string | number {
  if (flavor === "cilium") return port;
  return /^\d+$/.test(port) ? Number(port) : port;
}

function ciliumPeers(rule: Rule): Obj {
  const from = rule.direction === "ingress";
  const out: Obj = {};
  const endpoints = rule.peers
    .filter((p) => p.kind === "pods" || p.kind === "namespace")
    .map((p) => {
      const labels: Record<string, string> = { ...(p.kind === "pods" ? p.labels : {}) };
      if (p.namespace) labels["k8s:io.kubernetes.pod.namespace"] = p.namespace;
      return { matchLabels: labels };
    });
  if (endpoints.length) out[from ? "fromEndpoints" : "toEndpoints"] = endpoints;
  const cidrs = rule.peers.filter((p) => p.kind === "cidr").map((p) => p.value);
  if (cidrs.length) out[from ? "fromCIDR" : "toCIDR"] = cidrs;
  const entities = rule.peers.filter((p) => p.kind === "entity").map((p) => p.value);
  if (entities.length) out[from ? "fromEntities" : "toEntities"] = entities;
  const fqdns = rule.peers.filter((p) => p.kind === "fqdn").map((p) => (p.value.includes("*") ? { matchPattern: p.value } : { matchName: p.value }));
  if (fqdns.length && !from) out.toFQDNs = fqdns;
  if (rule.ports.length || rule.dns.length) {
    const group: Obj = {};
    if (rule.ports.length) group.ports = rule.ports.map((p) => ({ port: p.port, protocol: p.protocol || "ANY" }));
    if (rule.dns.length) group.rules = { dns: rule.dns.map((d) => ({ matchPattern: d })) };
    out.toPorts = [group];
  }
  return out;
}

function k8sPeers(rule: Rule): Obj {
  const out: Obj = {};
  const peers = rule.peers.map((p) => {
    if (p.kind === "cidr") return { ipBlock: { cidr: p.value } };
    const peer: Obj = {};
    if (p.namespace) peer.namespaceSelector = { matchLabels: { [K8S_NS_NAME]: p.namespace } };
    if (p.kind === "pods") peer.podSelector = Object.keys(p.labels).length ? { matchLabels: p.labels } : {};
    return peer;
  });
  if (peers.length) out[rule.direction === "ingress" ? "from" : "to"] = peers;
  if (rule.ports.length)
    out.ports = rule.ports.map((p) => ({ ...(p.protocol && p.protocol !== "ANY" ? { protocol: p.protocol } : {}), ...(p.port ? { port: portValue(p.port, "k8s") } : {}) }));
  return out;
}

export function writePolicy(m: PolicyModel): string {
  const metadata: Obj = { name: m.name };
  if (m.namespace && m.flavor !== "ccnp") metadata.namespace = m.namespace;
  const labels = m.flavor === "ccnp" && m.namespace ? { ...m.podLabels, "k8s:io.kubernetes.pod.namespace": m.namespace } : m.podLabels;
  const selectorOf = Object.keys(labels).length ? { matchLabels: labels } : {};
  let doc: Obj;
  if (isCilium(m.flavor)) {
    const spec: Obj = { endpointSelector: selectorOf };
    if (!m.defaultDeny.ingress || !m.defaultDeny.egress) spec.enableDefaultDeny = { ...m.defaultDeny };
    for (const direction of ["ingress", "egress"] as const) {
      const rules = m.rules.filter((r) => r.direction === direction);
      if (rules.length) spec[direction] = rules.map(ciliumPeers);
    }
    doc = { apiVersion: "cilium.io/v2", kind: FLAVOR_KIND[m.flavor], metadata, spec };
  } else {
    const spec: Obj = { podSelector: selectorOf, policyTypes: [...(m.ingress ? ["Ingress"] : []), ...(m.egress ? ["Egress"] : [])] };
    for (const direction of ["ingress", "egress"] as const) {
      const rules = m.rules.filter((r) => r.direction === direction);
      if (rules.length && m[direction]) spec[direction] = rules.map(k8sPeers);
    }
    doc = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata, spec };
  }
  return stringify(doc, { lineWidth: 0 });
}

/** `app=web, tier=api` <-> {app: "web", tier: "api"}. */
export function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

export function parseLabels(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const at = part.indexOf("=");
    if (at <= 0) return `"${part}" is not key=value`;
    out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return out;
}

/** `443/TCP, 53/ANY, 8080` <-> ports (the protocol defaults to TCP). */
export function portsText(ports: Port[]): string {
  return ports.map((p) => (p.port ? `${p.port}/${p.protocol}` : p.protocol)).join(", ");
}

export function parsePorts(text: string): Port[] | string {
  const out: Port[] = [];
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [port = "", protocol = "TCP"] = part.split("/").map((s) => s.trim());
    const proto = protocol.toUpperCase();
    if (!(PROTOCOLS as readonly string[]).includes(proto)) return `unknown protocol "${protocol}" (TCP, UDP, SCTP, ANY)`;
    if (!/^(\d{1,5}|[a-z][a-z0-9-]{0,14})$/.test(port)) return `"${port}" is not a port number or name`;
    out.push({ port, protocol: proto });
  }
  return out;
}

/** A peer in words, for the picture and the form (`ownNamespace` null: a cluster-wide
 * policy, whose pod peers without a namespace are in any namespace). */
export function peerText(p: Peer, ownNamespace: string | null): string {
  switch (p.kind) {
    case "pods": {
      const labels = labelsText(p.labels) || "all pods";
      if (ownNamespace === null) return `${labels} in ${p.namespace || "any namespace"}`;
      const ns = p.namespace && p.namespace !== ownNamespace ? ` in ${p.namespace}` : "";
      return `${labels}${ns}`;
    }
    case "namespace":
      return `namespace ${p.namespace}`;
    case "cidr":
      return p.value;
    case "fqdn":
      return p.value;
    case "entity":
      return `entity ${p.value}`;
  }
}

export function emptyModel(flavor: Flavor, namespace: string): PolicyModel {
  return {
    flavor,
    name: "",
    namespace: flavor === "ccnp" ? "" : namespace,
    podLabels: {},
    ingress: true,
    egress: false,
    defaultDeny: { ingress: true, egress: true },
    rules: [],
  };
}
