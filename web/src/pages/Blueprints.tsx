// Blueprints: the list, a blueprint's versions, assigned clusters and rollout (waves and
// each cluster's state, polled while it moves), and, for those who may write them
// (Org Admin, Infra Admin of the owning project), authoring: a new blueprint or a new
// version in the YAML editor with live validation (located errors, the clusters it is
// assigned to, its waves), the impact preview on the production clusters it reaches,
// and publishing with the preview's token.
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { ApiError, etagOf, view } from "../api/client";
import type {
  Blueprint,
  BlueprintPreview,
  BlueprintValidation,
  Page,
  Project,
  Rollout,
  SyncState,
  Version,
} from "../api/types";
import { Badge, Failure, Loading, stateTone } from "../components/common";
import { locate, YamlEditor, type Located } from "../components/YamlEditor";
import { ago, useLoad } from "../load";
import { Link, navigate, useLocation } from "../router";
import { mayWriteBlueprint, useSession } from "../session";
import { ImpactView } from "./Policies";

/** Cluster states that no longer move by themselves: polling stops once every cluster
 * of the rollout is in one of them. */
const SETTLED = new Set(["synced", "drifted", "failed", "waiting"]);
const POLL_MS = 2000;

/** A first draft: allow DNS everywhere it is assigned, staging first. */
export const BLUEPRINT_TEMPLATE = `apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: my-blueprint}
spec:
  assign:
    clusterSelector: {matchLabels: {env: staging}}
  rollout:
    waves:
    - {name: first, clusterSelector: {matchLabels: {env: staging}}}
    - {name: rest}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {name: allow-dns}
    spec:
      endpointSelector: {}
      enableDefaultDeny: {egress: false, ingress: false}
      egress:
      - toEndpoints:
        - matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns}
        toPorts:
        - ports: [{port: "53", protocol: ANY}]
          rules: {dns: [{matchPattern: "*"}]}
`;

export function BlueprintsPage() {
  const { api, can } = useSession();
  const list = useLoad((signal) => api.get("/api/v1/blueprints", { signal }).then((a) => view<Page<Blueprint>>(a).items), [api]);
  return (
    <section aria-labelledby="bp-title">
      <div className="title-row">
        <h1 id="bp-title">Blueprints</h1>
        {can.rollout && (
          <Link to="/blueprints/new" className="button-link">
            New blueprint
          </Link>
        )}
      </div>
      {list.error && <Failure error={list.error} what="blueprints" />}
      {!list.data && !list.error && <Loading what="blueprints" />}
      {list.data && (
        <table data-testid="blueprint-table">
          <caption className="sr-only">Blueprints you may read</caption>
          <thead>
            <tr>
              <th scope="col">Blueprint</th>
              <th scope="col" className="num">
                Version
              </th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((b) => (
              <tr key={b.id} data-blueprint={b.name}>
                <th scope="row">
                  <Link to={`/blueprints/${b.id}`}>{b.name}</Link>
                  {b.deleted && <Badge tone="bad">deleted</Badge>}
                </th>
                <td className="num">v{b.version}</td>
                <td>{ago(b.updated_at)}</td>
              </tr>
            ))}
            {list.data.length === 0 && (
              <tr>
                <td colSpan={3} className="muted">
                  No blueprint yet{can.rollout ? ": write one (New blueprint) or `netwarden apply -f` one." : "."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** A new blueprint: its owning project (the projects the user may write blueprints in;
 * org-wide for Org Admins), then the editor. */
export function NewBlueprintPage() {
  const { api, me } = useSession();
  const projects = useLoad(
    (signal) => api.get("/api/v1/projects", { query: { limit: 500 }, signal }).then((a) => view<Page<Project>>(a).items),
    [api],
  );
  const writable = (projects.data ?? []).filter((p) => mayWriteBlueprint(me.grants, p.id));
  const [project, setProject] = useState<string | null>(null);
  const chosen = project ?? writable[0]?.id ?? "";
  return (
    <section aria-labelledby="new-bp-title">
      <p className="crumbs">
        <Link to="/blueprints">Blueprints</Link> ›
      </p>
      <h1 id="new-bp-title">New blueprint</h1>
      {projects.error && <Failure error={projects.error} what="projects" />}
      {!projects.data && !projects.error && <Loading what="projects" />}
      {projects.data && (
        <>
          <div className="filters" role="group" aria-label="Owner">
            <label>
              Project
              <select value={chosen} onChange={(e) => setProject(e.target.value)} name="project">
                {writable.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
                {me.grants.org_admin && <option value="">org-wide (no project)</option>}
              </select>
            </label>
            <p className="muted small">A project&apos;s blueprint reaches only that project&apos;s clusters.</p>
          </div>
          <BlueprintAuthor
            key={chosen}
            project={chosen || null}
            initial={BLUEPRINT_TEMPLATE}
            onSaved={(saved) => navigate(`/blueprints/${saved.id}?published=${saved.version}`)}
          />
        </>
      )}
    </section>
  );
}

export function BlueprintPage({ id }: { id: string }) {
  const { api, me } = useSession();
  const { query } = useLocation();
  const editing = query.get("tab") === "edit";
  const published = query.get("published");
  const bp = useLoad((signal) => api.get("/api/v1/blueprints/{blueprint_id}", { path: { blueprint_id: id }, signal }).then(view<Blueprint>), [api, id]);
  const versions = useLoad(
    (signal) => api.get("/api/v1/blueprints/{blueprint_id}/versions", { path: { blueprint_id: id }, signal }).then((a) => view<Page<Version>>(a).items),
    [api, id],
  );
  const clusters = useLoad(
    (signal) =>
      api.get("/api/v1/blueprints/{blueprint_id}/clusters", { path: { blueprint_id: id }, signal }).then((a) => view<Page<{ id: string; name: string }>>(a).items),
    [api, id],
  );
  const rollout = useLoad(
    (signal) =>
      api.get("/api/v1/blueprints/{blueprint_id}/rollout", { path: { blueprint_id: id }, signal }).then(
        (a) => view<Rollout>(a),
        (e: unknown) => {
          if (e instanceof ApiError && e.status === 404) return null; // never rolled out
          throw e;
        },
      ),
    [api, id],
  );
  // Watch the rollout: poll while it progresses or a cluster has not settled.
  const r = rollout.data;
  const moving = !!r && (r.state === "progressing" || r.waves.some((w) => w.clusters.some((c) => !SETTLED.has(c.state))));
  useEffect(() => {
    if (!moving) return;
    const timer = setTimeout(rollout.reload, POLL_MS);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [moving, r]);
  // Once it has settled, the blueprint's own fields (the released version) have moved too.
  const wasMoving = useRef(false);
  useEffect(() => {
    if (wasMoving.current && !moving) bp.reload();
    wasMoving.current = moving;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [moving]);
  const [shown, setShown] = useState<number | null>(null);
  if (bp.error) return <Failure error={bp.error} what="the blueprint" />;
  if (!bp.data) return <Loading what="the blueprint" />;
  const b = bp.data;
  const writable = mayWriteBlueprint(me.grants, b.project);
  const open = versions.data?.find((v) => v.version === shown);
  const latestText = b.yaml || versions.data?.find((v) => v.yaml)?.yaml || BLUEPRINT_TEMPLATE;
  const reloadAll = () => {
    bp.reload();
    versions.reload();
    clusters.reload();
    rollout.reload();
  };
  return (
    <section aria-labelledby="bp-title">
      <p className="crumbs">
        <Link to="/blueprints">Blueprints</Link> ›
      </p>
      <div className="title-row">
        <h1 id="bp-title">Blueprint {b.name}</h1>
        {writable && !editing && (
          <Link to={`/blueprints/${id}?tab=edit`} className="button-link">
            New version
          </Link>
        )}
      </div>
      <p className="muted">
        version {b.version}
        {b.released_version && b.released_version !== b.version ? ` (every cluster holds version ${b.released_version} or newer)` : ""} ·
        updated {ago(b.updated_at)} · assigned to{" "}
        {clusters.data ? clusters.data.map((c) => c.name).join(", ") || "no cluster" : "…"}
        {b.deleted && <Badge tone="bad">deleted</Badge>}
      </p>
      {published && !editing && (
        <p className="alert ok-alert" role="status" data-testid="bp-published">
          Published version {published}. Its rollout below refreshes by itself until every cluster has it.
        </p>
      )}
      {editing && !writable && (
        <p className="alert" role="alert" data-testid="not-available">
          Writing this blueprint is not available to your role.
        </p>
      )}
      {editing && writable && !b.yaml && !versions.data && <Loading what="the versions" />}
      {editing && writable && (b.yaml || versions.data) && (
        <>
          <h2>New version</h2>
          <BlueprintAuthor
            key={`${b.id}@${b.version}`}
            blueprint={b}
            project={b.project}
            initial={latestText}
            onSaved={(saved) => {
              reloadAll();
              navigate(`/blueprints/${id}?published=${saved.version}`, true);
            }}
            onCancel={() => navigate(`/blueprints/${id}`, true)}
          />
        </>
      )}
      {!editing && (
        <>
          <h2>Rollout</h2>
          {rollout.error && <Failure error={rollout.error} what="the rollout" />}
          {rollout.data === null && <p className="muted">Not rolled out yet.</p>}
          {rollout.data && (
            <RolloutView
              id={id}
              rollout={rollout.data}
              onRefresh={rollout.reload}
              writable={writable}
              watching={moving}
              assigned={(clusters.data ?? []).map((c) => c.name)}
            />
          )}
          <h2>Versions</h2>
          {versions.error && <Failure error={versions.error} what="versions" />}
          {versions.data && (
            <table data-testid="bp-versions">
              <caption className="sr-only">Versions, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Author</th>
                  <th scope="col">Message</th>
                  <th scope="col">When</th>
                  <th scope="col">YAML</th>
                </tr>
              </thead>
              <tbody>
                {versions.data.map((v) => (
                  <tr key={v.version}>
                    <th scope="row">v{v.version}</th>
                    <td>{v.author}</td>
                    <td>{v.message || <span className="muted">—</span>}</td>
                    <td>{ago(v.created_at)}</td>
                    <td>
                      <button type="button" className="link" aria-expanded={shown === v.version} onClick={() => setShown(shown === v.version ? null : v.version)}>
                        {shown === v.version ? "Hide" : "Show"} v{v.version}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {open && (
            <pre className="code" aria-label={`Blueprint YAML, version ${open.version}`}>
              {open.yaml}
            </pre>
          )}
        </>
      )}
    </section>
  );
}

/** The blueprint editor: YAML with live validation, what the draft reaches, the impact
 * preview, publish. `blueprint` absent: a new blueprint owned by `project`. */
export function BlueprintAuthor({
  blueprint,
  project,
  initial,
  onSaved,
  onCancel,
}: {
  blueprint?: Blueprint;
  project: string | null;
  initial: string;
  onSaved(saved: Blueprint): void;
  onCancel?(): void;
}) {
  const { api } = useSession();
  const [text, setText] = useState(initial);
  const [message, setMessage] = useState("");
  const [errors, setErrors] = useState<Located[]>([]);
  const [result, setResult] = useState<BlueprintValidation | null>(null);
  const [state, setState] = useState<"idle" | "checking" | "previewing" | "saving">("idle");
  const [notice, setNotice] = useState("");
  const [impact, setImpact] = useState<{ yaml: string; preview: BlueprintPreview } | null>(null);
  const etag = useMemo(() => (blueprint ? etagOf(blueprint) : undefined), [blueprint]);
  const previewed = impact?.yaml === text ? impact.preview : null;

  useEffect(() => {
    const abort = new AbortController();
    setState("checking");
    const timer = setTimeout(() => {
      api.post("/api/v1/blueprints/validate", { body: { yaml: text, blueprint: blueprint?.id ?? null, project }, signal: abort.signal }).then(
        (answer) => {
          setErrors([]);
          setResult(view<BlueprintValidation>(answer));
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
  }, [api, text, blueprint?.id, project]);

  const previewImpact = async () => {
    setState("previewing");
    setNotice("");
    try {
      const answer = await api.post("/api/v1/blueprints/preview", { body: { blueprint_yaml: text, project } });
      setImpact({ yaml: text, preview: view<BlueprintPreview>(answer) });
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) setErrors(locate(text, error.errors));
      setNotice(`No preview: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      setState("idle");
    }
  };

  const publish = async (event: FormEvent) => {
    event.preventDefault();
    if (!previewed) return;
    setState("saving");
    setNotice("");
    const headers: Record<string, string> = {
      ...(etag ? { "If-Match": etag } : {}),
      [previewed.token.header]: previewed.token.value,
    };
    try {
      const body = { yaml: text, message, project, staged: false };
      const saved = blueprint
        ? await api.put("/api/v1/blueprints/{blueprint_id}", { path: { blueprint_id: blueprint.id }, headers, body })
        : await api.post("/api/v1/blueprints", { headers, body });
      onSaved(view<Blueprint>(saved));
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) setErrors(locate(text, error.errors));
      setNotice(
        error instanceof ApiError && error.status === 412
          ? "Someone published a version since you opened this one: reload to see theirs."
          : error instanceof ApiError && error.status === 428
            ? "The production clusters need a fresh impact preview of exactly this draft: preview again."
            : `Not published: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      setState("idle");
    }
  };

  const changed = !blueprint || text !== initial;
  const valid = errors.length === 0 && result !== null;
  const writable = valid && !!result?.may_write && state === "idle";
  const status =
    state === "checking"
      ? "Checking…"
      : errors.length
        ? `${errors.length} error${errors.length > 1 ? "s" : ""}`
        : result
          ? `Valid: Blueprint ${result.name}, version ${result.version}: ${result.cluster_policies} cluster-wide ${result.cluster_policies === 1 ? "policy" : "policies"}, ${result.namespace_defaults} namespace default${result.namespace_defaults === 1 ? "" : "s"}`
          : "";
  return (
    <form onSubmit={publish} className="editor" aria-label={blueprint ? `New version of blueprint ${blueprint.name}` : "New blueprint"}>
      <YamlEditor label="Blueprint YAML" value={text} onChange={setText} errors={errors} />
      <p className={errors.length ? "bad-text" : "muted"} role="status" data-testid="validation-status">
        {status}
      </p>
      {result && valid && <Plan result={result} />}
      {result && !result.may_write && (
        <p className="alert" role="alert">
          You may read this blueprint but not {blueprint ? "change" : "create"} it.
        </p>
      )}
      <label>
        Change message
        <input value={message} onChange={(e) => setMessage(e.target.value)} placeholder="why this version" />
      </label>
      {previewed && <BlueprintImpact preview={previewed} />}
      {changed && !previewed && valid && (
        <p className="muted small">
          Preview the impact of this draft before publishing it: each production cluster it reaches replays its recorded
          traffic with it (writes reaching production need the preview&apos;s token).
        </p>
      )}
      <div className="actions">
        <button type="button" onClick={previewImpact} disabled={!changed || !writable}>
          Preview impact
        </button>
        <button type="submit" className="primary" disabled={!changed || !previewed || !writable}>
          Publish {result ? `version ${result.version}` : blueprint ? "a new version" : "the blueprint"}
        </button>
        {blueprint && (
          <button type="button" onClick={() => setText(initial)} disabled={!changed || state !== "idle"}>
            Discard changes
          </button>
        )}
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Back to the rollout
          </button>
        )}
      </div>
      {state === "previewing" && (
        <p className="muted" role="status">
          Replaying recorded traffic…
        </p>
      )}
      {notice && (
        <p className="alert" role="alert">
          {notice}
        </p>
      )}
    </form>
  );
}

/** Where a valid draft goes: the clusters it is assigned to, those it also changes, its
 * waves, and whether publishing needs a preview. */
function Plan({ result }: { result: BlueprintValidation }) {
  const assigned = new Set(result.assigned.map((c) => c.id));
  const also = result.reached.filter((c) => !assigned.has(c.id));
  const production = result.reached.filter((c) => c.production).map((c) => c.name);
  return (
    <div className="bp-plan" data-testid="bp-plan">
      <p>
        Assigned to:{" "}
        {result.assigned.length === 0 ? (
          <span className="muted">no cluster</span>
        ) : (
          <span className="chips-inline">
            {result.assigned.map((c) => (
              <span key={c.id} className="chip" data-cluster={c.name}>
                {c.name}
                {c.production && <span className="muted"> · production</span>}
              </span>
            ))}
          </span>
        )}
        {result.extends && <span className="muted"> · extends {result.extends}</span>}
      </p>
      {also.length > 0 && (
        <p className="muted small">
          Also changes {also.map((c) => c.name).join(", ")} (a version the clusters hold is assigned there).
        </p>
      )}
      {result.waves.length > 0 ? (
        <ol className="plan-waves" aria-label="Rollout waves">
          {result.waves.map((w, i) => (
            <li key={w.name} data-wave={w.name}>
              Wave {i + 1}, {w.name}: {w.clusters.join(", ") || <span className="muted">no cluster</span>}
            </li>
          ))}
        </ol>
      ) : (
        <p className="muted small">No waves: every cluster it reaches gets it at once.</p>
      )}
      <p className="small" data-testid="preview-needed">
        {result.preview_required
          ? `Publishing needs an impact preview: it reaches production (${production.join(", ")}).`
          : "It reaches no production cluster; the impact preview is still required before publishing."}
      </p>
    </div>
  );
}

function BlueprintImpact({ preview }: { preview: BlueprintPreview }) {
  const s = preview.summary;
  return (
    <div className="bp-impact" data-testid="bp-impact" aria-label="Impact preview">
      <p>
        <strong>Impact preview</strong> of version {preview.change.version}:{" "}
        {preview.clusters.length === 0
          ? "it reaches no production cluster, so there is no recorded traffic to replay."
          : `${s.allowed_to_denied ?? 0} connections would be denied, ${s.denied_to_allowed ?? 0} allowed, ${s.uncertain ?? 0} uncertain, over ${preview.clusters.length} production cluster${preview.clusters.length === 1 ? "" : "s"}.`}{" "}
        {preview.token.required ? "Its token goes with the publish." : ""}
      </p>
      <p className="muted small">
        Reaches{" "}
        {preview.reached.map((c, i) => (
          <span key={c.id}>
            {i > 0 && ", "}
            {c.name}
            {c.previewed ? " (previewed)" : ""}
          </span>
        ))}
        {preview.reached.length === 0 && "no cluster"}.
      </p>
      {preview.clusters.map((c) => (
        <ImpactView key={c.cluster.id} preview={c} />
      ))}
    </div>
  );
}

type Verb = "pause" | "resume" | "promote";

function RolloutView({
  id,
  rollout: loaded,
  onRefresh,
  writable,
  watching,
  assigned,
}: {
  id: string;
  rollout: Rollout;
  onRefresh(): void;
  writable: boolean;
  watching: boolean;
  assigned: string[];
}) {
  const { api } = useSession();
  const [changed, setChanged] = useState<Rollout | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const rollout = changed && changed.updated_at >= loaded.updated_at ? changed : loaded;
  const active = rollout.state === "progressing" || rollout.state === "paused";
  const control = async (verb: Verb) => {
    setBusy(true);
    setNotice("");
    try {
      const answer = await api.post("/api/v1/blueprints/{blueprint_id}/rollout/{verb}", { path: { blueprint_id: id, verb } });
      setChanged(view<Rollout>(answer));
      setNotice(verb === "pause" ? "Rollout paused." : verb === "resume" ? "Rollout resumed." : "Next wave released.");
    } catch (e) {
      setNotice(`Not done: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="rollout" data-testid="rollout" data-state={rollout.state}>
      <p>
        {rollout.state === "none" ? (
          <>Version {rollout.version}: released to every assigned cluster at once (no waves)</>
        ) : (
          <>
            Version {rollout.version}: <Badge tone={stateTone(rollout.state)}>{rollout.state}</Badge>
            {rollout.wave && <span className="muted"> · current wave {rollout.wave}</span>}
            <span className="muted"> · started {ago(rollout.started_at)}</span>
            {rollout.soak_seconds > 0 && <span className="muted"> · soak {rollout.soak_seconds}s after each wave</span>}
            {rollout.message && <span className="muted"> · {rollout.message}</span>}
          </>
        )}{" "}
        <button type="button" onClick={() => (setChanged(null), onRefresh())}>
          Refresh
        </button>
        {watching && <span className="muted small"> · refreshing every {POLL_MS / 1000} s until every cluster has settled</span>}
      </p>
      {writable && active && (
        <div className="actions" role="group" aria-label="Rollout controls">
          {rollout.state === "progressing" ? (
            <button type="button" onClick={() => control("pause")} disabled={busy}>
              Pause rollout
            </button>
          ) : (
            <button type="button" onClick={() => control("resume")} disabled={busy}>
              Resume rollout
            </button>
          )}
          <button type="button" onClick={() => control("promote")} disabled={busy}>
            Release next wave now
          </button>
        </div>
      )}
      {notice && (
        <p className="muted" role="status" data-testid="rollout-notice">
          {notice}
        </p>
      )}
      {rollout.waves.length === 0 ? (
        <ReleasedEverywhere clusters={assigned} />
      ) : (
        <ol className="waves">
          {rollout.waves.map((w, i) => (
            <li key={w.name} className="wave" data-wave={w.name} data-phase={w.phase}>
              <h3>
                Wave {i + 1}: {w.name} <Badge tone={stateTone(w.phase)}>{w.phase}</Badge>
              </h3>
              <ClusterStates what={`Clusters of wave ${w.name}`} states={w.clusters} />
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

function ClusterStates({ what, states }: { what: string; states: Rollout["waves"][number]["clusters"] }) {
  return (
    <table>
      <caption className="sr-only">{what}</caption>
      <thead>
        <tr>
          <th scope="col">Cluster</th>
          <th scope="col">State</th>
          <th scope="col">Generation</th>
          <th scope="col">Heartbeat</th>
        </tr>
      </thead>
      <tbody>
        {states.map((c) => (
          <tr key={c.cluster} data-cluster={c.cluster} data-state={c.state}>
            <th scope="row">{c.cluster}</th>
            <td>
              <Badge tone={stateTone(c.state)}>{c.state}</Badge>
              {(c.errors ?? []).length > 0 && <span className="bad-text"> {c.errors?.length} error(s)</span>}
            </td>
            <td>{c.desired_generation === undefined ? "—" : `${c.applied_generation}/${c.desired_generation}`}</td>
            <td>{c.last_heartbeat === undefined ? "—" : ago(c.last_heartbeat)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A version without waves reaches every assigned cluster at once: their sync state
 * (GET /api/v1/rollout), polled until each has settled. */
function ReleasedEverywhere({ clusters }: { clusters: string[] }) {
  const { api } = useSession();
  const states = useLoad((signal) => api.get("/api/v1/rollout", { signal }).then((a) => view<Page<SyncState>>(a).items), [api]);
  const mine = (states.data ?? []).filter((s) => clusters.includes(s.cluster));
  const moving = mine.some((s) => !SETTLED.has(s.state));
  useEffect(() => {
    if (!moving) return;
    const timer = setTimeout(states.reload, POLL_MS);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [moving, states.data]);
  if (states.error) return <Failure error={states.error} what="the clusters' sync state" />;
  if (!states.data) return <Loading what="the clusters' sync state" />;
  if (mine.length === 0) return <p className="muted">No cluster is assigned.</p>;
  return <ClusterStates what="Assigned clusters" states={mine.map((s) => ({ ...s, last_heartbeat: s.last_heartbeat ?? undefined }))} />;
}
