//! Who may do what. Permission is decided by who the actor is (role, agency,
//! own application), never by the state of the application: whether the
//! application is *at the actor's level now* is a state precondition
//! (`NOT_AT_YOUR_LEVEL`), checked after permission. The full table is in the
//! documentation of [`crate::workflow`].

use super::command::{reason, Command, Refusal};
use super::model::{Actor, Agency, Application, Role};

/// Whether the actor may read the application (and its history): an
/// applicant only its own; every government role, the auditor and the
/// system all of them.
pub fn may_read(actor: &Actor, app: &Application) -> bool {
    match actor.role {
        Role::Applicant => actor.id == app.applicant,
        Role::AgencyReviewer
        | Role::LicensingOfficer
        | Role::OperatingCommitteeChair
        | Role::AcepMember
        | Role::EarbMember
        | Role::President
        | Role::Auditor
        | Role::System => true,
    }
}

/// Whether the actor may file applications (applicants only, in their own name).
pub fn may_file(actor: &Actor) -> bool {
    actor.role == Role::Applicant
}

/// Roles that may send a command at all (before agency and ownership checks).
pub fn roles_for(command: &Command) -> &'static [Role] {
    match command {
        Command::RecordClassification { .. } => &[Role::System],
        Command::RecordRecommendation { .. } | Command::Appeal { .. } => {
            &[Role::AgencyReviewer, Role::AcepMember, Role::EarbMember]
        }
        Command::Decide { .. } => &[
            Role::LicensingOfficer,
            Role::OperatingCommitteeChair,
            Role::President,
        ],
        Command::Withdraw { .. } => &[Role::Applicant],
    }
}

/// The permission check of [`super::Workflow::handle`].
pub(crate) fn check(actor: &Actor, app: &Application, command: &Command) -> Result<(), Refusal> {
    if !roles_for(command).contains(&actor.role) {
        return Err(Refusal::denied(
            reason::ROLE_NOT_PERMITTED,
            format!("role {} may not {}", actor.role.as_str(), command.name()),
        ));
    }
    match command {
        Command::RecordRecommendation { agency, .. } | Command::Appeal { agency, .. } => {
            own_agency(actor, *agency)
        }
        Command::Withdraw { .. } if actor.id != app.applicant => Err(Refusal::denied(
            reason::NOT_YOUR_APPLICATION,
            format!("{} did not file application {}", actor.id, app.id),
        )),
        _ => Ok(()),
    }
}

fn own_agency(actor: &Actor, agency: Agency) -> Result<(), Refusal> {
    match actor.agency {
        Some(own) if own == agency => Ok(()),
        Some(own) => Err(Refusal::denied(
            reason::WRONG_AGENCY,
            format!(
                "{} speaks for {}, not {}",
                actor.id,
                own.as_str(),
                agency.as_str()
            ),
        )),
        None => Err(Refusal::denied(
            reason::WRONG_AGENCY,
            format!("{} speaks for no agency, not {}", actor.id, agency.as_str()),
        )),
    }
}

/// Whether the actor may read the audit checkpoints (and check the history
/// against one), which vouch for every application's history: the auditor
/// and every government role (and the system), not applicants.
pub fn may_read_audit_checkpoint(actor: &Actor) -> bool {
    match actor.role {
        Role::Applicant => false,
        Role::AgencyReviewer
        | Role::LicensingOfficer
        | Role::OperatingCommitteeChair
        | Role::AcepMember
        | Role::EarbMember
        | Role::President
        | Role::Auditor
        | Role::System => true,
    }
}
