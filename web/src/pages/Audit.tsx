import { useState } from "react";
import { view } from "../api/client";
import type { AuditEntry, Page } from "../api/types";
import { Badge, Failure, Loading } from "../components/common";
import { parseTime, useLoad } from "../load";
import { useSession } from "../session";

export function AuditPage() {
  const { api } = useSession();
  const [outcome, setOutcome] = useState("");
  const [actor, setActor] = useState("");
  const [action, setAction] = useState("");
  const [open, setOpen] = useState<number | null>(null);
  const entries = useLoad(
    (signal) =>
      api
        .get("/api/v1/audit", { query: { limit: 200, outcome: outcome || null, actor: actor || null, action: action || null }, signal })
        .then((a) => view<Page<AuditEntry>>(a).items),
    [api, outcome, actor, action],
  );
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <div className="filters" role="group" aria-label="Filter the audit log">
        <label>
          Outcome
          <select value={outcome} onChange={(e) => setOutcome(e.target.value)}>
            <option value="">any</option>
            <option>allowed</option>
            <option>denied</option>
          </select>
        </label>
        <label>
          Actor
          <input value={actor} onChange={(e) => setActor(e.target.value.trim())} placeholder="any" />
        </label>
        <label>
          Action
          <input value={action} onChange={(e) => setAction(e.target.value.trim())} placeholder="any" />
        </label>
      </div>
      {entries.error && <Failure error={entries.error} what="the audit log" />}
      {!entries.data && !entries.error && <Loading what="the audit log" />}
      {entries.data && (
        <div className="table-wrap">
          <table data-testid="audit-table">
            <caption className="sr-only">Audit entries, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Resource</th>
                <th scope="col">Outcome</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.data.map((e, i) => (
                <tr key={i}>
                  <td className="nowrap">{new Date(parseTime(e.at)).toLocaleString()}</td>
                  <td>{e.actor}</td>
                  <td>{e.action}</td>
                  <td>
                    {e.kind} {e.name}
                  </td>
                  <td>
                    <Badge tone={e.outcome === "denied" ? "bad" : "ok"}>{e.outcome}</Badge>
                  </td>
                  <td>
                    {(e.before != null || e.after != null) && (
                      <button type="button" className="link" aria-expanded={open === i} onClick={() => setOpen(open === i ? null : i)}>
                        {open === i ? "Hide" : "Show"}
                      </button>
                    )}
                    {open === i && <pre className="code small">{JSON.stringify({ before: e.before, after: e.after }, null, 2)}</pre>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
