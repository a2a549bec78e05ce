//! The record of licences: issued with the final approval, then changed
//! by shipments, the licensing officer and the sweeper. Every change is
//! decided by [`crate::licensing`] inside the store's transaction, on the
//! licence and counters as locked there (see [`crate::store::licenses`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::{from_millis, Ledger, LedgerError, RequestKey};
use crate::licensing::rules::counter;
use crate::licensing::{
    self, counter_keys, License, LicenseEvent, LicenseRefusal, OfficerAction, ProductFacts,
    Recorded, Report, Shipment, ShipmentRequest,
};
use crate::record::{self, license as license_record};
use crate::store::{
    Decide, EndUserRekey, IdempotentRequest, KeyCursor, LicenseFilter, LicenseOutcome, LicenseRow,
    LicenseView, LicenseWrite, NewEvent, ShipmentFilter, ShipmentRow,
};
use crate::workflow::{self, Actor, Application, Chip, Event, Outcome, State};

/// A shipment as recorded, with where it belongs.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedShipment {
    pub license: String,
    pub holder: String,
    pub domestic: bool,
    pub shipment: Shipment,
    pub recorded_at: DateTime<Utc>,
}

/// What a licence write answers: the licence after it, and the shipment
/// it recorded, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseAnswer {
    pub license: License,
    pub shipment: Option<RecordedShipment>,
}

/// What a request record keeps of a licence write's answer.
#[derive(serde::Serialize, serde::Deserialize)]
struct Answered {
    license: String,
    version: i64,
    #[serde(default)]
    shipment: Option<Shipment>,
    #[serde(default)]
    domestic: bool,
    #[serde(default)]
    recorded_at: i64,
}

const EXPORT: &str = "EXPORT";
const DOMESTIC: &str = "DOMESTIC";

fn unreadable_license(id: &str, error: impl std::fmt::Display) -> LedgerError {
    LedgerError::Internal(format!("licence {id} unreadable: {error}"))
}

/// The row a licence is stored as.
pub(crate) fn license_row(license: &License) -> LicenseRow {
    let t = &license.terms;
    LicenseRow {
        id: t.id.clone(),
        application_id: t.application.clone(),
        version: license.version,
        holder: t.holder.clone(),
        state: license.state.as_str().to_owned(),
        destination: t.destination.clone(),
        end_user: counter::end_user_key(&t.end_user),
        issued_at: t.issued_at.timestamp_millis(),
        expires_at: t.expires_at.timestamp_millis(),
        updated_at: license.updated_at.timestamp_millis(),
        snapshot: license_record::encode_license(license),
    }
}

fn read_shipment(row: &ShipmentRow) -> Result<RecordedShipment, LedgerError> {
    Ok(RecordedShipment {
        license: row.license_id.clone(),
        holder: row.holder.clone(),
        domestic: row.kind == DOMESTIC,
        shipment: license_record::decode_shipment(&row.details)
            .map_err(|e| unreadable_license(&row.license_id, e))?,
        recorded_at: from_millis(row.recorded_at),
    })
}

fn read_license(row: &LicenseRow) -> Result<License, LedgerError> {
    license_record::decode_license(&row.snapshot).map_err(|e| unreadable_license(&row.id, e))
}

/// The product, TPP and ICs per unit of each filed item, from the
/// classifier's answers (the catalogue name when the classifier gave none).
fn products(app: &Application) -> Vec<ProductFacts> {
    app.filed
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let answer = app
                .classifications
                .iter()
                .find(|c| c.item_index as usize == index)
                .and_then(|c| crate::convert::answer(&c.answer));
            let product = answer
                .as_ref()
                .map(|a| a.item_name.clone())
                .filter(|name| !name.is_empty())
                .or_else(|| match &item.chip {
                    Chip::Catalog(name) => Some(name.clone()),
                    Chip::Spec(_) => None,
                })
                .unwrap_or_else(|| format!("item {index}"));
            let classification = answer.and_then(|a| a.classification);
            // An answer from before the classifier counted a unit's ICs
            // has none: the ICs the filing says the item contains.
            let (ics_per_unit, unit_tpp) = match &classification {
                Some(c) if c.ics_per_unit > 0 => (u64::from(c.ics_per_unit), c.tpp_per_unit),
                Some(c) => {
                    let ics = filed_ics_per_unit(&item.chip);
                    (ics, c.tpp * ics as f64)
                }
                None => (filed_ics_per_unit(&item.chip), 0.0),
            };
            let tpp_per_unit = Some(unit_tpp)
                .filter(|tpp| tpp.is_finite() && *tpp > 0.0)
                .map_or(0, |tpp| tpp.round() as u64);
            ProductFacts {
                product,
                tpp_per_unit,
                ics_per_unit,
            }
        })
        .collect()
}

/// ICs other than memory stacks in one unit of a chip filed by its
/// specifications (1 for an IC, and for a catalogue name, which only the
/// classifier can read).
fn filed_ics_per_unit(chip: &Chip) -> u64 {
    use exportcontrol_proto::classifier::v1::{
        classify_item_request::Item, contained_integrated_circuit::Ic, ItemKind,
    };
    let Some(Item::Spec(spec)) = crate::convert::chip(chip) else {
        return 1;
    };
    let ics: u64 = spec
        .contained_ics
        .iter()
        .filter(|c| match &c.ic {
            Some(Ic::Spec(s)) => s.kind() != ItemKind::HbmStack,
            _ => true,
        })
        .map(|c| u64::from(c.count))
        .sum();
    ics.max(1)
}

fn new_event(event: LicenseEvent) -> NewEvent {
    let event = Event::License(Box::new(event));
    NewEvent {
        kind: event.kind().to_owned(),
        actor: event.actor().to_owned(),
        at: event.at().timestamp_millis(),
        details: record::encode_event(&event),
    }
}

impl Ledger {
    /// What licences allow (`licensing.toml`).
    pub fn policy(&self) -> &licensing::Policy {
        &self.policy
    }

    /// When the events make `current` final with an approval, appends the
    /// licence's issue to them (and to `app`) and gives the licence's row.
    pub(super) async fn issue(
        &self,
        current: &Application,
        app: &mut Application,
        events: &mut Vec<Event>,
    ) -> Result<Option<LicenseRow>, LedgerError> {
        let approved = app
            .decision
            .as_ref()
            .is_some_and(|d| d.is_final && d.outcome != Outcome::Deny);
        if current.is_closed() || app.state != State::Decided || !approved {
            return Ok(None);
        }
        // The sweeper reads applications without what was filed.
        if app.filed.items.is_empty() {
            let documented = self.get(&app.id).await?;
            app.filed = documented.filed;
            app.classifications = documented.classifications;
        }
        let at = events.last().map_or(app.updated_at, Event::at);
        let Some(issued) = licensing::issue(&self.policy, app, &products(app), at) else {
            return Ok(None);
        };
        let license = licensing::apply(None, &issued)
            .ok_or_else(|| LedgerError::Internal("an issue made no licence".into()))?;
        let event = Event::License(Box::new(issued));
        *app = workflow::apply(Some(app.clone()), &event);
        events.push(event);
        Ok(Some(license_row(&license)))
    }

    /// One licence.
    pub async fn license(&self, id: &str) -> Result<License, LedgerError> {
        let row = self
            .store
            .get_license(id)
            .await?
            .ok_or_else(|| LedgerError::LicenseNotFound(id.to_owned()))?;
        read_license(&row)
    }

    pub async fn licenses(
        &self,
        filter: &LicenseFilter,
        after: Option<&KeyCursor>,
        limit: u32,
    ) -> Result<Vec<License>, LedgerError> {
        // An end user is found under every spelling of its name.
        let filter = LicenseFilter {
            end_user: filter.end_user.as_deref().map(counter::end_user_key),
            ..filter.clone()
        };
        let rows = self.store.list_licenses(&filter, after, limit).await?;
        rows.iter().map(read_license).collect()
    }

    pub async fn shipments(
        &self,
        filter: &ShipmentFilter,
        after: Option<&KeyCursor>,
        limit: u32,
    ) -> Result<Vec<RecordedShipment>, LedgerError> {
        let rows = self.store.list_shipments(filter, after, limit).await?;
        rows.iter().map(read_shipment).collect()
    }

    /// Counts what the domestic shipments earlier releases recorded left
    /// uncounted: their invoices (none counted, or counted per product;
    /// see `record_domestic_shipment`), so that none can be reported
    /// again, and the latest ship date of each holder's product (see
    /// `counter::domestic_latest`). Returns how many shipments it read.
    pub async fn count_domestic_shipments(&self) -> Result<usize, LedgerError> {
        self.count_shipments_once(DOMESTIC, "domestic-shipments|counted", |s, values| {
            let invoice = counter::domestic_reports(&s.holder, &s.shipment.reference);
            values.insert(invoice, 1);
            let latest = values
                .entry(counter::domestic_latest(&s.holder, &s.shipment.product))
                .or_insert(0);
            *latest = s.shipment.shipped_at.timestamp_millis().max(*latest);
        })
        .await
    }

    /// Counts the export filings of the exports earlier releases recorded
    /// (see `counter::export_filings`), so that none is drawn down again.
    /// Returns how many exports it read.
    pub async fn count_export_filings(&self) -> Result<usize, LedgerError> {
        self.count_shipments_once(EXPORT, "export-filings|counted", |s, values| {
            let filing =
                counter::export_filings(&s.license, s.shipment.item_index, &s.shipment.reference);
            values.insert(filing, 1);
        })
        .await
    }

    /// Walks the shipments of `kind` on record and raises the counters
    /// `count` finds for each page. Once per database (the counter `done`
    /// says it was done); raising a counter twice to the same value is
    /// raising it once, so a walk cut short is simply walked again.
    async fn count_shipments_once(
        &self,
        kind: &str,
        done: &str,
        count: impl Fn(&RecordedShipment, &mut HashMap<String, i64>),
    ) -> Result<usize, LedgerError> {
        if self.walked(done).await? {
            return Ok(0);
        }
        let filter = ShipmentFilter {
            kind: Some(kind.to_owned()),
            ..ShipmentFilter::default()
        };
        let (mut after, mut read) = (None, 0);
        loop {
            let page = self.shipments_page(&filter, &mut after).await?;
            if page.is_empty() {
                break;
            }
            let mut values = HashMap::new();
            for s in &page {
                count(s, &mut values);
            }
            let values: Vec<(String, i64)> = values.into_iter().collect();
            self.store.raise_counters(&values).await?;
            read += page.len();
        }
        self.mark_walked(done).await?;
        Ok(read)
    }

    /// Whether the walk of the database a marker counter names was done.
    async fn walked(&self, marker: &str) -> Result<bool, LedgerError> {
        let marker = marker.to_owned();
        let counters = self
            .store
            .license_counters(std::slice::from_ref(&marker))
            .await?;
        Ok(counters.get(&marker).is_some_and(|count| *count > 0))
    }

    /// Records that the walk `marker` names was done (after its work, so
    /// that a walk cut short is walked again).
    async fn mark_walked(&self, marker: &str) -> Result<(), LedgerError> {
        self.store.raise_counters(&[(marker.to_owned(), 1)]).await?;
        Ok(())
    }

    /// Moves the licences whose end user's stored key is no longer the key
    /// of its name: when `counter::end_user_key` learns a spelling it did
    /// not know, the cap counted under the old key must not start again
    /// from nothing under the new one. Once for each definition of the
    /// key (a marker counter names the version walked). Returns how many
    /// licences moved.
    pub async fn rekey_end_users(&self) -> Result<usize, LedgerError> {
        let done = format!("end-user-keys|walked-v{}", counter::END_USER_KEY_VERSION);
        if self.walked(&done).await? {
            return Ok(0);
        }
        let (mut after, mut moves) = (None, Vec::new());
        loop {
            let rows = self
                .store
                .list_licenses(&LicenseFilter::default(), after.as_ref(), 500)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(KeyCursor {
                at: last.issued_at,
                id: last.id.clone(),
            });
            for row in &rows {
                let key = counter::end_user_key(&read_license(row)?.terms.end_user);
                if key != row.end_user {
                    moves.push(EndUserRekey {
                        license_id: row.id.clone(),
                        from: row.end_user.clone(),
                        to: key,
                    });
                }
            }
        }
        let moved = self.store.move_end_user_keys(&moves).await?;
        self.mark_walked(&done).await?;
        Ok(moved)
    }

    /// The next page of the shipments `filter` selects, oldest first,
    /// after `after`, which it moves on.
    async fn shipments_page(
        &self,
        filter: &ShipmentFilter,
        after: &mut Option<KeyCursor>,
    ) -> Result<Vec<RecordedShipment>, LedgerError> {
        let rows = self
            .store
            .list_shipments(filter, after.as_ref(), 500)
            .await?;
        if let Some(last) = rows.last() {
            *after = Some(KeyCursor {
                at: last.shipped_at,
                id: last.id.clone(),
            });
        }
        rows.iter().map(read_shipment).collect()
    }

    /// The TPP of the U.S. domestic shipments of the product of the
    /// licence's item `request.item_index` its holder made by the
    /// request's date (before `licensing::domestic_cutoff`), from the
    /// shipments on record. Reports are never taken back, so what is read
    /// before a write is at most what the write would see: a cap checked
    /// against it errs on its side.
    async fn domestic_tpp_by_date(
        &self,
        id: &str,
        request: &ShipmentRequest,
    ) -> Result<u128, LedgerError> {
        let license = self.license(id).await?;
        let Some(item) = license.item(request.item_index) else {
            return Ok(0);
        };
        let filter = ShipmentFilter {
            holder: Some(license.terms.holder.clone()),
            kind: Some(DOMESTIC.to_owned()),
            to: Some(licensing::domestic_cutoff(request.shipped_at).timestamp_millis()),
            ..ShipmentFilter::default()
        };
        let (mut after, mut total) = (None, 0u128);
        loop {
            let page = self.shipments_page(&filter, &mut after).await?;
            if page.is_empty() {
                break;
            }
            total += page
                .iter()
                .filter(|s| s.shipment.product == item.product)
                .map(|s| u128::from(s.shipment.tpp))
                .sum::<u128>();
        }
        Ok(total)
    }

    /// The holder records an export (or, `domestic`, a U.S. domestic
    /// shipment) against licence `id`.
    pub async fn record_shipment(
        &self,
        id: &str,
        actor: &Actor,
        request: ShipmentRequest,
        domestic: bool,
        key: Option<&RequestKey>,
        now: DateTime<Utc>,
    ) -> Result<LicenseAnswer, LedgerError> {
        let report = if domestic {
            Report::Domestic(&request)
        } else {
            Report::Export(&request)
        };
        let draw = |domestic_by_date: Option<u128>| {
            let policy = Arc::clone(&self.policy);
            let actor = actor.clone();
            let request = request.clone();
            self.change(id, key, None, Some(report), move |license, counters| {
                if domestic {
                    licensing::record_domestic_shipment(license, counters, &actor, &request, now)
                } else {
                    licensing::record_shipment(
                        &policy,
                        license,
                        counters,
                        &actor,
                        &request,
                        domestic_by_date,
                        now,
                    )
                }
            })
        };
        match draw(None).await {
            // An export dated before a domestic shipment the holder
            // reported: decided again with what was shipped by its date.
            Err(LedgerError::LicenseRefused(refusal))
                if refusal.reason == licensing::reason::DOMESTIC_TPP_BY_DATE_NEEDED =>
            {
                let by_date = self.domestic_tpp_by_date(id, &request).await?;
                draw(Some(by_date)).await
            }
            answer => answer,
        }
    }

    /// The licensing officer suspends, reinstates or revokes licence `id`.
    #[allow(clippy::too_many_arguments)]
    pub async fn license_action(
        &self,
        id: &str,
        actor: &Actor,
        action: OfficerAction,
        reason: &str,
        expected_version: Option<i64>,
        key: Option<&RequestKey>,
        now: DateTime<Utc>,
    ) -> Result<LicenseAnswer, LedgerError> {
        let actor = actor.clone();
        let reason = reason.to_owned();
        self.change(id, key, expected_version, None, move |license, _| {
            licensing::officer_action(license, &actor, action, &reason, now)
        })
        .await
    }

    /// Records the expiry of every licence whose validity has ended;
    /// returns how many.
    pub async fn sweep_licenses(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<usize, LedgerError> {
        let due = self
            .store
            .licenses_due(now.timestamp_millis(), limit)
            .await?;
        let mut expired = 0;
        for row in due {
            let outcome = self
                .change(&row.id, None, None, None, move |license, _| {
                    let events = licensing::sweep(license, now);
                    if events.is_empty() {
                        // Another process did it first.
                        return Err(LicenseRefusal::precondition(
                            licensing::reason::LICENSE_CLOSED,
                            "nothing to sweep",
                        ));
                    }
                    Ok(Recorded {
                        events,
                        counters: Vec::new(),
                    })
                })
                .await;
            match outcome {
                Ok(_) => expired += 1,
                Err(LedgerError::LicenseRefused(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// A licence change decided by `rule` on the licence and counters as
    /// the store's transaction holds them (with a `report`, also the count
    /// of its reports).
    async fn change<F>(
        &self,
        id: &str,
        key: Option<&RequestKey>,
        expected_version: Option<i64>,
        report: Option<Report<'_>>,
        rule: F,
    ) -> Result<LicenseAnswer, LedgerError>
    where
        F: Fn(&License, &HashMap<String, i64>) -> Result<Recorded, LicenseRefusal>
            + Send
            + Sync
            + 'static,
    {
        // A retry is answered before anything else, as the first call was.
        if let Some(key) = key {
            match self.store.find_request(&key.id).await? {
                Some((fingerprint, response)) if fingerprint == key.fingerprint => {
                    return self.answer_license_again(&response).await
                }
                Some(_) => return Err(LedgerError::RequestIdReused(key.id.clone())),
                None => {}
            }
        }
        // The counters a licence touches follow from its terms, which
        // never change (and the report's filing or invoice): read once,
        // locked in the transaction.
        let known = self.license(id).await?;
        let keys = counter_keys(&known, report);
        type Slot = Arc<Mutex<Option<Result<LicenseAnswer, LedgerError>>>>;
        let slot: Slot = Arc::new(Mutex::new(None));
        let decided = Arc::clone(&slot);
        let decide: Decide = Arc::new(move |view: &LicenseView| {
            let (answer, write) = match decide_on(view, &known, expected_version, &rule) {
                Ok((answer, write)) => (Ok(answer), Some(write)),
                Err(e) => (Err(e), None),
            };
            *decided.lock().unwrap_or_else(|p| p.into_inner()) = Some(answer);
            write
        });
        let request = key.map(|key| IdempotentRequest {
            request_id: key.id.clone(),
            fingerprint: key.fingerprint.clone(),
            // Replaced by the decision's answer (`LicenseWrite::response`).
            response: String::new(),
        });
        let outcome = self
            .store
            .change_license(id, &keys, request.as_ref(), decide)
            .await?;
        match outcome {
            LicenseOutcome::Replayed { response } => self.answer_license_again(&response).await,
            LicenseOutcome::Committed | LicenseOutcome::Declined => {
                let answer = slot
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .ok_or_else(|| {
                        LedgerError::Internal("a licence change was not decided".into())
                    })?;
                if outcome == LicenseOutcome::Committed {
                    // A licence's id is its application's.
                    self.signals.written([id]);
                }
                answer
            }
        }
    }

    /// The answer a licence write gave first, from its request record.
    async fn answer_license_again(&self, recorded: &str) -> Result<LicenseAnswer, LedgerError> {
        let answered = serde_json::from_str::<Answered>(recorded)
            .map_err(|e| LedgerError::Internal(format!("request record unreadable: {e}")))?;
        let current = self.license(&answered.license).await?;
        let license = if current.version == answered.version {
            current
        } else {
            // The licence has moved on: fold its history to that version.
            let application = current.terms.application.clone();
            let stored = self
                .store
                .events_of_kinds(&[application.as_str()], LicenseEvent::KINDS)
                .await?;
            let mut license = None;
            for event in &stored {
                if let Event::License(event) = super::decode(event)? {
                    license = licensing::apply(license, &event);
                    if license
                        .as_ref()
                        .is_some_and(|l| l.version >= answered.version)
                    {
                        break;
                    }
                }
            }
            license
                .filter(|l| l.version == answered.version)
                .ok_or_else(|| {
                    LedgerError::Internal(format!(
                        "history of licence {} does not reach version {}",
                        answered.license, answered.version
                    ))
                })?
        };
        Ok(LicenseAnswer {
            shipment: answered.shipment.map(|shipment| RecordedShipment {
                license: license.terms.id.clone(),
                holder: license.terms.holder.clone(),
                domestic: answered.domestic,
                shipment,
                recorded_at: from_millis(answered.recorded_at),
            }),
            license,
        })
    }
}

/// Decides a change on the locked view: the licence after it and what to write.
///
/// `known` is the licence as read before the write was queued: when the
/// locked row still has its version (a licence's snapshot and version are
/// written together, so the snapshot is the same), it is used as it is
/// instead of decoding the snapshot again inside the writer, which runs
/// one decision after the other. That is the common case when shipments
/// are spread over many licences; a licence changed in between (one hot
/// licence) is decoded from the locked row.
fn decide_on<F>(
    view: &LicenseView,
    known: &License,
    expected_version: Option<i64>,
    rule: &F,
) -> Result<(LicenseAnswer, LicenseWrite), LedgerError>
where
    F: Fn(&License, &HashMap<String, i64>) -> Result<Recorded, LicenseRefusal>,
{
    let decoded;
    let license = if view.row.version == known.version && view.row.id == known.terms.id {
        known
    } else {
        decoded = read_license(&view.row)?;
        &decoded
    };
    let recorded = rule(license, &view.counters).map_err(LedgerError::LicenseRefused)?;
    // Who may act is decided before the etag is compared: the etag tells
    // nothing to whom the licence is not shown.
    if let Some(expected) = expected_version {
        if expected != license.version {
            return Err(LedgerError::EtagMismatch {
                current: license.version,
            });
        }
    }
    let after = recorded
        .events
        .iter()
        .fold(Some(license.clone()), licensing::apply)
        .ok_or_else(|| LedgerError::Internal("a change left no licence".into()))?;
    let mut shipments = Vec::new();
    let mut shipment = None;
    for event in &recorded.events {
        let (domestic, s, at, actor) = match event {
            LicenseEvent::ShipmentRecorded {
                shipment,
                at,
                actor,
                ..
            } => (false, shipment, at, actor),
            LicenseEvent::DomesticShipmentRecorded {
                shipment,
                at,
                actor,
                ..
            } => (true, shipment, at, actor),
            _ => continue,
        };
        let _ = actor;
        shipments.push(ShipmentRow {
            id: crate::grpc::licenses::convert::shipment_id(&license.terms.id, domestic, s.number),
            license_id: license.terms.id.clone(),
            holder: license.terms.holder.clone(),
            kind: if domestic { DOMESTIC } else { EXPORT }.to_owned(),
            shipped_at: s.shipped_at.timestamp_millis(),
            recorded_at: at.timestamp_millis(),
            details: license_record::encode_shipment(s),
        });
        shipment = Some(RecordedShipment {
            license: license.terms.id.clone(),
            holder: license.terms.holder.clone(),
            domestic,
            shipment: s.clone(),
            recorded_at: *at,
        });
    }
    let response = serde_json::to_string(&Answered {
        license: license.terms.id.clone(),
        version: after.version,
        shipment: shipment.as_ref().map(|s| s.shipment.clone()),
        domestic: shipment.as_ref().is_some_and(|s| s.domestic),
        recorded_at: shipment
            .as_ref()
            .map_or(0, |s| s.recorded_at.timestamp_millis()),
    })
    .map_err(|e| LedgerError::Internal(e.to_string()))?;
    let write = LicenseWrite {
        row: license_row(&after),
        events: recorded.events.into_iter().map(new_event).collect(),
        shipments,
        counters: recorded.counters,
        response: Some(response),
    };
    Ok((
        LicenseAnswer {
            license: after,
            shipment,
        },
        write,
    ))
}
