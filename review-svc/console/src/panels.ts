// The application page is a list of panels, each drawing one aspect of the
// application from what the page loaded (the application, its events).
// Holds and licences come as further panels (and loaders) in this list.

import { Metric, ReviewPolicy, type Threshold } from "./gen/exportcontrol/classifier/v1/classifier_pb";
import {
  Recommendation,
  ReviewLevel,
  State,
  type Application,
  type ApplicationEvent,
} from "./gen/exportcontrol/review/v1/review_pb";
import type { LicenseClient, ReviewClient } from "./api";
import type { License, Shipment } from "./gen/exportcontrol/review/v1/license_pb";
import { refusal } from "./api";
import { h, replace, type Child } from "./dom";
import type { Principal } from "./session";
import {
  AGENCIES,
  LADDER,
  agencyName,
  directionName,
  dollars,
  duration,
  holdKindName,
  levelName,
  licenseStateName,
  number,
  outcomeName,
  recommendationName,
  stateName,
  timeLeft,
  when,
} from "./words";
import { dissenters, openHolds } from "./ladder";
import { keepCheckpoint, keptCheckpoint, keyFingerprint, sameKey } from "./checkpoint";
import { durationMs } from "@bufbuild/protobuf/wkt";

/** What every panel and action of the page sees. */
export interface PageContext {
  app: Application;
  events: ApplicationEvent[];
  principal: Principal;
  client: ReviewClient;
  licenses: LicenseClient;
  /** The licence the decision issued (`app.license`), when the principal may read it. */
  license?: License;
  shipments: Shipment[];
  /** Why the licence could not be read, if it could not. */
  licenseProblem?: string;
  now: Date;
}

export interface Panel {
  id: string;
  title: string;
  render(ctx: PageContext): Child;
}

function clock(label: string, at: Application["stepDueTime"], now: Date): Child {
  const left = timeLeft(at, now);
  if (!left) return null;
  return h("div", { class: left.overdue ? "clock overdue" : "clock" },
    h("span", { class: "clock-label" }, label), " ", when(at), " — ", h("strong", {}, left.text));
}

const summary: Panel = {
  id: "summary",
  title: "Where it stands",
  render({ app, now }) {
    const route = app.transaction?.route;
    return [
      h("dl", { class: "facts" },
        h("dt", {}, "State"), h("dd", { id: "app-state" }, stateName(app.state)),
        h("dt", {}, "Level"), h("dd", {}, levelName(app.level)),
        h("dt", {}, "Applicant"), h("dd", {}, app.applicant),
        h("dt", {}, "End user"), h("dd", {}, app.transaction?.endUserName || "—"),
        h("dt", {}, "Route"), h("dd", {}, `to ${route?.destinationCountry ?? "?"}`,
          route?.endUserHeadquartersCountry ? `, end user headquartered in ${route.endUserHeadquartersCountry}` : "",
          route?.ultimateParentHeadquartersCountry ? `, parent in ${route.ultimateParentHeadquartersCountry}` : ""),
        h("dt", {}, "End use"), h("dd", {}, app.transaction?.endUseStatement || "—"),
        h("dt", {}, "Filed"), h("dd", {}, when(app.createTime)),
      ),
      app.stateReason ? h("p", { class: "state-reason" }, app.stateReason) : null,
      app.clockStopTime ? h("p", { class: "clock-stopped", id: "clock-stopped" },
        h("strong", {}, `Clock stopped since ${when(app.clockStopTime)}`),
        ` — ${openHolds(app).length} hold(s) open; every deadline waits.`) : null,
      h("div", { class: "clocks" },
        clock("Current step due", app.stepDueTime, now),
        clock("Overall (90 days) due", app.overallDueTime, now),
        clock("Requests for information possible until", app.informationRequestDueTime, now)),
    ];
  },
};

function metricUnit(metric: Metric): string {
  switch (metric) {
    case Metric.TPP: return "TPP";
    case Metric.PD: return "TPP/mm²";
    case Metric.DRAM_BANDWIDTH: return "GB/s";
    case Metric.IO_BANDWIDTH: return "GB/s";
    case Metric.MBD: return "GB/s/mm²";
    default: return "";
  }
}

/** The chip's value against the limit, so the headroom is visible at a glance. */
export function thresholdBar(t: Threshold): Child {
  if (t.value === undefined) {
    return h("li", { class: "threshold unknown" }, `${t.name}: limit ${number(t.limit)} ${metricUnit(t.metric)}, value unknown`);
  }
  const scale = Math.max(t.value, t.limit) * 1.15 || 1;
  const valuePct = Math.min(100, (t.value / scale) * 100);
  const limitPct = Math.min(100, (t.limit / scale) * 100);
  const margin = t.margin ?? t.value - t.limit;
  const unit = metricUnit(t.metric);
  const words = `${t.name}: ${number(t.value)} ${unit} against a limit of ${number(t.limit)} (${t.met ? "met" : "not met"}; ${
    margin < 0 ? `${number(-margin)} below` : `${number(margin)} above`})`;
  // Set through the CSSOM: the page's policy allows no inline style attributes.
  const fill = h("div", { class: "bar-fill" });
  fill.style.width = `${valuePct.toFixed(2)}%`;
  const mark = h("div", { class: "bar-limit" });
  mark.style.left = `${limitPct.toFixed(2)}%`;
  return h("li", { class: t.met ? "threshold met" : "threshold" },
    h("div", { class: "threshold-label" }, words),
    h("div", { class: "bar", role: "img", "aria-label": words }, fill, mark),
  );
}

function policyName(policy: ReviewPolicy): string {
  switch (policy) {
    case ReviewPolicy.NOT_APPLICABLE: return "no review policy applies";
    case ReviewPolicy.PRESUMPTION_OF_DENIAL: return "presumption of denial";
    case ReviewPolicy.CASE_BY_CASE: return "case-by-case review";
    case ReviewPolicy.PRESUMPTION_OF_APPROVAL: return "presumption of approval";
    case ReviewPolicy.INDETERMINATE: return "review policy not settled by the rules";
    default: return "";
  }
}

const items: Panel = {
  id: "items",
  title: "Items and the classifier's answer",
  render({ app }) {
    return h("ol", { class: "items" }, app.items.map((item, index) => {
      const name = item.item.case === "catalogChip" ? item.item.value
        : item.item.case === "spec" ? item.item.value.name || "chip by specification" : "item";
      const found = app.classifications.find((c) => c.itemIndex === index);
      const result = found?.result;
      const classification = result?.classification;
      const license = result?.license;
      const facts: string[] = [];
      if (classification?.paragraph) facts.push(`ECCN ${classification.paragraph}`);
      if (classification?.tpp) facts.push(`TPP ${number(classification.tpp)}`);
      if (classification?.performanceDensity !== undefined) facts.push(`performance density ${number(classification.performanceDensity)}`);
      if (license) facts.push(license.licenseRequired ? "licence required" : "no licence required");
      if (license?.reviewPolicy) facts.push(policyName(license.reviewPolicy));
      if (result?.ruleSet) facts.push(`rule set ${result.ruleSet}`);
      const tariff = result?.tariff;
      const thresholds = (classification?.thresholds ?? []).filter((t) => t.value !== undefined);
      return h("li", { class: "item" },
        h("h3", {}, `${item.quantity.toLocaleString("en-US")} × ${name}`,
          h("span", { class: "muted" }, ` at ${dollars(item.unitValueUsdCents)} each, ${dollars(item.unitValueUsdCents * item.quantity)} in all`)),
        found?.summary ? h("p", { class: "plain" }, found.summary) : h("p", { class: "muted" }, "No answer from the classifier yet."),
        facts.length ? h("p", { class: "facts-line" }, facts.join(" · ")) : null,
        license?.conditions.length ? [h("h4", {}, "Conditions that come with the policy"),
          h("ul", {}, license.conditions.map((c) => h("li", {}, c)))] : null,
        tariff?.applies ? h("p", {}, `Tariff on entry into the United States: heading ${tariff.heading}, ${number(tariff.ratePercent)}% (band ${tariff.band}).`) : null,
        thresholds.length ? [h("h4", {}, "Thresholds: the chip's value against each limit"),
          h("ul", { class: "thresholds" }, thresholds.map(thresholdBar))] : null,
        result?.warnings.length ? h("ul", { class: "warnings" }, result.warnings.map((w) => h("li", {}, w))) : null,
      );
    }));
  },
};

/** One line for each event of the history, with the deadline it set. */
export function describeEvent(event: ApplicationEvent): { title: string; detail?: string; due?: ApplicationEvent["eventTime"] } {
  const p = event.payload;
  switch (p.case) {
    case "applicationFiled": return { title: `Filed by ${p.value.applicant}`, due: p.value.overallDueTime, detail: "resolve or refer to the President by" };
    case "itemsClassified": return { title: "Classified", detail: p.value.classifications.map((c) => c.summary).join(" ") };
    case "noLicenseRequired": return { title: "Closed: no licence required", detail: p.value.reason };
    case "referredToAgencies": return { title: `Referred to ${p.value.agencies.map(agencyName).join(", ")}`, detail: "recommendations due by", due: p.value.dueTime };
    case "recommendationRecorded": {
      const r = p.value.recommendation;
      return { title: `${agencyName(r?.agency)} ${r?.level === ReviewLevel.AGENCY ? "recommends" : "votes"}: ${recommendationName(r?.recommendation ?? 0)}`, detail: r?.rationale };
    }
    case "deemedNoObjection": return { title: `${agencyName(p.value.agency)}: deemed no objection (deadline passed)` };
    case "referredToLicensingOfficer": return { title: `Agencies agree (${directionName(p.value.consensus)}): the licensing officer decides` };
    case "escalatedToOperatingCommittee": return { title: "Escalated to the Operating Committee", detail: p.value.reason, due: p.value.dueTime };
    case "decided": {
      const d = p.value.decision;
      return { title: `${levelName(d?.level ?? 0)}: ${outcomeName(d?.outcome ?? 0)}${d?.final ? " (final)" : ""}`, detail: d?.final ? d?.rationale : "appeal window closes", due: d?.final ? undefined : p.value.appealDueTime };
    }
    case "appealed": return { title: `${agencyName(p.value.agency)} appeals to ${levelName(p.value.toLevel)}`, detail: p.value.votesDueTime ? `${p.value.rationale} — votes due by` : p.value.rationale, due: p.value.votesDueTime };
    case "votesTallied": return { title: `${levelName(p.value.level)} votes: ${p.value.approve} approve, ${p.value.deny} deny — ${directionName(p.value.majority)}` };
    case "decisionFinal": return { title: `The ${levelName(p.value.level)} decision is final (no appeal)` };
    case "referredToPresident": return { title: "Referred to the President", detail: p.value.reason };
    case "withdrawn": return { title: "Withdrawn by the applicant", detail: p.value.reason };
    case "informationRequested": {
      const hold = p.value.hold;
      return { title: `Hold ${hold?.id}: ${agencyName(hold?.agency)} asks for information — the clock stops`, detail: hold?.reason, due: hold?.dueTime };
    }
    case "informationProvided": return {
      title: `Hold ${p.value.holdId}: the applicant answers — released`,
      detail: `${p.value.answer}${p.value.documents.length ? ` (documents: ${p.value.documents.join(", ")})` : ""}`,
    };
    case "holdPlaced": {
      const hold = p.value.hold;
      return { title: `Hold ${hold?.id}: ${holdKindName(hold?.kind ?? 0)} — the clock stops`, detail: hold?.reason, due: hold?.dueTime };
    }
    case "holdReleased": return { title: `Hold ${p.value.holdId} released`, detail: p.value.note };
    case "returnedWithoutAction": return { title: "Returned without action", detail: p.value.reason };
    case "licenseIssued": return { title: `Licence ${p.value.license?.licenseNumber ?? ""} issued`, detail: "valid until", due: p.value.license?.expireTime };
    case "shipmentRecorded":
    case "domesticShipmentRecorded": {
      const sh = p.value.shipment;
      return { title: `${p.case === "shipmentRecorded" ? "Shipment exported" : "Domestic shipment"}: ${sh?.quantity ?? 0} × ${sh?.product ?? "item"}`, detail: sh?.filingReference || sh?.customer };
    }
    case "licenseSuspended": return { title: "Licence suspended", detail: p.value.reason };
    case "licenseReinstated": return { title: "Licence reinstated", detail: p.value.reason };
    case "licenseRevoked": return { title: "Licence revoked", detail: p.value.reason };
    case "licenseExpired": return { title: "Licence expired", detail: p.value.reason };
    case "licenseExhausted": return { title: "Licence exhausted: everything authorized has shipped", detail: p.value.reason };
    default: return { title: event.type };
  }
}

const ladder: Panel = {
  id: "ladder",
  title: "The review ladder",
  render({ app, events, now }) {
    const final = app.state === State.DECIDED || app.state === State.WITHDRAWN || app.state === State.NO_LICENSE_REQUIRED ||
      app.state === State.RETURNED_WITHOUT_ACTION;
    const current = LADDER.indexOf(app.level);
    return [
      h("ol", { class: "rungs" }, LADDER.map((level, index) => h("li", {
        class: index < current || (final && index === current) ? "rung done" : index === current ? "rung current" : "rung",
        "aria-current": index === current && !final ? "step" : null,
      }, levelName(level)))),
      h("ol", { class: "timeline" }, events.map((event) => {
        const { title, detail, due } = describeEvent(event);
        const left = due ? timeLeft(due, now) : undefined;
        return h("li", { class: "event" },
          h("time", {}, when(event.eventTime)),
          h("div", {},
            h("strong", {}, title), event.actor && event.actor !== "system" ? h("span", { class: "muted" }, ` — ${event.actor}`) : null,
            detail ? h("div", { class: "muted" }, detail, due ? ` ${when(due)}` : "") : null,
            left && !final ? h("div", { class: left.overdue ? "clock overdue" : "clock" }, left.text) : null));
      })),
    ];
  },
};

const recommendations: Panel = {
  id: "recommendations",
  title: "Recommendations and votes",
  render({ app, now }) {
    const levels = LADDER.filter((level) => app.recommendations.some((r) => r.level === level) || (level === app.level && app.agencyDue.length > 0));
    if (!levels.length) return h("p", { class: "muted" }, "None yet.");
    const dissent = dissenters(app);
    return levels.map((level) => h("div", { class: "level-block" },
      h("h3", {}, levelName(level)),
      h("div", { class: "side-by-side" }, AGENCIES.map((agency) => {
        const r = app.recommendations.find((x) => x.level === level && x.agency === agency);
        const due = level === app.level ? app.agencyDue.find((d) => d.agency === agency) : undefined;
        const left = due && !due.answered ? timeLeft(due.dueTime, now) : undefined;
        return h("article", { class: `position ${r ? `rec-${r.recommendation}` : "pending"}`, "data-agency": agencyName(agency) },
          h("h4", {}, agencyName(agency), dissent.includes(agency) ? h("span", { class: "badge" }, "dissents") : null),
          r ? [
            h("p", { class: "verdict" }, recommendationName(r.recommendation)),
            r.rationale ? h("blockquote", {}, r.rationale) : null,
            r.conditions.length ? h("ul", { class: "conditions" }, r.conditions.map((c) => h("li", {}, c))) : null,
            h("p", { class: "muted" }, `${r.recordedBy}, ${when(r.recordTime)}`),
          ] : h("p", { class: "muted" }, left ? `due ${when(due?.dueTime)} — ${left.text}` : "not asked at this level"));
      }))));
  },
};

const decisions: Panel = {
  id: "decisions",
  title: "Decisions",
  render({ app }) {
    if (!app.decisionHistory.length) return h("p", { class: "muted" }, "No decision yet.");
    return h("ol", { class: "decisions" }, app.decisionHistory.map((d) => h("li", { class: "decision" },
      h("strong", {}, `${levelName(d.level)}: ${outcomeName(d.outcome)}`), d.final ? h("span", { class: "badge" }, "final") : null,
      h("div", { class: "muted" }, `${d.decidedBy}, ${when(d.decideTime)}`),
      d.rationale ? h("blockquote", {}, d.rationale) : null,
      d.conditions.length ? h("ul", { class: "conditions" }, d.conditions.map((c) => h("li", {}, c))) : null)));
  },
};

const audit: Panel = {
  id: "audit",
  title: "Audit trail",
  render({ app, events, client, principal }) {
    const out = h("div", { class: "audit-result", role: "status" });
    const verify = async () => {
      replace(out, "Verifying…");
      try {
        const answer = await client.verifyAuditTrail({ name: app.name });
        replace(out, answer.intact
          ? h("span", { class: "ok" }, `Intact: ${answer.eventsChecked} events re-hashed, chain unbroken.`)
          : h("span", { class: "refusal" }, `Broken at event ${answer.firstBreakApplicationSequence}: ${answer.detail}`));
      } catch (error) {
        const r = refusal(error);
        replace(out, h("span", { class: "refusal" }, `${r.reason || r.code}: ${r.message}`));
      }
    };
    void verify();
    const last = events[events.length - 1];
    return [
      h("p", {}, `${events.length} events, each hash-chained to the one before`, last ? `; latest hash ${last.hash.slice(0, 16)}…` : "", "."),
      out,
      h("button", { type: "button", class: "secondary", onclick: () => void verify() }, "Verify again"),
      // Only those who may read every history may hold its signed head.
      principal.role === "APPLICANT" ? null : checkpointCheck(client),
    ];
  },
};

/**
 * Checks the whole history against the checkpoint this browser kept, then
 * keeps a fresh one. A broken check keeps the old checkpoint: it is the
 * evidence.
 */
function checkpointCheck(client: ReviewClient): Child {
  const out = h("div", { class: "checkpoint-result", role: "status", id: "checkpoint-result" });
  const describeKept = () => {
    const kept = keptCheckpoint();
    replace(out, kept
      ? `Kept in this browser: the signed checkpoint of ${when(kept.createTime)} (up to event ${kept.sequence}, key ${keyFingerprint(kept)}…).`
      : "No checkpoint kept in this browser yet: checking keeps one.");
  };
  const check = async () => {
    const kept = keptCheckpoint();
    replace(out, "Checking the whole history…");
    try {
      if (kept) {
        const answer = await client.verifyAuditTrail({ name: "applications/-", checkpoint: kept });
        if (!answer.intact) {
          replace(out, h("span", { class: "refusal" }, `The history no longer matches the checkpoint of ${when(kept.createTime)}: ${answer.detail}`));
          return;
        }
      }
      const fresh = await client.getAuditCheckpoint({ fresh: true });
      const keyChanged = kept !== undefined && !sameKey(kept, fresh);
      keepCheckpoint(fresh);
      replace(out,
        h("span", { class: "ok" }, kept
          ? `Unchanged: the history up to event ${kept.sequence} still hashes to the checkpoint of ${when(kept.createTime)}. `
          : "First checkpoint. ",
        `Now kept: up to event ${fresh.sequence}, signed ${when(fresh.createTime)}.`),
        keyChanged ? h("p", { class: "refusal" }, `The service's signing key changed (now ${keyFingerprint(fresh)}…): ask its operators why.`) : null);
    } catch (error) {
      const r = refusal(error);
      replace(out, h("span", { class: "refusal" }, `${r.reason || r.code}: ${r.message}`));
    }
  };
  describeKept();
  return h("div", { class: "checkpoint" },
    out,
    h("button", { type: "button", class: "secondary", id: "check-checkpoint", onclick: () => void check() }, "Check against the kept checkpoint"));
}

/**
 * At the President's level, the decision in brief: every agency's position
 * at every level, the arguments for and against as the agencies wrote them,
 * and every condition proposed, with who proposed it.
 */
const brief: Panel = {
  id: "brief",
  title: "Decision brief",
  render({ app }) {
    if (app.level !== ReviewLevel.PRESIDENT) return null;
    const side = (deny: boolean) => app.recommendations
      .filter((r) => (r.recommendation === Recommendation.DENY) === deny && r.rationale)
      .map((r) => h("li", {}, h("strong", {}, `${agencyName(r.agency)}, ${levelName(r.level)}: `), r.rationale));
    const proposed = new Map<string, string[]>();
    for (const r of app.recommendations) {
      for (const c of r.conditions) proposed.set(c, [...(proposed.get(c) ?? []), `${agencyName(r.agency)} (${levelName(r.level)})`]);
    }
    for (const d of app.decisionHistory) {
      for (const c of d.conditions) proposed.set(c, [...(proposed.get(c) ?? []), `${levelName(d.level)} decision`]);
    }
    // The levels at which agencies spoke (the OC chair decides alone).
    const levels = LADDER.filter((level) => app.recommendations.some((r) => r.level === level));
    return h("div", { class: "brief" },
      h("div", { class: "table-wrap" }, h("table", { class: "positions" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Agency"), levels.map((l) => h("th", { scope: "col" }, levelName(l))))),
        h("tbody", {}, AGENCIES.map((agency) => h("tr", {},
          h("th", { scope: "row" }, agencyName(agency)),
          levels.map((level) => {
            const r = app.recommendations.find((x) => x.agency === agency && x.level === level);
            return h("td", {}, r ? recommendationName(r.recommendation) : "—");
          })))))),
      h("div", { class: "arguments" },
        h("div", {}, h("h3", {}, "For approval"), h("ul", {}, side(false))),
        h("div", {}, h("h3", {}, "For denial"), h("ul", {}, side(true)))),
      proposed.size ? [h("h3", {}, "Conditions proposed"),
        h("ul", {}, [...proposed].map(([c, by]) => h("li", {}, c, h("span", { class: "muted" }, ` — ${by.join(", ")}`))))] : null);
  },
};

/** Every hold: what stopped the clock, who asked, by when, and how it ended. */
const holds: Panel = {
  id: "holds",
  title: "Holds (the clock stopped)",
  render({ app, now }) {
    if (!app.holds.length) return null;
    const stopped = app.clockStoppedDuration ? Number(durationMs(app.clockStoppedDuration)) : 0;
    // Open holds first, overdue ones first among them.
    const sorted = [...app.holds].sort((a, b) =>
      Number(!b.releaseTime) - Number(!a.releaseTime) || Number(b.overdue) - Number(a.overdue) || a.id - b.id);
    return [
      h("p", {},
        app.clockStopTime ? h("strong", {}, `Clock stopped since ${when(app.clockStopTime)}. `) : "The clock runs. ",
        stopped > 0 ? `Stopped ${duration(stopped)} in all so far.` : ""),
      h("ol", { class: "holds", id: "holds" }, sorted.map((hold) => {
        const left = !hold.releaseTime ? timeLeft(hold.dueTime, now) : undefined;
        return h("li", { class: `hold ${hold.releaseTime ? "released" : "open"}${hold.overdue ? " overdue" : ""}`, "data-hold": hold.id },
          h("h3", {}, `Hold ${hold.id}: ${holdKindName(hold.kind)}`,
            hold.releaseTime ? h("span", { class: "badge released" }, "released") : h("span", { class: "badge open" }, "open"),
            hold.overdue ? h("span", { class: "badge overdue" }, "overdue") : null),
          h("blockquote", {}, hold.reason),
          h("p", { class: "muted" }, `Placed by ${hold.placedBy}${hold.agency ? ` (${agencyName(hold.agency)})` : ""}, ${when(hold.placeTime)}`),
          hold.dueTime ? h("p", { class: left?.overdue || hold.overdue ? "clock overdue" : "clock" },
            `Due ${when(hold.dueTime)}${hold.dueFor ? `: ${hold.dueFor}` : ""}${hold.citation ? ` (${hold.citation})` : ""}`,
            left ? ` — ${left.text}` : "") : null,
          hold.releaseTime ? h("div", { class: "hold-release" },
            h("p", {}, `Released ${when(hold.releaseTime)} by ${hold.releasedBy}.`),
            hold.releaseNote ? h("blockquote", { class: "answer" }, hold.releaseNote) : null,
            hold.documents.length ? h("p", {}, "Documents: ", hold.documents.join(", ")) : null) : null);
      })),
    ];
  },
};

/** A quantity or value shipped against what the licence authorizes. */
function drawDown(label: string, shipped: number, authorized: number, words: string): Child {
  const pct = authorized > 0 ? Math.min(100, (shipped / authorized) * 100) : 0;
  const fill = h("div", { class: "bar-fill" });
  fill.style.width = `${pct.toFixed(2)}%`;
  return h("div", { class: "drawdown" },
    h("div", { class: "threshold-label" }, `${label}: ${words}`),
    h("div", { class: "bar", role: "img", "aria-label": `${label}: ${words}` }, fill));
}

/** The licence the decision issued, its draw-down per item, and its shipments. */
const license: Panel = {
  id: "license",
  title: "Licence",
  render({ app, license: lic, shipments, licenseProblem, now }) {
    if (!app.license) return null;
    if (!lic) return h("p", { class: "muted" }, licenseProblem ?? "Loading the licence…");
    const validity = timeLeft(lic.expireTime, now);
    return [
      h("dl", { class: "facts" },
        h("dt", {}, "Number"), h("dd", { id: "license-number" }, lic.licenseNumber),
        h("dt", {}, "State"), h("dd", { id: "license-state" }, licenseStateName(lic.state), lic.stateReason ? ` — ${lic.stateReason}` : ""),
        h("dt", {}, "Holder"), h("dd", {}, lic.holder),
        h("dt", {}, "Destination"), h("dd", {}, lic.destinationCountry),
        h("dt", {}, "End user"), h("dd", {}, lic.endUser || "—", lic.endUse ? ` (${lic.endUse})` : "",
          lic.endUserHeadquarters.length ? `, headquartered in ${lic.endUserHeadquarters.join(" and ")}` : ""),
        h("dt", {}, "Valid"), h("dd", {}, `from ${when(lic.issueTime)} until ${when(lic.expireTime)}`, validity ? ` — ${validity.text}` : ""),
      ),
      lic.conditions.length ? [h("h3", {}, "Conditions"), h("ul", { class: "conditions" }, lic.conditions.map((c) => h("li", {}, c)))] : null,
      lic.requiredAttestations.length ? [h("h3", {}, "Every export must carry"),
        h("ul", { class: "attestations" }, lic.requiredAttestations.map((a) => h("li", {}, a)))] : null,
      h("h3", {}, "Draw-down per item"),
      h("ol", { class: "license-items" }, lic.items.map((item) => h("li", { class: "license-item", "data-item": item.itemIndex },
        h("h4", {}, `Item ${item.itemIndex + 1}: ${item.product}`,
          item.icsPerUnit > 1n ? ` (${item.icsPerUnit} ICs a unit, each counted toward the end user's cap)` : ""),
        drawDown("Quantity", Number(item.shippedQuantity), Number(item.authorizedQuantity),
          `${item.shippedQuantity.toLocaleString("en-US")} of ${item.authorizedQuantity.toLocaleString("en-US")} shipped, ${item.remainingQuantity.toLocaleString("en-US")} remain`),
        drawDown("Value", Number(item.shippedValueUsdCents), Number(item.authorizedValueUsdCents),
          `${dollars(item.shippedValueUsdCents)} of ${dollars(item.authorizedValueUsdCents)}`)))),
      h("h3", {}, `Shipments (${shipments.length})`),
      shipments.length ? h("div", { class: "table-wrap" }, h("table", { class: "shipments", id: "shipments" },
        h("thead", {}, h("tr", {}, ["Date", "Kind", "Item", "Quantity", "Value", "Reference", "Attestations", "Recorded by"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, shipments.map((sh) => h("tr", {},
          h("td", {}, when(sh.shipTime)),
          h("td", {}, sh.kind === 2 ? "domestic" : "export"),
          h("td", {}, `${sh.itemIndex + 1}: ${sh.product}`),
          h("td", {}, sh.quantity.toLocaleString("en-US")),
          h("td", {}, sh.valueUsdCents ? dollars(sh.valueUsdCents) : "—"),
          h("td", {}, sh.filingReference || sh.customer),
          h("td", {}, sh.attestations.map((a) => `${a.kind} ${a.reference}`).join(", ") || "—"),
          h("td", {}, sh.holder)))))) : h("p", { class: "muted" }, "None yet."),
    ];
  },
};

/** The panels of the application page, in order. */
export const PANELS: Panel[] = [brief, summary, license, holds, items, ladder, recommendations, decisions, audit];
