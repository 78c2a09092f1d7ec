// The signed-in user: the token (sessionStorage, this tab only), the API client that
// carries it, GET /api/v1/me, and what the user's grants let the console show.
import { createContext, useContext } from "react";
import type { Api } from "./api/client";
import type { Grants, Me } from "./api/types";

export const TOKEN_KEY = "netwarden.token";

export interface Capabilities {
  /** Agent health and sync state (GET /api/v1/rollout): cluster-wide policy readers. */
  fleetHealth: boolean;
  blueprints: boolean;
  /** Pause, resume and promote rollouts (write-cluster-policy: Org Admin, Infra Admin). */
  rollout: boolean;
  audit: boolean;
  policies: boolean;
  flows: boolean;
}

/** What the console shows for these grants. It mirrors control/rbac.py; the server
 * still refuses anything else, so a wrong guess here can hide a page, never leak one. */
export function capabilities(g: Grants): Capabilities {
  const orgWide = g.org_admin || g.org_viewer;
  const infra = g.infra_admin.length + g.infra_viewer.length > 0;
  const namespaced =
    g.project_admin.length + g.project_viewer.length + g.workspace_admin.length + g.workspace_viewer.length > 0;
  return {
    fleetHealth: orgWide || infra,
    blueprints: orgWide || infra,
    rollout: g.org_admin || g.infra_admin.length > 0,
    audit: orgWide,
    policies: orgWide || infra || namespaced,
    flows: orgWide || infra || namespaced,
  };
}

export function roleLabel(g: Grants): string {
  const roles: string[] = [];
  if (g.org_admin) roles.push("Org Admin");
  if (g.org_viewer) roles.push("Org Viewer");
  if (g.infra_admin.length) roles.push("Infra Admin");
  if (g.infra_viewer.length) roles.push("Infra Viewer");
  if (g.project_admin.length) roles.push("Project Admin");
  if (g.project_viewer.length) roles.push("Project Viewer");
  if (g.workspace_admin.length) roles.push("Workspace Admin");
  if (g.workspace_viewer.length) roles.push("Workspace Viewer");
  return roles.join(", ") || "no role";
}

export interface Session {
  api: Api;
  me: Me;
  can: Capabilities;
  signOut(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in console");
  return session;
}
