// Blueprints: the list, a blueprint's versions, assigned clusters and rollout (waves and
// each cluster's state, polled while it moves), and, for those who may write them
// (Org Admin, Infra Admin of the owning project), authoring: a new blueprint or a new
// version in the YAML editor with live validation (located errors, the clusters it is
// assigned to, its waves), the impact preview on the production clusters it reaches,
// and publishing with the preview's token, or staged; then the lifecycle: what a staged
// version would do and its promotion, a rollback to an earlier version, a deletion, each
// previewed (the same preview and token as publishing) and confirmed in place.
import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from "react";
import { ApiError, etagOf, view, type Api } from "../api/client";
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
import { Badge, Failure, Loading, Notice, stateTone } from "../components/common";
import { DataTable, WhenLoaded } from "../components/DataTable";
import { FilterBar, SelectFilter } from "../components/FilterBar";
import { PromotionRecord, promotionRecord, StagedOutcomes } from "../components/StagedOutcomes";
import { locate, YamlEditor, type Located } from "../components/YamlEditor";
import { ago, useLoad } from "../load";
import { Link, navigate, useLocation } from "../router";
import { mayWriteBlueprint, useSession } from "../session";
import { ImpactView, UnifiedDiff } from "./Policies";

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
      <WhenLoaded load={list} what="blueprints">
        {(items) => (
          <DataTable
            testid="blueprint-table"
            caption="Blueprints you may read"
            columns={["Blueprint", { title: "Version", num: true }, "Updated"]}
            rows={items}
            wrap={false}
            empty={`No blueprint yet${can.rollout ? ": write one (New blueprint) or `netwarden apply -f` one." : "."}`}
            row={(b) => (
              <tr key={b.id} data-blueprint={b.name}>
                <th scope="row">
                  <Link to={`/blueprints/${b.id}`}>{b.name}</Link>
                  {b.deleted && <Badge tone="bad">deleted</Badge>}
                  {b.staged && !b.deleted && <Badge tone="warn">staged{b.released_version ? ` (v${b.released_version} released)` : ""}</Badge>}
                </th>
                <td className="num">v{b.version}</td>
                <td>{ago(b.updated_at)}</td>
              </tr>
            )}
          />
        )}
      </WhenLoaded>
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
          <FilterBar label="Owner">
            <SelectFilter
              label="Project"
              name="project"
              value={chosen}
              onChange={setProject}
              options={[...writable.map((p) => [p.id, p.name] as const), ...(me.grants.org_admin ? [["", "org-wide (no project)"] as const] : [])]}
            />
            <p className="muted small">A project&apos;s blueprint reaches only that project&apos;s clusters.</p>
          </FilterBar>
          <BlueprintAuthor
            key={chosen}
            project={chosen || null}
            initial={BLUEPRINT_TEMPLATE}
            onSaved={(saved, staged) => navigate(`/blueprints/${saved.id}?${staged ? "tab=staged" : `published=${saved.version}`}`)}
          />
        </>
      )}
    </section>
  );
}

/** The views of a blueprint's page (`?tab=`): none is the rollout and the versions;
 * `edit` a new version, `staged` what a staged version would do; `rollback` (`&to=N`),
 * `delete` and `promote` a change previewed and confirmed in place. */
type BlueprintTab = "edit" | "staged" | "rollback" | "delete" | "promote";
const WRITES: BlueprintTab[] = ["edit", "rollback", "delete", "promote"];

export function BlueprintPage({ id }: { id: string }) {
  const { api, me, can } = useSession();
  const { query } = useLocation();
  const tab = query.get("tab") as BlueprintTab | null;
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
  // A promotion's audit entry: what the staged version did, as the server counted it.
  const promotedFrom = query.get("promoted");
  const record = useLoad(
    () => (promotedFrom && can.audit ? promotionRecord(api, id) : Promise.resolve(null)),
    [api, id, promotedFrom, can.audit],
  );
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
  const done = (to: string) => {
    reloadAll();
    navigate(`/blueprints/${id}?${to}`, true);
  };
  const back = () => navigate(`/blueprints/${id}`, true);
  const restored = query.get("restored");
  const deletedIn = query.get("deleted");
  const to = Number(query.get("to"));
  const promoteHours = Number(query.get("hours")) || 1;
  const target = tab === "rollback" ? versions.data?.find((v) => v.version === to) : undefined;
  return (
    <section aria-labelledby="bp-title">
      <p className="crumbs">
        <Link to="/blueprints">Blueprints</Link> ›
      </p>
      <div className="title-row">
        <h1 id="bp-title">Blueprint {b.name}</h1>
        {writable && !tab && (
          <div className="actions">
            <Link to={`/blueprints/${id}?tab=edit`} className="button-link">
              New version
            </Link>
            {!b.deleted && (
              <Link to={`/blueprints/${id}?tab=delete`} className="button-link danger">
                Delete blueprint
              </Link>
            )}
          </div>
        )}
      </div>
      <p className="muted">
        version {b.version}
        {b.staged
          ? ` (staged: version ${b.released_version ?? "none"} stays released)`
          : b.released_version && b.released_version !== b.version
            ? ` (every cluster holds version ${b.released_version} or newer)`
            : ""}{" "}
        · updated {ago(b.updated_at)}
        {!b.deleted && ` · assigned to ${clusters.data ? clusters.data.map((c) => c.name).join(", ") || "no cluster" : "…"}`}
        {b.deleted && <Badge tone="bad">deleted</Badge>}
        {b.staged && <Badge tone="warn">staged</Badge>}
      </p>
      {published && !tab && (
        <div className="alert ok-alert" role="status" data-testid="bp-published">
          {restored
            ? `Rolled back: version ${published} restores version ${restored}.`
            : promotedFrom
              ? `Promoted: staged version ${promotedFrom} is released as version ${published}.`
              : `Published version ${published}.`}{" "}
          Its rollout below refreshes by itself until every cluster has it.
          {record.data && <PromotionRecord preview={record.data} />}
        </div>
      )}
      {deletedIn && !tab && (
        <p className="alert ok-alert" role="status" data-testid="bp-deleted">
          Deleted: version {deletedIn} removes its policies from every cluster it reached, at once. Its versions stay: rolling
          back to one restores it.
        </p>
      )}
      {b.staged && !b.deleted && tab !== "staged" && tab !== "promote" && (
        <p className="alert" data-testid="bp-staged-banner">
          Version {b.version} is staged: evaluated on the flows of the clusters it reaches, not released.{" "}
          {b.released_version ? `Version ${b.released_version} stays where it is released until it is promoted.` : "Nothing of it is released until it is promoted."}{" "}
          <Link to={`/blueprints/${id}?tab=staged`}>What it would do{writable ? ", and promote it" : ""}</Link>
        </p>
      )}
      {tab && WRITES.includes(tab) && !writable && (
        <p className="alert" role="alert" data-testid="not-available">
          Writing this blueprint is not available to your role.
        </p>
      )}
      {tab === "edit" && writable && !b.yaml && !versions.data && <Loading what="the versions" />}
      {tab === "edit" && writable && (b.yaml || versions.data) && (
        <>
          <h2>New version</h2>
          <BlueprintAuthor
            key={`${b.id}@${b.version}`}
            blueprint={b}
            project={b.project}
            initial={latestText}
            onSaved={(saved, staged) => done(staged ? "tab=staged" : `published=${saved.version}`)}
            onCancel={back}
          />
        </>
      )}
      {tab === "rollback" && writable && !versions.data && <Loading what="the versions" />}
      {tab === "rollback" && writable && versions.data && (!target || !target.yaml || to === b.version) && (
        <p className="alert" role="alert">
          {!target ? `There is no version ${to} to roll back to.` : to === b.version ? `Version ${to} is the current one.` : `Version ${to} is a deletion: delete the blueprint instead.`}
        </p>
      )}
      {tab === "rollback" && writable && target && target.yaml && to !== b.version && (
        <ConfirmChange
          key={`rollback-${b.version}-${to}`}
          blueprint={b}
          title={`Roll back to version ${to}`}
          change={{ yaml: target.yaml }}
          action={`Roll back to version ${to}`}
          commit={(headers, message) =>
            api.post("/api/v1/blueprints/{blueprint_id}/rollback", { path: { blueprint_id: id }, headers, body: { version: to, message } })
          }
          onDone={(saved) => done(`published=${saved.version}&restored=${to}`)}
          onCancel={back}
        >
          <p>
            A new version {b.version + 1} with the YAML of version {to} ({target.author}
            {target.message ? `: ${target.message}` : ""}, {ago(target.created_at)}). It is released as a publish is: in
            the rollout&apos;s waves, production clusters with this preview&apos;s token.
          </p>
          <h3>What changes</h3>
          <LineDiff before={b.yaml ?? ""} after={target.yaml} />
        </ConfirmChange>
      )}
      {tab === "delete" && writable && b.deleted && <p className="muted">This blueprint is deleted.</p>}
      {tab === "delete" && writable && !b.deleted && (
        <ConfirmChange
          key={`delete-${b.version}`}
          blueprint={b}
          title={`Delete blueprint ${b.name}`}
          change={{ remove: b.id }}
          action={`Delete ${b.name}`}
          confirmName
          commit={(headers, message) =>
            api.delete("/api/v1/blueprints/{blueprint_id}", { path: { blueprint_id: id }, headers, query: { message } })
          }
          onDone={(saved) => done(`deleted=${saved.version}`)}
          onCancel={back}
        >
          <p>
            Deleting it removes its policies from <strong>every cluster it reaches at once</strong>: a deletion does not
            follow the rollout waves. Its versions stay: rolling back to one restores it.
          </p>
        </ConfirmChange>
      )}
      {tab === "staged" && !b.staged && <p className="muted">Nothing of this blueprint is staged.</p>}
      {tab === "staged" && b.staged && <StagedBlueprint blueprint={b} writable={writable} />}
      {tab === "promote" && writable && !b.staged && <p className="muted">Nothing of this blueprint is staged: nothing to promote.</p>}
      {tab === "promote" && writable && b.staged && b.yaml && (
        <ConfirmChange
          key={`promote-${b.version}`}
          blueprint={b}
          title={`Promote staged version ${b.version}`}
          change={{ yaml: b.yaml }}
          action={`Promote version ${b.version}`}
          commit={(headers, message) =>
            api.post("/api/v1/blueprints/{blueprint_id}/promote", { path: { blueprint_id: id }, headers, body: { hours: promoteHours, message } })
          }
          onDone={(saved) => done(`published=${saved.version}&promoted=${b.version}`)}
          onCancel={() => navigate(`/blueprints/${id}?tab=staged`, true)}
        >
          <p>
            Written again as an enforced version {b.version + 1} and released as a publish is: in the rollout&apos;s waves,
            production clusters with this preview&apos;s token. The audit entry records what the staged version did to the
            flows of the last {promoteHours} h.
          </p>
        </ConfirmChange>
      )}
      {!tab && (
        <>
          <h2>Rollout</h2>
          {b.deleted ? (
            <DeletedFrom blueprint={b} versions={versions.data} />
          ) : (
            <>
              {rollout.error && <Failure error={rollout.error} what="the rollout" />}
              {rollout.data === null && <p className="muted">Not rolled out yet.</p>}
              {rollout.data && (
                <RolloutView
                  id={id}
                  rollout={rollout.data}
                  released={b.staged ? (b.released_version ?? 0) : b.version}
                  onRefresh={rollout.reload}
                  writable={writable}
                  watching={moving}
                  assigned={(clusters.data ?? []).map((c) => c.name)}
                />
              )}
            </>
          )}
          <h2>Versions</h2>
          {versions.error && <Failure error={versions.error} what="versions" />}
          {versions.data && (
            <DataTable
              testid="bp-versions"
              caption="Versions, newest first"
              columns={["Version", "Author", "Message", "When", "YAML", ...(writable ? ["Roll back"] : [])]}
              rows={versions.data}
              wrap={false}
              row={(v) => (
                <tr key={v.version} data-version={v.version}>
                  <th scope="row">v{v.version}</th>
                  <td>{v.author}</td>
                  <td>{v.message || <span className="muted">—</span>}</td>
                  <td>{ago(v.created_at)}</td>
                  <td>
                    {v.yaml ? (
                      <button type="button" className="link" aria-expanded={shown === v.version} onClick={() => setShown(shown === v.version ? null : v.version)}>
                        {shown === v.version ? "Hide" : "Show"} v{v.version}
                      </button>
                    ) : (
                      <span className="muted">deleted</span>
                    )}
                  </td>
                  {writable && (
                    <td>
                      {v.version === b.version ? (
                        <span className="muted">current</span>
                      ) : v.yaml ? (
                        <Link to={`/blueprints/${id}?tab=rollback&to=${v.version}`}>Roll back to v{v.version}</Link>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                  )}
                </tr>
              )}
            />
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

/** One blueprint change to preview and write: a version's YAML (a new or changed
 * blueprint, the YAML a rollback restores, a staged version being promoted), or the
 * deletion of the blueprint `remove`. */
export type BlueprintChange = { yaml: string } | { remove: string };

/** The impact preview of a change on every production cluster it reaches, with the token
 * writes reaching production must carry (POST /api/v1/blueprints/preview). */
export async function previewChange(api: Api, change: BlueprintChange, project: string | null): Promise<BlueprintPreview> {
  const body = "yaml" in change ? { blueprint_yaml: change.yaml, project } : { delete_blueprint: change.remove, project };
  return view<BlueprintPreview>(await api.post("/api/v1/blueprints/preview", { body }));
}

/** If-Match (refuse a change made since it was read) and the preview's token. */
function writeHeaders(etag: string | undefined, preview: BlueprintPreview | null): Record<string, string> {
  return { ...(etag ? { "If-Match": etag } : {}), ...(preview ? { [preview.token.header]: preview.token.value } : {}) };
}

/** What to say when a write is refused: 412 (someone wrote since), 428 (preview again). */
function refusal(error: unknown, what: string, change: string): string {
  if (error instanceof ApiError && error.status === 412)
    return "Someone published a version since you opened this one: reload to see theirs.";
  if (error instanceof ApiError && error.status === 428)
    return `The production clusters need a fresh impact preview of exactly ${change}: preview again.`;
  return `${what}: ${error instanceof Error ? error.message : String(error)}`;
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
  onSaved(saved: Blueprint, staged: boolean): void;
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
      setImpact({ yaml: text, preview: await previewChange(api, { yaml: text }, project) });
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) setErrors(locate(text, error.errors));
      setNotice(`No preview: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      setState("idle");
    }
  };

  /** Publish: enforced (with the preview's token), or staged (evaluated on the flows of
   * the clusters it reaches, not released: nothing to preview). */
  const publish = async (staged: boolean) => {
    if (!staged && !previewed) return;
    setState("saving");
    setNotice("");
    const headers = writeHeaders(etag, staged ? null : previewed);
    try {
      const body = { yaml: text, message, project, staged };
      const saved = blueprint
        ? await api.put("/api/v1/blueprints/{blueprint_id}", { path: { blueprint_id: blueprint.id }, headers, body })
        : await api.post("/api/v1/blueprints", { headers, body });
      onSaved(view<Blueprint>(saved), staged);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) setErrors(locate(text, error.errors));
      setNotice(refusal(error, "Not published", "this draft"));
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
    <form
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        void publish(false);
      }}
      className="editor" aria-label={blueprint ? `New version of blueprint ${blueprint.name}` : "New blueprint"}>
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
          traffic with it (writes reaching production need the preview&apos;s token). Or publish it staged: evaluated on
          the flows of the clusters it reaches, not released until it is promoted.
        </p>
      )}
      <div className="actions">
        <button type="button" onClick={previewImpact} disabled={!changed || !writable}>
          Preview impact
        </button>
        <button type="submit" className="primary" disabled={!changed || !previewed || !writable}>
          Publish {result ? `version ${result.version}` : blueprint ? "a new version" : "the blueprint"}
        </button>
        <button type="button" onClick={() => void publish(true)} disabled={!changed || !writable}>
          Publish staged
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
      <Notice text={notice} />
    </form>
  );
}

/** Where a valid draft goes: the clusters it is assigned to, those it also changes, its
 * waves, and whether publishing needs a preview. */
function Plan({ result, writing = "Publishing" }: { result: BlueprintValidation; writing?: string }) {
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
          ? `${writing} needs an impact preview: it reaches production (${production.join(", ")}).`
          : `It reaches no production cluster; the impact preview is still required before ${writing === "Publishing" ? "publishing" : "writing it"}.`}
      </p>
    </div>
  );
}

function BlueprintImpact({ preview }: { preview: BlueprintPreview }) {
  const s = preview.summary;
  return (
    <div className="bp-impact" data-testid="bp-impact" aria-label="Impact preview">
      <p>
        <strong>Impact preview</strong> of {preview.change.kind === "delete-blueprint" ? "the deletion, " : ""}version {preview.change.version}:{" "}
        {preview.clusters.length === 0
          ? "it reaches no production cluster, so there is no recorded traffic to replay."
          : `${s.allowed_to_denied ?? 0} connections would be denied, ${s.denied_to_allowed ?? 0} allowed, ${s.uncertain ?? 0} uncertain, over ${preview.clusters.length} production cluster${preview.clusters.length === 1 ? "" : "s"}.`}{" "}
        {preview.token.required ? `Its token goes with the ${preview.change.kind === "delete-blueprint" ? "deletion" : "write"}.` : ""}
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

/** A change to a blueprint, previewed and then confirmed in place: a rollback, a
 * deletion, a promotion. The impact preview (publishing's: the same route, view and
 * token) runs as the view opens and names every cluster the change reaches; the write
 * carries its token and `If-Match`. `confirmName`: the blueprint's name must be typed. */
function ConfirmChange({
  blueprint,
  title,
  change,
  action,
  confirmName = false,
  commit,
  onDone,
  onCancel,
  children,
}: {
  blueprint: Blueprint;
  title: string;
  change: BlueprintChange;
  action: string;
  confirmName?: boolean;
  commit(headers: Record<string, string>, message: string): Promise<unknown>;
  onDone(saved: Blueprint): void;
  onCancel(): void;
  children?: ReactNode;
}) {
  const { api } = useSession();
  const [preview, setPreview] = useState<BlueprintPreview | null>(null);
  const [state, setState] = useState<"previewing" | "idle" | "saving">("previewing");
  const [notice, setNotice] = useState("");
  const [message, setMessage] = useState("");
  const [typed, setTyped] = useState("");
  const [round, setRound] = useState(0);
  const etag = useMemo(() => etagOf(blueprint), [blueprint]);
  const yaml = "yaml" in change ? change.yaml : null;
  const key = JSON.stringify(change);
  const plan = useLoad(
    (signal) =>
      yaml
        ? api
            .post("/api/v1/blueprints/validate", { body: { yaml, blueprint: blueprint.id, project: blueprint.project }, signal })
            .then(view<BlueprintValidation>)
        : Promise.resolve(null),
    [api, yaml, blueprint.id, blueprint.project],
  );
  useEffect(() => {
    let live = true;
    setState("previewing");
    setPreview(null);
    setNotice("");
    previewChange(api, JSON.parse(key) as BlueprintChange, blueprint.project).then(
      (answer) => {
        if (!live) return;
        setPreview(answer);
        setState("idle");
      },
      (error: unknown) => {
        if (!live) return;
        setNotice(`No preview: ${error instanceof Error ? error.message : String(error)}`);
        setState("idle");
      },
    );
    return () => {
      live = false;
    };
  }, [api, key, blueprint.project, round]);

  const confirm = async (event: FormEvent) => {
    event.preventDefault();
    if (!preview) return;
    setState("saving");
    setNotice("");
    try {
      onDone(view<Blueprint>(await commit(writeHeaders(etag, preview), message)));
    } catch (error) {
      setNotice(refusal(error, "Not done", "this change"));
      setState("idle");
    }
  };

  const removal = "remove" in change;
  const reached = preview?.reached ?? [];
  const named = !confirmName || typed.trim() === blueprint.name;
  const label = removal && preview ? `${action} from ${reached.length} cluster${reached.length === 1 ? "" : "s"}` : action;
  return (
    <form className="editor change" aria-label={title} data-testid="bp-change" onSubmit={confirm}>
      <h2>{title}</h2>
      {children}
      {plan.data && <Plan result={plan.data} writing="This change" />}
      {plan.error && <Failure error={plan.error} what="where it goes" />}
      {state === "previewing" && (
        <p className="muted" role="status">
          Replaying recorded traffic…
        </p>
      )}
      {preview && (
        <p data-testid="change-reach">
          {removal ? "Removed at once from" : "It reaches"}:{" "}
          {reached.length === 0 ? (
            <span className="muted">no cluster</span>
          ) : (
            <span className="chips-inline">
              {reached.map((c) => (
                <span key={c.id} className="chip" data-cluster={c.name}>
                  {c.name}
                  {c.previewed && <span className="muted"> · production</span>}
                </span>
              ))}
            </span>
          )}
        </p>
      )}
      {preview && <BlueprintImpact preview={preview} />}
      <label>
        Change message
        <input value={message} onChange={(e) => setMessage(e.target.value)} placeholder="why" />
      </label>
      {confirmName && (
        <label>
          Type {blueprint.name} to confirm
          <input value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
        </label>
      )}
      <div className="actions">
        <button type="submit" className={removal ? "danger" : "primary"} disabled={!preview || !named || state !== "idle"}>
          {label}
        </button>
        <button type="button" onClick={() => setRound((n) => n + 1)} disabled={state !== "idle"}>
          Preview again
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <Notice text={notice} />
    </form>
  );
}

/** The lines of `before` and `after`, each kept, removed or added (longest common
 * subsequence of lines; blueprints are short). */
export function lineDiff(before: string, after: string): { op: " " | "-" | "+"; line: string }[] {
  const a = before.split("\n");
  const b = after.split("\n");
  const common: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  const at = (i: number, j: number) => common[i]?.[j] ?? 0;
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      common[i]![j] = a[i] === b[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
  const out: { op: " " | "-" | "+"; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) out.push({ op: " ", line: a[i++]! }), j++;
    else if (at(i + 1, j) >= at(i, j + 1)) out.push({ op: "-", line: a[i++]! });
    else out.push({ op: "+", line: b[j++]! });
  }
  while (i < a.length) out.push({ op: "-", line: a[i++]! });
  while (j < b.length) out.push({ op: "+", line: b[j++]! });
  return out;
}

const CONTEXT = 3; // unchanged lines shown around each change

function LineDiff({ before, after }: { before: string; after: string }) {
  const lines = lineDiff(before, after);
  const changed = lines.flatMap((l, n) => (l.op === " " ? [] : [n]));
  if (changed.length === 0) return <p className="muted">No text change.</p>;
  const near = (n: number) => changed.some((c) => Math.abs(c - n) <= CONTEXT);
  const shown: string[] = [];
  let skipped = 0;
  lines.forEach((l, n) => {
    if (!near(n)) {
      skipped++;
      if (n < lines.length - 1) return;
    }
    if (skipped) shown.push(`  ⋯ ${skipped} unchanged line${skipped === 1 ? "" : "s"}`);
    skipped = 0;
    if (near(n)) shown.push(`${l.op} ${l.line}`);
  });
  return <UnifiedDiff text={shown.join("\n")} testid="line-diff" label="Text diff, current version to the restored one" />;
}

/** A staged version: what it would do to the flows of the clusters it reaches (marked by
 * the flow pipeline as `Blueprint//name`), and the way to promote it. */
function StagedBlueprint({ blueprint: b, writable }: { blueprint: Blueprint; writable: boolean }) {
  const [hours, setHours] = useState(1);
  const label = `Blueprint//${b.name}`;
  return (
    <div className="staged" data-testid="staged-outcomes">
      <h2>What version {b.version} would do</h2>
      <p className="muted small">
        Version {b.version} is staged: evaluated on the flows of the clusters it reaches, not released
        {b.released_version ? ` (version ${b.released_version} stays where it is released)` : ""}. Flows of the last hours
        it marks (<code>{label}</code>), from the stored flows you may see.
      </p>
      <StagedOutcomes label={label} version={b.version} hours={hours} onHours={setHours} byCluster />
      <h3>Promote</h3>
      {writable ? (
        <p>
          <Link to={`/blueprints/${b.id}?tab=promote&hours=${hours}`} className="button-link">
            Promote version {b.version}…
          </Link>{" "}
          <span className="muted small">released in the rollout&apos;s waves after an impact preview.</span>
        </p>
      ) : (
        <p className="muted">Promoting it is for those who may change this blueprint.</p>
      )}
      <p>
        <Link to={`/blueprints/${b.id}`}>Back to the rollout</Link>
      </p>
    </div>
  );
}

/** A deleted blueprint: its policies left at once every cluster its last version was on
 * (the validate route's reach of that YAML); their sync state, polled until settled. */
function DeletedFrom({ blueprint: b, versions }: { blueprint: Blueprint; versions: Version[] | undefined }) {
  const { api } = useSession();
  const last = versions?.find((v) => v.yaml)?.yaml ?? "";
  const was = useLoad(
    (signal) =>
      last
        ? api
            .post("/api/v1/blueprints/validate", { body: { yaml: last, blueprint: b.id, project: b.project }, signal })
            .then((a) => view<BlueprintValidation>(a).reached.map((c) => c.name))
        : Promise.resolve([] as string[]),
    [api, b.id, b.project, last],
  );
  return (
    <div className="rollout" data-testid="bp-deleted-from">
      <p>
        Version {b.version} deleted it: its policies were removed at once from every cluster it reached (a deletion does not
        follow the rollout waves).
      </p>
      {!versions && <Loading what="the versions" />}
      {was.error && <Failure error={was.error} what="the clusters it was on" />}
      {was.data && <ReleasedEverywhere clusters={was.data} />}
    </div>
  );
}

type Verb = "pause" | "resume" | "promote";

/** `released`: the version the clusters get (the current one, or the one a staged
 * version leaves in place); when the latest rollout is older, it went out at once. */
function RolloutView({
  id,
  rollout: loaded,
  released,
  onRefresh,
  writable,
  watching,
  assigned,
}: {
  id: string;
  rollout: Rollout;
  released: number;
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
  const atOnce = rollout.state === "none" || rollout.version < released;
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
        {released === 0 ? (
          <>Nothing released yet: the current version is staged</>
        ) : atOnce ? (
          <>Version {released}: released to every assigned cluster at once (no waves)</>
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
      {released === 0 ? null : atOnce || rollout.waves.length === 0 ? (
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
    <DataTable
      caption={what}
      columns={["Cluster", "State", "Generation", "Heartbeat"]}
      rows={states}
      wrap={false}
      row={(c) => (
        <tr key={c.cluster} data-cluster={c.cluster} data-state={c.state}>
          <th scope="row">{c.cluster}</th>
          <td>
            <Badge tone={stateTone(c.state)}>{c.state}</Badge>
            {(c.errors ?? []).length > 0 && <span className="bad-text"> {c.errors?.length} error(s)</span>}
          </td>
          <td>{c.desired_generation === undefined ? "—" : `${c.applied_generation}/${c.desired_generation}`}</td>
          <td>{c.last_heartbeat === undefined ? "—" : ago(c.last_heartbeat)}</td>
        </tr>
      )}
    />
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
