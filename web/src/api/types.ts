// The shapes of the answers the console reads. The routes answer free-form JSON
// objects in the OpenAPI document, so these views name the fields used; they follow
// the control plane's *_doc functions and the Hubble flow JSON.

export interface Grants {
  org_admin: boolean;
  org_viewer: boolean;
  infra_admin: string[];
  infra_viewer: string[];
  project_admin: string[];
  project_viewer: string[];
  workspace_admin: string[];
  workspace_viewer: string[];
}

export interface Me {
  id: string;
  subject: string;
  org: string;
  grants: Grants;
}

export interface Cluster {
  id: string;
  name: string;
  project: string;
  labels: Record<string, string>;
  cni_profile: string;
  cilium_version: string;
  policy_enforcement: string;
  enforcement_mode: string;
  last_heartbeat: string | null;
}

export interface Spool {
  pending_batches: number;
  pending_flows: number;
  dropped_batches: number;
  dropped_flows: number;
}

export interface SyncState {
  cluster: string;
  state: string;
  desired_generation: number;
  applied_generation: number;
  errors: unknown[];
  drift: unknown[];
  unmanaged: unknown[];
  last_heartbeat: string | null;
  spool: Spool | null;
}

export interface PolicySummary {
  id: string;
  kind: string;
  name: string;
  namespace: string | null;
  scope: string;
  cluster: string;
  project: string;
  workspace: string | null;
  version: number;
  deleted: boolean;
  updated_at: string;
  /** The current version is staged (not enforced); enforced_version stays in force. */
  staged?: boolean;
  enforced_version?: number | null;
}

export interface PolicyDoc extends PolicySummary {
  yaml?: string;
  author?: string;
  message?: string;
}

export interface Version {
  version: number;
  author: string;
  message: string;
  created_at: string;
  git_commit: string | null;
  yaml: string;
  staged?: boolean;
}

export interface ConnectionChange {
  from: string;
  to: string;
  added: string | null;
  removed: string | null;
}

export interface PolicyDiff {
  from: number;
  to: number;
  text: string;
  rules: { added: string[]; removed: string[] };
  connections:
    | { available: true; cluster: string; pods: number; changes: ConnectionChange[]; truncated: boolean }
    | { available: false; reason: string };
}

export interface Validation {
  valid: true;
  kind: string;
  name: string;
  namespace: string | null;
  scope: string;
  rules: number;
  may_write: boolean;
}

export interface Project {
  id: string;
  name: string;
  description?: string;
}

export interface Blueprint {
  id: string;
  name: string;
  project: string | null;
  version: number;
  /** The version every assigned cluster holds (a rollout in waves may be between). */
  released_version?: number | null;
  deleted: boolean;
  staged?: boolean;
  updated_at: string;
  yaml?: string;
  author?: string;
  message?: string;
}

export interface ClusterRef {
  id: string;
  name: string;
  /** Writes reaching it need a preview token (the server's production selector). */
  production: boolean;
}

/** POST /api/v1/blueprints/validate: what a valid draft is and where it goes. */
export interface BlueprintValidation {
  valid: true;
  kind: "Blueprint";
  name: string;
  blueprint: string | null;
  version: number;
  project: string | null;
  extends: string | null;
  cluster_policies: number;
  namespace_defaults: number;
  policies: number;
  /** The clusters this version is assigned to. */
  assigned: ClusterRef[];
  /** The clusters the write changes (also those a previous version was assigned to). */
  reached: ClusterRef[];
  waves: { name: string; clusters: string[] }[];
  preview_required: boolean;
  may_write: boolean;
}

/** POST /api/v1/blueprints/preview: the change replayed on each production cluster it
 * reaches, with one token for the write. */
export interface BlueprintPreview {
  change: { kind: string; blueprint: string; version: number };
  reached: { id: string; name: string; previewed: boolean }[];
  clusters: Preview[];
  summary: Partial<Preview["summary"]>;
  token: { header: string; value: string; expires: number; required: boolean; clusters: string[] };
}

export interface Wave {
  name: string;
  phase: string;
  /** Clusters of a waiting wave carry only their name and state ("waiting"). */
  clusters: (Partial<SyncState> & { cluster: string; state: string })[];
}

export interface Rollout {
  blueprint: string;
  version: number;
  released_version: number;
  state: string;
  wave: string | null;
  message: string;
  soak_seconds: number;
  pause_on_failure: boolean;
  started_at: string;
  updated_at: string;
  waves: Wave[];
}

export interface Node {
  cluster: string;
  namespace: string;
  workload: string;
}

export interface Edge {
  source: Node;
  destination: Node;
  flows: number;
  verdicts: Record<string, number>;
  ports: { port: number; protocol: string; verdicts: Record<string, number> }[];
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  kind: string;
  id: string;
  name: string;
  outcome: string;
  before: unknown;
  after: unknown;
}

export interface PolicyRef {
  name?: string;
  namespace?: string;
  kind?: string;
  labels?: string[];
  revision?: number;
}

export interface Endpoint {
  ID?: number;
  identity?: number;
  cluster_name?: string;
  namespace?: string;
  pod_name?: string;
  labels?: string[];
  workloads?: { name: string; kind?: string }[];
}

export interface Flow {
  uuid?: string;
  time?: string;
  verdict?: string;
  drop_reason_desc?: string;
  IP?: { source?: string; destination?: string };
  l4?: Record<string, { source_port?: number; destination_port?: number }>;
  source?: Endpoint;
  destination?: Endpoint;
  destination_names?: string[];
  node_name?: string;
  traffic_direction?: string;
  is_reply?: boolean;
  Summary?: string;
  egress_allowed_by?: PolicyRef[];
  egress_denied_by?: PolicyRef[];
  ingress_allowed_by?: PolicyRef[];
  ingress_denied_by?: PolicyRef[];
  extensions?: { "@type"?: string; staged?: StagedMark[] };
}

/** Netwarden's staged-policy marks, in Hubble's `extensions` (a protojson Any). */
export interface StagedMark {
  policy: string;
  version: number;
  outcome: "deny" | "allow";
}

export interface FlowDocument {
  flow: Flow;
  node_name?: string;
  time?: string;
}

export interface Page<T> {
  items: T[];
  next?: string | null;
}

export interface PreviewEnd {
  kind: string;
  display: string;
}

/** POST /api/v1/clusters/{id}/preview: the draft replayed on recorded traffic. */
export interface Preview {
  cluster: { id: string; name: string };
  change: string;
  window: { since: string; until: string };
  inventory: boolean;
  edges: number;
  flows: number;
  summary: {
    allowed_to_denied: number;
    denied_to_allowed: number;
    uncertain: number;
  };
  changes: { source: PreviewEnd; destination: PreviewEnd; port: number; protocol: string; change: string; flows: number }[];
  token: { header: string; value: string; expires: number; required: boolean };
}

export interface Evidence {
  flows: number;
  /** Unix nanoseconds (0 or null: never). */
  first_seen: number | null;
  last_seen: number | null;
  examples: string[];
  edges: number;
}

export type RecStatus = "policy-applied" | "recommendation-available" | "not-enough-runtime-data";

/** One workload of GET .../namespaces/{ns}/recommendations. */
export interface RecommendationItem {
  workload: string;
  kind: string;
  reason: string;
  rules: number;
  excluded: number;
  denied: number;
  flows: number;
  /** Unix nanoseconds (null: no evidence). */
  first_seen: number | null;
  last_seen: number | null;
  policy_name: string;
  status: RecStatus;
  policies: string[];
  recommendation: RecStatus;
  drift: boolean;
  drift_edges: number;
}

export interface RecommendationList {
  cluster: string;
  namespace: string;
  format: string;
  counts: Record<RecStatus, number>;
  workloads: RecommendationItem[];
}

export interface RulePeer {
  kind: string;
  namespace: string | null;
  workload: string | null;
  labels: Record<string, string> | null;
  cidr: string | null;
  fqdn: string | null;
  addresses: string[] | null;
  entity: string | null;
}

export interface RuleEvidence {
  direction: "ingress" | "egress";
  peer: RulePeer;
  ports: { port: number; protocol: string }[];
  http: { method: string; path: string }[];
  dns: boolean;
  evidence: Evidence;
  description: string;
  note?: string;
}

export interface EdgeDoc {
  from: string;
  to: string;
  port: number | null;
  protocol: string;
  l7: string | null;
  verdict: string;
  evidence: Evidence;
}

export interface Proof {
  ok: boolean;
  learned_edges: number;
  covered_edges: number;
  probes_beyond_evidence: number;
  findings: { kind: string; detail: string }[];
}

/** GET .../recommendations/{workload}. */
export interface RecommendationDetail extends Omit<RecommendationItem, "drift" | "drift_edges" | "excluded" | "denied"> {
  cluster: string;
  namespace: string;
  selector: Record<string, string>;
  yaml: string | null;
  rule_evidence: RuleEvidence[];
  excluded: { edge: EdgeDoc; reason: string }[];
  denied: EdgeDoc[];
  proof?: Proof;
  compare?: {
    current: string[];
    recommended: string;
    policy_id: string | null;
    text_diff: string;
    connections: PolicyDiff["connections"];
  };
  drift: WorkloadDrift;
}

export interface WorkloadDrift {
  drift: boolean;
  edges: EdgeDoc[];
}

/** GET .../namespaces/{ns}/drift. */
export interface DriftReport {
  cluster: string;
  namespace: string;
  drift: boolean;
  workloads: { workload: string; kind: string; policies: string[]; drift: boolean; edges: EdgeDoc[]; edge_count: number }[];
}

export interface NamespaceDoc {
  name: string;
  workspace?: string | null;
  labels?: Record<string, string>;
}

/** The audit entry of a promotion: what the staged version did to recorded traffic. */
export interface StagedPreview {
  policy: string;
  version: number;
  hours: number;
  flows: { deny: number; allow: number };
  connections: { cluster: string; outcome: string; source: string; destination: string; port: number | null; protocol: string; flows: number; last_seen: string | null }[];
  connections_total: number;
}
