//! The gRPC adapter of `LicenseService`: authenticates, validates and
//! converts, calls the ledger, maps refusals to statuses. Who may do what
//! is decided in [`crate::licensing::permissions`]; the rules in
//! [`crate::licensing`].

pub mod convert;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::license_service_server::LicenseService;
use service_kit::errors::{shorten, Violation};
use service_kit::paging;
use tonic::{Code, Request, Response, Status};

use super::errors::{self, ERRORS};
use super::transitions::{time_left, write_deadline};
use super::{validate, Keys};
use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::ledger::{Ledger, LedgerError, LicenseAnswer};
use crate::licensing::{
    permissions, Attestation, License, LicenseRefusal, OfficerAction, RefusalKind, ShipmentRequest,
};
use crate::store::{KeyCursor, LicenseFilter, ShipmentFilter};
use crate::workflow::{self, Actor, ListScope};

/// Every licence, as a parent.
const ALL_LICENSES: &str = "licenses/-";
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;
const MAX_TEXT: usize = 256;

/// Everything a `LicenseService` handler needs.
pub struct Licenses {
    ledger: Arc<Ledger>,
    auth: Arc<Authenticator>,
    clock: Arc<dyn Clock>,
    keys: Keys,
}

impl Licenses {
    pub fn new(
        ledger: Arc<Ledger>,
        auth: Arc<Authenticator>,
        clock: Arc<dyn Clock>,
        keys: Keys,
    ) -> Self {
        Self {
            ledger,
            auth,
            clock,
            keys,
        }
    }

    fn actor<T>(&self, request: &Request<T>) -> Result<Actor, Status> {
        super::actor_of(request, &self.auth, self.clock.as_ref())
    }

    /// The etag of a licence: its version, authenticated for its name.
    fn etag(&self, license: &License) -> String {
        self.keys
            .etag(&convert::license_name(license.id()), license.version)
    }

    fn render(&self, license: &License) -> pb::License {
        convert::license(license, self.etag(license))
    }

    /// Loads a licence the actor may read. An applicant learns nothing of
    /// the licences of others: one that does not exist is refused alike.
    async fn readable(&self, actor: &Actor, id: &str) -> Result<License, Status> {
        let name = convert::license_name(id);
        match self.ledger.license(id).await {
            Ok(license) if permissions::may_read(actor, &license) => Ok(license),
            Ok(_) => Err(refused(permissions::not_yours(actor, id), &name)),
            Err(LedgerError::LicenseNotFound(_))
                if workflow::list_scope(actor) != ListScope::All =>
            {
                Err(refused(permissions::not_yours(actor, id), &name))
            }
            Err(e) => Err(license_error(e, &name)),
        }
    }

    fn answer(&self, answer: &LicenseAnswer) -> pb::RecordShipmentResponse {
        pb::RecordShipmentResponse {
            shipment: answer.shipment.as_ref().map(convert::recorded_shipment),
            license: Some(self.render(&answer.license)),
        }
    }

    /// The cursor a page token of `method` carries (None for the first
    /// page), if it was issued for the same `query`.
    fn cursor(&self, token: &str, query: &str, method: &str) -> Result<Option<KeyCursor>, Status> {
        if token.is_empty() {
            return Ok(None);
        }
        let (at, id) = self
            .keys
            .page_position(query, token)
            .ok_or_else(|| super::page_token_error(method))?;
        Ok(Some(KeyCursor { at, id }))
    }

    /// The first `page_size` of `rows` (read with one more, to learn
    /// whether another page follows) and the token of the next page: the
    /// cursor of the page's last row, as [`Self::cursor`] reads it back.
    fn page<'r, T>(
        &self,
        rows: &'r [T],
        page_size: u32,
        query: &str,
        cursor_of: impl FnOnce(&T) -> KeyCursor,
    ) -> (&'r [T], String) {
        let page = &rows[..rows.len().min(page_size as usize)];
        let next_page_token = match (rows.len() > page.len(), page.last()) {
            (true, Some(last)) => {
                let KeyCursor { at, id } = cursor_of(last);
                self.keys.page_after(query, at, &id)
            }
            _ => String::new(),
        };
        (page, next_page_token)
    }

    /// The time a write starts at, once the caller's deadline leaves it
    /// enough time to finish.
    fn write_time(&self, metadata: &tonic::metadata::MetadataMap) -> Result<DateTime<Utc>, Status> {
        time_left(write_deadline(metadata)?)?;
        Ok(self.clock.now())
    }

    /// A write by `actor` on licence `id` refused by the ledger, as a
    /// status: an applicant that may not see the licence (or where there is
    /// none) is refused as for another's.
    fn write_error(&self, actor: &Actor, id: &str, error: LedgerError) -> Status {
        let name = convert::license_name(id);
        match error {
            LedgerError::LicenseNotFound(_) if workflow::list_scope(actor) != ListScope::All => {
                refused(permissions::not_yours(actor, id), &name)
            }
            LedgerError::EtagMismatch { current } => {
                errors::etag_mismatch(&name, Some(self.keys.etag(&name, current)))
            }
            e => license_error(e, &name),
        }
    }

    async fn shipment<M: prost::Message>(
        &self,
        request: Request<M>,
        method: &'static str,
        parts: ShipmentParts,
    ) -> Result<Response<pb::RecordShipmentResponse>, Status> {
        let actor = self.actor(&request)?;
        let message = request.get_ref();
        let ShipmentParts {
            id,
            request_id,
            domestic,
            request: shipment,
        } = parts;
        let key = validate::request_key(method, &actor.id, &request_id, message)?;
        let now = self.write_time(request.metadata())?;
        let answer = self
            .ledger
            .record_shipment(&id, &actor, shipment, domestic, key.as_ref(), now)
            .await
            .map_err(|e| self.write_error(&actor, &id, e))?;
        tracing::info!(license = %id, version = answer.license.version, method, "shipment recorded");
        Ok(Response::new(self.answer(&answer)))
    }

    async fn officer<M: OfficerRequest>(
        &self,
        request: Request<M>,
        method: &'static str,
        action: OfficerAction,
    ) -> Result<Response<pb::License>, Status> {
        let actor = self.actor(&request)?;
        let (name, etag, request_id, reason) = request.get_ref().parts();
        let id = license_id(name, "name")?;
        let mut violations = Vec::new();
        validate::optional_long_text(reason, "reason", &mut violations);
        validate::finish(violations)?;
        let expected = if etag.is_empty() {
            None
        } else {
            Some(validate::etag(etag, |etag| {
                self.keys.version(&convert::license_name(&id), etag)
            })?)
        };
        let key = validate::request_key(method, &actor.id, request_id, request.get_ref())?;
        let now = self.write_time(request.metadata())?;
        let answer = self
            .ledger
            .license_action(&id, &actor, action, reason, expected, key.as_ref(), now)
            .await
            .map_err(|e| self.write_error(&actor, &id, e))?;
        tracing::info!(license = %id, state = answer.license.state.as_str(), method, "licence changed");
        Ok(Response::new(self.render(&answer.license)))
    }
}

/// What the licensing officer's three requests carry alike.
trait OfficerRequest: prost::Message {
    /// (name, etag, request id, reason).
    fn parts(&self) -> (&str, &str, &str, &str);
}

macro_rules! officer_request {
    ($($message:ty),*) => {$(
        impl OfficerRequest for $message {
            fn parts(&self) -> (&str, &str, &str, &str) {
                (&self.name, &self.etag, &self.request_id, &self.reason)
            }
        }
    )*};
}

officer_request!(
    pb::SuspendLicenseRequest,
    pb::ReinstateLicenseRequest,
    pb::RevokeLicenseRequest
);

/// What both shipment RPCs carry, validated.
struct ShipmentParts {
    id: String,
    request_id: String,
    domestic: bool,
    request: ShipmentRequest,
}

/// The id of `licenses/{id}` (an application id).
fn license_id(name: &str, field: &str) -> Result<String, Status> {
    let invalid = || {
        ERRORS.invalid_field(
            validate::reason::INVALID_RESOURCE_NAME,
            field,
            format!("expected licenses/{{id}}, got {:?}", shorten(name)),
        )
    };
    let rest = name.strip_prefix(convert::COLLECTION).ok_or_else(invalid)?;
    validate::application_id(&format!("applications/{rest}"), field).map_err(|_| invalid())
}

fn time(
    value: Option<&prost_types::Timestamp>,
    field: &str,
    violations: &mut Vec<Violation>,
) -> Option<DateTime<Utc>> {
    // google.protobuf.Timestamp's nanos are 0 to 999,999,999: chrono would
    // read 1e9 and more as a leap second, a time the caller did not send.
    let valid = |t: &prost_types::Timestamp| {
        let nanos = u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000)?;
        DateTime::from_timestamp(t.seconds, nanos)
    };
    match value.and_then(valid) {
        Some(time) => Some(time),
        None => {
            violations.push(Violation::because(
                validate::reason::INVALID_TIME,
                field,
                "a valid time is required (nanos 0 to 999,999,999)",
            ));
            None
        }
    }
}

/// A time filter: none when not given, else a valid time.
fn optional_time(
    value: Option<&prost_types::Timestamp>,
    field: &str,
    violations: &mut Vec<Violation>,
) -> Option<DateTime<Utc>> {
    value.and_then(|t| time(Some(t), field, violations))
}

/// The form of the Internal Transaction Number AES gives an EEI filing.
fn is_itn(reference: &str) -> bool {
    reference
        .strip_prefix('X')
        .is_some_and(|digits| digits.len() == 14 && digits.bytes().all(|b| b.is_ascii_digit()))
}

fn quantity(value: u64, violations: &mut Vec<Violation>) {
    if value == 0 || value > validate::MAX_TOTAL_VALUE_USD_CENTS {
        violations.push(Violation::because(
            validate::reason::OUT_OF_RANGE,
            "quantity",
            "at least 1 unit, at most 2^53 - 1",
        ));
    }
}

/// An export's value is the value its filing declares, never nothing (a
/// shipment at no charge declares its market value all the same); a
/// domestic shipment's is for the record only, and may be 0.
fn value(value: u64, export: bool, violations: &mut Vec<Violation>) {
    let least = u64::from(export);
    if value < least || value > validate::MAX_TOTAL_VALUE_USD_CENTS {
        violations.push(Violation::because(
            validate::reason::OUT_OF_RANGE,
            "value_usd_cents",
            if export {
                "at least 1 cent (the value the export filing declares), at most 2^53 - 1"
            } else {
                "at most 2^53 - 1"
            },
        ));
    }
}

fn attestations(values: &[pb::Attestation], violations: &mut Vec<Violation>) -> Vec<Attestation> {
    if values.len() > 16 {
        violations.push(Violation::because(
            validate::reason::TOO_MANY_ENTRIES,
            "attestations",
            "at most 16",
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, a)| {
            validate::text(
                &a.kind,
                &format!("attestations[{i}].kind"),
                64,
                true,
                violations,
            );
            validate::text(
                &a.reference,
                &format!("attestations[{i}].reference"),
                MAX_TEXT,
                true,
                violations,
            );
            Attestation {
                kind: a.kind.trim().to_owned(),
                reference: a.reference.trim().to_owned(),
            }
        })
        .collect()
}

/// A licence refusal as a status: ErrorInfo with the reason and every
/// value (lowerCamelCase), and the field for invalid input.
pub fn refused(refusal: LicenseRefusal, license: &str) -> Status {
    let mut metadata = vec![("license".to_owned(), license.to_owned())];
    metadata.extend(
        refusal
            .metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone())),
    );
    let code = match refusal.kind {
        RefusalKind::InvalidArgument => Code::InvalidArgument,
        RefusalKind::PermissionDenied => Code::PermissionDenied,
        RefusalKind::FailedPrecondition => Code::FailedPrecondition,
        RefusalKind::AlreadyExists => Code::AlreadyExists,
    };
    match (refusal.kind, refusal.field) {
        (RefusalKind::InvalidArgument, Some(field)) => ERRORS.field_status(
            code,
            refusal.reason,
            refusal.detail.clone(),
            metadata,
            field,
            refusal.detail,
        ),
        _ => ERRORS.status(code, refusal.reason, refusal.detail, metadata),
    }
}

/// A ledger error on a licence as a status.
pub fn license_error(error: LedgerError, license: &str) -> Status {
    match error {
        LedgerError::LicenseRefused(refusal) => refused(refusal, license),
        LedgerError::LicenseNotFound(_) => ERRORS.status(
            Code::NotFound,
            "LICENSE_NOT_FOUND",
            format!("licence {license} not found"),
            [("license", license)],
        ),
        other => errors::ledger(other, license),
    }
}

/// The holder a list is narrowed to: the one asked for (if any), or an
/// applicant's own. `None` when an applicant asks for
/// another's: that lists nothing.
fn listed_holder(actor: &Actor, requested: Option<String>) -> Option<Option<String>> {
    match workflow::list_scope(actor) {
        ListScope::All => Some(requested),
        ListScope::FiledBy(own) => match requested {
            Some(other) if other != own => None,
            _ => Some(Some(own)),
        },
    }
}

#[tonic::async_trait]
impl LicenseService for Licenses {
    async fn get_license(
        &self,
        request: Request<pb::GetLicenseRequest>,
    ) -> Result<Response<pb::License>, Status> {
        let actor = self.actor(&request)?;
        let id = license_id(&request.get_ref().name, "name")?;
        let license = self.readable(&actor, &id).await?;
        Ok(Response::new(self.render(&license)))
    }

    async fn list_licenses(
        &self,
        request: Request<pb::ListLicensesRequest>,
    ) -> Result<Response<pb::ListLicensesResponse>, Status> {
        let actor = self.actor(&request)?;
        let message = request.get_ref();
        let page_size = validate::page_size(message.page_size, DEFAULT_PAGE, MAX_PAGE)?;
        let mut violations = Vec::new();
        let state =
            validate::optional_enum(message.state, "state", convert::state_from, &mut violations);
        let expires_before = optional_time(
            message.expire_before.as_ref(),
            "expire_before",
            &mut violations,
        );
        let holder = validate::text_filter(&message.holder, "holder", &mut violations);
        let destination = validate::country_filter(
            &message.destination_country,
            "destination_country",
            &mut violations,
        );
        let end_user = validate::text_filter(&message.end_user, "end_user", &mut violations);
        validate::finish(violations)?;
        let Some(holder) = listed_holder(&actor, holder) else {
            return Ok(Response::new(pb::ListLicensesResponse::default()));
        };
        let filter = LicenseFilter {
            holder,
            state: state.map(|s| s.as_str().to_owned()),
            destination,
            end_user,
            expires_before: expires_before.map(|t| t.timestamp_millis()),
        };
        let query = paging::fingerprint(&[
            "licenses",
            filter.holder.as_deref().unwrap_or(""),
            filter.state.as_deref().unwrap_or(""),
            filter.destination.as_deref().unwrap_or(""),
            filter.end_user.as_deref().unwrap_or(""),
            &filter
                .expires_before
                .map(|t| t.to_string())
                .unwrap_or_default(),
        ]);
        let after = self.cursor(&message.page_token, &query, "ListLicenses")?;
        let licenses = self
            .ledger
            .licenses(&filter, after.as_ref(), page_size + 1)
            .await
            .map_err(|e| license_error(e, ALL_LICENSES))?;
        let (page, next_page_token) = self.page(&licenses, page_size, &query, |last| KeyCursor {
            at: last.terms.issued_at.timestamp_millis(),
            id: last.id().to_owned(),
        });
        Ok(Response::new(pb::ListLicensesResponse {
            licenses: page.iter().map(|l| self.render(l)).collect(),
            next_page_token,
        }))
    }

    async fn record_shipment(
        &self,
        request: Request<pb::RecordShipmentRequest>,
    ) -> Result<Response<pb::RecordShipmentResponse>, Status> {
        let m = request.get_ref();
        let id = license_id(&m.license, "license")?;
        let mut violations = Vec::new();
        quantity(m.quantity, &mut violations);
        value(m.value_usd_cents, true, &mut violations);
        let shipped_at = time(m.export_time.as_ref(), "export_time", &mut violations);
        let before = violations.len();
        validate::text(
            &m.filing_reference,
            "filing_reference",
            MAX_TEXT,
            true,
            &mut violations,
        );
        if violations.len() == before && !is_itn(m.filing_reference.trim()) {
            violations.push(Violation::because(
                validate::reason::INVALID_FILING_REFERENCE,
                "filing_reference",
                format!(
                    "an AES Internal Transaction Number, X and 14 digits (such as \
                     X20261206000001): every licensed export files EEI (15 CFR 758.1), got {:?}",
                    service_kit::errors::shorten(&m.filing_reference)
                ),
            ));
        }
        let attestations = attestations(&m.attestations, &mut violations);
        validate::finish(violations)?;
        let parts = ShipmentParts {
            id,
            request_id: m.request_id.clone(),
            domestic: false,
            request: ShipmentRequest {
                item_index: m.item_index,
                quantity: m.quantity,
                value_usd_cents: m.value_usd_cents,
                shipped_at: shipped_at.unwrap_or_default(),
                reference: m.filing_reference.trim().to_owned(),
                customer: String::new(),
                attestations,
            },
        };
        self.shipment(request, "RecordShipment", parts).await
    }

    async fn list_shipments(
        &self,
        request: Request<pb::ListShipmentsRequest>,
    ) -> Result<Response<pb::ListShipmentsResponse>, Status> {
        let actor = self.actor(&request)?;
        let message = request.get_ref();
        let page_size = validate::page_size(message.page_size, DEFAULT_PAGE, MAX_PAGE)?;
        let license = if message.parent == ALL_LICENSES {
            None
        } else {
            let id = license_id(&message.parent, "parent")?;
            self.readable(&actor, &id).await?;
            Some(id)
        };
        let mut violations = Vec::new();
        let from = optional_time(message.start_time.as_ref(), "start_time", &mut violations);
        let to = optional_time(message.end_time.as_ref(), "end_time", &mut violations);
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                // An empty range is a mistake in the request, not an answer.
                violations.push(Violation::because(
                    validate::reason::INVALID_TIME_RANGE,
                    "end_time",
                    format!(
                        "must be after start_time ({}), got {}",
                        from.to_rfc3339(),
                        to.to_rfc3339()
                    ),
                ));
            }
        }
        let kind = match pb::ShipmentKind::try_from(message.kind) {
            Ok(pb::ShipmentKind::Unspecified) => None,
            Ok(pb::ShipmentKind::Export) => Some("EXPORT"),
            Ok(pb::ShipmentKind::Domestic) => Some("DOMESTIC"),
            Err(_) => {
                violations.push(validate::unknown_enum("kind", message.kind));
                None
            }
        };
        let holder = validate::text_filter(&message.holder, "holder", &mut violations);
        validate::finish(violations)?;
        let Some(holder) = listed_holder(&actor, holder) else {
            return Ok(Response::new(pb::ListShipmentsResponse::default()));
        };
        let filter = ShipmentFilter {
            license_id: license,
            holder,
            kind: kind.map(str::to_owned),
            from: from.map(|t| t.timestamp_millis()),
            to: to.map(|t| t.timestamp_millis()),
        };
        let query = paging::fingerprint(&[
            "shipments",
            filter.license_id.as_deref().unwrap_or(""),
            filter.holder.as_deref().unwrap_or(""),
            filter.kind.as_deref().unwrap_or(""),
            &filter.from.map(|t| t.to_string()).unwrap_or_default(),
            &filter.to.map(|t| t.to_string()).unwrap_or_default(),
        ]);
        let after = self.cursor(&message.page_token, &query, "ListShipments")?;
        let shipments = self
            .ledger
            .shipments(&filter, after.as_ref(), page_size + 1)
            .await
            .map_err(|e| license_error(e, &message.parent))?;
        let (page, next_page_token) = self.page(&shipments, page_size, &query, |last| KeyCursor {
            at: last.shipment.shipped_at.timestamp_millis(),
            id: convert::shipment_id(&last.license, last.domestic, last.shipment.number),
        });
        Ok(Response::new(pb::ListShipmentsResponse {
            shipments: page.iter().map(convert::recorded_shipment).collect(),
            next_page_token,
        }))
    }

    async fn record_domestic_shipment(
        &self,
        request: Request<pb::RecordDomesticShipmentRequest>,
    ) -> Result<Response<pb::RecordShipmentResponse>, Status> {
        let m = request.get_ref();
        let id = license_id(&m.license, "license")?;
        let mut violations = Vec::new();
        quantity(m.quantity, &mut violations);
        value(m.value_usd_cents, false, &mut violations);
        let shipped_at = time(m.ship_time.as_ref(), "ship_time", &mut violations);
        validate::text(&m.customer, "customer", MAX_TEXT, true, &mut violations);
        validate::text(&m.reference, "reference", MAX_TEXT, true, &mut violations);
        validate::finish(violations)?;
        let parts = ShipmentParts {
            id,
            request_id: m.request_id.clone(),
            domestic: true,
            request: ShipmentRequest {
                item_index: m.item_index,
                quantity: m.quantity,
                value_usd_cents: m.value_usd_cents,
                shipped_at: shipped_at.unwrap_or_default(),
                reference: m.reference.trim().to_owned(),
                customer: m.customer.trim().to_owned(),
                attestations: Vec::new(),
            },
        };
        self.shipment(request, "RecordDomesticShipment", parts)
            .await
    }

    async fn suspend_license(
        &self,
        request: Request<pb::SuspendLicenseRequest>,
    ) -> Result<Response<pb::License>, Status> {
        self.officer(request, "SuspendLicense", OfficerAction::Suspend)
            .await
    }

    async fn reinstate_license(
        &self,
        request: Request<pb::ReinstateLicenseRequest>,
    ) -> Result<Response<pb::License>, Status> {
        self.officer(request, "ReinstateLicense", OfficerAction::Reinstate)
            .await
    }

    async fn revoke_license(
        &self,
        request: Request<pb::RevokeLicenseRequest>,
    ) -> Result<Response<pb::License>, Status> {
        self.officer(request, "RevokeLicense", OfficerAction::Revoke)
            .await
    }
}
