// The inbox: the applications waiting for the signed-in principal (by role
// and agency), overdue first, with the time left on each clock; below, the
// most recent applications the principal may see.

import type { ReviewClient } from "./api";
import { refusal } from "./api";
import { h, replace } from "./dom";
import {
  ApplicationView,
  ReviewLevel,
  State,
  type Application,
} from "./gen/exportcontrol/review/v1/review_pb";
import { appealingRole, decidingRole, principalAgency, waitsFor } from "./ladder";
import type { Principal } from "./session";
import { agencyName, levelName, shortName, stateName, timeLeft, date } from "./words";
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
  return [app.stepDueTime, app.overallDueTime].some((t) => timeLeft(t, now)?.overdue);
}

/** Overdue first, then the nearest deadline first. */
export function byUrgency(now: Date) {
  return (a: Application, b: Application) =>
    Number(isOverdue(b, now)) - Number(isOverdue(a, now)) || nextDeadline(a) - nextDeadline(b);
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
    ),
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
    if (principal.role === "APPLICANT") {
      for (const app of recent) if (waitsFor(app, principal)) waiting.set(app.name, app);
    }
  } catch (error) {
    const r = refusal(error);
    replace(root, h("p", { class: "refusal", role: "alert" }, `The inbox could not be read: ${r.reason || r.code} — ${r.message}`));
    return;
  }
  const sorted = [...waiting.values()].sort(byUrgency(now));
  replace(
    root,
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
