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
    match list_scope(actor) {
        ListScope::All => true,
        ListScope::FiledBy(applicant) => applicant == app.applicant,
    }
}

/// Whether the actor may file applications (applicants only, in their own name).
pub fn may_file(actor: &Actor) -> bool {
    actor.role == Role::Applicant
}

/// [`may_file`], as the refusal the caller gets.
pub fn check_file(actor: &Actor) -> Result<(), Refusal> {
    if may_file(actor) {
        Ok(())
    } else {
        Err(Refusal::denied(
            reason::ROLE_NOT_PERMITTED,
            format!("role {} may not file applications", actor.role.as_str()),
        ))
    }
}

/// Which applications a list shows an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// Every application (government roles, the auditor, the system).
    All,
    /// Only those this applicant filed.
    FiledBy(String),
}

/// Applicants list their own applications; everyone else lists all.
pub fn list_scope(actor: &Actor) -> ListScope {
    match actor.role {
        Role::Applicant => ListScope::FiledBy(actor.id.clone()),
        Role::AgencyReviewer
        | Role::LicensingOfficer
        | Role::OperatingCommitteeChair
        | Role::AcepMember
        | Role::EarbMember
        | Role::President
        | Role::Auditor
        | Role::System => ListScope::All,
    }
}

/// Whether the actor may read the history of every application at once
/// (`applications/-`): everyone who may read every application, so not
/// applicants, who name one of their own instead.
pub fn check_read_all_history(actor: &Actor) -> Result<(), Refusal> {
    match list_scope(actor) {
        ListScope::All => Ok(()),
        ListScope::FiledBy(_) => Err(Refusal::denied(
            reason::NOT_YOUR_APPLICATION,
            "applicants may only read the history of their own applications; name one",
        )),
    }
}

/// Roles that may send a command at all (before agency and ownership checks).
pub fn roles_for(command: &Command) -> &'static [Role] {
    match command {
        Command::RecordClassification { .. } => &[Role::System],
        Command::RecordRecommendation { .. } => {
            &[Role::AgencyReviewer, Role::AcepMember, Role::EarbMember]
        }
        Command::Appeal { .. } => &[Role::AcepMember, Role::EarbMember],
        Command::RequestInformation { .. } => &[Role::AgencyReviewer],
        Command::ProvideInformation { .. } => &[Role::Applicant],
        Command::PlaceHold { .. } | Command::ReleaseHold { .. } | Command::Return { .. } => {
            &[Role::LicensingOfficer]
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
        Command::RecordRecommendation { agency, .. }
        | Command::Appeal { agency, .. }
        | Command::RequestInformation { agency, .. } => own_agency(actor, *agency),
        Command::Withdraw { .. } | Command::ProvideInformation { .. }
            if actor.id != app.applicant =>
        {
            Err(Refusal::denied(
                reason::NOT_YOUR_APPLICATION,
                format!("{} did not file application {}", actor.id, app.id),
            ))
        }
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
/// against one), which vouch for every application's history: whoever may
/// read every application.
pub fn may_read_audit_checkpoint(actor: &Actor) -> bool {
    list_scope(actor) == ListScope::All
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_applicants_are_limited_to_their_own_applications() {
        for role in Role::ALL {
            let actor = Actor::new("p-1", role, None);
            let applicant = role == Role::Applicant;
            assert_eq!(
                list_scope(&actor) == ListScope::FiledBy("p-1".into()),
                applicant,
                "{role:?}"
            );
            assert_eq!(
                check_read_all_history(&actor).is_err(),
                applicant,
                "{role:?}"
            );
            assert_eq!(check_file(&actor).is_ok(), applicant, "{role:?}");
            assert_eq!(may_read_audit_checkpoint(&actor), !applicant, "{role:?}");
        }
    }
}
