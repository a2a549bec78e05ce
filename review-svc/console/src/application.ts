// The application page: panels, the actions the principal can take now,
// and live updates from WatchApplications.

import type { LicenseClient, ReviewClient } from "./api";
import type { License, Shipment } from "./gen/exportcontrol/review/v1/license_pb";
import { refusal, type Refusal } from "./api";
import { ACTIONS, type Action, type Field, type Values } from "./actions";
import { h, replace, uid } from "./dom";
import type { Application, ApplicationEvent } from "./gen/exportcontrol/review/v1/review_pb";
import { PANELS, describeEvent, type PageContext } from "./panels";
import type { Principal } from "./session";
import { shortName } from "./words";

async function load(client: ReviewClient, name: string): Promise<{ app: Application; events: ApplicationEvent[] }> {
  const [app, events] = await Promise.all([client.getApplication({ name }), allEvents(client, name)]);
  return { app, events };
}

/** The licence of a decided application and its shipments; a refusal is kept to be shown. */
async function loadLicense(licenses: LicenseClient, name: string): Promise<{ license?: License; shipments: Shipment[]; licenseProblem?: string }> {
  try {
    const [license, shipments] = await Promise.all([licenses.getLicense({ name }), allShipments(licenses, name)]);
    return { license, shipments };
  } catch (error) {
    const r = refusal(error);
    return { shipments: [], licenseProblem: `The licence could not be read: ${r.reason || r.code} — ${r.message}` };
  }
}

function allShipments(licenses: LicenseClient, parent: string): Promise<Shipment[]> {
  return allPages((pageToken) => licenses.listShipments({ parent, pageSize: 1000, pageToken }), (page) => page.shipments);
}

function allEvents(client: ReviewClient, parent: string): Promise<ApplicationEvent[]> {
  return allPages((pageToken) => client.listApplicationEvents({ parent, pageSize: 1000, pageToken }), (page) => page.events);
}

// The record is shown whole: every page is read, however many there are.
async function allPages<P extends { nextPageToken: string }, T>(
  list: (pageToken: string) => Promise<P>,
  items: (page: P) => T[],
): Promise<T[]> {
  const all: T[] = [];
  let pageToken = "";
  do {
    const page = await list(pageToken);
    all.push(...items(page));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
}

function refusalView(r: Refusal): HTMLElement {
  return h("div", { class: "refusal", role: "alert" },
    h("strong", {}, r.reason || r.code), ": ", r.message,
    r.fields.length ? h("ul", {}, r.fields.map((f) => h("li", {}, `${f.field}: ${f.description}`))) : null);
}

function fieldView(field: Field, formId: string): HTMLElement {
  const id = `${formId}-${field.name}`;
  const hint = field.hint ? h("div", { class: "hint", id: `${id}-hint` }, field.hint) : null;
  if (field.kind === "short" || field.kind === "date") {
    return h("div", { class: "field" },
      h("label", { for: id }, field.label),
      h("input", { id, name: field.name, type: field.kind === "date" ? "date" : "text", autocomplete: "off",
        value: field.kind === "date" ? new Date().toISOString().slice(0, 10) : null, "aria-describedby": hint ? `${id}-hint` : null }),
      hint);
  }
  if (field.kind === "choice") {
    return h("fieldset", { class: "field" },
      h("legend", {}, field.label),
      (field.options ?? []).map((option, index) => h("label", { class: "choice" },
        h("input", { type: "radio", name: field.name, value: option.value, required: index === 0 }),
        " ", option.label)));
  }
  return h("div", { class: "field" },
    h("label", { for: id }, field.label),
    h("textarea", { id, name: field.name, rows: field.kind === "lines" ? 3 : 4, "aria-describedby": hint ? `${id}-hint` : null }),
    hint);
}

/** `onDone` reloads the page's state after the action, or after its refusal as stale. */
function actionView(action: Action, ctx: PageContext, onDone: (message: string, failure?: Refusal) => void): HTMLElement {
  const formId = uid(`action-${action.id}`);
  const fields = action.fields(ctx);
  const problems = h("div", { class: "problems", "aria-live": "assertive" });
  const form = h("form", { id: formId, class: "action-form", "data-action": action.id, novalidate: true },
    fields.map((field) => fieldView(field, formId)),
    problems,
    h("button", { type: "submit" }, action.label(ctx))) as HTMLFormElement;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const values: Values = {};
    for (const field of fields) values[field.name] = String(data.get(field.name) ?? "");
    const missing = fields.filter((field) => field.required(values) && !values[field.name]?.trim());
    for (const field of fields) {
      form.querySelectorAll(`[name="${field.name}"]`).forEach((el) =>
        missing.includes(field) ? el.setAttribute("aria-invalid", "true") : el.removeAttribute("aria-invalid"));
    }
    if (missing.length) {
      replace(problems, h("p", { class: "refusal", role: "alert" }, `Please fill in: ${missing.map((f) => f.label.toLowerCase()).join(", ")}.`));
      (form.querySelector(`[name="${missing[0]?.name}"]`) as HTMLElement | null)?.focus();
      return;
    }
    replace(problems);
    const button = form.querySelector("button[type=submit]") as HTMLButtonElement;
    button.disabled = true;
    try {
      const result = await action.submit(ctx, values);
      // Done: a redraw must not offer the same values again.
      form.reset();
      onDone(`Recorded — ${action.label(ctx)}. ${result}`);
    } catch (error) {
      const r = refusal(error);
      button.disabled = false;
      if (r.stale) {
        onDone("Someone acted on this application since you opened it. The page now shows the current state: check it and act again if you still wish.", r);
      } else {
        replace(problems, refusalView(r));
      }
    }
  });
  return h("section", { class: "action", "aria-label": action.label(ctx) }, h("h3", {}, action.label(ctx)), form);
}

type Typed = Map<string, Map<string, string[]>>;

/** The values of every action form, by action and field. */
function typedValues(root: HTMLElement): Typed {
  const typed: Typed = new Map();
  root.querySelectorAll<HTMLFormElement>("form[data-action]").forEach((form) => {
    const values = new Map<string, string[]>();
    for (const [name, value] of new FormData(form)) values.set(name, [...(values.get(name) ?? []), String(value)]);
    typed.set(form.dataset.action ?? "", values);
  });
  return typed;
}

function restoreTyped(root: HTMLElement, typed: Typed): void {
  root.querySelectorAll<HTMLFormElement>("form[data-action]").forEach((form) => {
    const values = typed.get(form.dataset.action ?? "");
    if (!values) return;
    form.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>("input[name], textarea[name]").forEach((el) => {
      const kept = values.get(el.name);
      if (!kept) return;
      if (el instanceof HTMLInputElement && el.type === "radio") el.checked = kept.includes(el.value);
      else el.value = kept[0] ?? "";
    });
  });
}

/** Notices shown so far: each carries its number, so a reader can tell a new one from an old. */
let notices = 0;

/** Shows `applications/{id}`; returns a function that stops its live updates. */
export function showApplication(
  root: HTMLElement,
  client: ReviewClient,
  licenses: LicenseClient,
  principal: Principal,
  name: string,
): () => void {
  const notice = h("div", { id: "notice", class: "notice", role: "status", "aria-live": "polite" });
  const body = h("div", { class: "application-body" }, h("p", { class: "muted" }, "Loading…"));
  replace(root, h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "← Inbox")), h("h2", { id: "app-title" }, `Application ${shortName(name)}`), notice, body);
  const stop = new AbortController();
  let lastSequence = 0n;
  let lastDrawn = "";
  let reloadTimer: number | undefined;

  // The latest notices, newest first: an action's own result stays visible
  // when the events it caused arrive right after it.
  const say = (message: string, kind = "info") => {
    notices += 1;
    notice.prepend(h("p", { class: `notice-${kind}`, "data-notice": notices }, message));
    while (notice.childElementCount > 3) notice.lastElementChild?.remove();
  };

  const render = (app: Application, events: ApplicationEvent[], licence: Awaited<ReturnType<typeof loadLicense>>) => {
    const ctx: PageContext = { app, events, principal, client, licenses, ...licence, now: new Date() };
    for (const event of events) if (event.sequence > lastSequence) lastSequence = event.sequence;
    const actions = ACTIONS.filter((action) => action.offered(ctx));
    const onDone = (message: string, failure?: Refusal) => {
      say(message, failure ? "warning" : "ok");
      void refresh();
    };
    // What the person has typed survives a redraw (someone else acted, a
    // live update arrived): the forms of actions still offered keep it.
    const typed = typedValues(body);
    replace(body,
      h("div", { class: "layout" },
        h("div", { class: "main-column" },
          PANELS.map((panel) => {
            const content = panel.render(ctx);
            if (content === null) return null;
            return h("section", { class: `panel panel-${panel.id}`, id: `panel-${panel.id}`, "aria-labelledby": `panel-${panel.id}-title` },
              h("h2", { id: `panel-${panel.id}-title` }, panel.title), content);
          })),
        h("aside", { class: "actions", "aria-label": "What you can do" },
          h("h2", {}, "What you can do"),
          actions.length
            ? actions.map((action) => actionView(action, ctx, onDone))
            : h("p", { class: "muted", id: "no-actions" }, "Nothing for you to do on this application now."))));
    restoreTyped(body, typed);
  };

  const refresh = async () => {
    try {
      const { app, events } = await load(client, name);
      const licence = app.license ? await loadLicense(licenses, app.license) : { shipments: [] };
      // Nothing changed since the last drawing (the event of one's own
      // action, announced after its result was drawn): leave the forms be.
      const drawn = [app.etag, events.length, licence.license?.etag, licence.shipments.length, licence.licenseProblem].join("|");
      if (stop.signal.aborted || drawn === lastDrawn) return;
      lastDrawn = drawn;
      render(app, events, licence);
    } catch (error) {
      const r = refusal(error);
      replace(body, refusalView(r));
    }
  };

  let watchesExhausted = false;
  const watch = async () => {
    while (!stop.signal.aborted) {
      try {
        for await (const event of client.watchApplications({ application: name, afterSequence: lastSequence }, { signal: stop.signal })) {
          if (event.sequence <= lastSequence) continue;
          lastSequence = event.sequence;
          // Someone else's action is announced; one's own was already.
          if (event.actor !== principal.id) say(`Updated just now: ${describeEvent(event).title} (${event.actor}).`);
          window.clearTimeout(reloadTimer);
          reloadTimer = window.setTimeout(() => void refresh(), 150);
        }
      } catch (error) {
        if (stop.signal.aborted) return;
        const ended = refusal(error);
        // No longer allowed to read this application: following again
        // would be refused again.
        if (ended.code === "PermissionDenied") {
          say(`Live updates stopped: ${ended.message}`, "warning");
          return;
        }
        // Too many pages open for this principal: say so once, and look
        // again less often until one is closed.
        if (ended.reason === "TOO_MANY_WATCHES") {
          if (!watchesExhausted) say(`Live updates paused: ${ended.message}`, "warning");
          watchesExhausted = true;
          await new Promise((resolve) => setTimeout(resolve, 15000));
          continue;
        }
        // Anything else (a restart, the network): follow again shortly.
      }
      watchesExhausted = false;
      if (!stop.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };

  void (async () => {
    await refresh();
    void watch();
  })();
  return () => {
    stop.abort();
    window.clearTimeout(reloadTimer);
  };
}
