// What the signed-in principal can do on the application now, each with a
// form asking for what the rules require. The etag of the application the
// page shows goes with every transition; nobody types it.

import { HoldKind, Outcome, Recommendation, ReviewLevel, type Application } from "./gen/exportcontrol/review/v1/review_pb";
import { LicenseState, type License } from "./gen/exportcontrol/review/v1/license_pb";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { requestId } from "./api";
import type { PageContext } from "./panels";
import {
  awaitsDecision,
  awaitsRecommendation,
  mayAppeal,
  mayPlaceHold,
  mayProvideInformation,
  mayReleaseHold,
  mayReturn,
  mayRequestInformation,
  mayWithdraw,
  openHolds,
  openRequests,
  principalAgency,
} from "./ladder";
import { agencyName, holdKindName, levelName, licenseStateName, stateName } from "./words";

export type Values = Record<string, string>;

export interface Field {
  name: string;
  label: string;
  kind: "choice" | "lines" | "text" | "short" | "date";
  options?: { value: string; label: string }[];
  hint?: string;
  /** Whether the field must be filled, given the other values. */
  required(values: Values): boolean;
}

export interface Action {
  id: string;
  label(ctx: PageContext): string;
  offered(ctx: PageContext): boolean;
  fields(ctx: PageContext): Field[];
  /** Sends the action; answers with what it changed, in words. */
  submit(ctx: PageContext, values: Values): Promise<string>;
}

const applicationNow = (app: Application) => `The application is now: ${stateName(app.state)}.`;
const licenseNow = (license: License) => `The licence is now: ${licenseStateName(license.state)}.`;

function lines(text: string | undefined): string[] {
  return (text ?? "").split("\n").map((line) => line.trim()).filter(Boolean);
}

const always = () => true;

// A recommendation and a decision choose among the same three verdicts,
// with conditions when approving with conditions, and a rationale (when it
// is required differs).
const verdictFields = (label: string, rationaleHint: string, rationaleRequired: (v: Values) => boolean): Field[] => [
  {
    name: "choice", label, kind: "choice", required: always,
    options: [
      { value: "APPROVE", label: "Approve" },
      { value: "APPROVE_WITH_CONDITIONS", label: "Approve with conditions" },
      { value: "DENY", label: "Deny" },
    ],
  },
  {
    name: "conditions",
    label: "Conditions (one a line)",
    kind: "lines",
    hint: "Required when approving with conditions.",
    required: (v) => v.choice === "APPROVE_WITH_CONDITIONS",
  },
  { name: "rationale", label: "Rationale", kind: "text", hint: rationaleHint, required: rationaleRequired },
];

/** The conditions and rationale of a verdict, as sent. */
const reasonsOf = (v: Values) => ({ conditions: lines(v.conditions), rationale: v.rationale?.trim() ?? "" });

/** What every transition names: the application, the version seen, and a fresh request id (retries reuse none). */
const transitionOf = (app: Application) => ({ name: app.name, etag: app.etag, requestId: requestId() });

const recommend: Action = {
  id: "recommend",
  label: ({ app, principal }) =>
    app.level === ReviewLevel.AGENCY
      ? `Record ${agencyName(principal.agency)}'s recommendation`
      : `Cast ${agencyName(principal.agency)}'s ${levelName(app.level)} vote`,
  offered: ({ app, principal }) => awaitsRecommendation(app, principal),
  fields: () => verdictFields("Recommendation", "Required; a denial must state its basis.", always),
  submit: ({ app, principal, client }, v) =>
    client.recordRecommendation({
      ...transitionOf(app),
      agency: principalAgency(principal),
      recommendation: Recommendation[v.choice as keyof typeof Recommendation],
      ...reasonsOf(v),
    }).then(applicationNow),
};

const decide: Action = {
  id: "decide",
  label: ({ app }) => `Decide (${levelName(app.level)})`,
  offered: ({ app, principal }) => awaitsDecision(app, principal),
  fields: () => verdictFields("Decision", "Required for a denial.", (v) => v.choice === "DENY"),
  submit: ({ app, client }, v) =>
    client.decideApplication({
      ...transitionOf(app),
      outcome: Outcome[v.choice as keyof typeof Outcome],
      ...reasonsOf(v),
    }).then(applicationNow),
};

const appeal: Action = {
  id: "appeal",
  label: ({ app, principal }) => `Appeal the ${levelName(app.decision?.level ?? app.level)} decision for ${agencyName(principal.agency)}`,
  offered: ({ app, principal }) => mayAppeal(app, principal),
  fields: () => [
    { name: "rationale", label: "Grounds of the appeal", kind: "text", required: always },
  ],
  submit: ({ app, principal, client }, v) =>
    client.appealApplication({
      ...transitionOf(app),
      agency: principalAgency(principal),
      rationale: v.rationale?.trim() ?? "",
    }).then(applicationNow),
};

const withdraw: Action = {
  id: "withdraw",
  label: () => "Withdraw the application",
  offered: ({ app, principal }) => mayWithdraw(app, principal),
  fields: () => [{ name: "reason", label: "Reason", kind: "text", required: () => false }],
  submit: ({ app, client }, v) =>
    client.withdrawApplication({ ...transitionOf(app), reason: v.reason?.trim() ?? "" }).then(applicationNow),
};

const requestInformation: Action = {
  id: "request-information",
  label: ({ principal }) => `Ask the applicant for information (${agencyName(principal.agency)})`,
  offered: ({ app, principal }) => mayRequestInformation(app, principal),
  fields: () => [{
    name: "missing", label: "What is missing", kind: "text", required: always,
    hint: "Every clock stops until the applicant answers. Possible within 10 days of the referral (15 CFR 750.4(d)(1)).",
  }],
  submit: ({ app, principal, client }, v) =>
    client.requestInformation({
      ...transitionOf(app),
      agency: principalAgency(principal), missing: v.missing?.trim() ?? "",
    }).then(applicationNow),
};

function holdChoice(holds: { id: number; kind: HoldKind; reason: string }[]): Field {
  return {
    name: "hold", label: "Hold", kind: "choice", required: always,
    options: holds.map((hold) => ({ value: String(hold.id), label: `Hold ${hold.id}: ${holdKindName(hold.kind)} — ${hold.reason}` })),
  };
}

const provideInformation: Action = {
  id: "provide-information",
  label: () => "Answer the request for information",
  offered: ({ app, principal }) => mayProvideInformation(app, principal),
  fields: ({ app }) => [
    ...(openRequests(app).length > 1 ? [holdChoice(openRequests(app))] : []),
    { name: "answer", label: "Answer", kind: "text", required: always,
      hint: openRequests(app).map((hold) => `${agencyName(hold.agency)} asks: ${hold.reason}`).join(" ") },
    { name: "documents", label: "Document references (one a line)", kind: "lines", required: () => false },
  ],
  submit: ({ app, client }, v) =>
    client.provideInformation({
      ...transitionOf(app),
      holdId: v.hold ? Number(v.hold) : openRequests(app)[0]?.id ?? 0,
      answer: v.answer?.trim() ?? "", documents: lines(v.documents),
    }).then(applicationNow),
};

/** The kinds the licensing officer places (a request for information is the agencies'). */
const PLACEABLE = [
  HoldKind.APPLICANT_AGREED_DELAY,
  HoldKind.PRE_LICENSE_CHECK,
  HoldKind.PRE_LICENSE_CHECK_ANALYSIS,
  HoldKind.GOVERNMENT_ASSURANCES,
  HoldKind.GOVERNMENT_ASSURANCES_STATE,
  HoldKind.FOREIGN_CONSULTATION,
  HoldKind.CONGRESSIONAL_NOTIFICATION,
  HoldKind.OTHER_NOTIFICATION,
];

const placeHold: Action = {
  id: "place-hold",
  label: () => "Place a hold (stop the clock)",
  offered: ({ app, principal }) => mayPlaceHold(app, principal),
  fields: () => [
    { name: "kind", label: "Why the clock stops (15 CFR 750.4(b))", kind: "choice", required: always,
      options: PLACEABLE.map((kind) => ({ value: HoldKind[kind], label: holdKindName(kind) })) },
    { name: "reason", label: "Reason", kind: "text", required: always },
  ],
  submit: ({ app, client }, v) =>
    client.placeHold({
      ...transitionOf(app),
      kind: HoldKind[v.kind as keyof typeof HoldKind], reason: v.reason?.trim() ?? "",
    }).then(applicationNow),
};

const releaseHold: Action = {
  id: "release-hold",
  label: () => "Release a hold",
  offered: ({ app, principal }) => mayReleaseHold(app, principal),
  fields: ({ app }) => [
    holdChoice(openHolds(app).filter((hold) => hold.kind !== HoldKind.MISSING_INFORMATION)),
    { name: "note", label: "Note", kind: "text", required: () => false },
  ],
  submit: ({ app, client }, v) =>
    client.releaseHold({
      ...transitionOf(app), holdId: Number(v.hold), note: v.note?.trim() ?? "",
    }).then(applicationNow),
};

const giveBack: Action = {
  id: "return",
  label: () => "Return without action",
  offered: ({ app, principal }) => mayReturn(app, principal),
  fields: () => [{
    name: "reason", label: "Reason", kind: "text", required: always,
    hint: "Final, and not a denial (15 CFR 748.6(c)); possible until the application is decided.",
  }],
  submit: ({ app, client }, v) =>
    client.returnApplication({ ...transitionOf(app), reason: v.reason?.trim() ?? "" }).then(applicationNow),
};

/** Dollars (commas, cents allowed) to cents; undefined when it is not an amount. */
function cents(text: string | undefined): bigint | undefined {
  const cleaned = (text ?? "").replace(/[$,\s]/g, "");
  if (!/^\d+(\.\d{1,2})?$/.test(cleaned)) return undefined;
  const [whole, part = ""] = cleaned.split(".");
  return BigInt(whole ?? "0") * 100n + BigInt((part + "00").slice(0, 2));
}

/** An export date (a day): today is now, another day its noon UTC. */
function exportTime(day: string | undefined) {
  const now = new Date();
  return timestampFromDate(day === now.toISOString().slice(0, 10) ? now : new Date(`${day}T12:00:00Z`));
}

/** Only the holder records shipments, and only while the licence is active. */
function holderOfActiveLicense({ license, principal }: PageContext): boolean {
  return license !== undefined && principal.role === "APPLICANT" && license.holder === principal.id && license.state === LicenseState.ACTIVE;
}

/** What every shipment names: which item, how many, their value, and the day. */
function shipmentFields(
  license: License | undefined,
  itemNote: (item: License["items"][number]) => string,
  valueRequired: Field["required"],
  dateLabel: string,
): Field[] {
  return [
    { name: "item", label: "Item", kind: "choice", required: always,
      options: (license?.items ?? []).map((item) => ({
        value: String(item.itemIndex),
        label: `Item ${item.itemIndex + 1}: ${item.product}${itemNote(item)}`,
      })) },
    { name: "quantity", label: "Quantity", kind: "short", required: always },
    { name: "value", label: "Value (US dollars)", kind: "short", required: valueRequired },
    { name: "date", label: dateLabel, kind: "date", required: always },
  ];
}

/** The request fields the shipment fields above fill in. */
function shipmentRequest(license: License | undefined, v: Values) {
  return {
    license: license?.name ?? "",
    requestId: requestId(),
    itemIndex: Number(v.item),
    quantity: quantity(v.quantity),
    valueUsdCents: cents(v.value) ?? 0n,
  };
}

const recordShipment: Action = {
  id: "record-shipment",
  label: () => "Record an export against the licence",
  offered: holderOfActiveLicense,
  fields: ({ license }) => [
    ...shipmentFields(license, (item) => ` (${item.remainingQuantity.toLocaleString("en-US")} remain)`, always, "Export date"),
    { name: "filing", label: "Export filing reference (EEI/AES)", kind: "short", required: always },
    ...(license?.requiredAttestations ?? []).map((kind): Field => ({
      name: `attestation:${kind}`, label: `Attestation ${kind}: reference`, kind: "short", required: always,
      hint: "Required by the licence for every export.",
    })),
  ],
  submit: async ({ license, licenses }, v) => {
    const answer = await licenses.recordShipment({
      ...shipmentRequest(license, v),
      exportTime: exportTime(v.date),
      filingReference: v.filing?.trim() ?? "",
      attestations: (license?.requiredAttestations ?? []).map((kind) => ({ kind, reference: v[`attestation:${kind}`]?.trim() ?? "" })),
    });
    const item = answer.license?.items.find((i) => i.itemIndex === Number(v.item));
    return `Shipment ${answer.shipment?.quantity ?? ""} × ${answer.shipment?.product ?? ""} recorded; ${item?.remainingQuantity.toLocaleString("en-US") ?? "?"} remain.`;
  },
};

/** A sale to a U.S. customer: it counts towards the aggregate cap exports are held to (para. (dd)(1)(iii)). */
const recordDomesticShipment: Action = {
  id: "record-domestic-shipment",
  label: () => "Record a domestic shipment (U.S. customer)",
  offered: holderOfActiveLicense,
  fields: ({ license }) => [
    ...shipmentFields(license, () => "", () => false, "Ship date"),
    { name: "customer", label: "U.S. customer", kind: "short", required: always },
    { name: "reference", label: "Invoice or delivery reference", kind: "short", required: always },
  ],
  submit: async ({ license, licenses }, v) => {
    const answer = await licenses.recordDomesticShipment({
      ...shipmentRequest(license, v),
      shipTime: exportTime(v.date),
      customer: v.customer?.trim() ?? "",
      reference: v.reference?.trim() ?? "",
    });
    return `Domestic shipment ${answer.shipment?.quantity ?? ""} × ${answer.shipment?.product ?? ""} to ${answer.shipment?.customer ?? ""} recorded.`;
  },
};

/** A whole number of units (commas allowed); 0, which the service refuses, when it is not one. */
function quantity(text: string | undefined): bigint {
  const cleaned = (text ?? "").replace(/[,\s]/g, "");
  return /^\d+$/.test(cleaned) ? BigInt(cleaned) : 0n;
}

function licenseChange(id: string, label: string, from: LicenseState[], send: (ctx: PageContext, reason: string) => Promise<License>): Action {
  return {
    id,
    label: () => label,
    offered: ({ license, principal }) =>
      license !== undefined && principal.role === "LICENSING_OFFICER" && from.includes(license.state),
    fields: () => [{ name: "reason", label: "Reason", kind: "text", required: always }],
    submit: (ctx, v) => send(ctx, v.reason?.trim() ?? "").then(licenseNow),
  };
}

const licenseTransitionOf = (license: License | undefined) =>
  ({ name: license?.name ?? "", etag: license?.etag ?? "", requestId: requestId() });

const suspend = licenseChange("suspend-license", "Suspend the licence", [LicenseState.ACTIVE], ({ license, licenses }, reason) =>
  licenses.suspendLicense({ ...licenseTransitionOf(license), reason }));
const reinstate = licenseChange("reinstate-license", "Reinstate the licence", [LicenseState.SUSPENDED], ({ license, licenses }, reason) =>
  licenses.reinstateLicense({ ...licenseTransitionOf(license), reason }));
const revoke = licenseChange("revoke-license", "Revoke the licence (final)", [LicenseState.ACTIVE, LicenseState.SUSPENDED], ({ license, licenses }, reason) =>
  licenses.revokeLicense({ ...licenseTransitionOf(license), reason }));

/** Every action the console knows, in the order it offers them. */
export const ACTIONS: Action[] = [
  recommend, decide, appeal, requestInformation, provideInformation, placeHold, releaseHold, giveBack, withdraw,
  recordShipment, recordDomesticShipment, suspend, reinstate, revoke,
];
