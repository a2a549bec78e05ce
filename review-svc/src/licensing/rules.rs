//! The licensing decisions: issue, draw-down, domestic shipments, the
//! licensing officer's actions and expiry. Pure functions: the licence,
//! the counters it is checked against, the actor and the time in; events
//! (with the counter changes they make) or a typed refusal out.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

use super::model::{
    Attestation, License, LicenseEvent, LicenseItem, LicenseState, LicenseTerms, Shipment,
};
use super::permissions::{check_holder, check_officer};
use super::policy::{cite, Policy};
use super::refusal::{reason, LicenseRefusal};
use crate::workflow::{Actor, Application, Outcome, State};

/// What the classifier said about one item, as issuance needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFacts {
    /// The product's identity (the classifier's name of the chip).
    pub product: String,
    /// TPP of one unit, rounded.
    pub tpp_per_unit: u64,
    /// ICs one unit holds.
    pub ics_per_unit: u64,
}

/// The licence an application that just became final is issued, or `None`
/// when it issues none (not decided, not final, or denied). `products`
/// has one entry per filed item, in order.
pub fn issue(
    policy: &Policy,
    app: &Application,
    products: &[ProductFacts],
    at: DateTime<Utc>,
) -> Option<LicenseEvent> {
    let decision = app.decision.as_ref()?;
    if app.state != State::Decided || !decision.is_final || decision.outcome == Outcome::Deny {
        return None;
    }
    let items = app
        .filed
        .items
        .iter()
        .enumerate()
        .filter(|(index, _)| {
            // Only what needed a licence is licensed.
            app.classifications
                .iter()
                .find(|c| c.item_index as usize == *index)
                .is_none_or(|c| c.license_required)
        })
        .map(|(index, item)| {
            let facts = products.get(index);
            LicenseItem {
                item_index: u32::try_from(index).unwrap_or(u32::MAX),
                product: facts.map(|f| f.product.clone()).unwrap_or_default(),
                tpp_per_unit: facts.map_or(0, |f| f.tpp_per_unit),
                ics_per_unit: facts.map_or(1, |f| f.ics_per_unit),
                authorized_quantity: item.quantity,
                authorized_value_usd_cents: item.quantity.saturating_mul(item.unit_value_usd_cents),
                shipped_quantity: 0,
                shipped_value_usd_cents: 0,
            }
        })
        .collect();
    let route = &app.filed.route;
    let destination = route.destination_country.clone();
    let mut end_user_headquarters: Vec<String> = [
        &route.end_user_headquarters_country,
        &route.ultimate_parent_headquarters_country,
    ]
    .into_iter()
    .filter(|hq| !hq.is_empty())
    .cloned()
    .collect();
    end_user_headquarters.dedup();
    Some(LicenseEvent::LicenseIssued {
        at,
        actor: crate::workflow::SYSTEM_ACTOR.into(),
        terms: LicenseTerms {
            id: app.id.clone(),
            number: license_number(&app.id),
            application: app.id.clone(),
            holder: app.applicant.clone(),
            required_attestations: policy.attestations_for(&destination),
            destination,
            end_user_headquarters,
            end_user: app.filed.end_user_name.clone(),
            end_use: app.filed.end_use_statement.clone(),
            conditions: decision.conditions.clone(),
            items,
            issued_at: at,
            expires_at: policy.expiry(at),
            policy_version: policy.version.clone(),
        },
    })
}

/// The number a licence issued on application `id` carries.
pub fn license_number(id: &str) -> String {
    format!("D-{}", id.to_ascii_uppercase())
}

/// Names of the counters a licence's shipments are checked against and
/// change: units per end user (every product), exported TPP per (holder,
/// product), domestic TPP per (holder, product), domestic reports per
/// (holder, invoice), and exports per (licence, item, export filing).
pub mod counter {
    use service_kit::names::entity_key;
    use unicode_security::confusable_detection::skeleton;

    /// The definition of [`end_user_key`] (with the shared `entity_key`):
    /// raised whenever a name's key may change, so that review-svc moves
    /// the licences and counts stored under the old keys when it starts
    /// (`Ledger::rekey_end_users`). 2: "Co.,Ltd" and "Co.,Limited" are
    /// legal forms.
    pub const END_USER_KEY_VERSION: u32 = 2;

    /// The prefix of the end-user counters. Earlier releases counted per
    /// product, under `end-user-units|{name as written}|{product}` and then
    /// `end-user|{key}|{product}`; the stores add such counters into these
    /// when they open.
    const END_USER_UNITS: &str = "end-user-cap|";

    /// Units shipped to the end user under any of its licences, of every
    /// product: the reported cap is per customer, with MI325-class chips
    /// counting toward it beside the H200 (and a product is only the name
    /// the classifier gives the filed chip, which the applicant chooses).
    pub fn end_user_units(end_user: &str) -> String {
        format!("{END_USER_UNITS}{}", end_user_key(end_user))
    }
    pub fn exported_tpp(holder: &str, product: &str) -> String {
        format!("exported-tpp|{holder}|{product}")
    }
    pub fn domestic_tpp(holder: &str, product: &str) -> String {
        format!("domestic-tpp|{holder}|{product}")
    }
    /// The latest ship date (Unix milliseconds) of the holder's U.S.
    /// domestic shipments of the product: an export dated that day or
    /// later is checked against every one of them, an earlier export only
    /// against those made by the end of its day. Kept as a counter that
    /// each report raises to its date; the ledger sets it from the shipments on record
    /// for a database written before it existed
    /// (`Ledger::count_domestic_shipments`).
    pub fn domestic_latest(holder: &str, product: &str) -> String {
        format!("domestic-latest|{holder}|{product}")
    }
    /// How many domestic shipments the holder reported under this invoice,
    /// of any product (at most one: see `record_domestic_shipment`). The
    /// reference is compared without case or spaces. An earlier release
    /// counted per product, under `domestic-reports|`: those counters are
    /// no longer read, and the ledger counts the invoices of every
    /// domestic shipment on record again under these keys when it starts
    /// (`Ledger::count_domestic_shipments`).
    pub fn domestic_reports(holder: &str, reference: &str) -> String {
        format!("{DOMESTIC_INVOICES}{holder}|{}", reference_key(reference))
    }

    /// The prefix of the invoice counts.
    const DOMESTIC_INVOICES: &str = "domestic-invoices|";

    /// How many exports of item `item_index` of licence `license` were
    /// reported under this export filing (at most one: see
    /// `record_shipment`). The ledger counts the filings of the exports on
    /// record of a database written before this counter existed when it
    /// starts (`Ledger::count_export_filings`).
    pub fn export_filings(license: &str, item_index: u32, reference: &str) -> String {
        format!(
            "export-filings|{license}|{item_index}|{}",
            reference_key(reference)
        )
    }

    /// A reference as reports are compared: without case or spaces.
    fn reference_key(reference: &str) -> String {
        reference
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect()
    }

    /// End users are named by the applicant: every spelling of one
    /// entity's name (the services' shared `entity_key`) is one end user.
    /// A cap errs on the side of counting two names as one, so the key
    /// goes further than the classifier's match: the spaces go ("Example
    /// Cloud" is "ExampleCloud"), and letters that look alike are one
    /// (the skeleton of Unicode's confusables, UTS #39: a Cyrillic "е" or
    /// a "1" for an "l" do not make a new end user).
    ///
    /// The stores keep a key they find as it is, so the key of a key must
    /// be itself; one round is not always (a skeleton may bring back a
    /// capital, or a combining mark the next round drops), so the rounds
    /// repeat until nothing changes, which takes two or three.
    pub fn end_user_key(name: &str) -> String {
        let round = |name: &str| -> String {
            let entity = entity_key(name).replace(' ', "");
            skeleton(&entity).flat_map(char::to_lowercase).collect()
        };
        let mut key = round(name);
        for _ in 0..8 {
            let next = round(&key);
            if next == key {
                break;
            }
            key = next;
        }
        key
    }
}

/// A shipment reported against a licence, as the counters see it.
#[derive(Debug, Clone, Copy)]
pub enum Report<'a> {
    Export(&'a ShipmentRequest),
    Domestic(&'a ShipmentRequest),
}

impl Report<'_> {
    /// The counter that says whether this report was made already: an
    /// export's filing on the licence's item, a domestic shipment's
    /// invoice for the holder.
    pub fn key(self, license: &License) -> String {
        let terms = &license.terms;
        match self {
            Report::Export(r) => counter::export_filings(&terms.id, r.item_index, &r.reference),
            Report::Domestic(r) => counter::domestic_reports(&terms.holder, &r.reference),
        }
    }
}

/// Every counter a licence's writes may read or change, sorted (the
/// order the stores lock them in); with a `report`, also the count of
/// its reports (see [`Report::key`]).
pub fn counter_keys(license: &License, report: Option<Report<'_>>) -> Vec<String> {
    let t = &license.terms;
    let mut keys: Vec<String> = t
        .items
        .iter()
        .flat_map(|item| {
            [
                counter::exported_tpp(&t.holder, &item.product),
                counter::domestic_tpp(&t.holder, &item.product),
                counter::domestic_latest(&t.holder, &item.product),
            ]
        })
        .collect();
    // One per licence, whatever its items: the end user's key is not cheap.
    keys.push(counter::end_user_units(&t.end_user));
    if let Some(report) = report {
        keys.push(report.key(license));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Events to record and the counter changes they make.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recorded {
    pub events: Vec<LicenseEvent>,
    /// (counter, amount to add)
    pub counters: Vec<(String, i64)>,
}

/// A shipment the holder asks to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentRequest {
    pub item_index: u32,
    pub quantity: u64,
    pub value_usd_cents: u64,
    /// Export date (or, for a domestic shipment, ship date).
    pub shipped_at: DateTime<Utc>,
    /// Export filing reference (domestic: invoice or bill of lading).
    pub reference: String,
    /// Domestic shipments only: the U.S. customer.
    pub customer: String,
    pub attestations: Vec<Attestation>,
}

fn count(counters: &HashMap<String, i64>, key: &str) -> u128 {
    u128::try_from(counters.get(key).copied().unwrap_or(0)).unwrap_or(0)
}

/// The largest total a counter keeps: the stores hold counters as signed
/// 64-bit integers, and a sum past it would not read back as one.
const COUNTER_MAX: u128 = i64::MAX as u128;

/// The change adding `amount` to counter `key`, refused when the total
/// would pass what a counter keeps (`what` names the total in words, for
/// the refusal only). The caps bound the export counters long before; the
/// holder's own reports of domestic shipments have no cap.
fn counter_change(
    counters: &HashMap<String, i64>,
    key: String,
    what: impl FnOnce() -> String,
    amount: u128,
) -> Result<(String, i64), LicenseRefusal> {
    let total = count(counters, &key) + amount;
    match i64::try_from(amount) {
        Ok(delta) if total <= COUNTER_MAX => Ok((key, delta)),
        _ => Err(LicenseRefusal::invalid(
            reason::TOTAL_OUT_OF_RANGE,
            "quantity",
            format!(
                "{} would reach {total}, past the largest total kept ({COUNTER_MAX})",
                what()
            ),
        )
        .with("total", total)
        .with("amount", amount)
        .with("maximum", COUNTER_MAX)),
    }
}

/// What `request` records, as shipment `number` of its kind on the
/// licence: of `item`, to `customer`, of `tpp` in all.
fn new_shipment(
    number: u64,
    item: &LicenseItem,
    request: &ShipmentRequest,
    customer: String,
    tpp: u128,
) -> Shipment {
    Shipment {
        number,
        item_index: item.item_index,
        product: item.product.clone(),
        quantity: request.quantity,
        value_usd_cents: request.value_usd_cents,
        shipped_at: request.shipped_at,
        reference: request.reference.clone(),
        customer,
        attestations: request.attestations.clone(),
        tpp: u64::try_from(tpp).unwrap_or(u64::MAX),
    }
}

fn tpp_of(item: &LicenseItem, quantity: u64) -> u128 {
    u128::from(item.tpp_per_unit) * u128::from(quantity)
}

/// Whether `requested` fits in what may still be drawn of an `authorized`
/// amount, widened by `tolerance_percent`, once `shipped` has been; if not,
/// what remains (none when more was drawn).
fn draw(requested: u64, authorized: u64, tolerance_percent: u32, shipped: u64) -> Result<(), u128> {
    let allowed = u128::from(authorized) * u128::from(100 + tolerance_percent) / 100;
    let remaining = allowed.saturating_sub(u128::from(shipped));
    if u128::from(requested) > remaining {
        Err(remaining)
    } else {
        Ok(())
    }
}

fn checked_item(license: &License, index: u32) -> Result<&LicenseItem, LicenseRefusal> {
    license.item(index).ok_or_else(|| {
        LicenseRefusal::invalid(
            reason::ITEM_NOT_ON_LICENSE,
            "item_index",
            format!("item {index} is not on licence {}", license.terms.number),
        )
        .with("itemIndex", index)
    })
}

/// The state a licence is in at `now`: an ACTIVE or SUSPENDED licence
/// whose validity has ended is EXPIRED even before the sweeper records it.
pub fn effective_state(license: &License, now: DateTime<Utc>) -> LicenseState {
    match license.state {
        LicenseState::Active | LicenseState::Suspended if now >= license.terms.expires_at => {
            LicenseState::Expired
        }
        state => state,
    }
}

fn check_active(license: &License, now: DateTime<Utc>) -> Result<(), LicenseRefusal> {
    let state = effective_state(license, now);
    if state == LicenseState::Active {
        return Ok(());
    }
    Err(LicenseRefusal::precondition(
        reason::LICENSE_NOT_ACTIVE,
        format!(
            "licence {} is {}: nothing may be shipped against it",
            license.terms.number,
            state.as_str()
        ),
    )
    .with("state", state.as_str()))
}

/// The end of an export's day (UTC): the domestic shipments made before
/// it count toward the aggregate-TPP cap of the export.
pub fn domestic_cutoff(exported_at: DateTime<Utc>) -> DateTime<Utc> {
    let next_day = exported_at
        .date_naive()
        .succ_opt()
        .unwrap_or(NaiveDate::MAX);
    next_day.and_time(NaiveTime::MIN).and_utc()
}

/// Draws a shipment down against the licence, or refuses it. Checked in
/// this order: who (the holder), the licence's state, the export date
/// (from the day of issue, before the expiry), the item, its export
/// filing (drawn once), quantity and value against what remains (750.11
/// tolerances),
/// the attestations, the per-end-user cap, the aggregate-TPP cap.
///
/// The aggregate-TPP cap (para. (dd)(1)(iii)) holds at the export: the
/// exports are checked against the domestic shipments made by the export
/// date (by the end of its day, as the validity counts it in days). When
/// the holder reported one dated later (an export reported late),
/// `domestic_by_date` must give the domestic TPP of the item's product
/// shipped before [`domestic_cutoff`] (else the decision asks for it,
/// with `DOMESTIC_TPP_BY_DATE_NEEDED`); every export on record counts
/// against it, whatever its date, which errs on the side of the cap.
pub fn record_shipment(
    policy: &Policy,
    license: &License,
    counters: &HashMap<String, i64>,
    actor: &Actor,
    request: &ShipmentRequest,
    domestic_by_date: Option<u128>,
    now: DateTime<Utc>,
) -> Result<Recorded, LicenseRefusal> {
    let terms = &license.terms;
    check_holder(actor, license)?;
    check_active(license, now)?;
    check_made(request, now, "exportTime")?;
    // An export date is a day: the day of issue is within the validity.
    if request.shipped_at.date_naive() < terms.issued_at.date_naive()
        || request.shipped_at >= terms.expires_at
    {
        return Err(LicenseRefusal::precondition(
            reason::OUTSIDE_VALIDITY,
            format!(
                "the export date {} is outside the validity of licence {} ({} to {}; {})",
                request.shipped_at.to_rfc3339(),
                terms.number,
                terms.issued_at.to_rfc3339(),
                terms.expires_at.to_rfc3339(),
                cite(&policy.validity.citation, policy.validity.confirmed)
            ),
        )
        .with("exportTime", request.shipped_at.to_rfc3339())
        .with("issueTime", terms.issued_at.to_rfc3339())
        .with("expireTime", terms.expires_at.to_rfc3339()));
    }
    // Reinstated since, the licence did not authorize what left while it
    // was suspended (15 CFR 750.8), however late it is reported.
    if let Some(suspension) = license.suspended_at(request.shipped_at) {
        let until = suspension.until.map(|t| t.to_rfc3339()).unwrap_or_default();
        return Err(LicenseRefusal::precondition(
            reason::LICENSE_NOT_ACTIVE,
            format!(
                "licence {} was suspended on the export date {} (from {} to {until}): \
                 nothing it authorized could leave then",
                terms.number,
                request.shipped_at.to_rfc3339(),
                suspension.from.to_rfc3339(),
            ),
        )
        .with("state", LicenseState::Suspended.as_str())
        .with("exportTime", request.shipped_at.to_rfc3339())
        .with("suspendedFrom", suspension.from.to_rfc3339())
        .with("suspendedUntil", until));
    }
    let item = checked_item(license, request.item_index)?;
    // One export filing, one draw on the item: the same export reported
    // again (a retry with a new request id) would draw it down twice.
    let filing = Report::Export(request).key(license);
    if count(counters, &filing) > 0 {
        return Err(LicenseRefusal::exists(
            reason::EXPORT_ALREADY_REPORTED,
            format!(
                "an export of item {} under filing {:?} was recorded already against licence {} \
                 (an export filing's line of an item is drawn down once)",
                item.item_index, request.reference, terms.number
            ),
        )
        .with("itemIndex", item.item_index)
        .with("filingReference", &request.reference));
    }
    let tolerance = &policy.tolerance;
    let quantity = draw(
        request.quantity,
        item.authorized_quantity,
        tolerance.quantity_percent,
        item.shipped_quantity,
    );
    if let Err(remaining_quantity) = quantity {
        return Err(LicenseRefusal::precondition(
            reason::QUANTITY_EXCEEDS_REMAINING,
            format!(
                "{} units of item {} requested, {remaining_quantity} remain on licence {} \
                 (no tolerance on the count: {})",
                request.quantity,
                item.item_index,
                terms.number,
                cite(&tolerance.citation, tolerance.confirmed)
            ),
        )
        .with("itemIndex", item.item_index)
        .with("requestedQuantity", request.quantity)
        .with("remainingQuantity", remaining_quantity));
    }
    let value = draw(
        request.value_usd_cents,
        item.authorized_value_usd_cents,
        tolerance.value_percent,
        item.shipped_value_usd_cents,
    );
    if let Err(remaining_value) = value {
        return Err(LicenseRefusal::precondition(
            reason::VALUE_EXCEEDS_REMAINING,
            format!(
                "a value of {} cents requested for item {}, {remaining_value} cents remain on \
                 licence {} with the {}% tolerance ({})",
                request.value_usd_cents,
                item.item_index,
                terms.number,
                tolerance.value_percent,
                cite(&tolerance.citation, tolerance.confirmed)
            ),
        )
        .with("itemIndex", item.item_index)
        .with("requestedValueUsdCents", request.value_usd_cents)
        .with("remainingValueUsdCents", remaining_value));
    }
    for kind in &terms.required_attestations {
        let present = request
            .attestations
            .iter()
            .any(|a| &a.kind == kind && !a.reference.trim().is_empty());
        if !present {
            let rule = policy.attestation(kind);
            return Err(LicenseRefusal::invalid(
                reason::ATTESTATION_REQUIRED,
                "attestations",
                format!(
                    "licence {} requires a {kind} attestation with every shipment{}",
                    terms.number,
                    rule.map(|r| format!(
                        ": {} ({})",
                        r.description,
                        cite(&r.citation, r.confirmed)
                    ))
                    .unwrap_or_default()
                ),
            )
            .with("attestationKind", kind));
        }
    }
    let tpp = tpp_of(item, request.quantity);
    let mut changes = vec![(filing, 1)];
    // The cap counts AI chips: an item without a TPP (an HBM stack,
    // 3A090.c) is none, and does not use a customer's 75,000 up.
    let capped = policy
        .end_user_cap_for(&terms.destination, &terms.end_user_headquarters)
        .filter(|_| item.tpp_per_unit > 0);
    if let Some(cap) = capped {
        let key = counter::end_user_units(&terms.end_user);
        let shipped = count(counters, &key);
        // A unit of a board of eight GPUs is eight units to the cap.
        let units = u128::from(request.quantity) * u128::from(item.ics_per_unit);
        if shipped + units > u128::from(cap.units) {
            return Err(LicenseRefusal::precondition(
                reason::END_USER_CAP_EXCEEDED,
                format!(
                    "{} of {} ({} ICs each) would take end user {:?} to {} units across its \
                     licences, above the cap of {} ({})",
                    request.quantity,
                    item.product,
                    item.ics_per_unit,
                    terms.end_user,
                    shipped + units,
                    cap.units,
                    cite(&cap.citation, cap.confirmed)
                ),
            )
            .with("endUser", &terms.end_user)
            .with("product", &item.product)
            .with("icsPerUnit", item.ics_per_unit)
            .with("shippedUnits", shipped)
            .with("capUnits", cap.units)
            .with("confirmed", cap.confirmed));
        }
        let what = || format!("the units shipped to {:?}", terms.end_user);
        changes.push(counter_change(counters, key, what, units)?);
    }
    if let Some(cap) = policy.tpp_cap_for(&terms.destination) {
        let exported_key = counter::exported_tpp(&terms.holder, &item.product);
        let exported = count(counters, &exported_key);
        let domestic = count(
            counters,
            &counter::domestic_tpp(&terms.holder, &item.product),
        );
        let latest = count(
            counters,
            &counter::domestic_latest(&terms.holder, &item.product),
        );
        let cutoff = domestic_cutoff(request.shipped_at);
        let by_date =
            i128::from(cutoff.timestamp_millis()) <= i128::try_from(latest).unwrap_or(i128::MAX);
        let domestic = match (by_date, domestic_by_date) {
            (false, _) => domestic,
            (true, Some(by_date)) => by_date.min(domestic),
            (true, None) => {
                return Err(LicenseRefusal::precondition(
                    reason::DOMESTIC_TPP_BY_DATE_NEEDED,
                    format!(
                        "the domestic TPP of {} shipped before {} is needed",
                        item.product,
                        cutoff.to_rfc3339()
                    ),
                ))
            }
        };
        let allowed = domestic * u128::from(cap.percent_of_domestic) / 100;
        if exported + tpp > allowed {
            let by = if by_date {
                format!(" by the export date {}", request.shipped_at.date_naive())
            } else {
                String::new()
            };
            let refusal = LicenseRefusal::precondition(
                reason::AGGREGATE_TPP_CAP_EXCEEDED,
                format!(
                    "exports of {} to {} would reach an aggregate TPP of {}, above {}% of the {} \
                     shipped to U.S. customers{by} ({})",
                    item.product,
                    terms.destination,
                    exported + tpp,
                    cap.percent_of_domestic,
                    domestic,
                    cite(&cap.citation, cap.confirmed)
                ),
            )
            .with("product", &item.product)
            .with("exportedTpp", exported)
            .with("shipmentTpp", tpp)
            .with("domesticTpp", domestic)
            .with("percentOfDomestic", cap.percent_of_domestic);
            return Err(if by_date {
                refusal.with("domesticShippedBefore", cutoff.to_rfc3339())
            } else {
                refusal
            });
        }
        let what = || {
            format!(
                "the TPP of {} exported to {}",
                item.product, terms.destination
            )
        };
        changes.push(counter_change(counters, exported_key, what, tpp)?);
    }
    let shipment = new_shipment(
        license.shipments + 1,
        item,
        request,
        terms.end_user.clone(),
        tpp,
    );
    let mut events = vec![LicenseEvent::ShipmentRecorded {
        at: now,
        actor: actor.id.clone(),
        license: terms.id.clone(),
        shipment,
    }];
    let after = super::apply(Some(license.clone()), &events[0]);
    if after.is_some_and(|l| l.nothing_remains()) {
        events.push(LicenseEvent::LicenseExhausted {
            at: now,
            actor: crate::workflow::SYSTEM_ACTOR.into(),
            license: terms.id.clone(),
        });
    }
    Ok(Recorded {
        events,
        counters: changes,
    })
}

/// Records a U.S. domestic shipment of a product on the licence (for the
/// aggregate-TPP cap). The holder only; in any state of the licence (it
/// reports what happened in the United States, not an export).
pub fn record_domestic_shipment(
    license: &License,
    counters: &HashMap<String, i64>,
    actor: &Actor,
    request: &ShipmentRequest,
    now: DateTime<Utc>,
) -> Result<Recorded, LicenseRefusal> {
    check_holder(actor, license)?;
    check_made(request, now, "shipTime")?;
    let item = checked_item(license, request.item_index)?;
    let holder = &license.terms.holder;
    // One invoice, one report: the same shipment reported again (a retry
    // with a new request id, on another licence, or as another product, a
    // name the applicant chose) would count its TPP twice toward the caps.
    let reports = Report::Domestic(request).key(license);
    if count(counters, &reports) > 0 {
        return Err(LicenseRefusal::exists(
            reason::DOMESTIC_SHIPMENT_ALREADY_REPORTED,
            format!(
                "a U.S. domestic shipment under reference {:?} was reported already by {holder} \
                 (each invoice, or each line of one under a reference of its own, is reported \
                 once, whatever its product)",
                request.reference
            ),
        )
        .with("product", &item.product)
        .with("reference", &request.reference));
    }
    let tpp = tpp_of(item, request.quantity);
    let change = counter_change(
        counters,
        counter::domestic_tpp(holder, &item.product),
        || format!("the TPP of {} shipped to U.S. customers", item.product),
        tpp,
    )?;
    // Raised to this ship date when it is the latest: a counter only adds.
    let latest_key = counter::domestic_latest(holder, &item.product);
    let latest = i128::try_from(count(counters, &latest_key)).unwrap_or(i128::MAX);
    let later_by = i128::from(request.shipped_at.timestamp_millis()) - latest;
    let mut changes = vec![change, (reports, 1)];
    if later_by > 0 {
        changes.push((latest_key, i64::try_from(later_by).unwrap_or(0)));
    }
    let shipment = new_shipment(
        license.domestic_shipments + 1,
        item,
        request,
        request.customer.clone(),
        tpp,
    );
    Ok(Recorded {
        counters: changes,
        events: vec![LicenseEvent::DomesticShipmentRecorded {
            at: now,
            actor: actor.id.clone(),
            license: license.terms.id.clone(),
            shipment,
        }],
    })
}

/// How far a shipment's date may run ahead of the clock that records it:
/// the holder's clock and this service's differ a little.
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// A shipment is reported once it has been made. A date still to come
/// would draw down a licence for what has not left, and a domestic
/// shipment not yet made would raise the aggregate-TPP cap, which counts
/// what was shipped to U.S. customers (para. (dd)(1)(iii)), before it
/// was. `time_key` names the date in the refusal's metadata.
fn check_made(
    request: &ShipmentRequest,
    now: DateTime<Utc>,
    time_key: &'static str,
) -> Result<(), LicenseRefusal> {
    if request.shipped_at <= now + CLOCK_SKEW {
        return Ok(());
    }
    Err(LicenseRefusal::precondition(
        reason::DATED_IN_THE_FUTURE,
        format!(
            "the shipment is dated {}, after the time it is reported ({}): report a shipment \
             once it has been made",
            request.shipped_at.to_rfc3339(),
            now.to_rfc3339()
        ),
    )
    .with(time_key, request.shipped_at.to_rfc3339())
    .with("recordTime", now.to_rfc3339()))
}

/// What the licensing officer does to a licence (15 CFR 750.8: without notice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfficerAction {
    Suspend,
    Reinstate,
    Revoke,
}

impl OfficerAction {
    pub fn name(self) -> &'static str {
        match self {
            OfficerAction::Suspend => "suspend",
            OfficerAction::Reinstate => "reinstate",
            OfficerAction::Revoke => "revoke",
        }
    }
}

/// Suspends (ACTIVE), reinstates (SUSPENDED, before expiry) or revokes
/// (ACTIVE or SUSPENDED) a licence, with a reason. A revoked licence
/// never comes back.
pub fn officer_action(
    license: &License,
    actor: &Actor,
    action: OfficerAction,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Recorded, LicenseRefusal> {
    check_officer(actor, license)?;
    let state = effective_state(license, now);
    let number = &license.terms.number;
    let refuse = |reason: &'static str, detail: String| {
        Err(LicenseRefusal::precondition(reason, detail).with("state", state.as_str()))
    };
    match (action, state) {
        (_, LicenseState::Revoked) => {
            return refuse(
                reason::LICENSE_REVOKED,
                format!("licence {number} is revoked: a revocation is final"),
            )
        }
        (_, LicenseState::Expired | LicenseState::Exhausted) => {
            return refuse(
                reason::LICENSE_CLOSED,
                format!(
                    "licence {number} is {}: nothing more can happen to it",
                    state.as_str()
                ),
            )
        }
        (OfficerAction::Suspend, LicenseState::Suspended) => {
            return refuse(
                reason::LICENSE_NOT_ACTIVE,
                format!("licence {number} is already suspended"),
            )
        }
        (OfficerAction::Reinstate, LicenseState::Active) => {
            return refuse(
                reason::LICENSE_NOT_SUSPENDED,
                format!("licence {number} is not suspended"),
            )
        }
        _ => {}
    }
    if why.trim().is_empty() {
        return Err(LicenseRefusal::invalid(
            reason::REASON_REQUIRED,
            "reason",
            format!("a reason is required to {} a licence", action.name()),
        ));
    }
    let (at, actor, license, reason) = (
        now,
        actor.id.clone(),
        license.terms.id.clone(),
        why.trim().to_owned(),
    );
    let event = match action {
        OfficerAction::Suspend => LicenseEvent::LicenseSuspended {
            at,
            actor,
            license,
            reason,
        },
        OfficerAction::Reinstate => LicenseEvent::LicenseReinstated {
            at,
            actor,
            license,
            reason,
        },
        OfficerAction::Revoke => LicenseEvent::LicenseRevoked {
            at,
            actor,
            license,
            reason,
        },
    };
    Ok(Recorded {
        events: vec![event],
        counters: Vec::new(),
    })
}

/// The sweeper's work on a licence: EXPIRED once its validity has ended
/// (from ACTIVE or SUSPENDED). Nothing otherwise.
pub fn sweep(license: &License, now: DateTime<Utc>) -> Vec<LicenseEvent> {
    if matches!(
        license.state,
        LicenseState::Active | LicenseState::Suspended
    ) && now >= license.terms.expires_at
    {
        vec![LicenseEvent::LicenseExpired {
            at: now,
            actor: crate::workflow::SYSTEM_ACTOR.into(),
            license: license.terms.id.clone(),
            expired_at: license.terms.expires_at,
        }]
    } else {
        Vec::new()
    }
}
