//! Licences: what a final approval issues, and every shipment drawn down
//! against it. A pure module like [`crate::workflow`]: licence, counters,
//! actor and time in; events or a typed refusal out. No clock is read,
//! nothing is stored, no gRPC or database type appears here.
//!
//! # Life of a licence
//!
//! - **Issued** in the same write as the final APPROVE or
//!   APPROVE_WITH_CONDITIONS decision, whichever path made it final (the
//!   licensing officer, the appeal window closing, the President): id and
//!   number from the application, holder = the applicant, one item per
//!   filed item that needed a licence (authorized quantity and value from
//!   the filing, the product and its TPP per unit from the classifier's
//!   answer), destination, end user and end use from the filing, the
//!   decision's conditions, the attestations the policy requires for the
//!   destination, and the expiry (`licensing.toml`, 15 CFR 750.7(g)).
//!   Denials, withdrawals and no-licence-required outcomes issue none.
//! - **ACTIVE** → shipments are drawn down ([`record_shipment`]); when
//!   every item has shipped in full the same write records
//!   **EXHAUSTED**. The licensing officer **suspends** (→ SUSPENDED),
//!   **reinstates** (→ ACTIVE) and **revokes** (→ REVOKED, final), with a
//!   reason, without notice (15 CFR 750.8). At its expiry the sweeper
//!   records **EXPIRED** (final); until it has, the licence is treated as
//!   expired all the same ([`effective_state`]).
//!
//! # Draw-down
//!
//! A shipment is refused, with nothing written, in this order:
//! `NOT_YOUR_LICENSE` / `ROLE_NOT_PERMITTED` (only the holder ships),
//! `LICENSE_NOT_ACTIVE`, `OUTSIDE_VALIDITY` (export date), `ITEM_NOT_ON_LICENSE`,
//! `EXPORT_ALREADY_REPORTED` (the item under the same export filing),
//! `QUANTITY_EXCEEDS_REMAINING` (no tolerance on the count),
//! `VALUE_EXCEEDS_REMAINING` (value tolerance of 15 CFR 750.11: +25% for
//! items licensed by number), `ATTESTATION_REQUIRED` (e.g. the U.S.
//! laboratory's test report for China, Hong Kong and Macau, ¶(dd)(3)),
//! `END_USER_CAP_EXCEEDED` (chips per end user across all its licences and
//! products, a board counting the ICs it holds, an HBM stack none;
//! `confirmed = false`),
//! `AGGREGATE_TPP_CAP_EXCEEDED` (TPP of a product exported by the holder to
//! China, Hong Kong and Macau at most 50% of the TPP of that product it
//! shipped to U.S. customers, reported with
//! [`record_domestic_shipment`]; ¶(dd)(1)(iii)).
//!
//! The caps are checked against counters the store keeps beside the
//! licences ([`counter_keys`]), changed in the same transaction as the
//! shipment that changes them ([`Recorded::counters`]).

pub mod model;
pub mod permissions;
pub mod policy;
pub mod refusal;
pub mod rules;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use model::{
    apply, Attestation, License, LicenseEvent, LicenseItem, LicenseState, LicenseTerms, Shipment,
    Suspension,
};
pub use permissions::may_read;
pub use policy::Policy;
pub use refusal::{reason, LicenseRefusal, RefusalKind};
pub use rules::{
    counter_keys, domestic_cutoff, effective_state, issue, license_number, officer_action,
    record_domestic_shipment, record_shipment, sweep, OfficerAction, ProductFacts, Recorded,
    Report, ShipmentRequest,
};
