import { useState } from "react";
import { ApiError, view } from "../api/client";
import type { Blueprint, Page, Rollout, Version } from "../api/types";
import { Badge, Failure, Loading, stateTone } from "../components/common";
import { ago, useLoad } from "../load";
import { Link } from "../router";
import { useSession } from "../session";

export function BlueprintsPage() {
  const { api } = useSession();
  const list = useLoad((signal) => api.get("/api/v1/blueprints", { signal }).then((a) => view<Page<Blueprint>>(a).items), [api]);
  return (
    <section aria-labelledby="bp-title">
      <h1 id="bp-title">Blueprints</h1>
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
              <tr key={b.id}>
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
                  No blueprint yet: `netwarden apply -f` one.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function BlueprintPage({ id }: { id: string }) {
  const { api } = useSession();
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
  const [shown, setShown] = useState<number | null>(null);
  if (bp.error) return <Failure error={bp.error} what="the blueprint" />;
  if (!bp.data) return <Loading what="the blueprint" />;
  const b = bp.data;
  const open = versions.data?.find((v) => v.version === shown);
  return (
    <section aria-labelledby="bp-title">
      <p className="crumbs">
        <Link to="/blueprints">Blueprints</Link> ›
      </p>
      <h1 id="bp-title">Blueprint {b.name}</h1>
      <p className="muted">
        version {b.version} · updated {ago(b.updated_at)} · assigned to{" "}
        {clusters.data ? clusters.data.map((c) => c.name).join(", ") || "no cluster" : "…"}
      </p>
      <h2>Rollout</h2>
      {rollout.error && <Failure error={rollout.error} what="the rollout" />}
      {rollout.data === null && <p className="muted">Not rolled out yet.</p>}
      {rollout.data && <RolloutView id={id} rollout={rollout.data} onRefresh={rollout.reload} />}
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
    </section>
  );
}

type Verb = "pause" | "resume" | "promote";

function RolloutView({ id, rollout: loaded, onRefresh }: { id: string; rollout: Rollout; onRefresh(): void }) {
  const { api, can } = useSession();
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
        Version {rollout.version}: <Badge tone={stateTone(rollout.state)}>{rollout.state}</Badge>
        {rollout.wave && <span className="muted"> · current wave {rollout.wave}</span>}
        <span className="muted"> · started {ago(rollout.started_at)}</span>
        {rollout.soak_seconds > 0 && <span className="muted"> · soak {rollout.soak_seconds}s after each wave</span>}
        {rollout.message && <span className="muted"> · {rollout.message}</span>}{" "}
        <button type="button" onClick={() => (setChanged(null), onRefresh())}>
          Refresh
        </button>
      </p>
      {can.rollout && active && (
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
      <ol className="waves">
        {rollout.waves.map((w, i) => (
          <li key={w.name} className="wave" data-wave={w.name}>
            <h3>
              Wave {i + 1}: {w.name} <Badge tone={stateTone(w.phase)}>{w.phase}</Badge>
            </h3>
            <table>
              <caption className="sr-only">Clusters of wave {w.name}</caption>
              <thead>
                <tr>
                  <th scope="col">Cluster</th>
                  <th scope="col">State</th>
                  <th scope="col">Generation</th>
                  <th scope="col">Heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {w.clusters.map((c) => (
                  <tr key={c.cluster} data-cluster={c.cluster}>
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
          </li>
        ))}
      </ol>
    </div>
  );
}
