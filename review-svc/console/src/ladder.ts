// Where an application stands on the review ladder, read from what the
// service returned: who is expected to act next, who dissented. This only
// chooses what the page offers and lists; the service decides whether an
// action is allowed, and the page shows its refusal when it is not.

import {
  HoldKind,
  ReviewLevel,
  State,
  type Agency,
  type Application,
  type Hold,
} from "./gen/exportcontrol/review/v1/review_pb";
import type { Principal } from "./session";
import { agencyFromName } from "./words";

export const FINAL_STATES = new Set([
  State.NO_LICENSE_REQUIRED,
  State.DECIDED,
  State.WITHDRAWN,
  State.RETURNED_WITHOUT_ACTION,
]);

/**
 * The role that appeals a decision taken at `level` (15 CFR 750.4(f)): the
 * dissenting agency's ACEP member (a Senate-confirmed official) escalates an
 * OC decision to the ACEP; its EARB member (the agency head) appeals an ACEP
 * or EARB decision. Whether the person has that standing, the service decides.
 */
export function appealingRole(level: ReviewLevel): string | undefined {
  switch (level) {
    case ReviewLevel.OPERATING_COMMITTEE: return "ACEP_MEMBER";
    case ReviewLevel.ACEP: return "EARB_MEMBER";
    case ReviewLevel.EARB: return "EARB_MEMBER";
    default: return undefined;
  }
}

/**
 * Agencies that may appeal the decision open to appeal, as the service
 * says (their position opposes it, or it leaves out a condition they
 * recommended).
 */
export function dissenters(app: Application): Agency[] {
  return app.state === State.APPEAL_WINDOW ? app.dissentingAgencies : [];
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

/** The holds still open (each stops every clock of the review). */
export function openHolds(app: Application): Hold[] {
  return app.holds.filter((hold) => !hold.releaseTime);
}

/** Open requests for information, which the applicant answers. */
export function openRequests(app: Application): Hold[] {
  return openHolds(app).filter((hold) => hold.kind === HoldKind.MISSING_INFORMATION);
}

/** A reviewer of a referred agency that has not recommended yet may ask for information. */
export function mayRequestInformation(app: Application, principal: Principal): boolean {
  return principal.role === "AGENCY_REVIEWER" && app.state === State.AGENCY_REVIEW && awaitsRecommendation(app, principal);
}

export function mayProvideInformation(app: Application, principal: Principal): boolean {
  return principal.role === "APPLICANT" && app.applicant === principal.id && openRequests(app).length > 0;
}

export function mayPlaceHold(app: Application, principal: Principal): boolean {
  return principal.role === "LICENSING_OFFICER" && !FINAL_STATES.has(app.state) && app.state !== State.PRESIDENTIAL_REVIEW;
}

export function mayReleaseHold(app: Application, principal: Principal): boolean {
  return principal.role === "LICENSING_OFFICER" && openHolds(app).some((hold) => hold.kind !== HoldKind.MISSING_INFORMATION);
}

/** States in which the licensing officer may still return an application without action (748.6(c)). */
const RETURNABLE = new Set([State.CLASSIFICATION_PENDING, State.AGENCY_REVIEW, State.AWAITING_LICENSING_DECISION]);

export function mayReturn(app: Application, principal: Principal): boolean {
  return principal.role === "LICENSING_OFFICER" && RETURNABLE.has(app.state);
}

/** Anything this principal is expected to do on this application now. */
export function waitsFor(app: Application, principal: Principal): boolean {
  return awaitsRecommendation(app, principal) || awaitsDecision(app, principal) || mayAppeal(app, principal) ||
    mayProvideInformation(app, principal) || mayReleaseHold(app, principal);
}
