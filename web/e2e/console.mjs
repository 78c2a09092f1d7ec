// End-to-end scenarios of the console in Debian's headless Chromium, driven by
// playwright-core (never downloads a browser). Run by tests/console/test_console.py
// against a running demo:
//
//   node web/e2e/console.mjs SCENARIO   (env: NETWARDEN_URL, NETWARDEN_TOKENS (JSON
//   user -> token), NETWARDEN_ARTIFACTS (screenshots), CHROMIUM (default /usr/bin/chromium))
//
// Prints one JSON line {"scenario", "checks": [...], "metrics": {...}}; exits 1 with the
// failed check (and a screenshot of the page at that moment) otherwise.
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const URL_ = process.env.NETWARDEN_URL ?? "http://127.0.0.1:8080";
const TOKENS = JSON.parse(process.env.NETWARDEN_TOKENS ?? "{}");
const ARTIFACTS = process.env.NETWARDEN_ARTIFACTS ?? "test-artifacts/console";
const EXECUTABLE = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const T = 20_000;
const checks = [];
const metrics = {};

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  checks.push(what);
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: false });
}

async function signIn(page, user) {
  await page.goto(`${URL_}/`);
  await page.getByLabel("Token").fill(TOKENS[user]);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("whoami").waitFor({ timeout: T });
  check((await page.getByTestId("whoami").innerText()).startsWith(user), `${user} is signed in`);
}

async function navNames(page) {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link").allInnerTexts();
}

async function fleet(page, { agentColumn }) {
  await page.getByRole("link", { name: "Fleet" }).click();
  const table = page.getByTestId("fleet-table");
  await table.waitFor({ timeout: T });
  const rows = await table.locator("tbody tr").count();
  check(rows === 3, `fleet shows the 3 clusters (saw ${rows})`);
  await page.waitForFunction(
    () => [...document.querySelectorAll('[data-testid="flows-1h"]')].every((td) => /^[\d,]+$/.test(td.textContent ?? "")),
    null,
    { timeout: T },
  );
  const flows = await table.locator('tr[data-cluster="prod-eu"] [data-testid="flows-1h"]').innerText();
  check(Number(flows.replace(/,/g, "")) > 0, `prod-eu has flows in the last hour (${flows})`);
  const agent = await table.locator('[data-testid="agent-state"]').count();
  check(agentColumn ? agent === 3 : agent === 0, `agent health ${agentColumn ? "shown" : "hidden"} for this role`);
  check((await table.getByText("env=prod").count()) === 2, "cluster labels are shown");
}

/** Admin: every page, the rollout, the service map, a dropped flow and its policy. */
async function admin(browser) {
  const page = await browser.newPage();
  await signIn(page, "admin");
  const names = await navNames(page);
  for (const n of ["Fleet", "Policies", "Blueprints", "Flows", "Service map", "Audit log"])
    check(names.includes(n), `admin sees ${n}`);
  await fleet(page, { agentColumn: true });
  const synced = await page.getByTestId("fleet-table").locator('[data-testid="agent-state"]', { hasText: "synced" }).count();
  check(synced >= 1, `agent health shows synced clusters (${synced})`);
  await shot(page, "fleet");

  // Time to first render of the fleet page: a fresh load with the session in place.
  const loads = [];
  for (let i = 0; i < 3; i++) {
    await page.goto(`${URL_}/fleet`);
    await page.getByTestId("fleet-table").waitFor({ timeout: T });
    loads.push(
      await page.evaluate(() => {
        const mark = performance.getEntriesByName("netwarden:fleet-rendered")[0];
        return mark ? mark.startTime : -1;
      }),
    );
  }
  check(loads.every((v) => v > 0), "the fleet page marks its first render");
  metrics.fleet_first_render_ms = loads.map((v) => Math.round(v));

  await page.getByRole("link", { name: "Policies" }).click();
  await page.getByTestId("policy-table").locator("tbody tr").first().waitFor({ timeout: T });
  check((await page.getByTestId("policy-table").locator("tbody tr").count()) >= 3, "admin lists the stored policies");
  await page.getByRole("combobox", { name: "Cluster" }).selectOption({ label: "prod-eu" });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="policy-table"] tbody tr').length === 1, null, { timeout: T });
  check(true, "the cluster filter narrows the policy list");
  await shot(page, "policies");

  await page.getByRole("link", { name: "Blueprints" }).click();
  await page.getByRole("link", { name: "zero-trust" }).click();
  const rollout = page.getByTestId("rollout");
  await rollout.waitFor({ timeout: T });
  const waves = await rollout.locator("li.wave").count();
  check(waves === 2, `the zero-trust rollout has 2 waves (${waves})`);
  const eu = rollout.locator('li[data-wave="eu"] tr[data-cluster="prod-eu"]');
  await eu.waitFor({ timeout: T });
  check(/synced|pending/.test(await eu.innerText()), "prod-eu's state in wave eu is shown");
  check((await rollout.locator('li[data-wave="rest"] tr[data-cluster="prod-us"]').count()) === 1, "prod-us is in the second wave");
  check((await page.getByTestId("bp-versions").locator("tbody tr").count()) >= 1, "blueprint versions are listed");
  await shot(page, "blueprint-rollout");

  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByTestId("audit-table").locator("tbody tr").first().waitFor({ timeout: T });
  check((await page.getByTestId("audit-table").getByText("blueprint").count()) > 0, "the audit log shows blueprint entries");
  await shot(page, "audit");

  await page.getByRole("link", { name: "Service map" }).click();
  const map = page.getByTestId("service-map");
  await map.waitFor({ timeout: T });
  check((await map.locator("g.node").count()) >= 5, "the service map draws workloads");
  check((await map.locator('path.edge[data-verdict="bad"], path.edge[data-verdict="warn"]').count()) >= 1, "dropped edges are coloured");
  await page.getByLabel("Find workload").fill("catalog");
  await page.getByLabel("Find workload").press("Enter");
  await page.getByTestId("focus-edges").waitFor({ timeout: T });
  check((await page.getByTestId("focus-edges").locator("tbody tr").count()) >= 1, "focusing catalog lists its connections");
  await shot(page, "service-map");

  await page.getByRole("link", { name: "Flows" }).click();
  await page.getByRole("combobox", { name: "Verdict" }).selectOption("DROPPED");
  await page.getByRole("button", { name: "Apply filters" }).click();
  const row = page.locator('.live-viewport [role="row"][data-verdict="DROPPED"]').first();
  await row.waitFor({ timeout: 30_000 });
  await row.click();
  const detail = page.getByTestId("flow-detail");
  await detail.waitFor({ timeout: T });
  check((await detail.innerText()).includes("POLICY_DENIED"), "the dropped flow shows its drop reason");
  const decisions = detail.getByTestId("decisions");
  check(/denied by/i.test(await decisions.innerText()), "the dropped flow names the policy that denied it");
  const link = decisions.getByRole("link", { name: /blueprint zero-trust/ }).first();
  await link.waitFor({ timeout: T });
  check((await decisions.locator('[data-policy="default-deny"]').count()) >= 1, "default-deny (from the blueprint) dropped it");
  await shot(page, "flow-dropped");
  await link.click();
  await page.getByTestId("rollout").waitFor({ timeout: T });
  check(true, "the deciding policy links to its blueprint");

  // Large monitor and dark mode.
  await page.setViewportSize({ width: 2560, height: 1440 });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.getByRole("link", { name: "Fleet" }).click();
  await page.getByTestId("fleet-table").waitFor({ timeout: T });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg !== "rgb(247, 248, 250)", `dark mode changes the background (${bg})`);
  await shot(page, "fleet-dark-wide");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Token").waitFor({ timeout: T });
  check((await page.evaluate(() => sessionStorage.length)) === 0, "sign out forgets the token");
  await page.getByLabel("Token").fill("not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor({ timeout: T });
  check(/refused/i.test(await page.getByRole("alert").innerText()), "a bad token is refused");
  await shot(page, "sign-in-refused");
}

/** wanda (Workspace Admin of storefront): what she sees, what she does not, an edit. */
async function wanda(browser) {
  const page = await browser.newPage();
  await signIn(page, "wanda");
  const names = await navNames(page);
  for (const n of ["Fleet", "Policies", "Flows", "Service map"]) check(names.includes(n), `wanda sees ${n}`);
  for (const n of ["Blueprints", "Audit log"]) check(!names.includes(n), `wanda does not see ${n}`);
  await fleet(page, { agentColumn: false });
  await shot(page, "fleet-wanda");
  for (const path of ["/audit", "/blueprints", "/blueprints/anything"]) {
    await page.goto(`${URL_}${path}`);
    await page.getByTestId("not-available").waitFor({ timeout: T });
    check(true, `${path} is not available to wanda`);
  }
  await shot(page, "not-available");

  await page.getByRole("link", { name: "Policies" }).click();
  await page.getByRole("combobox", { name: "Cluster" }).selectOption({ label: "prod-eu" });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="policy-table"] tbody tr').length === 1, null, { timeout: T });
  await page.getByTestId("policy-table").getByRole("link").first().click();
  await page.getByTestId("policy-yaml").waitFor({ timeout: T });
  await page.getByRole("tab", { name: "Edit" }).click();
  const editor = page.getByLabel("Policy YAML");
  await page.getByTestId("validation-status").filter({ hasText: "Valid" }).waitFor({ timeout: T });
  const original = await editor.inputValue();
  const broken = original.replace('protocol: TCP', 'protocol: TPC');
  check(broken !== original, "the mistake is typed into the draft");
  await editor.fill(broken);
  const errors = page.getByTestId("editor-errors");
  await errors.waitFor({ timeout: T });
  const text = await errors.innerText();
  const line = broken.split("\n").findIndex((l) => l.includes("TPC")) + 1;
  check(text.includes(`Line ${line}`), `the error is located at line ${line}: ${text}`);
  check(/protocol/.test(text) && /TPC/.test(text), "the error names the field and the bad value");
  check((await page.locator(`.ov-line.error-line[data-line="${line}"]`).count()) === 1, "the line is underlined");
  check((await page.locator('mark.error-field[data-field="protocol"]').count()) === 1, "the field is marked");
  check(await page.getByRole("button", { name: /Publish/ }).isDisabled(), "an invalid draft cannot be published");
  await shot(page, "policy-editor-error");

  const fixed = original.replace("matchName: api.stripe.com", "matchName: api.stripe.com\n    - matchName: hooks.stripe.com");
  await editor.fill(fixed);
  await page.getByTestId("validation-status").filter({ hasText: "Valid" }).waitFor({ timeout: T });
  await page.getByLabel("Change message").fill("also the webhook host");
  check(await page.getByRole("button", { name: /Publish/ }).isDisabled(), "publishing waits for an impact preview");
  await page.getByRole("button", { name: "Preview impact" }).click();
  await page.getByTestId("impact").waitFor({ timeout: T });
  check(/Replayed [\d,]+ connections/.test(await page.getByTestId("impact").innerText()), "the impact preview replays recorded traffic");
  await shot(page, "policy-impact");
  await page.getByRole("button", { name: /Publish/ }).click();
  const diff = page.getByTestId("diff");
  await diff.waitFor({ timeout: T });
  await diff.getByText("hooks.stripe.com").first().waitFor({ timeout: T });
  check(/v\d+ → v\d+/.test(await diff.locator("h2").innerText()), "the new version's diff is shown");
  await shot(page, "policy-diff");

  await page.getByRole("link", { name: "Flows" }).click();
  const rows = page.locator('.live-viewport [role="row"]');
  await rows.nth(5).waitFor({ timeout: 30_000 });
  const texts = await rows.allInnerTexts();
  check(texts.every((t) => t.includes("storefront/")), `every live flow wanda sees touches storefront (${texts.length} rows)`);
  await shot(page, "flows-wanda");
}

/** The live table under load: received vs drawn, over a window, while the page stays
 * responsive (a click answered, render ticks never stalled). */
async function throughput(browser) {
  const page = await browser.newPage();
  await signIn(page, "admin");
  await page.getByRole("link", { name: "Flows" }).click();
  await page.locator('.live-viewport [role="row"]').first().waitFor({ timeout: T });
  const seconds = Number(process.env.NETWARDEN_WINDOW_S ?? "10");
  await page.waitForTimeout(3000); // warm-up: the flood reaches steady state
  const before = await page.evaluate(() => ({ ...window.netwardenLiveStats, maxTickGapMs: 0 }));
  await page.evaluate(() => (window.netwardenLiveStats.maxTickGapMs = 0));
  const started = Date.now();
  await page.waitForTimeout(seconds * 1000);
  const clickAt = Date.now();
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByRole("button", { name: "Resume" }).waitFor({ timeout: T });
  const clickMs = Date.now() - clickAt;
  const after = await page.evaluate(() => ({ ...window.netwardenLiveStats }));
  const elapsed = (clickAt - started) / 1000;
  const received = after.received - before.received;
  const rendered = after.rendered - before.rendered;
  Object.assign(metrics, {
    window_s: Math.round(elapsed * 10) / 10,
    received_per_s: Math.round(received / elapsed),
    rendered_per_s: Math.round(rendered / elapsed),
    frames_per_s: Math.round(((after.frames - before.frames) / elapsed) * 10) / 10,
    lost: after.lost - before.lost,
    max_tick_gap_ms: Math.round(after.maxTickGapMs),
    pause_click_ms: clickMs,
  });
  await shot(page, "flows-live");
  check(received > 0, "flows arrived during the window");
  check(rendered / received > 0.95, `the table drew what arrived (${rendered}/${received})`);
  check(metrics.frames_per_s <= 11, `at most ~10 renders per second (${metrics.frames_per_s})`);
  check(after.maxTickGapMs < 1000, `the page never froze for a second (longest tick gap ${metrics.max_tick_gap_ms} ms)`);
  check(clickMs < 1000, `a click is answered within a second under load (${clickMs} ms)`);
  const frozen = await page.locator('.live-viewport [role="row"]').first().innerText();
  await page.waitForTimeout(400);
  check((await page.locator('.live-viewport [role="row"]').first().innerText()) === frozen, "paused, the table holds still");
}

const SCENARIOS = { admin, wanda, throughput };

async function main() {
  const name = process.argv[2];
  const scenario = SCENARIOS[name];
  if (!scenario) throw new Error(`unknown scenario ${name}: ${Object.keys(SCENARIOS).join(", ")}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "netwarden-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
    colorScheme: "light",
  });
  try {
    await scenario(context);
    console.log(JSON.stringify({ scenario: name, ok: true, checks, metrics }));
  } catch (error) {
    const pages = context.pages();
    if (pages.length) await pages[pages.length - 1].screenshot({ path: join(ARTIFACTS, `FAILED-${name}.png`) }).catch(() => {});
    console.log(JSON.stringify({ scenario: name, ok: false, error: String(error?.stack ?? error), checks, metrics }));
    process.exitCode = 1;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
