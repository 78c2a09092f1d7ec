import { useEffect, useMemo, useState, type FormEvent } from "react";
import { ApiError, etagOf, view } from "../api/client";
import type { Cluster, Page, PolicyDiff, PolicyDoc, PolicySummary, Preview, Validation, Version } from "../api/types";
import { Badge, Failure, Loading } from "../components/common";
import { locate, YamlEditor, type Located } from "../components/YamlEditor";
import { ago, parseTime, useLoad } from "../load";
import { Link, navigate, useLocation } from "../router";
import { useSession } from "../session";

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
  const { api } = useSession();
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
      <h1 id="policies-title">Policies</h1>
      <form className="filters" onSubmit={submit} aria-label="Filter policies">
        <label>
          Cluster
          <select value={cluster} onChange={(e) => set("cluster", e.target.value)} name="cluster">
            <option value="">all</option>
            {(clusters.data ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Namespace
          <input name="namespace" value={ns} onChange={(e) => setNs(e.target.value)} onBlur={() => set("namespace", ns.trim())} placeholder="any" />
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => set("kind", e.target.value)} name="kind">
            <option value="">all</option>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <button type="submit">Apply</button>
      </form>
      {policies.error && <Failure error={policies.error} what="policies" />}
      {!policies.data && !policies.error && <Loading what="policies" />}
      {policies.data && (
        <div className="table-wrap">
          <table data-testid="policy-table">
            <caption className="sr-only">Policies you may read</caption>
            <thead>
              <tr>
                <th scope="col">Policy</th>
                <th scope="col">Kind</th>
                <th scope="col">Cluster</th>
                <th scope="col">Scope</th>
                <th scope="col" className="num">
                  Version
                </th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {policies.data.map((p) => (
                <tr key={p.id}>
                  <th scope="row">
                    <Link to={`/policies/${p.id}`}>{p.namespace ? `${p.namespace}/${p.name}` : p.name}</Link>
                  </th>
                  <td>{p.kind}</td>
                  <td>{names.get(p.cluster) ?? p.cluster}</td>
                  <td>{p.scope}</td>
                  <td className="num">v{p.version}</td>
                  <td>{ago(p.updated_at)}</td>
                </tr>
              ))}
              {policies.data.length === 0 && (
                <tr>
                  <td colSpan={6} className="muted">
                    No policy matches.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

type Tab = "yaml" | "history" | "edit";

export function PolicyPage({ id }: { id: string }) {
  const { api } = useSession();
  const { query } = useLocation();
  const tab = (query.get("tab") as Tab | null) ?? "yaml";
  const policy = useLoad((signal) => api.get("/api/v1/policies/{policy_id}", { path: { policy_id: id }, signal }).then(view<PolicyDoc>), [api, id]);
  const clusters = useClusters();
  if (policy.error) return <Failure error={policy.error} what="the policy" />;
  if (!policy.data) return <Loading what="the policy" />;
  const p = policy.data;
  const clusterName = clusters.data?.find((c) => c.id === p.cluster)?.name ?? p.cluster;
  const tabs: [Tab, string][] = [
    ["yaml", "YAML"],
    ["history", "History and diff"],
    ["edit", "Edit"],
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
        {tab === "edit" && <Editor policy={p} onSaved={policy.reload} />}
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
      <table data-testid="versions">
        <caption className="sr-only">Versions, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Author</th>
            <th scope="col">Message</th>
            <th scope="col">When</th>
          </tr>
        </thead>
        <tbody>
          {versions.data.map((v) => (
            <tr key={v.version}>
              <th scope="row">v{v.version}</th>
              <td>{v.author}</td>
              <td>{v.message || <span className="muted">—</span>}</td>
              <td>{ago(v.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="filters" aria-label="Compare versions" role="group">
        <label>
          From
          <select value={from} onChange={(e) => setFrom(Number(e.target.value))}>
            {numbers.map((n) => (
              <option key={n} value={n}>
                v{n}
              </option>
            ))}
          </select>
        </label>
        <label>
          To
          <select value={to} onChange={(e) => setTo(Number(e.target.value))}>
            {numbers.map((n) => (
              <option key={n} value={n}>
                v{n}
              </option>
            ))}
          </select>
        </label>
      </div>
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
        <pre className="code">
          {diff.text.split("\n").map((line, i) => (
            <span key={i} className={line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : ""}>
              {line}
              {"\n"}
            </span>
          ))}
        </pre>
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
        <table>
          <caption className="sr-only">Connections that change</caption>
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Now allowed</th>
              <th scope="col">No longer allowed</th>
            </tr>
          </thead>
          <tbody>
            {diff.connections.changes.map((c) => (
              <tr key={`${c.from}>${c.to}`}>
                <td>{c.from}</td>
                <td>{c.to}</td>
                <td className="add">{c.added ?? ""}</td>
                <td className="del">{c.removed ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Editor({ policy, onSaved }: { policy: PolicyDoc; onSaved(): void }) {
  const { api } = useSession();
  const [text, setText] = useState(policy.yaml ?? "");
  const [message, setMessage] = useState("");
  const [errors, setErrors] = useState<Located[]>([]);
  const [result, setResult] = useState<Validation | null>(null);
  const [state, setState] = useState<"idle" | "checking" | "saving">("idle");
  const [notice, setNotice] = useState("");
  const [impact, setImpact] = useState<{ yaml: string; preview: Preview } | null>(null);
  const etag = useMemo(() => etagOf(policy), [policy]);
  const previewed = impact?.yaml === text ? impact.preview : null;

  const previewImpact = async () => {
    setState("saving");
    setNotice("");
    try {
      const answer = await api.post("/api/v1/clusters/{cluster_id}/preview", {
        path: { cluster_id: policy.cluster },
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
      api.post("/api/v1/policies/validate", { body: { yaml: text, cluster: policy.cluster }, signal: abort.signal }).then(
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
  }, [api, text, policy.cluster]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setState("saving");
    setNotice("");
    try {
      await api.put("/api/v1/policies/{policy_id}", {
        path: { policy_id: policy.id },
        headers: {
          ...(etag ? { "If-Match": etag } : {}),
          ...(previewed ? { [previewed.token.header]: previewed.token.value } : {}),
        },
        body: { yaml: text, message, staged: false },
      });
      setNotice("Published a new version.");
      onSaved();
      navigate(`/policies/${policy.id}?tab=history`, true);
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

  const changed = text !== (policy.yaml ?? "");
  const status =
    state === "checking"
      ? "Checking…"
      : errors.length
        ? `${errors.length} error${errors.length > 1 ? "s" : ""}`
        : result
          ? `Valid: ${result.kind} ${result.namespace ? `${result.namespace}/` : ""}${result.name}, ${result.rules} rule${result.rules === 1 ? "" : "s"}`
          : "";
  return (
    <form onSubmit={save} className="editor" aria-label="Edit policy">
      <YamlEditor label="Policy YAML" value={text} onChange={setText} errors={errors} />
      <p className={errors.length ? "bad-text" : "muted"} role="status" data-testid="validation-status">
        {status}
      </p>
      {result && !result.may_write && (
        <p className="alert" role="alert">
          You may read this policy but not change it.
        </p>
      )}
      {changed && !previewed && errors.length === 0 && (
        <p className="muted small">Preview the impact of this draft on recorded traffic before publishing it.</p>
      )}
      <label>
        Change message
        <input value={message} onChange={(e) => setMessage(e.target.value)} placeholder="why this change" />
      </label>
      {previewed && <ImpactView preview={previewed} />}
      <div className="actions">
        <button type="button" onClick={previewImpact} disabled={!changed || errors.length > 0 || !result?.may_write || state !== "idle"}>
          Preview impact
        </button>
        <button type="submit" className="primary" disabled={!previewed || errors.length > 0 || !result?.may_write || state !== "idle"}>
          Publish version {policy.version + 1}
        </button>
        <button type="button" onClick={() => setText(policy.yaml ?? "")} disabled={!changed}>
          Discard changes
        </button>
      </div>
      {notice && (
        <p className="alert" role="alert">
          {notice}
        </p>
      )}
    </form>
  );
}

function ImpactView({ preview }: { preview: Preview }) {
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
        <table>
          <caption className="sr-only">Connections whose verdict changes</caption>
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Port</th>
              <th scope="col">Change</th>
              <th scope="col" className="num">
                Flows
              </th>
            </tr>
          </thead>
          <tbody>
            {preview.changes.slice(0, 50).map((c, i) => (
              <tr key={i}>
                <td>{c.source.display}</td>
                <td>{c.destination.display}</td>
                <td>
                  {c.port}/{c.protocol}
                </td>
                <td className={c.change === "allowed->denied" ? "del" : "add"}>{c.change}</td>
                <td className="num">{c.flows}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
