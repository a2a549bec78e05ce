//! Who may do what with a licence. Decided by who the actor is (role, and
//! for an applicant whether it holds the licence), never by the licence's
//! state.
//!
//! | Action | Who | Refused with |
//! |---|---|---|
//! | read a licence and its shipments ([`may_read`]) | its holder; every government role, the auditor, the system | applicants: `NOT_YOUR_LICENSE` (as for a licence that does not exist) |
//! | `RecordShipment`, `RecordDomesticShipment` | the holder | other applicants `NOT_YOUR_LICENSE`; other roles `ROLE_NOT_PERMITTED` |
//! | `SuspendLicense`, `ReinstateLicense`, `RevokeLicense` | the licensing officer | other applicants `NOT_YOUR_LICENSE`; other roles (the holder too) `ROLE_NOT_PERMITTED` |

use super::model::License;
use super::refusal::{reason, LicenseRefusal};
use crate::workflow::{list_scope, Actor, ListScope, Role};

/// The holder reads its own licences; government roles, the auditor and
/// the system read every licence.
pub fn may_read(actor: &Actor, license: &License) -> bool {
    match list_scope(actor) {
        ListScope::All => true,
        ListScope::FiledBy(holder) => holder == license.terms.holder,
    }
}

/// The refusal of an applicant that may not see the licence.
pub fn not_yours(actor: &Actor, license: &str) -> LicenseRefusal {
    LicenseRefusal::denied(
        reason::NOT_YOUR_LICENSE,
        format!("{} may not act on licenses/{license}", actor.id),
    )
}

/// Only the holder records shipments.
pub fn check_holder(actor: &Actor, license: &License) -> Result<(), LicenseRefusal> {
    let holds = actor.role == Role::Applicant && actor.id == license.terms.holder;
    check_role(
        actor,
        license,
        holds,
        "record shipments: only the holder does",
    )
}

/// Only the licensing officer suspends, reinstates and revokes.
pub fn check_officer(actor: &Actor, license: &License) -> Result<(), LicenseRefusal> {
    let officer = actor.role == Role::LicensingOfficer;
    check_role(
        actor,
        license,
        officer,
        "suspend, reinstate or revoke licences",
    )
}

/// An actor that may not see the licence is refused as for one that does
/// not exist, before its role is looked at; one that sees it acts only
/// when `permitted`, else its role `may_not` do this.
fn check_role(
    actor: &Actor,
    license: &License,
    permitted: bool,
    may_not: &str,
) -> Result<(), LicenseRefusal> {
    if !may_read(actor, license) {
        return Err(not_yours(actor, license.id()));
    }
    if permitted {
        return Ok(());
    }
    let role = actor.role.as_str();
    Err(LicenseRefusal::denied(
        reason::ROLE_NOT_PERMITTED,
        format!("role {role} may not {may_not}"),
    )
    .with("role", role))
}
