// Drives the review console in headless Chromium, as the people who decide
// would: the H200 case (already filed through gRPC by the caller) from a
// request for information the applicant answers, a hold the licensing
// officer places and releases, the agencies' recommendations through the
// Operating Committee chair, an escalation to the ACEP by a Senate-confirmed
// official, the ACEP and EARB votes and two appeals by agency heads, to the
// President's decision; then the licence it issued, a shipment the holder
// records, one the licence refuses, the officer's suspension and a check of
// the history against a signed checkpoint. Each step
// is signed in as the role that takes it, through the inbox. The applicant
// withdraws a second application, and the licensing officer returns a third. Also: a stale view is refused and
// reloaded, live updates arrive without a reload, refusals show their
// reason, and the page reads at 1280 px and on a narrow screen.
//
// Started by tests/tests/console.rs, which starts the services; run it by
// hand with CONSOLE_URL, APPLICATION, APPLICATION_2, CHROMIUM and
// SCREENSHOTS set.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const consoleUrl = required("CONSOLE_URL"); // http://127.0.0.1:PORT/console/
const application = required("APPLICATION"); // applications/{id}
const screenshots = required("SCREENSHOTS");
const executablePath = required("CHROMIUM");
const id = application.replace(/^applications\//, "");
// A second application, which its applicant withdraws.
const second = required("APPLICATION_2").replace(/^applications\//, "");
// A third, which the licensing officer returns without action.
const third = required("APPLICATION_3").replace(/^applications\//, "");
// A principal holding, through gRPC, every watch it may.
const watchesTakenBy = required("WATCHES_TAKEN_BY");
mkdirSync(screenshots, { recursive: true });

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function log(message) {
  console.log(`[browser] ${message}`);
}

const browser = await chromium.launch({ executablePath, headless: true, args: ["--disable-dev-shm-usage"] });
const failures = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") log(`console error: ${message.text()}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) log(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
  });
  // Nothing is fetched from outside the service's own origin.
  const origin = new URL(consoleUrl).origin;
  page.on("request", (request) => {
    if (!request.url().startsWith(origin)) failures.push(`request outside the origin: ${request.url()}`);
  });

  await page.goto(consoleUrl);

  // --- sign-in, by keyboard: type a token, press Enter.
  await page.locator("#token").fill("dev-commerce");
  await page.locator("#token").press("Enter");
  await page.locator("#principal").waitFor();
  await expectText(page.locator("#principal"), "Agency reviewer (Commerce)");

  // --- the inbox: the application waits for Commerce's recommendation.
  const link = page.locator(`a.inbox-link[href="#/applications/${id}"]`).first();
  await link.waitFor();
  await page.screenshot({ path: join(screenshots, "inbox.png"), fullPage: true });
  log("inbox of the Commerce reviewer shows the H200 application");

  // --- a hold: Commerce asks the applicant for information before it
  // recommends; every clock stops until the applicant answers.
  await link.click();
  await act(page, "request-information", { missing: "the names of the cloud customers allowed on the cluster" });
  await expectText(page.locator("#clock-stopped"), "Clock stopped since");
  await expectText(page.locator("#panel-holds"), "Information requested from the applicant");
  await signInAs(page, "dev-applicant");
  await toInbox(page);
  const held = page.locator(`#inbox .inbox-row[data-application="${application}"]`);
  await expectText(held, "On hold");
  await page.screenshot({ path: join(screenshots, "inbox-hold.png") });
  await openFromInbox(page);
  await act(page, "provide-information", {
    answer: "Six named enterprise customers; no remote access from D:5 parties",
    documents: "EUS-2026-0117",
  });
  await expectText(page.locator("#panel-holds"), "EUS-2026-0117");
  log("a request for information was answered through the page");

  // The licensing officer stops the clock for a pre-licence check, then releases it.
  await signInAs(page, "dev-officer");
  await page.goto(`${consoleUrl}#/applications/${id}`);
  await act(page, "place-hold", { kind: "PRE_LICENSE_CHECK", reason: "verify the data centre site in Shenzhen" });
  await expectText(page.locator("#clock-stopped"), "Clock stopped since");
  await toInbox(page);
  await expectText(page.locator(`#inbox .inbox-row[data-application="${application}"]`), "Pre-licence check");
  await openFromInbox(page);
  await act(page, "release-hold", { hold: "2", note: "check requested through the export control officer" });
  await expectText(page.locator('#panel-holds [data-hold="2"]'), "Released");

  // A recommendation that breaks the rules is refused with its reason:
  // approve with conditions but no conditions (the page asks first).
  await openAs(page, "dev-commerce");
  await act(page, "recommend", { choice: "APPROVE_WITH_CONDITIONS", rationale: "fine with conditions" }, { expectLocalProblem: true });
  await act(page, "recommend", { choice: "APPROVE", rationale: "a commercial cloud customer with a clean record" });
  await expectState(page, "Agency review");

  // --- a stale view: State opens the page with live updates cut off,
  // Defense records its recommendation meanwhile, State's submission is
  // refused (ABORTED) and the page reloads and says so.
  const stale = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const statePage = await stale.newPage();
  await statePage.route("**/WatchApplications", (route) => route.abort());
  await openAs(statePage, "dev-state");
  // Live updates: Energy's page follows the application while Defense acts.
  const watching = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const energyPage = await watching.newPage();
  await openAs(energyPage, "dev-energy");
  await page.waitForTimeout(300);

  await openAs(page, "dev-defense");
  await act(page, "recommend", { choice: "DENY", rationale: "the compute supports military AI" });

  await expectText(energyPage.locator("#notice"), "Updated just now");
  await expectText(energyPage.locator('.position[data-agency="Defense"] .verdict'), "Deny");
  log("live update reached another principal's page without a reload");

  await act(statePage, "recommend", { choice: "DENY", rationale: "diversion risk to military end users" }, { expectStale: true });
  log("a stale etag was refused, the page reloaded and said so");
  await act(statePage, "recommend", { choice: "DENY", rationale: "diversion risk to military end users" });
  await stale.close();

  // The State's recommendation redraws the Energy page when its live update
  // lands; acting before that races the redraw, which can take the form
  // the test is filling in away from under it.
  await expectText(energyPage.locator('.position[data-agency="State"] .verdict'), "Deny");
  await act(energyPage, "recommend", {
    choice: "APPROVE_WITH_CONDITIONS",
    conditions: "No transfer to military end users",
    rationale: "acceptable with an end-use condition",
  });
  await expectState(energyPage, "Operating Committee chair to decide");
  await watching.close();

  // --- the Operating Committee chair decides.
  await openAs(page, "dev-oc-chair");
  await act(page, "decide", {
    choice: "APPROVE_WITH_CONDITIONS",
    conditions: "No transfer to military end users\nQuarterly end-use reports",
    rationale: "economic benefit outweighs the risk under conditions",
  });
  await expectState(page, "Appeal window open");
  await page.screenshot({ path: join(screenshots, "application.png"), fullPage: true });
  await page.screenshot({ path: join(screenshots, "application-top.png") });

  // An OC decision is escalated by a dissenting agency's ACEP member, a
  // Senate-confirmed official (15 CFR 750.4(f)(2)). State dissented (deny)
  // too: its ACEP member is offered the appeal; Energy's reviewer nothing.
  await signInAs(page, "dev-acep-state");
  await page.goto(`${consoleUrl}#/applications/${id}`);
  await expectText(page.locator("#app-state"), "Appeal window open");
  await page.locator('form[data-action="appeal"]').waitFor();
  await signInAs(page, "dev-energy");
  await expectText(page.locator("#no-actions"), "Nothing for you to do");
  // An acting official is offered the form (the console does not judge
  // standing) and the service refuses, with its reason.
  await openAs(page, "dev-acep-state-acting");
  await act(page, "appeal", { rationale: "the conditions cannot be verified" }, { expectRefusal: "SENATE_CONFIRMED_OFFICIAL_REQUIRED" });
  log("an acting official's appeal was refused with SENATE_CONFIRMED_OFFICIAL_REQUIRED");

  // --- Defense, which dissents, escalates to the ACEP through its Assistant Secretary.
  await appealAs(page, "dev-acep-defense", "the conditions cannot be verified", "ACEP vote");

  // --- the ACEP votes: a majority denies.
  await voteInTurn(page, [
    ["dev-acep-commerce", "APPROVE", "as the OC chair decided"],
    ["dev-acep-state", "DENY", "diversion risk"],
    ["dev-acep-defense", "DENY", "military AI"],
    ["dev-acep-energy", "DENY", "conditions unverifiable"],
  ]);

  // --- Commerce's head appeals to the EARB, where a tie keeps the denial.
  await appealAs(page, "dev-earb-commerce", "the market share lost outweighs the risk", "EARB vote");
  await voteInTurn(page, [
    ["dev-earb-commerce", "APPROVE", "economic security"],
    ["dev-earb-state", "DENY", "diversion risk"],
    ["dev-earb-defense", "DENY", "military AI"],
    ["dev-earb-energy", "APPROVE", "acceptable"],
  ]);

  // --- Commerce's head appeals to the President, who decides.
  await appealAs(page, "dev-earb-commerce", "a decision for the President", "The President to decide");

  await openAs(page, "dev-president");
  // The President's brief: every position at every level, both sides' arguments, the conditions.
  await expectText(page.locator("#panel-brief"), "For denial");
  await expectText(page.locator("#panel-brief"), "No transfer to military end users");
  await page.screenshot({ path: join(screenshots, "president.png"), fullPage: true });
  await page.screenshot({ path: join(screenshots, "president-top.png") });
  await page.locator("#panel-items").screenshot({ path: join(screenshots, "items.png") });
  // A denial without a rationale is not sent.
  await act(page, "decide", { choice: "DENY" }, { expectLocalProblem: true });
  await act(page, "decide", {
    choice: "APPROVE_WITH_CONDITIONS",
    conditions: "No transfer to military end users\nQuarterly end-use reports",
    rationale: "approved under the January 2026 conditions",
  });
  await expectState(page, "Decided");
  await expectText(page.locator(".audit-result"), "Intact");
  await page.screenshot({ path: join(screenshots, "decided.png"), fullPage: true });

  // --- the licence the approval issued: the holder records an export with
  // the laboratory's report the licence requires; one beyond what remains
  // is refused with its reason.
  await signInAs(page, "dev-applicant");
  await page.goto(`${consoleUrl}#/applications/${id}`);
  await expectText(page.locator("#license-state"), "Active");
  // Exports are capped at half the compute sold to U.S. customers: a domestic sale first.
  await act(page, "record-domestic-shipment", {
    item: "0", quantity: "20000", customer: "US Research Cloud Inc.", reference: "INV-2026-0001",
  });
  await act(page, "record-shipment", {
    item: "0", quantity: "1000", value: "30,000,000", filing: "X20261206000001",
    "attestation:US_LAB_TEST_REPORT": "LAB-2026-0042",
  });
  await expectText(page.locator("#shipments"), "X20261206000001");
  await expectText(page.locator("#panel-license"), "1,000 of 5,000 shipped");
  await act(page, "record-shipment", {
    item: "0", quantity: "4500", value: "135,000,000", filing: "X20261206000002",
    "attestation:US_LAB_TEST_REPORT": "LAB-2026-0043",
  }, { expectRefusal: "EXCEEDS_REMAINING" });
  log("a shipment was recorded through the page, one beyond what remains refused");
  await page.locator("#panel-license").screenshot({ path: join(screenshots, "license.png") });

  // The licensing officer suspends the licence.
  await signInAs(page, "dev-officer");
  await page.goto(`${consoleUrl}#/applications/${id}`);
  await act(page, "suspend-license", { reason: "laboratory certification under review" });
  await expectText(page.locator("#license-state"), "Suspended");
  // The whole history against a signed checkpoint kept in the browser: the
  // first check keeps one, the next finds the history unchanged up to it.
  await page.locator("#check-checkpoint").click();
  await expectText(page.locator("#checkpoint-result"), "First checkpoint");
  await page.locator("#check-checkpoint").click();
  await expectText(page.locator("#checkpoint-result"), "Unchanged: the history up to event");
  log("the history was checked against the signed checkpoint the browser kept");
  // The licences list, from the inbox.
  await toInbox(page);
  await page.locator("#licenses-link").click();
  await expectText(page.locator("#licenses"), "Suspended");
  log("the officer suspended the licence; the licences list shows it");

  // --- the applicant withdraws its second application; a refusal of the
  // service (a reason over 4,000 bytes) is shown with its reason first.
  await signInAs(page, "dev-applicant");
  await page.locator(".crumbs a").click().catch(() => undefined);
  await page.locator(`a.inbox-link[href="#/applications/${second}"]`).first().click();
  await page.locator("#panel-summary").waitFor();
  await act(page, "withdraw", { reason: "x".repeat(4001) }, { expectRefusal: "at most 4000 bytes" });
  log("a refusal of the service is shown with its reason and the field");
  await act(page, "withdraw", { reason: "the customer cancelled the order" });
  await expectState(page, "Withdrawn");

  // --- the licensing officer returns the third without action (748.6(c)).
  await signInAs(page, "dev-officer");
  await page.goto(`${consoleUrl}#/applications/${third}`);
  await act(page, "return", { reason: "the end-use statement names no end user" });
  await expectState(page, "Returned without action");
  log("the officer returned an application without action");

  // --- narrow screen: the same page, one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) {
    const wide = await page.evaluate(() => [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}`));
    failures.push(`the narrow page scrolls sideways by ${overflow} px: ${wide.join(", ")}`);
  }
  await page.screenshot({ path: join(screenshots, "narrow.png"), fullPage: false });

  // --- the token is in session storage only, never in the URL.
  if (page.url().includes("dev-")) failures.push(`a token in the URL: ${page.url()}`);
  // Local storage holds the audit checkpoint only, never a token.
  const kept = await page.evaluate(() => Object.entries(localStorage));
  if (kept.some(([key, value]) => key !== "review-console.audit-checkpoint" || value.includes("dev-"))) {
    failures.push(`localStorage keeps more than the audit checkpoint: ${kept.map(([key]) => key).join(", ")}`);
  }

  // --- a principal who holds every watch it may (open elsewhere): the page
  // says its live updates are paused, and still shows the application.
  await signInAs(page, watchesTakenBy);
  await page.goto(`${consoleUrl}#/applications/${id}`);
  await page.locator("#panel-summary").waitFor();
  await expectText(page.locator("#notice"), "Live updates paused");
  await expectText(page.locator("#notice"), "watches open already");
  log("live updates paused for a principal with no watch left");

  // --- a token the service does not know: back to sign-in, with the reason.
  await page.evaluate(() => sessionStorage.setItem("review-console.token", "no-such-token"));
  await page.reload();
  await expectText(page.locator("#sign-in"), "UNKNOWN_TOKEN");
  log("an unknown token leads back to sign-in with its reason");
} catch (error) {
  failures.push(String(error?.stack ?? error));
} finally {
  await browser.close();
}

if (failures.length) {
  for (const failure of failures) console.error(`[browser] FAILED: ${failure}`);
  process.exit(1);
}
log(`done; screenshots in ${screenshots}`);

async function signInAs(page, token) {
  if (!page.url().startsWith(consoleUrl)) await page.goto(consoleUrl);
  if (await page.locator("#sign-out").count()) await page.locator("#sign-out").click();
  await page.locator(`button[data-token="${token}"]`).click();
  await page.locator("#principal").waitFor();
  log(`signed in as ${token}`);
}

// `token` signs in and opens the application from their inbox.
async function openAs(page, token) {
  await signInAs(page, token);
  await openFromInbox(page);
}

// `token` appeals with `rationale`; the application moves on to `state`.
async function appealAs(page, token, rationale, state) {
  await openAs(page, token);
  await act(page, "appeal", { rationale });
  await expectState(page, state);
}

// The members vote in turn ([token, choice, rationale] each); the vote
// decides and the appeal window opens.
async function voteInTurn(page, votes) {
  for (const [token, choice, rationale] of votes) {
    await openAs(page, token);
    await act(page, "recommend", { choice, rationale });
  }
  await expectState(page, "Appeal window open");
}

async function toInbox(page) {
  if (await page.locator("#app-title").count()) await page.locator(".crumbs a").click();
  await page.locator("#inbox").waitFor();
}

async function openFromInbox(page) {
  if (await page.locator("#app-title").count()) await page.locator(".crumbs a").click();
  const link = page.locator(`#inbox a.inbox-link[href="#/applications/${id}"]`);
  await link.click({ timeout: 10_000 });
  await page.locator("#panel-summary").waitFor();
}

async function act(page, action, values, { expectStale = false, expectLocalProblem = false, expectRefusal = "" } = {}) {
  const form = page.locator(`form[data-action="${action}"]`);
  await form.waitFor({ timeout: 10_000 });
  // The newest notice before this action: its result must be a later one.
  const before = Number((await page.locator("#notice p").first().getAttribute("data-notice", { timeout: 200 }).catch(() => "0")) ?? "0");
  for (const [name, value] of Object.entries(values)) {
    if (await form.locator(`input[type="radio"][name="${name}"]`).count()) {
      await form.locator(`input[type="radio"][name="${name}"][value="${value}"]`).check();
    } else {
      await form.locator(`[name="${name}"]`).fill(value);
    }
  }
  await form.locator("button[type=submit]").click();
  if (expectLocalProblem) {
    await expectText(form.locator(".problems"), "Please fill in");
    return;
  }
  if (expectRefusal) {
    await expectText(form.locator(".problems .refusal"), expectRefusal);
    const reason = (await form.locator(".problems .refusal strong").textContent()) ?? "";
    if (!/^[A-Z][A-Z_]+$/.test(reason)) throw new Error(`a refusal without its ErrorInfo reason: "${reason}"`);
    return;
  }
  if (expectStale) {
    await expectText(page.locator("#notice"), "Someone acted on this application since you opened it");
    await page.locator(`form[data-action="${action}"]`).waitFor();
    return;
  }
  await expectNewNotice(page, before, "Recorded").catch(async (error) => {
    const problems = await form.locator(".problems").textContent().catch(() => "");
    throw new Error(`${action}: ${error.message}; the form says: "${problems}"`);
  });
  log(`${action}: ${values.choice ?? ""} done`);
}

async function expectNewNotice(page, before, text) {
  const deadline = Date.now() + 10_000;
  let seen = "";
  while (Date.now() < deadline) {
    const notices = await page.locator("#notice p").evaluateAll((ps) =>
      ps.map((p) => ({ number: Number(p.getAttribute("data-notice") ?? "0"), text: p.textContent ?? "" })));
    seen = notices.filter((n) => n.number > before).map((n) => n.text).join(" | ");
    if (notices.some((n) => n.number > before && n.text.includes(text))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`expected a new notice "${text}", saw "${seen}"`);
}

async function expectState(page, text) {
  await expectText(page.locator("#app-state"), text);
}

async function expectText(locator, text) {
  const deadline = Date.now() + 10_000;
  let seen = "";
  while (Date.now() < deadline) {
    seen = (await locator.first().textContent({ timeout: 10_000 }).catch(() => "")) ?? "";
    if (seen.includes(text)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`expected "${text}", saw "${seen}"`);
}
