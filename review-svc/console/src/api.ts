// The one client of the console: ReviewService over gRPC-Web on the
// console's own origin, the bearer token added to every call. Refusals are
// described from their ErrorInfo (the reason), never from parsing text.

import { createClient, ConnectError, Code, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ReviewService } from "./gen/exportcontrol/review/v1/review_pb";
import { LicenseService } from "./gen/exportcontrol/review/v1/license_pb";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb";

export type ReviewClient = Client<typeof ReviewService>;
export type LicenseClient = Client<typeof LicenseService>;

/** Dispatched on `window` when the service no longer accepts the token. */
export const UNAUTHENTICATED = "review-console:unauthenticated";

export function reviewClient(token: string): ReviewClient {
  return createClient(ReviewService, transport(token));
}

/** LicenseService on the same address, with the same token. */
export function licenseClient(token: string): LicenseClient {
  return createClient(LicenseService, transport(token));
}

function transport(token: string) {
  const bearer: Interceptor = (next) => async (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    try {
      return await next(request);
    } catch (error) {
      // An expired or revoked token: the page asks to sign in again.
      if (isUnauthenticated(error)) {
        window.dispatchEvent(new CustomEvent(UNAUTHENTICATED, { detail: refusal(error) }));
      }
      throw error;
    }
  };
  return createGrpcWebTransport({
    baseUrl: window.location.origin,
    useBinaryFormat: true,
    interceptors: [bearer],
  });
}

/** A refusal, as the console shows it. */
export interface Refusal {
  code: string;
  reason: string;
  message: string;
  metadata: Record<string, string>;
  fields: { field: string; description: string }[];
  stale: boolean;
}

export function refusal(error: unknown): Refusal {
  const connect = ConnectError.from(error);
  const info = connect.findDetails(ErrorInfoSchema)[0];
  const badRequest = connect.findDetails(BadRequestSchema)[0];
  return {
    code: Code[connect.code] ?? String(connect.code),
    reason: info?.reason ?? "",
    message: connect.rawMessage,
    metadata: info ? { ...info.metadata } : {},
    fields: (badRequest?.fieldViolations ?? []).map((v) => ({ field: v.field, description: v.description })),
    // A transition sent with an etag the application has moved on from.
    stale: connect.code === Code.Aborted,
  };
}

export function isUnauthenticated(error: unknown): boolean {
  return ConnectError.from(error).code === Code.Unauthenticated;
}

/** A fresh request id: a retried transition is then applied once. */
export function requestId(): string {
  return crypto.randomUUID();
}
