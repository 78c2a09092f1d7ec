// The signed-in user: the token (sessionStorage, this tab only), the API client that
// carries it, GET /api/v1/me, and what the user's grants let the console show.
import { createContext, useContext } from "react";
import type { Api } from "./api/client";
import type { Grants, Me } from "./api/types";

export const TOKEN_KEY = "netwarden.token";

export interface Capabilities {
  /** Agent health and sync state (GET /api/v1/rollout): cluster-wide policy readers. */
  fleetHealth: boolean;
  /** Blueprints, their rollouts and clusters' desired state (read-cluster-policy). */
  blueprints: boolean;
  /** Write blueprints: new blueprints and versions (enforced or staged), rollout
   * pause/resume/promote, promotion of a staged version, rollback, deletion
   * (write-cluster-policy somewhere: Org Admin, Infra Admin). */
  rollout: boolean;
  audit: boolean;
  /** The policy list: cluster-wide policies for Org and Infra roles, namespace policies
   * for Org, Project and Workspace roles. */
  policies: boolean;
  /** Namespace policies and what is computed from them: recommendations, coverage and
   * traffic drift (read-namespace-policy: Org, Project and Workspace roles). */
  namespacePolicies: boolean;
  /** Write some policy (New policy): Org Admin, Infra Admin (cluster-wide kinds),
   * Project Admin and Workspace Admin (namespaced kinds). */
  writePolicies: boolean;
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
    namespacePolicies: orgWide || namespaced,
    writePolicies: g.org_admin || g.infra_admin.length + g.project_admin.length + g.workspace_admin.length > 0,
    flows: orgWide || infra || namespaced,
  };
}

/** Whether these grants may change a stored policy (rbac.py: write-cluster-policy over the
 * policy's project for cluster-wide kinds; write-namespace-policy over its project or
 * workspace for namespaced ones). The server decides; this only hides the editor. */
export function mayWritePolicy(g: Grants, p: { scope: string; project: string; workspace: string | null }): boolean {
  if (g.org_admin) return true;
  if (p.scope !== "namespace") return g.infra_admin.includes(p.project);
  return g.project_admin.includes(p.project) || (p.workspace !== null && g.workspace_admin.includes(p.workspace));
}

/** Whether these grants may write a blueprint owned by `project` (null: org-wide, Org
 * Admins only), and so control its rollout, promote its staged version, roll it back or
 * delete it. */
export function mayWriteBlueprint(g: Grants, project: string | null): boolean {
  return g.org_admin || (project !== null && g.infra_admin.includes(project));
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
