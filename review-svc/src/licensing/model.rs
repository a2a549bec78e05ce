//! A licence, its events, and [`apply`], which folds them into it.
//!
//! Like the workflow's, events carry every value they set (the terms at
//! issue, the expiry), so a history replays without the policy file.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a licence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LicenseState {
    /// Shipments may be recorded against it.
    Active,
    /// Suspended by the licensing officer; may be reinstated.
    Suspended,
    /// Revoked (final).
    Revoked,
    /// Its validity has ended (final).
    Expired,
    /// Every item has shipped in full (final).
    Exhausted,
}

impl LicenseState {
    pub const ALL: [LicenseState; 5] = [
        LicenseState::Active,
        LicenseState::Suspended,
        LicenseState::Revoked,
        LicenseState::Expired,
        LicenseState::Exhausted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LicenseState::Active => "ACTIVE",
            LicenseState::Suspended => "SUSPENDED",
            LicenseState::Revoked => "REVOKED",
            LicenseState::Expired => "EXPIRED",
            LicenseState::Exhausted => "EXHAUSTED",
        }
    }

    /// Nothing more can happen to the licence.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            LicenseState::Revoked | LicenseState::Expired | LicenseState::Exhausted
        )
    }
}

/// One item of a licence, as authorized at issue and as drawn down since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseItem {
    /// Index of the item in the application.
    pub item_index: u32,
    /// The product's identity (the classifier's name of the chip).
    pub product: String,
    /// Total processing performance of one unit (rounded), from the
    /// classifier's answer; 0 when the classifier gave none.
    pub tpp_per_unit: u64,
    /// How many ICs one unit holds (a board of eight GPUs: 8), from the
    /// classifier's answer: what a unit counts toward a cap in units.
    /// Licences issued before it was recorded hold 1, as do ICs; 1 is not
    /// written, so that their records keep their bytes.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ics_per_unit: u64,
    pub authorized_quantity: u64,
    pub authorized_value_usd_cents: u64,
    #[serde(default)]
    pub shipped_quantity: u64,
    #[serde(default)]
    pub shipped_value_usd_cents: u64,
}

fn one() -> u64 {
    1
}

fn is_one(value: &u64) -> bool {
    *value == 1
}

impl LicenseItem {
    pub fn remaining_quantity(&self) -> u64 {
        self.authorized_quantity
            .saturating_sub(self.shipped_quantity)
    }
}

/// What a licence allows, fixed at issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseTerms {
    /// The id part of `licenses/{id}`.
    pub id: String,
    /// The licence number an export filing quotes.
    pub number: String,
    /// The id of the application it was issued on.
    pub application: String,
    /// The applicant.
    pub holder: String,
    pub destination: String,
    /// Where the end user and its ultimate parent are headquartered, as
    /// filed (the per-customer cap follows a Chinese customer abroad).
    /// Licences issued before it was recorded have none, and are capped
    /// by their destination only; not written when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub end_user_headquarters: Vec<String>,
    pub end_user: String,
    pub end_use: String,
    /// The final decision's conditions.
    pub conditions: Vec<String>,
    /// Attestation kinds every shipment must carry (e.g. "US_LAB_TEST_REPORT").
    pub required_attestations: Vec<String>,
    pub items: Vec<LicenseItem>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Version of `licensing.toml` the licence was issued under.
    pub policy_version: String,
}

/// The state of one licence: what its events fold into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    #[serde(flatten)]
    pub terms: LicenseTerms,
    pub state: LicenseState,
    pub state_reason: String,
    /// Shipments recorded against it (exports).
    pub shipments: u64,
    /// U.S. domestic shipments reported with it.
    pub domestic_shipments: u64,
    pub updated_at: DateTime<Utc>,
    /// Number of events applied.
    pub version: i64,
    /// When it was suspended, the last period perhaps still open: an
    /// export dated inside one was not authorized, whenever it is
    /// reported. Licences suspended before this was recorded know only
    /// the periods that began since. Not written when empty, so that the
    /// records of licences never suspended keep their bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspensions: Vec<Suspension>,
}

/// A period during which a licence was suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    pub from: DateTime<Utc>,
    /// When it was reinstated (or revoked); `None` while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl Suspension {
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && self.until.is_none_or(|until| at < until)
    }
}

impl License {
    pub fn id(&self) -> &str {
        &self.terms.id
    }

    pub fn item(&self, index: u32) -> Option<&LicenseItem> {
        self.terms.items.iter().find(|i| i.item_index == index)
    }

    /// Every item has shipped its authorized quantity.
    pub fn nothing_remains(&self) -> bool {
        self.terms
            .items
            .iter()
            .all(|item| item.shipped_quantity >= item.authorized_quantity)
    }

    /// The suspension `at` falls in, if any.
    pub fn suspended_at(&self, at: DateTime<Utc>) -> Option<&Suspension> {
        self.suspensions.iter().find(|s| s.covers(at))
    }

    fn end_suspension(&mut self, at: DateTime<Utc>) {
        if let Some(open) = self.suspensions.last_mut().filter(|s| s.until.is_none()) {
            open.until = Some(at);
        }
    }

    /// Folds a whole history; `None` when there is no issue event.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a LicenseEvent>) -> Option<License> {
        events.into_iter().fold(None, apply)
    }
}

/// An attestation a shipment carries: its kind and the reference of the
/// document (e.g. the laboratory's report number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    pub kind: String,
    pub reference: String,
}

/// One shipment as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// 1, 2, ... within the licence (exports and domestic shipments counted apart).
    pub number: u64,
    pub item_index: u32,
    pub product: String,
    pub quantity: u64,
    pub value_usd_cents: u64,
    /// Export date (exports) or ship date (domestic shipments).
    pub shipped_at: DateTime<Utc>,
    /// The export filing (EEI/AES) reference; for a domestic shipment, the invoice.
    pub reference: String,
    /// The customer of a domestic shipment; the licence's end user for an export.
    pub customer: String,
    pub attestations: Vec<Attestation>,
    /// TPP of the shipment (units x TPP per unit).
    pub tpp: u64,
}

/// One entry of a licence's history, in the same chain as the events of
/// the application it was issued on. Serialised with its kind in `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum LicenseEvent {
    /// Issued with the final approval, in the same write.
    LicenseIssued {
        at: DateTime<Utc>,
        actor: String,
        terms: LicenseTerms,
    },
    /// An export drawn down against the licence.
    ShipmentRecorded {
        at: DateTime<Utc>,
        actor: String,
        license: String,
        shipment: Shipment,
    },
    /// A U.S. domestic shipment of a licensed product (counts toward the
    /// aggregate-TPP cap of the holder's exports of that product).
    DomesticShipmentRecorded {
        at: DateTime<Utc>,
        actor: String,
        license: String,
        shipment: Shipment,
    },
    LicenseSuspended {
        at: DateTime<Utc>,
        actor: String,
        license: String,
        reason: String,
    },
    LicenseReinstated {
        at: DateTime<Utc>,
        actor: String,
        license: String,
        reason: String,
    },
    LicenseRevoked {
        at: DateTime<Utc>,
        actor: String,
        license: String,
        reason: String,
    },
    /// The validity ended (`expired_at`); recorded by the sweeper.
    LicenseExpired {
        at: DateTime<Utc>,
        actor: String,
        license: String,
        expired_at: DateTime<Utc>,
    },
    /// Nothing remains to ship; recorded with the shipment that drew the last unit.
    LicenseExhausted {
        at: DateTime<Utc>,
        actor: String,
        license: String,
    },
}

crate::workflow::event_kinds::event_kinds!(LicenseEvent {
    LicenseIssued,
    ShipmentRecorded,
    DomesticShipmentRecorded,
    LicenseSuspended,
    LicenseReinstated,
    LicenseRevoked,
    LicenseExpired,
    LicenseExhausted,
});

impl LicenseEvent {
    /// The id of the licence the event is about.
    pub fn license(&self) -> &str {
        match self {
            LicenseEvent::LicenseIssued { terms, .. } => &terms.id,
            LicenseEvent::ShipmentRecorded { license, .. }
            | LicenseEvent::DomesticShipmentRecorded { license, .. }
            | LicenseEvent::LicenseSuspended { license, .. }
            | LicenseEvent::LicenseReinstated { license, .. }
            | LicenseEvent::LicenseRevoked { license, .. }
            | LicenseEvent::LicenseExpired { license, .. }
            | LicenseEvent::LicenseExhausted { license, .. } => license,
        }
    }
}

/// Folds one event into a licence. `None` before the issue; an event
/// other than the issue on no licence leaves none. Total: never panics.
pub fn apply(license: Option<License>, event: &LicenseEvent) -> Option<License> {
    let at = event.at();
    let mut license = match (license, event) {
        (_, LicenseEvent::LicenseIssued { terms, .. }) => {
            return Some(License {
                terms: terms.clone(),
                state: LicenseState::Active,
                state_reason: "issued with the final decision".into(),
                shipments: 0,
                domestic_shipments: 0,
                updated_at: at,
                version: 1,
                suspensions: Vec::new(),
            })
        }
        (Some(license), _) => license,
        (None, _) => return None,
    };
    match event {
        LicenseEvent::LicenseIssued { .. } => {}
        LicenseEvent::ShipmentRecorded { shipment, .. } => {
            license.shipments = license.shipments.max(shipment.number);
            if let Some(item) = license
                .terms
                .items
                .iter_mut()
                .find(|i| i.item_index == shipment.item_index)
            {
                item.shipped_quantity = item.shipped_quantity.saturating_add(shipment.quantity);
                item.shipped_value_usd_cents = item
                    .shipped_value_usd_cents
                    .saturating_add(shipment.value_usd_cents);
            }
        }
        LicenseEvent::DomesticShipmentRecorded { shipment, .. } => {
            license.domestic_shipments = license.domestic_shipments.max(shipment.number);
        }
        LicenseEvent::LicenseSuspended { reason, .. } => {
            license.state = LicenseState::Suspended;
            license.state_reason = format!("suspended: {reason}");
            license.suspensions.push(Suspension {
                from: at,
                until: None,
            });
        }
        LicenseEvent::LicenseReinstated { reason, .. } => {
            license.state = LicenseState::Active;
            license.state_reason = format!("reinstated: {reason}");
            license.end_suspension(at);
        }
        LicenseEvent::LicenseRevoked { reason, .. } => {
            license.state = LicenseState::Revoked;
            license.state_reason = format!("revoked: {reason}");
            license.end_suspension(at);
        }
        LicenseEvent::LicenseExpired { expired_at, .. } => {
            license.state = LicenseState::Expired;
            license.state_reason = format!("expired at {}", expired_at.to_rfc3339());
        }
        LicenseEvent::LicenseExhausted { .. } => {
            license.state = LicenseState::Exhausted;
            license.state_reason = "every item has shipped in full".into();
        }
    }
    license.updated_at = at;
    license.version = license.version.saturating_add(1);
    Some(license)
}
