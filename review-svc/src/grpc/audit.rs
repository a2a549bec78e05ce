//! GetAuditCheckpoint, and the checkpoint given to VerifyAuditTrail: who
//! may (decided by `workflow::permissions`), the conversions, and the
//! statuses of the refusals. The checkpoints themselves are `crate::audit`'s.

use exportcontrol_proto::review::v1 as pb;
use service_kit::errors::Violation;
use tonic::{Code, Request, Response, Status};

use super::{errors, Review, ERRORS};
use crate::audit::{AuditError, Checkpoint, CheckpointCheck};
use crate::workflow::permissions::may_read_audit_checkpoint;
use crate::workflow::Actor;

impl Review {
    pub(super) async fn audit_checkpoint(
        &self,
        request: Request<pb::GetAuditCheckpointRequest>,
    ) -> Result<Response<pb::AuditCheckpoint>, Status> {
        let actor = self.actor(&request)?;
        permitted(&actor)?;
        let now = self.clock.now().timestamp_millis();
        let checkpoint = self
            .audit
            .checkpoint(request.get_ref().fresh, now)
            .await
            .map_err(status)?;
        Ok(Response::new(to_proto(&checkpoint)))
    }

    /// Checks the checkpoint given to VerifyAuditTrail, if any, against the
    /// stored history.
    pub(super) async fn check_checkpoint(
        &self,
        actor: &Actor,
        checkpoint: Option<&pb::AuditCheckpoint>,
    ) -> Result<Option<CheckpointCheck>, Status> {
        let Some(checkpoint) = checkpoint else {
            return Ok(None);
        };
        permitted(actor)?;
        let check = self
            .audit
            .check(&from_proto(checkpoint)?)
            .await
            .map_err(status)?;
        if !check.matches {
            tracing::error!(
                sequence = check.sequence,
                "the history no longer hashes to a signed checkpoint"
            );
        }
        Ok(Some(check))
    }
}

/// What VerifyAuditTrail answers: the chains' verdict, then the checkpoint's.
pub(super) fn with_checkpoint(
    mut response: pb::VerifyAuditTrailResponse,
    check: Option<CheckpointCheck>,
) -> pb::VerifyAuditTrailResponse {
    let Some(check) = check else {
        return response;
    };
    response.checkpoint_sequence = check.sequence;
    if !check.matches {
        response.intact = false;
        if response.detail.is_empty() {
            response.detail = format!(
                "the history up to sequence {} no longer hashes to the checkpoint's digest: \
                 events were changed, removed or inserted since it was made",
                check.sequence
            );
        }
    }
    response
}

fn permitted(actor: &Actor) -> Result<(), Status> {
    if may_read_audit_checkpoint(actor) {
        Ok(())
    } else {
        Err(errors::permission_denied(
            "ROLE_NOT_PERMITTED",
            format!(
                "role {} may not read audit checkpoints",
                actor.role.as_str()
            ),
            &actor.id,
        ))
    }
}

fn to_proto(checkpoint: &Checkpoint) -> pb::AuditCheckpoint {
    pb::AuditCheckpoint {
        sequence: checkpoint.sequence,
        digest: checkpoint.digest.clone(),
        create_time: Some(prost_types::Timestamp {
            seconds: checkpoint.made_at.div_euclid(1000),
            nanos: (checkpoint.made_at.rem_euclid(1000) * 1_000_000) as i32,
        }),
        signature: checkpoint.signature.clone(),
        public_key: checkpoint.public_key.clone(),
    }
}

const INVALID_CHECKPOINT: &str = "INVALID_CHECKPOINT";

fn from_proto(checkpoint: &pb::AuditCheckpoint) -> Result<Checkpoint, Status> {
    let mut violations = Vec::new();
    if checkpoint.sequence < 0 {
        violations.push(Violation::because(
            INVALID_CHECKPOINT,
            "checkpoint.sequence",
            "must not be negative",
        ));
    }
    let made_at = match &checkpoint.create_time {
        Some(time) if (0..1_000_000_000).contains(&time.nanos) => time
            .seconds
            .checked_mul(1000)
            .and_then(|ms| ms.checked_add(i64::from(time.nanos / 1_000_000))),
        _ => None,
    };
    if made_at.is_none() {
        violations.push(Violation::because(
            INVALID_CHECKPOINT,
            "checkpoint.create_time",
            "required, as GetAuditCheckpoint returned it",
        ));
    }
    match made_at {
        Some(made_at) if violations.is_empty() => Ok(Checkpoint {
            sequence: checkpoint.sequence,
            digest: checkpoint.digest.clone(),
            made_at,
            signature: checkpoint.signature.clone(),
            public_key: checkpoint.public_key.clone(),
        }),
        _ => Err(ERRORS.status_with_violations(
            Code::InvalidArgument,
            INVALID_CHECKPOINT,
            "checkpoint is not one returned by GetAuditCheckpoint",
            Vec::<(String, String)>::new(),
            violations,
        )),
    }
}

fn status(error: AuditError) -> Status {
    match error {
        AuditError::Store(error) => errors::ledger(error.into(), "applications/-"),
        AuditError::NotOurs(detail) => ERRORS.field_status(
            Code::InvalidArgument,
            "CHECKPOINT_NOT_SIGNED_BY_SERVICE",
            format!("checkpoint: {detail}"),
            Vec::<(String, String)>::new(),
            "checkpoint.signature",
            detail,
        ),
        AuditError::Diverged { sequence, detail } => {
            tracing::error!(sequence, %detail, "the history does not continue the last checkpoint");
            ERRORS.status(
                Code::DataLoss,
                "HISTORY_DIVERGED_FROM_CHECKPOINT",
                format!(
                    "the stored history does not continue the last checkpoint \
                     (sequence {sequence}): {detail}"
                ),
                [("sequence", sequence.to_string())],
            )
        }
        AuditError::Key { path, detail } => {
            tracing::error!(path = %path.display(), %detail, "audit checkpoint key");
            ERRORS.status(
                Code::Internal,
                "INTERNAL",
                "internal error; it has been logged",
                Vec::<(String, String)>::new(),
            )
        }
    }
}
