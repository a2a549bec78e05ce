// What the signed-in principal can do on the application now, each with a
// form asking for what the rules require. The etag of the application the
// page shows goes with every transition; nobody types it.

import { Outcome, Recommendation, ReviewLevel, type Application } from "./gen/exportcontrol/review/v1/review_pb";
import { requestId } from "./api";
import type { PageContext } from "./panels";
import {
  awaitsDecision,
  awaitsRecommendation,
  mayAppeal,
  mayWithdraw,
  principalAgency,
} from "./ladder";
import { agencyName, levelName } from "./words";

export type Values = Record<string, string>;

export interface Field {
  name: string;
  label: string;
  kind: "choice" | "lines" | "text";
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
  submit(ctx: PageContext, values: Values): Promise<Application>;
}

function lines(text: string | undefined): string[] {
  return (text ?? "").split("\n").map((line) => line.trim()).filter(Boolean);
}

const always = () => true;

const conditionsField: Field = {
  name: "conditions",
  label: "Conditions (one a line)",
  kind: "lines",
  hint: "Required when approving with conditions.",
  required: (v) => v.choice === "APPROVE_WITH_CONDITIONS",
};

const recommend: Action = {
  id: "recommend",
  label: ({ app, principal }) =>
    app.level === ReviewLevel.AGENCY
      ? `Record ${agencyName(principal.agency)}'s recommendation`
      : `Cast ${agencyName(principal.agency)}'s ${levelName(app.level)} vote`,
  offered: ({ app, principal }) => awaitsRecommendation(app, principal),
  fields: () => [
    {
      name: "choice", label: "Recommendation", kind: "choice", required: always,
      options: [
        { value: "APPROVE", label: "Approve" },
        { value: "APPROVE_WITH_CONDITIONS", label: "Approve with conditions" },
        { value: "DENY", label: "Deny" },
      ],
    },
    conditionsField,
    { name: "rationale", label: "Rationale", kind: "text", hint: "Required; a denial must state its basis.", required: always },
  ],
  submit: ({ app, principal, client }, v) =>
    client.recordRecommendation({
      name: app.name,
      etag: app.etag,
      requestId: requestId(),
      agency: principalAgency(principal),
      recommendation: Recommendation[v.choice as keyof typeof Recommendation],
      conditions: lines(v.conditions),
      rationale: v.rationale?.trim() ?? "",
    }),
};

const decide: Action = {
  id: "decide",
  label: ({ app }) => `Decide (${levelName(app.level)})`,
  offered: ({ app, principal }) => awaitsDecision(app, principal),
  fields: () => [
    {
      name: "choice", label: "Decision", kind: "choice", required: always,
      options: [
        { value: "APPROVE", label: "Approve" },
        { value: "APPROVE_WITH_CONDITIONS", label: "Approve with conditions" },
        { value: "DENY", label: "Deny" },
      ],
    },
    conditionsField,
    { name: "rationale", label: "Rationale", kind: "text", hint: "Required for a denial.", required: (v) => v.choice === "DENY" },
  ],
  submit: ({ app, client }, v) =>
    client.decideApplication({
      name: app.name,
      etag: app.etag,
      requestId: requestId(),
      outcome: Outcome[v.choice as keyof typeof Outcome],
      conditions: lines(v.conditions),
      rationale: v.rationale?.trim() ?? "",
    }),
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
      name: app.name,
      etag: app.etag,
      requestId: requestId(),
      agency: principalAgency(principal),
      rationale: v.rationale?.trim() ?? "",
    }),
};

const withdraw: Action = {
  id: "withdraw",
  label: () => "Withdraw the application",
  offered: ({ app, principal }) => mayWithdraw(app, principal),
  fields: () => [{ name: "reason", label: "Reason", kind: "text", required: () => false }],
  submit: ({ app, client }, v) =>
    client.withdrawApplication({ name: app.name, etag: app.etag, requestId: requestId(), reason: v.reason?.trim() ?? "" }),
};

/** Every action the console knows, in the order it offers them. */
export const ACTIONS: Action[] = [recommend, decide, appeal, withdraw];
