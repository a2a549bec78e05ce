// Where an application stands on the review ladder, read from what the
// service returned: who is expected to act next, who dissented. This only
// chooses what the page offers and lists; the service decides whether an
// action is allowed, and the page shows its refusal when it is not.

import {
  ReviewLevel,
  State,
  type Agency,
  type Application,
} from "./gen/exportcontrol/review/v1/review_pb";
import type { Principal } from "./session";
import { agencyFromName, outcomeDirection, recommendationDirection } from "./words";

export const FINAL_STATES = new Set([State.NO_LICENSE_REQUIRED, State.DECIDED, State.WITHDRAWN]);

/** The level whose recommendations or votes an appeal window's decision is measured against. */
function votersOf(level: ReviewLevel): ReviewLevel {
  return level === ReviewLevel.OPERATING_COMMITTEE ? ReviewLevel.AGENCY : level;
}

/** The role that appeals a decision taken at `level`. */
export function appealingRole(level: ReviewLevel): string | undefined {
  switch (level) {
    case ReviewLevel.OPERATING_COMMITTEE: return "AGENCY_REVIEWER";
    case ReviewLevel.ACEP: return "ACEP_MEMBER";
    case ReviewLevel.EARB: return "EARB_MEMBER";
    default: return undefined;
  }
}

/** Agencies whose position at the deciding level opposes the decision open to appeal. */
export function dissenters(app: Application): Agency[] {
  const decision = app.decision;
  if (app.state !== State.APPEAL_WINDOW || !decision) return [];
  const voters = votersOf(decision.level);
  const direction = outcomeDirection(decision.outcome);
  return app.recommendations
    .filter((r) => r.level === voters && recommendationDirection(r.recommendation) !== direction)
    .map((r) => r.agency);
}

/** The role that records recommendations or votes in `state`. */
export function recommendingRole(state: State): string | undefined {
  switch (state) {
    case State.AGENCY_REVIEW: return "AGENCY_REVIEWER";
    case State.ACEP_REVIEW: return "ACEP_MEMBER";
    case State.EARB_REVIEW: return "EARB_MEMBER";
    default: return undefined;
  }
}

/** The role that decides in `state`. */
export function decidingRole(state: State): string | undefined {
  switch (state) {
    case State.AWAITING_LICENSING_DECISION: return "LICENSING_OFFICER";
    case State.OPERATING_COMMITTEE_REVIEW: return "OPERATING_COMMITTEE_CHAIR";
    case State.PRESIDENTIAL_REVIEW: return "PRESIDENT";
    default: return undefined;
  }
}

export function principalAgency(principal: Principal): Agency | undefined {
  return agencyFromName(principal.agency);
}

/** The principal's recommendation or vote is due and not in yet. */
export function awaitsRecommendation(app: Application, principal: Principal): boolean {
  const agency = principalAgency(principal);
  return (
    recommendingRole(app.state) === principal.role &&
    agency !== undefined &&
    app.agencyDue.some((due) => due.agency === agency && !due.answered)
  );
}

export function awaitsDecision(app: Application, principal: Principal): boolean {
  return decidingRole(app.state) === principal.role;
}

export function mayAppeal(app: Application, principal: Principal): boolean {
  const agency = principalAgency(principal);
  return (
    app.state === State.APPEAL_WINDOW &&
    app.decision !== undefined &&
    appealingRole(app.decision.level) === principal.role &&
    agency !== undefined &&
    dissenters(app).includes(agency)
  );
}

export function mayWithdraw(app: Application, principal: Principal): boolean {
  return principal.role === "APPLICANT" && app.applicant === principal.id && !FINAL_STATES.has(app.state);
}

/** Anything this principal is expected to do on this application now. */
export function waitsFor(app: Application, principal: Principal): boolean {
  return awaitsRecommendation(app, principal) || awaitsDecision(app, principal) || mayAppeal(app, principal);
}
