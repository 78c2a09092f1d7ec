import { useState } from "react";
import { view } from "../api/client";
import type { AuditEntry, Page } from "../api/types";
import { Badge } from "../components/common";
import { DataTable, WhenLoaded } from "../components/DataTable";
import { FilterBar, SelectFilter, TextFilter } from "../components/FilterBar";
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
      <FilterBar label="Filter the audit log">
        <SelectFilter label="Outcome" value={outcome} onChange={setOutcome} options={[["", "any"], "allowed", "denied"]} />
        <TextFilter label="Actor" value={actor} onChange={(v) => setActor(v.trim())} placeholder="any" />
        <TextFilter label="Action" value={action} onChange={(v) => setAction(v.trim())} placeholder="any" />
      </FilterBar>
      <WhenLoaded load={entries} what="the audit log">
        {(items) => (
          <DataTable
            testid="audit-table"
            caption="Audit entries, newest first"
            columns={["When", "Actor", "Action", "Resource", "Outcome", "Details"]}
            rows={items}
            row={(e, i) => (
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
            )}
          />
        )}
      </WhenLoaded>
    </section>
  );
}
