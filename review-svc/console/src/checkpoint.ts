// The auditor's own copy of the history's signed head. A checkpoint kept
// outside the database is what lets a later check notice a history rewritten
// consistently inside it (events and chain heads re-hashed together), which
// re-hashing the chains alone cannot. The service signs checkpoints; the
// browser keeps the latest it has seen verified, per service origin.

import { fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { AuditCheckpointSchema, type AuditCheckpoint } from "./gen/exportcontrol/review/v1/review_pb";

const KEY = "review-console.audit-checkpoint";

export function keptCheckpoint(): AuditCheckpoint | undefined {
  const text = localStorage.getItem(KEY);
  if (!text) return undefined;
  try {
    return fromJsonString(AuditCheckpointSchema, text);
  } catch {
    // Written by an older page or edited by hand: as good as none.
    localStorage.removeItem(KEY);
    return undefined;
  }
}

export function keepCheckpoint(checkpoint: AuditCheckpoint): void {
  localStorage.setItem(KEY, toJsonString(AuditCheckpointSchema, checkpoint));
}

/** The first bytes of the signing key, enough for a person to notice a change. */
export function keyFingerprint(checkpoint: AuditCheckpoint): string {
  return Array.from(checkpoint.publicKey.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function sameKey(a: AuditCheckpoint, b: AuditCheckpoint): boolean {
  return a.publicKey.length === b.publicKey.length && a.publicKey.every((byte, i) => byte === b.publicKey[i]);
}
