// The inbox: the applications waiting for the signed-in principal (by role
// and agency), overdue first, with the time left on each clock; below, the
// most recent applications the principal may see.

import type { LicenseClient, ReviewClient } from "./api";
import { LicenseState } from "./gen/exportcontrol/review/v1/license_pb";
import { refusal } from "./api";
import { h, replace } from "./dom";
import {
  ApplicationView,
  HoldKind,
  ReviewLevel,
  State,
  type Application,
} from "./gen/exportcontrol/review/v1/review_pb";
import { appealingRole, decidingRole, openHolds, principalAgency, waitsFor } from "./ladder";
import type { Principal } from "./session";
import { agencyName, dollars, holdKindName, levelName, licenseStateName, shortName, stateName, timeLeft, date, when } from "./words";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ListApplicationsRequestSchema } from "./gen/exportcontrol/review/v1/review_pb";

type Query = MessageInitShape<typeof ListApplicationsRequestSchema>;

/** What to ask the service for: the queues this principal acts on. */
function queues(principal: Principal): Query[] {
  const agency = principalAgency(principal);
  const base = { view: ApplicationView.BASIC, pageSize: 200 };
  const queries: Query[] = [];
  const recommending: Record<string, State> = {
    AGENCY_REVIEWER: State.AGENCY_REVIEW,
    ACEP_MEMBER: State.ACEP_REVIEW,
    EARB_MEMBER: State.EARB_REVIEW,
  };
  const votingState = recommending[principal.role];
  if (votingState !== undefined && agency !== undefined) {
    queries.push({ ...base, state: votingState, awaitingAgency: agency });
  }
  for (const level of [ReviewLevel.OPERATING_COMMITTEE, ReviewLevel.ACEP, ReviewLevel.EARB]) {
    if (appealingRole(level) === principal.role) {
      queries.push({ ...base, state: State.APPEAL_WINDOW, level });
    }
  }
  for (const state of [State.AWAITING_LICENSING_DECISION, State.OPERATING_COMMITTEE_REVIEW, State.PRESIDENTIAL_REVIEW]) {
    if (decidingRole(state) === principal.role) queries.push({ ...base, state });
  }
  return queries;
}

function nextDeadline(app: Application): number {
  return date(app.stepDueTime)?.getTime() ?? date(app.overallDueTime)?.getTime() ?? Number.MAX_SAFE_INTEGER;
}

function isOverdue(app: Application, now: Date): boolean {
  return [app.stepDueTime, app.overallDueTime].some((t) => timeLeft(t, now)?.overdue) || holdOverdue(app, now);
}

/** An open hold past its own deadline. */
function holdOverdue(app: Application, now: Date): boolean {
  return openHolds(app).some((hold) => hold.overdue || timeLeft(hold.dueTime, now)?.overdue);
}

/** Overdue holds first, then anything else overdue, then the nearest deadline first. */
export function byUrgency(now: Date) {
  return (a: Application, b: Application) =>
    Number(holdOverdue(b, now)) - Number(holdOverdue(a, now)) ||
    Number(isOverdue(b, now)) - Number(isOverdue(a, now)) ||
    nextDeadline(a) - nextDeadline(b);
}

/** What a held application waits for, one line per open hold. */
function holdLines(app: Application, now: Date) {
  return openHolds(app).map((hold) => {
    const left = timeLeft(hold.dueTime, now);
    const what = hold.kind === HoldKind.MISSING_INFORMATION
      ? `waits for the applicant's answer to ${agencyName(hold.agency)}: ${hold.reason}`
      : `${holdKindName(hold.kind)}: ${hold.reason}`;
    return h("div", { class: hold.overdue || left?.overdue ? "hold-line overdue" : "hold-line" },
      h("strong", {}, "On hold — "), what, left ? ` (${left.text})` : "");
  });
}

function clock(label: string, at: Application["stepDueTime"], now: Date) {
  const left = timeLeft(at, now);
  if (!left) return null;
  return h("span", { class: left.overdue ? "clock overdue" : "clock" }, `${label}: ${left.text}`);
}

function itemsLine(app: Application): string {
  return app.items
    .map((item) => {
      const name = item.item.case === "catalogChip" ? item.item.value : item.item.case === "spec" ? item.item.value.name || "chip by specification" : "item";
      return `${item.quantity.toLocaleString("en-US")} × ${name}`;
    })
    .join(", ");
}

function row(app: Application, principal: Principal, now: Date): HTMLElement {
  const id = app.name.replace(/^applications\//, "");
  const agency = principalAgency(principal);
  const due = agency === undefined ? undefined : app.agencyDue.find((d) => d.agency === agency && !d.answered);
  const route = app.transaction?.route;
  return h(
    "li",
    { class: isOverdue(app, now) ? "inbox-row overdue" : "inbox-row", "data-application": app.name },
    h("a", { href: `#/applications/${id}`, class: "inbox-link" },
      h("span", { class: "app-id" }, shortName(app.name)),
      " ",
      h("span", { class: "app-what" }, itemsLine(app)),
      " → ",
      h("span", { class: "app-where" }, `${app.transaction?.endUserName || "unnamed end user"} (${route?.destinationCountry ?? "?"})`),
    ),
    h("div", { class: "inbox-meta" },
      h("span", { class: "state" }, stateName(app.state)),
      app.level ? h("span", { class: "level" }, levelName(app.level)) : null,
      due ? clock(`${agencyName(agency)} due`, due.dueTime, now) : null,
      clock("step", app.stepDueTime, now),
      clock("overall", app.overallDueTime, now),
      app.clockStopTime ? h("span", { class: "clock stopped" }, `clock stopped since ${when(app.clockStopTime)}`) : null,
    ),
    holdLines(app, now),
  );
}

export async function renderInbox(root: HTMLElement, client: ReviewClient, principal: Principal): Promise<void> {
  const now = new Date();
  const waiting = new Map<string, Application>();
  let recent: Application[] = [];
  try {
    const answers = await Promise.all(queues(principal).map((q) => client.listApplications(q)));
    for (const answer of answers) {
      for (const app of answer.applications) {
        if (waitsFor(app, principal)) waiting.set(app.name, app);
      }
    }
    const request: Query = { view: ApplicationView.BASIC, pageSize: 50 };
    recent = (await client.listApplications(request)).applications;
    // The applicant's answers and the officer's holds have no queue of their own.
    for (const app of recent) if (waitsFor(app, principal)) waiting.set(app.name, app);
  } catch (error) {
    const r = refusal(error);
    replace(root, h("p", { class: "refusal", role: "alert" }, `The inbox could not be read: ${r.reason || r.code} — ${r.message}`));
    return;
  }
  const sorted = [...waiting.values()].sort(byUrgency(now));
  replace(
    root,
    h("nav", { class: "crumbs" }, h("a", { href: "#/licenses", id: "licenses-link" }, "Licences →")),
    h("section", { "aria-labelledby": "inbox-title" },
      h("h2", { id: "inbox-title" }, `Waiting for you (${sorted.length})`),
      sorted.length
        ? h("ol", { class: "inbox", id: "inbox" }, sorted.map((app) => row(app, principal, now)))
        : h("p", { class: "empty", id: "inbox" }, "Nothing is waiting for you."),
    ),
    h("section", { "aria-labelledby": "recent-title" },
      h("h2", { id: "recent-title" }, principal.role === "APPLICANT" ? "Your applications" : "Recent applications"),
      recent.length
        ? h("ol", { class: "inbox recent" }, recent.map((app) => row(app, principal, now)))
        : h("p", { class: "empty" }, "No applications yet."),
    ),
  );
}

/** The licences the principal may see (the holder its own), newest first. */
export async function renderLicenses(root: HTMLElement, licenses: LicenseClient, principal: Principal): Promise<void> {
  replace(root, h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "← Inbox")), h("h2", {}, "Licences"), h("p", { class: "muted" }, "Loading…"));
  try {
    const answer = await licenses.listLicenses({ pageSize: 200, holder: principal.role === "APPLICANT" ? principal.id : "" });
    const now = new Date();
    replace(root,
      h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "← Inbox")),
      h("h2", {}, `Licences (${answer.licenses.length})`),
      answer.licenses.length ? h("div", { class: "table-wrap" }, h("table", { class: "licenses", id: "licenses" },
        h("thead", {}, h("tr", {}, ["Number", "State", "Holder", "Destination", "End user", "Shipped", "Expires"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, answer.licenses.map((lic) => {
          const shipped = lic.items.reduce((sum, item) => sum + item.shippedValueUsdCents, 0n);
          const authorized = lic.items.reduce((sum, item) => sum + item.authorizedValueUsdCents, 0n);
          const left = timeLeft(lic.expireTime, now);
          return h("tr", { class: lic.state === LicenseState.ACTIVE ? "active" : "inactive" },
            h("td", {}, h("a", { href: `#/${lic.application}` }, lic.licenseNumber)),
            h("td", {}, licenseStateName(lic.state)),
            h("td", {}, lic.holder),
            h("td", {}, lic.destinationCountry),
            h("td", {}, lic.endUser),
            h("td", {}, `${dollars(shipped)} of ${dollars(authorized)}`),
            h("td", {}, when(lic.expireTime), left ? ` (${left.text})` : ""));
        })))) : h("p", { class: "empty" }, "No licences."));
  } catch (error) {
    const r = refusal(error);
    replace(root, h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "← Inbox")),
      h("p", { class: "refusal", role: "alert" }, `The licences could not be read: ${r.reason || r.code} — ${r.message}`));
  }
}
