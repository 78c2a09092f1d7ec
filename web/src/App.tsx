import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { Api, ApiError, view } from "./api/client";
import type { Me } from "./api/types";
import { NotAvailable } from "./components/common";
import { AuditPage } from "./pages/Audit";
import { BlueprintPage, BlueprintsPage, NewBlueprintPage } from "./pages/Blueprints";
import { FleetPage } from "./pages/Fleet";
import { FlowsPage } from "./pages/Flows";
import { NewPolicyPage, PolicyPage, PoliciesPage } from "./pages/Policies";
import { RecommendationsPage } from "./pages/Recommendations";
import { ServiceMapPage } from "./pages/ServiceMap";
import { Link, navigate, useLocation } from "./router";
import {
  capabilities,
  roleLabel,
  SessionContext,
  TOKEN_KEY,
  useSession as useSessionValue,
  type Capabilities,
  type Session,
} from "./session";

interface Route {
  path: string;
  title: string;
  allowed(can: Capabilities): boolean;
}

const ROUTES: Route[] = [
  { path: "/fleet", title: "Fleet", allowed: () => true },
  { path: "/policies", title: "Policies", allowed: (c) => c.policies },
  { path: "/recommendations", title: "Recommendations", allowed: (c) => c.namespacePolicies },
  { path: "/blueprints", title: "Blueprints", allowed: (c) => c.blueprints },
  { path: "/flows", title: "Flows", allowed: (c) => c.flows },
  { path: "/map", title: "Service map", allowed: (c) => c.flows },
  { path: "/audit", title: "Audit log", allowed: (c) => c.audit },
];

export function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY));
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string>("");
  const api = useMemo(() => (token ? new Api(token) : null), [token]);

  const signOut = useCallback(() => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setMe(null);
  }, []);

  useEffect(() => {
    if (!api) return;
    const stop = api.onUnauthorized(() => {
      setError("Your session ended: the server no longer accepts the token.");
      signOut();
    });
    api.get("/api/v1/me").then(
      (answer) => setMe(view<Me>(answer)),
      (e: unknown) => {
        setError(e instanceof ApiError ? `Sign-in refused: ${e.message}` : String(e));
        signOut();
      },
    );
    return stop;
  }, [api, signOut]);

  if (!api) return <SignIn error={error} onToken={(t) => (setError(""), sessionStorage.setItem(TOKEN_KEY, t), setToken(t))} />;
  if (!me)
    return (
      <p className="muted center" role="status">
        Signing in…
      </p>
    );
  const session: Session = { api, me, can: capabilities(me.grants), signOut };
  return (
    <SessionContext.Provider value={session}>
      <Shell />
    </SessionContext.Provider>
  );
}

function SignIn({ error, onToken }: { error: string; onToken(token: string): void }) {
  const [value, setValue] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (value.trim()) onToken(value.trim());
  };
  return (
    <main className="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Netwarden</h1>
        <p className="muted">Sign in with your API token (from `netwarden token` or your administrator).</p>
        <label htmlFor="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          required
          autoFocus
        />
        {error && (
          <p className="alert error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary">
          Sign in
        </button>
      </form>
    </main>
  );
}

function Shell() {
  const { path } = useLocation();
  const session = useSessionValue();
  const visible = ROUTES.filter((r) => r.allowed(session.can));
  useEffect(() => {
    if (path === "/" || path === "") navigate("/fleet", true);
  }, [path]);
  const route = ROUTES.find((r) => path === r.path || path.startsWith(`${r.path}/`));
  useEffect(() => {
    document.title = route ? `${route.title} · Netwarden` : "Netwarden";
  }, [route]);
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand" aria-hidden="true">
          ◆
        </span>
        <span className="brand-name">Netwarden</span>
        <nav aria-label="Main">
          <ul>
            {visible.map((r) => (
              <li key={r.path}>
                <Link to={r.path} aria-current={route?.path === r.path ? "page" : undefined}>
                  {r.title}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span data-testid="whoami">
            {session.me.subject} <span className="muted">({roleLabel(session.me.grants)})</span>
          </span>
          <button type="button" onClick={session.signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} route={route} />
      </main>
    </div>
  );
}

function Page({ path, route }: { path: string; route: Route | undefined }) {
  const { can } = useSessionValue();
  if (!route) return <NotAvailable page="Not found" />;
  if (!route.allowed(can)) return <NotAvailable page={route.title} />;
  const rest = decodeURIComponent(path.slice(route.path.length + 1));
  switch (route.path) {
    case "/fleet":
      return <FleetPage />;
    case "/policies":
      if (rest === "new") return can.writePolicies ? <NewPolicyPage /> : <NotAvailable page="New policy" />;
      return rest ? <PolicyPage id={rest} /> : <PoliciesPage />;
    case "/recommendations":
      return <RecommendationsPage />;
    case "/blueprints":
      if (rest === "new") return can.rollout ? <NewBlueprintPage /> : <NotAvailable page="New blueprint" />;
      return rest ? <BlueprintPage id={rest} /> : <BlueprintsPage />;
    case "/flows":
      return <FlowsPage />;
    case "/map":
      return <ServiceMapPage />;
    case "/audit":
      return <AuditPage />;
    default:
      return <NotAvailable page={route.title} />;
  }
}
