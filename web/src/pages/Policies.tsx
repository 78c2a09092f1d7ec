import { useEffect, useMemo, useState, type FormEvent } from "react";
import { ApiError, etagOf, view } from "../api/client";
import type {
  Cluster,
  ConnectionChange,
  NamespaceDoc,
  Page,
  PolicyDiff,
  PolicyDoc,
  PolicySummary,
  Preview,
  StagedPreview,
  Validation,
  Version,
} from "../api/types";
import { Badge, Failure, Loading, Notice } from "../components/common";
import { DataTable, WhenLoaded } from "../components/DataTable";
import { FilterBar, SelectFilter, TextFilter } from "../components/FilterBar";
import { PolicyForm } from "../components/PolicyForm";
import { PromotionRecord, promotionRecord, StagedOutcomes } from "../components/StagedOutcomes";
import { locate, YamlEditor, type Located } from "../components/YamlEditor";
import { emptyModel, writePolicy } from "../policyModel";
import { ago, parseTime, useLoad } from "../load";
import { Link, navigate, useLocation } from "../router";
import { mayWritePolicy, useSession } from "../session";

export const KINDS = [
  "NetworkPolicy",
  "CiliumNetworkPolicy",
  "CiliumClusterwideNetworkPolicy",
  "AdminNetworkPolicy",
  "BaselineAdminNetworkPolicy",
  "ClusterNetworkPolicy",
];

function useClusters() {
  const { api } = useSession();
  return useLoad(
    (signal) => api.get("/api/v1/clusters", { query: { limit: 500 }, signal }).then((a) => view<Page<Cluster>>(a).items),
    [api],
  );
}

export function PoliciesPage() {
  const { api, can } = useSession();
  const { query } = useLocation();
  const cluster = query.get("cluster") ?? "";
  const namespace = query.get("namespace") ?? "";
  const kind = query.get("kind") ?? "";
  const clusters = useClusters();
  const names = new Map((clusters.data ?? []).map((c) => [c.id, c.name]));
  const policies = useLoad(
    (signal) =>
      api
        .get("/api/v1/policies", {
          query: { cluster: cluster || null, namespace: namespace || null, kind: kind || null, limit: 500 },
          signal,
        })
        .then((a) => view<Page<PolicySummary>>(a).items),
    [api, cluster, namespace, kind],
  );
  const [ns, setNs] = useState(namespace);
  useEffect(() => setNs(namespace), [namespace]);
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(query);
    if (value) next.set(key, value);
    else next.delete(key);
    navigate(`/policies${next.toString() ? `?${next}` : ""}`, true);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    set("namespace", ns.trim());
  };

  return (
    <section aria-labelledby="policies-title">
      <div className="title-row">
        <h1 id="policies-title">Policies</h1>
        {can.writePolicies && (
          <Link to={`/policies/new${cluster ? `?cluster=${encodeURIComponent(cluster)}` : ""}`} className="button-link">
            New policy
          </Link>
        )}
      </div>
      <FilterBar label="Filter policies" onSubmit={submit}>
        <SelectFilter
          label="Cluster"
          name="cluster"
          value={cluster}
          onChange={(v) => set("cluster", v)}
          options={[["", "all"], ...(clusters.data ?? []).map((c) => [c.id, c.name] as const)]}
        />
        <TextFilter label="Namespace" name="namespace" value={ns} onChange={setNs} onBlur={() => set("namespace", ns.trim())} placeholder="any" />
        <SelectFilter label="Kind" name="kind" value={kind} onChange={(v) => set("kind", v)} options={[["", "all"], ...KINDS]} />
        <button type="submit">Apply</button>
      </FilterBar>
      <WhenLoaded load={policies} what="policies">
        {(items) => (
          <DataTable
            testid="policy-table"
            caption="Policies you may read"
            columns={["Policy", "Kind", "Cluster", "Scope", { title: "Version", num: true }, "Updated"]}
            rows={items}
            empty="No policy matches."
            row={(p) => (
              <tr key={p.id}>
                <th scope="row">
                  <Link to={`/policies/${p.id}`}>{p.namespace ? `${p.namespace}/${p.name}` : p.name}</Link>
                  {p.staged && <Badge tone="warn">staged{p.enforced_version ? ` (v${p.enforced_version} enforced)` : ""}</Badge>}
                </th>
                <td>{p.kind}</td>
                <td>{names.get(p.cluster) ?? p.cluster}</td>
                <td>{p.scope}</td>
                <td className="num">v{p.version}</td>
                <td>{ago(p.updated_at)}</td>
              </tr>
            )}
          />
        )}
      </WhenLoaded>
    </section>
  );
}

type Tab = "yaml" | "history" | "edit" | "staged";

export function PolicyPage({ id }: { id: string }) {
  const { api, me } = useSession();
  const { query } = useLocation();
  const tab = (query.get("tab") as Tab | null) ?? "yaml";
  const policy = useLoad((signal) => api.get("/api/v1/policies/{policy_id}", { path: { policy_id: id }, signal }).then(view<PolicyDoc>), [api, id]);
  const clusters = useClusters();
  if (policy.error) return <Failure error={policy.error} what="the policy" />;
  if (!policy.data) return <Loading what="the policy" />;
  const p = policy.data;
  const clusterName = clusters.data?.find((c) => c.id === p.cluster)?.name ?? p.cluster;
  const writable = mayWritePolicy(me.grants, p);
  const tabs: [Tab, string][] = [
    ["yaml", "YAML"],
    ["history", "History and diff"],
    ...(writable ? ([["edit", "Edit"]] as [Tab, string][]) : []),
    ...(p.staged ? ([["staged", "Staged"]] as [Tab, string][]) : []),
  ];
  return (
    <section aria-labelledby="policy-title">
      <p className="crumbs">
        <Link to="/policies">Policies</Link> ›
      </p>
      <h1 id="policy-title">
        {p.kind} {p.namespace ? `${p.namespace}/` : ""}
        {p.name}
      </h1>
      <p className="muted">
        cluster {clusterName} · {p.scope === "namespace" ? "namespaced" : "cluster-wide"} · version {p.version} by {p.author} {ago(p.updated_at)}
        {p.deleted && <Badge tone="bad">deleted</Badge>}
      </p>
      {p.staged && (
        <p className="alert" data-testid="staged-banner">
          Version {p.version} is staged: evaluated on the cluster&apos;s flows, not enforced.{" "}
          {p.enforced_version ? `Version ${p.enforced_version} stays in force until it is promoted.` : "Nothing of it is enforced until it is promoted."}
        </p>
      )}
      <div role="tablist" aria-label="Policy views" className="tabs">
        {tabs.map(([key, title]) => (
          <button
            key={key}
            role="tab"
            type="button"
            aria-selected={tab === key}
            onClick={() => navigate(`/policies/${id}?tab=${key}`, true)}
          >
            {title}
          </button>
        ))}
      </div>
      <div role="tabpanel">
        {tab === "yaml" && <pre className="code" data-testid="policy-yaml">{p.yaml || "(deleted: no YAML)"}</pre>}
        {tab === "history" && <History id={id} current={p.version} />}
        {tab === "edit" && !writable && (
          <p className="alert" role="alert" data-testid="not-available">
            Editing this policy is not available to your role.
          </p>
        )}
        {tab === "edit" && writable && (
          <PolicyAuthor
            key={`${p.id}@${p.version}`}
            cluster={p.cluster}
            policy={p}
            initial={p.yaml ?? ""}
            onSaved={(_, staged) => {
              policy.reload();
              navigate(`/policies/${id}?tab=${staged ? "staged" : "history"}`, true);
            }}
          />
        )}
        {tab === "staged" && !p.staged && <p className="muted">Nothing of this policy is staged.</p>}
        {tab === "staged" && p.staged && (
          <StagedView
            policy={p}
            writable={writable}
            onPromoted={() => {
              policy.reload();
              navigate(`/policies/${id}?tab=yaml`, true);
            }}
          />
        )}
      </div>
    </section>
  );
}

function History({ id, current }: { id: string; current: number }) {
  const { api } = useSession();
  const versions = useLoad(
    (signal) => api.get("/api/v1/policies/{policy_id}/versions", { path: { policy_id: id }, signal }).then((a) => view<Page<Version>>(a).items),
    [api, id, current],
  );
  const [to, setTo] = useState(current);
  const [from, setFrom] = useState(Math.max(current - 1, 1));
  useEffect(() => {
    setTo(current);
    setFrom(Math.max(current - 1, 1));
  }, [current]);
  const diff = useLoad(
    (signal) =>
      api.get("/api/v1/policies/{policy_id}/diff", { path: { policy_id: id }, query: { from, to }, signal }).then(view<PolicyDiff>),
    [api, id, from, to],
  );
  if (versions.error) return <Failure error={versions.error} what="versions" />;
  if (!versions.data) return <Loading what="versions" />;
  const numbers = versions.data.map((v) => v.version);
  return (
    <div className="history">
      <DataTable
        testid="versions"
        caption="Versions, newest first"
        columns={["Version", "Author", "Message", "When"]}
        rows={versions.data}
        wrap={false}
        row={(v) => (
          <tr key={v.version}>
            <th scope="row">v{v.version}</th>
            <td>{v.author}</td>
            <td>{v.message || <span className="muted">—</span>}</td>
            <td>{ago(v.created_at)}</td>
          </tr>
        )}
      />
      <FilterBar label="Compare versions">
        <SelectFilter label="From" value={from} onChange={(v) => setFrom(Number(v))} options={numbers.map((n) => [n, `v${n}`] as const)} />
        <SelectFilter label="To" value={to} onChange={(v) => setTo(Number(v))} options={numbers.map((n) => [n, `v${n}`] as const)} />
      </FilterBar>
      {diff.error && <Failure error={diff.error} what="the diff" />}
      {diff.data && <DiffView diff={diff.data} />}
    </div>
  );
}

function DiffView({ diff }: { diff: PolicyDiff }) {
  return (
    <div className="diff" data-testid="diff">
      <h2>
        v{diff.from} → v{diff.to}
      </h2>
      <h3>Text</h3>
      {diff.text ? (
        <UnifiedDiff text={diff.text} />
      ) : (
        <p className="muted">No text change.</p>
      )}
      <h3>Rules</h3>
      {diff.rules.added.length + diff.rules.removed.length === 0 ? (
        <p className="muted">The engine sees the same rules.</p>
      ) : (
        <ul className="rules">
          {diff.rules.added.map((r) => (
            <li key={`+${r}`} className="add">
              + {r}
            </li>
          ))}
          {diff.rules.removed.map((r) => (
            <li key={`-${r}`} className="del">
              − {r}
            </li>
          ))}
        </ul>
      )}
      <h3>Connections</h3>
      {!diff.connections.available ? (
        <p className="muted">{diff.connections.reason}</p>
      ) : diff.connections.changes.length === 0 ? (
        <p className="muted">
          No connection between the {diff.connections.pods} pods of {diff.connections.cluster} changes.
        </p>
      ) : (
        <ConnectionChanges caption="Connections that change" changes={diff.connections.changes} wrap={false} />
      )}
    </div>
  );
}

/** A unified text diff, added lines and removed lines marked. */
export function UnifiedDiff({ text, small = false, testid, label }: { text: string; small?: boolean; testid?: string; label?: string }) {
  return (
    <pre className={small ? "code small" : "code"} data-testid={testid} aria-label={label}>
      {text.split("\n").map((line, i) => (
        <span key={i} className={line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : ""}>
          {line}
          {"\n"}
        </span>
      ))}
    </pre>
  );
}

/** Connections between pods that a change allows or no longer allows (the policy diff,
 * a recommendation's compare). */
export function ConnectionChanges({
  caption,
  changes,
  testid,
  wrap = true,
}: {
  caption: string;
  changes: readonly ConnectionChange[];
  testid?: string;
  wrap?: boolean;
}) {
  return (
    <DataTable
      testid={testid}
      caption={caption}
      columns={["From", "To", "Now allowed", "No longer allowed"]}
      rows={changes}
      wrap={wrap}
      row={(c) => (
        <tr key={`${c.from}>${c.to}`}>
          <td>{c.from}</td>
          <td>{c.to}</td>
          <td className="add">{c.added ?? ""}</td>
          <td className="del">{c.removed ?? ""}</td>
        </tr>
      )}
    />
  );
}

type Mode = "form" | "yaml";

/** The policy editor: the YAML text or the visual form over the same text, live
 * validation, the impact preview, publish (enforced, after a preview) or publish staged.
 * `policy` absent: a new policy on `cluster`. */
export function PolicyAuthor({
  cluster,
  policy,
  initial,
  onSaved,
}: {
  cluster: string;
  policy?: PolicyDoc;
  initial: string;
  onSaved(saved: PolicyDoc, staged: boolean): void;
}) {
  const { api } = useSession();
  const [text, setText] = useState(initial);
  const [mode, setMode] = useState<Mode>(policy ? "yaml" : "form");
  const [message, setMessage] = useState("");
  const [errors, setErrors] = useState<Located[]>([]);
  const [result, setResult] = useState<Validation | null>(null);
  const [state, setState] = useState<"idle" | "checking" | "saving">("idle");
  const [notice, setNotice] = useState("");
  const [impact, setImpact] = useState<{ yaml: string; preview: Preview } | null>(null);
  const etag = useMemo(() => (policy ? etagOf(policy) : undefined), [policy]);
  const previewed = impact?.yaml === text ? impact.preview : null;

  const previewImpact = async () => {
    setState("saving");
    setNotice("");
    try {
      const answer = await api.post("/api/v1/clusters/{cluster_id}/preview", {
        path: { cluster_id: cluster },
        body: { yaml: text },
      });
      setImpact({ yaml: text, preview: view<Preview>(answer) });
    } catch (error) {
      setNotice(`No preview: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      setState("idle");
    }
  };

  useEffect(() => {
    const abort = new AbortController();
    setState("checking");
    const timer = setTimeout(() => {
      api.post("/api/v1/policies/validate", { body: { yaml: text, cluster }, signal: abort.signal }).then(
        (answer) => {
          setErrors([]);
          setResult(view<Validation>(answer));
          setState("idle");
        },
        (e: unknown) => {
          if (abort.signal.aborted) return;
          setResult(null);
          setState("idle");
          if (e instanceof ApiError && e.status === 422)
            setErrors(locate(text, e.errors.length ? e.errors : [{ field: "", line: null, message: e.message }]));
          else setErrors([{ field: "", line: null, message: e instanceof Error ? e.message : String(e), at: null, key: null }]);
        },
      );
    }, 350);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [api, text, cluster]);

  const publish = async (staged: boolean) => {
    setState("saving");
    setNotice("");
    const headers: Record<string, string> = {
      ...(etag ? { "If-Match": etag } : {}),
      ...(previewed && !staged ? { [previewed.token.header]: previewed.token.value } : {}),
    };
    try {
      const body = { yaml: text, message, staged };
      const saved = policy
        ? await api.put("/api/v1/policies/{policy_id}", { path: { policy_id: policy.id }, headers, body })
        : await api.post("/api/v1/clusters/{cluster_id}/policies", { path: { cluster_id: cluster }, headers, body });
      setNotice(staged ? "Published a staged version." : "Published a new version.");
      onSaved(view<PolicyDoc>(saved), staged);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) setErrors(locate(text, error.errors));
      setNotice(
        error instanceof ApiError && error.status === 412
          ? "Someone changed this policy since you opened it: reload to see their version."
          : `Not published: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      setState("idle");
    }
  };
  const save = (e: FormEvent) => {
    e.preventDefault();
    void publish(false);
  };

  const changed = text !== initial;
  const status =
    state === "checking"
      ? "Checking…"
      : errors.length
        ? `${errors.length} error${errors.length > 1 ? "s" : ""}`
        : result
          ? `Valid: ${result.kind} ${result.namespace ? `${result.namespace}/` : ""}${result.name}, ${result.rules} rule${result.rules === 1 ? "" : "s"}`
          : "";
  const writable = errors.length === 0 && !!result?.may_write && state === "idle";
  const next = policy ? `version ${policy.version + 1}` : "the policy";
  return (
    <form onSubmit={save} className="editor" aria-label={policy ? "Edit policy" : "New policy"}>
      <div role="tablist" aria-label="Editor" className="tabs small-tabs">
        {(
          [
            ["form", "Visual"],
            ["yaml", "YAML"],
          ] as [Mode, string][]
        ).map(([key, title]) => (
          <button key={key} type="button" role="tab" aria-selected={mode === key} onClick={() => setMode(key)}>
            {title}
          </button>
        ))}
      </div>
      {mode === "yaml" ? (
        <YamlEditor label="Policy YAML" value={text} onChange={setText} errors={errors} />
      ) : (
        <>
          <PolicyForm text={text} onChange={setText} />
          <details>
            <summary>The YAML the form writes</summary>
            <pre className="code small" data-testid="form-yaml">
              {text}
            </pre>
          </details>
          {errors.length > 0 && (
            <ul className="editor-errors" data-testid="editor-errors">
              {errors.map((e, i) => (
                <li key={i}>
                  {e.at ? `Line ${e.at}` : "Document"}
                  {e.field ? ` · ${e.field}` : ""}: {e.message}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      <p className={errors.length ? "bad-text" : "muted"} role="status" data-testid="validation-status">
        {status}
      </p>
      {result && !result.may_write && (
        <p className="alert" role="alert">
          You may read this policy but not {policy ? "change" : "create"} it.
        </p>
      )}
      {changed && !previewed && errors.length === 0 && (
        <p className="muted small">
          Preview the impact of this draft on recorded traffic before publishing it, or publish it staged: evaluated on the
          cluster&apos;s flows, not enforced.
        </p>
      )}
      <label>
        Change message
        <input value={message} onChange={(e) => setMessage(e.target.value)} placeholder="why this change" />
      </label>
      {previewed && <ImpactView preview={previewed} />}
      <div className="actions">
        <button type="button" onClick={previewImpact} disabled={!changed || !writable}>
          Preview impact
        </button>
        <button type="submit" className="primary" disabled={!previewed || !writable}>
          Publish {next}
        </button>
        <button type="button" onClick={() => void publish(true)} disabled={!changed || !writable}>
          Publish staged
        </button>
        <button type="button" onClick={() => setText(initial)} disabled={!changed}>
          Discard changes
        </button>
      </div>
      <Notice text={notice} />
    </form>
  );
}

export function ImpactView({ preview }: { preview: Preview }) {
  const s = preview.summary;
  return (
    <div className="impact" data-testid="impact" aria-label="Impact preview">
      <h3>Impact on {preview.cluster.name}</h3>
      <p>
        Replayed {preview.edges.toLocaleString()} connections ({preview.flows.toLocaleString()} flows) recorded since{" "}
        {new Date(parseTime(preview.window.since)).toLocaleString()}:{" "}
        <span className={s.allowed_to_denied ? "bad-text" : ""}>{s.allowed_to_denied} would be denied</span>,{" "}
        {s.denied_to_allowed} would be allowed, {s.uncertain} uncertain.
        {!preview.inventory && " The cluster has reported no inventory yet."}
      </p>
      {preview.changes.length > 0 && (
        <DataTable
          caption="Connections whose verdict changes"
          columns={["From", "To", "Port", "Change", { title: "Flows", num: true }]}
          rows={preview.changes.slice(0, 50)}
          wrap={false}
          row={(c, i) => (
            <tr key={i}>
              <td>{c.source.display}</td>
              <td>{c.destination.display}</td>
              <td>
                {c.port}/{c.protocol}
              </td>
              <td className={c.change === "allowed->denied" ? "del" : "add"}>{c.change}</td>
              <td className="num">{c.flows}</td>
            </tr>
          )}
        />
      )}
    </div>
  );
}

/** A new policy: the cluster and namespace first, then the visual editor (or YAML). Roles
 * that write only cluster-wide kinds (Infra Admins) start from a cluster-wide policy. */
export function NewPolicyPage() {
  const { api, me } = useSession();
  const g = me.grants;
  const namespaced = g.org_admin || g.project_admin.length + g.workspace_admin.length > 0;
  const { query } = useLocation();
  const clusters = useClusters();
  const [cluster, setCluster] = useState(query.get("cluster") ?? "");
  const chosen = cluster || clusters.data?.[0]?.id || "";
  const namespaces = useLoad(
    (signal) =>
      chosen
        ? api.get("/api/v1/clusters/{cluster_id}/namespaces", { path: { cluster_id: chosen }, signal }).then((a) => view<Page<NamespaceDoc>>(a).items)
        : Promise.resolve([] as NamespaceDoc[]),
    [api, chosen],
  );
  const [namespace, setNamespace] = useState(query.get("namespace") ?? "");
  const ns = namespace || namespaces.data?.[0]?.name || "";
  const initial = useMemo(() => writePolicy({ ...emptyModel(namespaced ? "cilium" : "ccnp", ns), name: "" }), [ns, namespaced]);
  return (
    <section aria-labelledby="new-policy-title">
      <p className="crumbs">
        <Link to="/policies">Policies</Link> ›
      </p>
      <h1 id="new-policy-title">New policy</h1>
      <FilterBar label="Where">
        <SelectFilter
          label="Cluster"
          name="cluster"
          value={chosen}
          onChange={setCluster}
          options={(clusters.data ?? []).map((c) => [c.id, c.name] as const)}
        />
        {namespaced && (
          <SelectFilter label="Namespace" name="namespace" value={ns} onChange={setNamespace} options={(namespaces.data ?? []).map((n) => n.name)} />
        )}
      </FilterBar>
      {clusters.error && <Failure error={clusters.error} what="clusters" />}
      {chosen && (ns || !namespaced) && (
        <PolicyAuthor key={namespaced ? `${chosen}/${ns}` : chosen} cluster={chosen} initial={initial} onSaved={(saved, staged) => navigate(`/policies/${saved.id}?tab=${staged ? "staged" : "yaml"}`)} />
      )}
    </section>
  );
}

/** The label flows carry for a policy's staged version: `Kind/namespace/name`. */
export function stagedLabel(p: PolicySummary): string {
  return `${p.kind}/${p.namespace ?? ""}/${p.name}`;
}

function StagedView({ policy, writable, onPromoted }: { policy: PolicyDoc; writable: boolean; onPromoted(): void }) {
  const { api, can } = useSession();
  const [hours, setHours] = useState(1);
  const [message, setMessage] = useState("");
  const [state, setState] = useState<"idle" | "promoting">("idle");
  const [notice, setNotice] = useState("");
  const [promoted, setPromoted] = useState<{ version: number; preview: StagedPreview | null } | null>(null);
  const label = stagedLabel(policy);

  const promote = async () => {
    setState("promoting");
    setNotice("");
    try {
      const etag = etagOf(policy);
      const answer = view<PolicyDoc>(
        await api.post("/api/v1/policies/{policy_id}/promote", {
          path: { policy_id: policy.id },
          headers: etag ? { "If-Match": etag } : {},
          body: { hours, message },
        }),
      );
      // The promotion's audit entry carries the staged outcomes the server attached.
      const preview = can.audit ? await promotionRecord(api, policy.id) : null;
      setPromoted({ version: answer.version, preview });
    } catch (error) {
      setNotice(
        error instanceof ApiError && error.status === 412
          ? "Someone changed this policy since you opened it: reload."
          : `Not promoted: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      setState("idle");
    }
  };

  if (promoted)
    return (
      <div className="staged" data-testid="promoted">
        <p className="alert ok-alert" role="status">
          Promoted: version {promoted.version} is enforced.
        </p>
        {promoted.preview && <PromotionRecord preview={promoted.preview} />}
        <button type="button" onClick={onPromoted}>
          Show the policy
        </button>
      </div>
    );
  return (
    <div className="staged" data-testid="staged-outcomes">
      <h2>What version {policy.version} would do</h2>
      <p className="muted small">
        Flows of the last hours marked by the staged version (<code>{label}</code>), from the stored flows you may see.
      </p>
      <StagedOutcomes label={label} version={policy.version} hours={hours} onHours={setHours} />
      <h3>Promote</h3>
      {writable ? (
        <>
          <label>
            Promotion message
            <input value={message} onChange={(e) => setMessage(e.target.value)} placeholder="why now" />
          </label>
          <div className="actions">
            <button type="button" className="primary" onClick={promote} disabled={state !== "idle"}>
              Promote version {policy.version} to enforced
            </button>
          </div>
        </>
      ) : (
        <p className="muted">Promoting it is for those who may change this policy.</p>
      )}
      <Notice text={notice} />
    </div>
  );
}
