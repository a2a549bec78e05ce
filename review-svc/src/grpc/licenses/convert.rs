//! Licences and shipments between the domain and the contract.

use exportcontrol_proto::review::v1 as pb;
use pb::application_event::Payload;

use crate::convert::timestamp;
use crate::ledger::RecordedShipment;
use crate::licensing::{License, LicenseEvent, LicenseState, Shipment};

pub const COLLECTION: &str = "licenses/";

/// `licenses/{id}`.
pub fn license_name(id: &str) -> String {
    format!("{COLLECTION}{id}")
}

/// The name of a shipment: its number, with a `d` for a domestic one.
pub fn shipment_id(license: &str, domestic: bool, number: u64) -> String {
    let prefix = if domestic { "d" } else { "" };
    format!("{license}/shipments/{prefix}{number}")
}

pub fn state(state: LicenseState) -> pb::LicenseState {
    match state {
        LicenseState::Active => pb::LicenseState::Active,
        LicenseState::Suspended => pb::LicenseState::Suspended,
        LicenseState::Revoked => pb::LicenseState::Revoked,
        LicenseState::Expired => pb::LicenseState::Expired,
        LicenseState::Exhausted => pb::LicenseState::Exhausted,
    }
}

pub fn state_from(value: pb::LicenseState) -> Option<LicenseState> {
    LicenseState::ALL.into_iter().find(|s| state(*s) == value)
}

/// The licence as the contract shows it; `etag` is made by the adapter.
pub fn license(license: &License, etag: String) -> pb::License {
    let t = &license.terms;
    pb::License {
        name: license_name(&t.id),
        license_number: t.number.clone(),
        application: crate::convert::resource_name(&t.application),
        holder: t.holder.clone(),
        state: state(license.state) as i32,
        items: t
            .items
            .iter()
            .map(|item| pb::LicenseItem {
                item_index: item.item_index,
                authorized_quantity: item.authorized_quantity,
                shipped_quantity: item.shipped_quantity,
                authorized_value_usd_cents: item.authorized_value_usd_cents,
                shipped_value_usd_cents: item.shipped_value_usd_cents,
                remaining_quantity: item.remaining_quantity(),
                product: item.product.clone(),
                tpp_per_unit: item.tpp_per_unit,
                ics_per_unit: item.ics_per_unit,
            })
            .collect(),
        conditions: t.conditions.clone(),
        issue_time: Some(timestamp(t.issued_at)),
        expire_time: Some(timestamp(t.expires_at)),
        etag,
        destination_country: t.destination.clone(),
        end_user_headquarters: t.end_user_headquarters.clone(),
        end_user: t.end_user.clone(),
        end_use: t.end_use.clone(),
        required_attestations: t.required_attestations.clone(),
        state_reason: license.state_reason.clone(),
        update_time: Some(timestamp(license.updated_at)),
        policy_version: t.policy_version.clone(),
    }
}

/// A shipment as the ledger recorded it.
pub fn recorded_shipment(s: &RecordedShipment) -> pb::Shipment {
    shipment(
        &s.license,
        &s.holder,
        s.domestic,
        &s.shipment,
        s.recorded_at,
    )
}

/// A shipment as the contract shows it.
pub fn shipment(
    license: &str,
    holder: &str,
    domestic: bool,
    shipment: &Shipment,
    recorded_at: chrono::DateTime<chrono::Utc>,
) -> pb::Shipment {
    pb::Shipment {
        name: license_name(&shipment_id(license, domestic, shipment.number)),
        license: license_name(license),
        kind: if domestic {
            pb::ShipmentKind::Domestic
        } else {
            pb::ShipmentKind::Export
        } as i32,
        item_index: shipment.item_index,
        product: shipment.product.clone(),
        quantity: shipment.quantity,
        value_usd_cents: shipment.value_usd_cents,
        ship_time: Some(timestamp(shipment.shipped_at)),
        filing_reference: shipment.reference.clone(),
        customer: shipment.customer.clone(),
        attestations: shipment
            .attestations
            .iter()
            .map(|a| pb::Attestation {
                kind: a.kind.clone(),
                reference: a.reference.clone(),
            })
            .collect(),
        tpp: shipment.tpp,
        holder: holder.to_owned(),
        record_time: Some(timestamp(recorded_at)),
    }
}

/// The payload of a licence event in `ApplicationEvent`.
pub fn event_payload(event: &LicenseEvent) -> Payload {
    let changed = |license: &str, to: LicenseState, reason: &str| pb::LicenseStateChangedEvent {
        license: license_name(license),
        state: state(to) as i32,
        reason: reason.to_owned(),
    };
    match event {
        LicenseEvent::LicenseIssued { at, terms, .. } => {
            let issued = crate::licensing::apply(None, event).unwrap_or_else(|| License {
                terms: terms.clone(),
                state: LicenseState::Active,
                state_reason: String::new(),
                shipments: 0,
                domestic_shipments: 0,
                updated_at: *at,
                version: 1,
                suspensions: Vec::new(),
            });
            Payload::LicenseIssued(pb::LicenseIssuedEvent {
                license: Some(license(&issued, String::new())),
            })
        }
        LicenseEvent::ShipmentRecorded {
            at,
            actor,
            license,
            shipment: s,
        } => Payload::ShipmentRecorded(pb::ShipmentRecordedEvent {
            shipment: Some(shipment(license, actor, false, s, *at)),
        }),
        LicenseEvent::DomesticShipmentRecorded {
            at,
            actor,
            license,
            shipment: s,
        } => Payload::DomesticShipmentRecorded(pb::ShipmentRecordedEvent {
            shipment: Some(shipment(license, actor, true, s, *at)),
        }),
        LicenseEvent::LicenseSuspended {
            license, reason, ..
        } => Payload::LicenseSuspended(changed(license, LicenseState::Suspended, reason)),
        LicenseEvent::LicenseReinstated {
            license, reason, ..
        } => Payload::LicenseReinstated(changed(license, LicenseState::Active, reason)),
        LicenseEvent::LicenseRevoked {
            license, reason, ..
        } => Payload::LicenseRevoked(changed(license, LicenseState::Revoked, reason)),
        LicenseEvent::LicenseExpired {
            license,
            expired_at,
            ..
        } => Payload::LicenseExpired(changed(
            license,
            LicenseState::Expired,
            &format!("expired at {}", expired_at.to_rfc3339()),
        )),
        LicenseEvent::LicenseExhausted { license, .. } => Payload::LicenseExhausted(changed(
            license,
            LicenseState::Exhausted,
            "every item has shipped in full",
        )),
    }
}
