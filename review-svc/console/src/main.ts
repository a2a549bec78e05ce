// The review console: sign in, the inbox, an application. Routes live in
// the fragment (#/, #/applications/{id}) so the token never enters a URL.

import {
  isUnauthenticated,
  licenseClient,
  reviewClient,
  UNAUTHENTICATED,
  type LicenseClient,
  type Refusal,
  type ReviewClient,
} from "./api";
import { showApplication } from "./application";
import { h, replace } from "./dom";
import { renderInbox, renderLicenses } from "./inbox";
import { devPrincipals, forget, signIn, storedToken, type Principal } from "./session";
import { roleName } from "./words";

const root = document.getElementById("main") as HTMLElement;
const who = document.getElementById("who") as HTMLElement;

let session: { principal: Principal; client: ReviewClient; licenses: LicenseClient } | null = null;
let leave: (() => void) | null = null;

async function showSignIn(problem?: string): Promise<void> {
  replace(who);
  const tokenInput = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true }) as HTMLInputElement;
  const error = h("div", { "aria-live": "assertive" }, problem ? h("p", { class: "refusal", role: "alert" }, problem) : null);
  const form = h("form", { id: "sign-in", class: "sign-in" },
    h("label", { for: "token" }, "Bearer token"),
    tokenInput,
    h("button", { type: "submit" }, "Sign in"),
    error) as HTMLFormElement;
  const attempt = async (token: string) => {
    try {
      await signIn(token);
      await start();
    } catch (e) {
      replace(error, h("p", { class: "refusal", role: "alert" }, (e as Error).message));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void attempt(tokenInput.value.trim());
  });
  const dev = await devPrincipals();
  replace(root,
    h("section", { class: "panel sign-in-panel" }, h("h2", {}, "Sign in"),
      h("p", {}, "The token stays in this tab only (session storage) and is sent with each call."),
      form),
    dev.length ? h("section", { class: "panel dev" },
      h("h2", {}, "Development principals"),
      h("p", { class: "warning" }, "This service runs in development mode: these tokens are publicly known. Never use it with real data."),
      h("ul", { class: "dev-principals" }, dev.map((p) => h("li", {},
        h("button", { type: "button", class: "secondary", "data-token": p.token, onclick: () => void attempt(p.token) },
          roleName(p.role, p.agency)), " ", h("span", { class: "muted" }, p.id))))) : null);
  tokenInput.focus();
}

function route(): void {
  if (!session) return;
  leave?.();
  leave = null;
  const match = window.location.hash.match(/^#\/applications\/([0-9a-fA-F-]+)$/);
  if (match) {
    leave = showApplication(root, session.client, session.licenses, session.principal, `applications/${match[1]}`);
  } else if (window.location.hash === "#/licenses") {
    void renderLicenses(root, session.licenses, session.principal);
  } else {
    let timer = 0;
    const draw = () => renderInbox(root, session!.client, session!.principal).catch(() => undefined);
    void draw();
    // Clocks move and others act: redraw the inbox every 15 s while it is shown.
    timer = window.setInterval(draw, 15_000);
    leave = () => window.clearInterval(timer);
  }
  document.getElementById("main")?.focus();
}

async function start(): Promise<void> {
  const token = storedToken();
  if (!token) return showSignIn();
  try {
    const principal = await signIn(token);
    const client = reviewClient(token);
    session = { principal, client, licenses: licenseClient(token) };
    replace(who,
      h("span", { id: "principal" }, `${roleName(principal.role, principal.agency)} — ${principal.id}`), " ",
      h("button", { type: "button", class: "secondary", id: "sign-out", onclick: () => { forget(); session = null; leave?.(); void showSignIn(); } }, "Sign out"));
    route();
  } catch (e) {
    forget();
    return showSignIn(isUnauthenticated(e) ? "The token was refused." : (e as Error).message);
  }
}

window.addEventListener("hashchange", route);
window.addEventListener(UNAUTHENTICATED, (event) => {
  if (!session) return;
  const { reason } = (event as CustomEvent<Refusal>).detail;
  forget();
  session = null;
  leave?.();
  leave = null;
  void showSignIn(`The service no longer accepts your token (${reason || "UNAUTHENTICATED"}): sign in again.`);
});
void start();
