// Who is signed in. The token lives only in this tab's sessionStorage and
// travels only in the authorization header; the principal comes from the
// service (/console/session), never from the page's own guess.

export interface Principal {
  id: string;
  role: string;
  agency: string | null;
}

export interface DevPrincipal extends Principal {
  token: string;
}

const KEY = "review-console.token";

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function forget(): void {
  sessionStorage.removeItem(KEY);
}

/** Asks the service whose token this is; keeps it when it is valid. */
export async function signIn(token: string): Promise<Principal> {
  const response = await fetch("session", {
    headers: { authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.reason ? `${body.reason}: ${body.message}` : `sign-in failed (${response.status})`);
  }
  sessionStorage.setItem(KEY, token);
  return body as Principal;
}

/** The development principals, when the service runs in development mode. */
export async function devPrincipals(): Promise<DevPrincipal[]> {
  const response = await fetch("dev-principals.json", { cache: "no-store" });
  if (!response.ok) return [];
  return (await response.json()) as DevPrincipal[];
}
