// The contract's values in plain words, and times and amounts for people.

import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  Agency,
  Direction,
  HoldKind,
  Outcome,
  Recommendation,
  ReviewLevel,
  State,
} from "./gen/exportcontrol/review/v1/review_pb";
import { LicenseState } from "./gen/exportcontrol/review/v1/license_pb";

export const AGENCIES: Agency[] = [Agency.COMMERCE, Agency.STATE, Agency.DEFENSE, Agency.ENERGY];
export const LADDER: ReviewLevel[] = [
  ReviewLevel.AGENCY,
  ReviewLevel.OPERATING_COMMITTEE,
  ReviewLevel.ACEP,
  ReviewLevel.EARB,
  ReviewLevel.PRESIDENT,
];

export function agencyName(agency: Agency | string | null | undefined): string {
  switch (agency) {
    case Agency.COMMERCE: case "COMMERCE": return "Commerce";
    case Agency.STATE: case "STATE": return "State";
    case Agency.DEFENSE: case "DEFENSE": return "Defense";
    case Agency.ENERGY: case "ENERGY": return "Energy";
    default: return "";
  }
}

export function agencyFromName(name: string | null | undefined): Agency | undefined {
  switch (name) {
    case "COMMERCE": return Agency.COMMERCE;
    case "STATE": return Agency.STATE;
    case "DEFENSE": return Agency.DEFENSE;
    case "ENERGY": return Agency.ENERGY;
    default: return undefined;
  }
}

export function stateName(state: State): string {
  switch (state) {
    case State.CLASSIFICATION_PENDING: return "Waiting for the classifier";
    case State.NO_LICENSE_REQUIRED: return "No licence required";
    case State.AGENCY_REVIEW: return "Agency review";
    case State.AWAITING_LICENSING_DECISION: return "Licensing officer to decide";
    case State.OPERATING_COMMITTEE_REVIEW: return "Operating Committee chair to decide";
    case State.APPEAL_WINDOW: return "Appeal window open";
    case State.ACEP_REVIEW: return "ACEP vote";
    case State.EARB_REVIEW: return "EARB vote";
    case State.PRESIDENTIAL_REVIEW: return "The President to decide";
    case State.DECIDED: return "Decided";
    case State.WITHDRAWN: return "Withdrawn";
    case State.RETURNED_WITHOUT_ACTION: return "Returned without action";
    default: return "Unknown";
  }
}

export function holdKindName(kind: HoldKind): string {
  switch (kind) {
    case HoldKind.MISSING_INFORMATION: return "Information requested from the applicant";
    case HoldKind.APPLICANT_AGREED_DELAY: return "Delay agreed with the applicant";
    case HoldKind.PRE_LICENSE_CHECK: return "Pre-licence check to be requested";
    case HoldKind.PRE_LICENSE_CHECK_ANALYSIS: return "Pre-licence check result under analysis";
    case HoldKind.GOVERNMENT_ASSURANCES: return "Government-to-government assurances to be requested";
    case HoldKind.GOVERNMENT_ASSURANCES_STATE: return "State acting on the request for assurances";
    case HoldKind.FOREIGN_CONSULTATION: return "Consultation with other governments";
    case HoldKind.CONGRESSIONAL_NOTIFICATION: return "Congressional notification";
    case HoldKind.OTHER_NOTIFICATION: return "Other notification or review";
    default: return "Hold";
  }
}

export function licenseStateName(state: LicenseState): string {
  switch (state) {
    case LicenseState.ACTIVE: return "Active";
    case LicenseState.SUSPENDED: return "Suspended";
    case LicenseState.REVOKED: return "Revoked";
    case LicenseState.EXPIRED: return "Expired";
    case LicenseState.EXHAUSTED: return "Exhausted (everything shipped)";
    default: return "Unknown";
  }
}

export function levelName(level: ReviewLevel): string {
  switch (level) {
    case ReviewLevel.AGENCY: return "Agencies";
    case ReviewLevel.OPERATING_COMMITTEE: return "Operating Committee";
    case ReviewLevel.ACEP: return "ACEP";
    case ReviewLevel.EARB: return "EARB";
    case ReviewLevel.PRESIDENT: return "President";
    default: return "—";
  }
}

export function recommendationName(recommendation: Recommendation): string {
  switch (recommendation) {
    case Recommendation.APPROVE: return "Approve";
    case Recommendation.APPROVE_WITH_CONDITIONS: return "Approve with conditions";
    case Recommendation.DENY: return "Deny";
    case Recommendation.DEEMED_NO_OBJECTION: return "No objection (deemed: deadline passed)";
    default: return "—";
  }
}

export function outcomeName(outcome: Outcome): string {
  switch (outcome) {
    case Outcome.APPROVE: return "Approved";
    case Outcome.APPROVE_WITH_CONDITIONS: return "Approved with conditions";
    case Outcome.DENY: return "Denied";
    default: return "—";
  }
}

export function directionName(direction: Direction): string {
  switch (direction) {
    case Direction.APPROVE: return "approve";
    case Direction.DENY: return "deny";
    default: return "no majority";
  }
}

export function roleName(role: string, agency?: string | null): string {
  const of = agency ? ` (${agencyName(agency)})` : "";
  switch (role) {
    case "APPLICANT": return "Applicant";
    case "AGENCY_REVIEWER": return `Agency reviewer${of}`;
    case "LICENSING_OFFICER": return `Licensing officer${of}`;
    case "OPERATING_COMMITTEE_CHAIR": return "Operating Committee chair";
    case "ACEP_MEMBER": return `ACEP member${of}`;
    case "EARB_MEMBER": return `EARB member${of}`;
    case "PRESIDENT": return "The President";
    case "AUDITOR": return "Auditor";
    default: return role;
  }
}

export function date(timestamp: Timestamp | undefined): Date | undefined {
  return timestamp ? timestampDate(timestamp) : undefined;
}

export function when(timestamp: Timestamp | undefined): string {
  const at = date(timestamp);
  if (!at) return "—";
  return at.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

/** "3 d 4 h left" or "overdue by 2 h 5 min". */
export function timeLeft(timestamp: Timestamp | undefined, now: Date): { text: string; overdue: boolean } | undefined {
  const at = date(timestamp);
  if (!at) return undefined;
  const ms = at.getTime() - now.getTime();
  const span = duration(Math.abs(ms));
  return ms >= 0 ? { text: `${span} left`, overdue: false } : { text: `overdue by ${span}`, overdue: true };
}

export function duration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return rest > 0 ? `${hours} h ${rest} min` : `${hours} h`;
  if (minutes > 0) return `${minutes} min`;
  return `${Math.max(1, Math.round(ms / 1000))} s`;
}

export function dollars(cents: bigint): string {
  const whole = cents / 100n;
  const part = cents % 100n;
  const grouped = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return part === 0n ? `$${grouped}` : `$${grouped}.${part.toString().padStart(2, "0")}`;
}

export function number(value: number, digits = 1): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: digits });
}

/** `applications/{id}` -> the id's first block, for people. */
export function shortName(name: string): string {
  const id = name.replace(/^applications\//, "");
  return id.split("-")[0] ?? id;
}
