//! Draw-down, officer actions and expiry, table by table.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::rules::counter;
use super::*;
use crate::workflow::{Actor, Role};

pub(super) fn t(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::days(day)
}

pub(super) fn policy() -> Policy {
    Policy::embedded(Duration::days(1))
}

pub(super) fn license(destination: &str) -> License {
    let terms = LicenseTerms {
        id: "app-1".into(),
        number: license_number("app-1"),
        application: "app-1".into(),
        holder: "exporter-1".into(),
        destination: destination.into(),
        end_user_headquarters: Vec::new(),
        end_user: "Example Cloud Co.".into(),
        end_use: "inference".into(),
        conditions: vec!["no transfer of model weights".into()],
        required_attestations: policy().attestations_for(destination),
        items: vec![LicenseItem {
            item_index: 0,
            product: "H200".into(),
            tpp_per_unit: 15_832,
            ics_per_unit: 1,
            authorized_quantity: 100,
            authorized_value_usd_cents: 100 * 3_000_000,
            shipped_quantity: 0,
            shipped_value_usd_cents: 0,
        }],
        issued_at: t(0),
        expires_at: policy().expiry(t(0)),
        policy_version: policy().version,
    };
    apply(
        None,
        &LicenseEvent::LicenseIssued {
            at: t(0),
            actor: "system".into(),
            terms,
        },
    )
    .expect("issued")
}

pub(super) fn holder() -> Actor {
    Actor::new("exporter-1", Role::Applicant, None)
}

pub(super) fn shipment(quantity: u64) -> ShipmentRequest {
    ShipmentRequest {
        item_index: 0,
        quantity,
        value_usd_cents: quantity.saturating_mul(3_000_000),
        shipped_at: t(1),
        reference: "AES X20260301000001".into(),
        customer: String::new(),
        attestations: vec![Attestation {
            kind: "US_LAB_TEST_REPORT".into(),
            reference: "LAB-1".into(),
        }],
    }
}

/// Counters with enough domestic TPP for every export of 100 H200.
fn domestic_plenty() -> HashMap<String, i64> {
    HashMap::from([(counter::domestic_tpp("exporter-1", "H200"), 10_000_000)])
}

fn refusal(result: Result<Recorded, LicenseRefusal>) -> &'static str {
    result.expect_err("refused").reason
}

/// The holder ships `quantity` H200 on `lic` on day `day`, with no counters.
fn ship(lic: &License, quantity: u64, day: i64) -> Result<Recorded, LicenseRefusal> {
    record_shipment(
        &policy(),
        lic,
        &HashMap::new(),
        &holder(),
        &shipment(quantity),
        None,
        t(day),
    )
}

#[test]
fn a_shipment_draws_down_and_the_last_exhausts() {
    let lic = license("DE");
    let done = ship(&lic, 60, 1).expect("shipped");
    assert_eq!(done.events.len(), 1);
    let filing = Report::Export(&shipment(60)).key(&lic);
    assert_eq!(
        done.counters,
        [(filing, 1)],
        "no caps outside China and Macau: only the filing is counted"
    );
    let lic = done.events.iter().fold(Some(lic), apply).unwrap();
    assert_eq!(lic.terms.items[0].shipped_quantity, 60);
    assert_eq!(lic.shipments, 1);
    let done = ship(&lic, 40, 2).expect("shipped");
    assert_eq!(done.events.len(), 2);
    let lic = done.events.iter().fold(Some(lic), apply).unwrap();
    assert_eq!(lic.state, LicenseState::Exhausted);
    assert_eq!(refusal(ship(&lic, 1, 3)), reason::LICENSE_NOT_ACTIVE);
}

/// Expected reason, licence, actor, request, counters, time.
type Case<'a> = (
    &'static str,
    &'a License,
    &'a Actor,
    ShipmentRequest,
    HashMap<String, i64>,
    DateTime<Utc>,
);

#[test]
fn every_refusal_reason() {
    let p = policy();
    let cn = license("CN");
    let plenty = domestic_plenty();
    let other = Actor::new("exporter-2", Role::Applicant, None);
    let officer = Actor::new("lo", Role::LicensingOfficer, None);
    let h = holder();
    let suspended = apply(
        Some(cn.clone()),
        &LicenseEvent::LicenseSuspended {
            at: t(1),
            actor: "lo".into(),
            license: "app-1".into(),
            reason: "check".into(),
        },
    )
    .unwrap();
    let with = |f: &dyn Fn(&mut ShipmentRequest)| {
        let mut s = shipment(10);
        f(&mut s);
        s
    };
    let cases: Vec<Case> = vec![
        (
            reason::NOT_YOUR_LICENSE,
            &cn,
            &other,
            shipment(10),
            plenty.clone(),
            t(1),
        ),
        (
            reason::ROLE_NOT_PERMITTED,
            &cn,
            &officer,
            shipment(10),
            plenty.clone(),
            t(1),
        ),
        (
            reason::LICENSE_NOT_ACTIVE,
            &suspended,
            &h,
            shipment(10),
            plenty.clone(),
            t(2),
        ),
        (
            reason::LICENSE_NOT_ACTIVE,
            &cn,
            &h,
            shipment(10),
            plenty.clone(),
            t(1461),
        ),
        (
            reason::OUTSIDE_VALIDITY,
            &cn,
            &h,
            with(&|s| s.shipped_at = t(-1)),
            plenty.clone(),
            t(1),
        ),
        (
            // Dated at the expiry, reported a minute before it.
            reason::OUTSIDE_VALIDITY,
            &cn,
            &h,
            with(&|s| s.shipped_at = t(1461)),
            plenty.clone(),
            t(1461) - Duration::minutes(1),
        ),
        (
            reason::DATED_IN_THE_FUTURE,
            &cn,
            &h,
            with(&|s| s.shipped_at = t(1) + Duration::minutes(6)),
            plenty.clone(),
            t(1),
        ),
        (
            reason::ITEM_NOT_ON_LICENSE,
            &cn,
            &h,
            with(&|s| s.item_index = 1),
            plenty.clone(),
            t(1),
        ),
        (
            reason::QUANTITY_EXCEEDS_REMAINING,
            &cn,
            &h,
            with(&|s| {
                s.quantity = 101;
                s.value_usd_cents = 1
            }),
            plenty.clone(),
            t(1),
        ),
        (
            reason::VALUE_EXCEEDS_REMAINING,
            &cn,
            &h,
            with(&|s| s.value_usd_cents = 375_000_001),
            plenty.clone(),
            t(1),
        ),
        (
            reason::ATTESTATION_REQUIRED,
            &cn,
            &h,
            with(&|s| s.attestations.clear()),
            plenty.clone(),
            t(1),
        ),
        (
            reason::ATTESTATION_REQUIRED,
            &cn,
            &h,
            with(&|s| s.attestations[0].reference = " ".into()),
            plenty.clone(),
            t(1),
        ),
        (
            reason::END_USER_CAP_EXCEEDED,
            &cn,
            &h,
            shipment(10),
            HashMap::from([
                (counter::domestic_tpp("exporter-1", "H200"), 10_000_000),
                (counter::end_user_units("example  cloud CO."), 74_991),
            ]),
            t(1),
        ),
        (
            reason::AGGREGATE_TPP_CAP_EXCEEDED,
            &cn,
            &h,
            shipment(10),
            HashMap::new(),
            t(1),
        ),
    ];
    for (expected, lic, actor, request, counters, now) in cases {
        let got = record_shipment(&p, lic, &counters, actor, &request, None, now);
        assert_eq!(refusal(got), expected, "{request:?}");
    }
    // The value tolerance: 25% above the licensed value passes.
    let lic = license("DE");
    let s = ShipmentRequest {
        value_usd_cents: 375_000_000,
        ..shipment(100)
    };
    assert!(record_shipment(&p, &lic, &HashMap::new(), &holder(), &s, None, t(1)).is_ok());
}

/// A holder cannot reset the per-end-user cap by spelling the end user
/// another way on its next licence: punctuation, legal form, case,
/// spacing, full-width letters, invisible characters and letters that
/// only look alike (a Cyrillic "Е", a "1" for an "l") all count as the
/// same end user.
#[test]
fn the_end_user_cap_counts_every_spelling_of_one_end_user() {
    let p = policy();
    let mut shipped_to_first_spelling = domestic_plenty();
    shipped_to_first_spelling.insert(counter::end_user_units("Example Cloud Co."), 75_000);
    for spelling in [
        "Example Cloud Co",
        "EXAMPLE CLOUD, CO., LTD.",
        "ExampleCloud Company",
        "Exa\u{200B}mple Cloud Co.",
        "\u{FF25}xample \u{FF23}loud",
        "\u{0415}x\u{0430}mple C1oud",
    ] {
        let mut lic = license("CN");
        lic.terms.end_user = spelling.into();
        let got = record_shipment(
            &p,
            &lic,
            &shipped_to_first_spelling,
            &holder(),
            &shipment(1),
            None,
            t(1),
        );
        assert_eq!(refusal(got), reason::END_USER_CAP_EXCEEDED, "{spelling:?}");
    }
    let mut other = license("CN");
    other.terms.end_user = "Example Compute Co.".into();
    let got = record_shipment(
        &p,
        &other,
        &shipped_to_first_spelling,
        &holder(),
        &shipment(1),
        None,
        t(1),
    );
    assert!(
        got.is_ok(),
        "another end user has a cap of its own: {got:?}"
    );
}

/// A unit of a board of eight GPUs is eight units to the per-end-user cap
/// (and eight GPUs' TPP to the aggregate cap): licensing boards instead of
/// chips does not multiply what one customer may receive.
#[test]
fn a_board_counts_its_ics_toward_the_caps() {
    let p = policy();
    let mut board = license("CN");
    board.terms.items[0].ics_per_unit = 8;
    board.terms.items[0].tpp_per_unit = 8 * 15_832;
    let mut counters = domestic_plenty();
    counters.insert(counter::end_user_units("Example Cloud Co."), 74_990);
    let got = record_shipment(&p, &board, &counters, &holder(), &shipment(2), None, t(1));
    let refused = got.expect_err("16 units past 74,990");
    assert_eq!(refused.reason, reason::END_USER_CAP_EXCEEDED);
    assert!(
        refused.detail.contains("(8 ICs each)"),
        "{}",
        refused.detail
    );
    let recorded = record_shipment(&p, &board, &counters, &holder(), &shipment(1), None, t(1))
        .expect("8 units reach 74,998");
    let end_user = counter::end_user_units("Example Cloud Co.");
    let exported = counter::exported_tpp("exporter-1", "H200");
    assert!(recorded.counters.contains(&(end_user, 8)));
    assert!(recorded.counters.contains(&(exported, 8 * 15_832)));
}

/// Hong Kong is China to the EAR: a licence to Hong Kong carries the
/// laboratory's report and both caps, and its exports count with China's.
#[test]
fn hong_kong_carries_the_china_conditions() {
    let p = policy();
    let hk = license("HK");
    assert_eq!(hk.terms.required_attestations, vec!["US_LAB_TEST_REPORT"]);
    let no_report = ShipmentRequest {
        attestations: Vec::new(),
        ..shipment(10)
    };
    let got = record_shipment(
        &p,
        &hk,
        &domestic_plenty(),
        &holder(),
        &no_report,
        None,
        t(1),
    );
    assert_eq!(refusal(got), reason::ATTESTATION_REQUIRED);
    let got = record_shipment(
        &p,
        &hk,
        &HashMap::new(),
        &holder(),
        &shipment(10),
        None,
        t(1),
    );
    assert_eq!(refusal(got), reason::AGGREGATE_TPP_CAP_EXCEEDED);
    let mut shipped_to_china = domestic_plenty();
    shipped_to_china.insert(counter::end_user_units("Example Cloud Co."), 75_000);
    let got = record_shipment(
        &p,
        &hk,
        &shipped_to_china,
        &holder(),
        &shipment(1),
        None,
        t(1),
    );
    assert_eq!(refusal(got), reason::END_USER_CAP_EXCEEDED);
}

/// The per-customer cap counts AI chips: a licensed HBM stack (no TPP)
/// neither uses it up nor is refused by it.
#[test]
fn memory_stacks_are_not_chips_to_the_cap() {
    let p = policy();
    let mut hbm = license("CN");
    hbm.terms.items[0].product = "HBM3E stack".into();
    hbm.terms.items[0].tpp_per_unit = 0;
    let full = HashMap::from([(counter::end_user_units("Example Cloud Co."), 75_000)]);
    let recorded =
        record_shipment(&p, &hbm, &full, &holder(), &shipment(10), None, t(1)).expect("not capped");
    let end_user = counter::end_user_units("Example Cloud Co.");
    assert!(recorded.counters.iter().all(|(key, _)| *key != end_user));
}

/// The per-customer cap follows a Chinese customer abroad: a licence to
/// Malaysia for an end user headquartered in China, or whose parent is,
/// counts and checks the same 75,000; a Malaysian customer's does not.
#[test]
fn the_end_user_cap_follows_a_chinese_customer_abroad() {
    let p = policy();
    let full = HashMap::from([(counter::end_user_units("Example Cloud Co."), 75_000)]);
    for headquarters in [vec!["CN"], vec!["MY", "CN"]] {
        let mut abroad = license("MY");
        abroad.terms.end_user_headquarters = headquarters.iter().map(|c| c.to_string()).collect();
        let got = record_shipment(&p, &abroad, &full, &holder(), &shipment(1), None, t(1));
        assert_eq!(
            refusal(got),
            reason::END_USER_CAP_EXCEEDED,
            "{headquarters:?}"
        );
    }
    let mut local = license("MY");
    local.terms.end_user_headquarters = vec!["MY".into()];
    assert!(record_shipment(&p, &local, &full, &holder(), &shipment(1), None, t(1)).is_ok());
}

/// A domestic shipment counts toward the cap once made: one dated ahead
/// of its report (past the clocks' difference) is refused.
#[test]
fn a_domestic_shipment_to_come_is_refused() {
    let lic = license("CN");
    let at = |shipped_at| ShipmentRequest {
        shipped_at,
        ..shipment(1_000)
    };
    let ahead = record_domestic_shipment(&lic, &HashMap::new(), &holder(), &at(t(31)), t(1));
    assert_eq!(refusal(ahead), reason::DATED_IN_THE_FUTURE);
    let skewed = at(t(1) + Duration::minutes(4));
    assert!(record_domestic_shipment(&lic, &HashMap::new(), &holder(), &skewed, t(1)).is_ok());
}

#[test]
fn the_tpp_cap_is_half_the_domestic_tpp() {
    let p = policy();
    let lic = license("CN");
    // 10 units of 15,832 TPP need 316,640 TPP shipped at home.
    let mut counters = HashMap::from([(counter::domestic_tpp("exporter-1", "H200"), 316_639)]);
    assert_eq!(
        refusal(record_shipment(
            &p,
            &lic,
            &counters,
            &holder(),
            &shipment(10),
            None,
            t(1)
        )),
        reason::AGGREGATE_TPP_CAP_EXCEEDED
    );
    counters.insert(counter::domestic_tpp("exporter-1", "H200"), 316_640);
    let done =
        record_shipment(&p, &lic, &counters, &holder(), &shipment(10), None, t(1)).expect("ok");
    assert!(done
        .counters
        .contains(&(counter::exported_tpp("exporter-1", "H200"), 158_320)));
    assert!(done
        .counters
        .contains(&(counter::end_user_units("Example Cloud Co."), 10)));
}

#[test]
fn domestic_shipments_count_toward_the_cap() {
    let lic = license("CN");
    let mut s = shipment(20);
    s.customer = "US Lab Inc.".into();
    let none = HashMap::new();
    let done = record_domestic_shipment(&lic, &none, &holder(), &s, t(1)).expect("recorded");
    let reports = counter::domestic_reports("exporter-1", &s.reference);
    assert_eq!(
        done.counters,
        vec![
            (counter::domestic_tpp("exporter-1", "H200"), 316_640),
            (reports.clone(), 1),
            (
                counter::domestic_latest("exporter-1", "H200"),
                t(1).timestamp_millis()
            )
        ]
    );
    let other = Actor::new("exporter-2", Role::Applicant, None);
    assert_eq!(
        refusal(record_domestic_shipment(&lic, &none, &other, &s, t(1))),
        reason::NOT_YOUR_LICENSE
    );
    // The same invoice again, however it is spaced or cased, on this
    // licence or another, of this product or under another product's
    // name: counted once.
    let reported = HashMap::from([(reports, 1)]);
    let again = ShipmentRequest {
        reference: " aes  x20260301000001 ".into(),
        ..s.clone()
    };
    let mut renamed = lic.clone();
    renamed.terms.items[0].product = "my H200".into();
    for lic in [&lic, &renamed] {
        let got = record_domestic_shipment(lic, &reported, &holder(), &again, t(1));
        assert_eq!(refusal(got), reason::DOMESTIC_SHIPMENT_ALREADY_REPORTED);
    }
    let next = ShipmentRequest {
        reference: "INV-2".into(),
        ..s
    };
    assert!(record_domestic_shipment(&lic, &reported, &holder(), &next, t(1)).is_ok());
}

#[test]
fn an_export_filing_draws_an_item_down_once() {
    let mut lic = license("DE");
    let second = LicenseItem {
        item_index: 1,
        ..lic.terms.items[0].clone()
    };
    lic.terms.items.push(second);
    let s = shipment(10);
    let done = ship(&lic, 10, 1).expect("shipped");
    let counted: HashMap<String, i64> = done.counters.into_iter().collect();
    let lic = done.events.iter().fold(Some(lic), apply).unwrap();
    // The same filing again, however it is spaced or cased (a retry with
    // a new request id): refused, nothing drawn.
    let again = ShipmentRequest {
        reference: " aes  x20260301000001 ".into(),
        ..s.clone()
    };
    let got = record_shipment(&policy(), &lic, &counted, &holder(), &again, None, t(2));
    assert_eq!(refusal(got), reason::EXPORT_ALREADY_REPORTED);
    // Another line of the same filing (item 1), or another filing: drawn.
    for other in [
        ShipmentRequest {
            item_index: 1,
            ..s.clone()
        },
        ShipmentRequest {
            reference: "X20260301000002".into(),
            ..s
        },
    ] {
        assert!(record_shipment(&policy(), &lic, &counted, &holder(), &other, None, t(2)).is_ok());
    }
}

#[test]
fn a_domestic_total_past_64_bits_is_refused() {
    let lic = license("CN");
    let key = counter::domestic_tpp("exporter-1", "H200");
    // 2^53 - 1 units of 15,832 TPP each: past i64::MAX in one report.
    let huge = shipment((1 << 53) - 1);
    let refused = record_domestic_shipment(&lic, &HashMap::new(), &holder(), &huge, t(1));
    assert_eq!(refusal(refused), reason::TOTAL_OUT_OF_RANGE);
    // Within range alone, but not on top of what was reported before.
    let s = shipment(1_000_000);
    let near_full = HashMap::from([(key.clone(), i64::MAX - 15_832 * 1_000_000 + 1)]);
    let refused = record_domestic_shipment(&lic, &near_full, &holder(), &s, t(1));
    assert_eq!(refusal(refused), reason::TOTAL_OUT_OF_RANGE);
    let full = HashMap::from([(key.clone(), i64::MAX - 15_832 * 1_000_000)]);
    let done = record_domestic_shipment(&lic, &full, &holder(), &s, t(1)).expect("recorded");
    assert_eq!(done.counters[0], (key, 15_832 * 1_000_000));
}

#[test]
fn the_officer_suspends_reinstates_and_revokes_for_good() {
    let officer = Actor::new("lo", Role::LicensingOfficer, None);
    let lic = license("DE");
    let step = |lic: &License, action, now| {
        officer_action(lic, &officer, action, "because", now)
            .map(|r| r.events.iter().fold(Some(lic.clone()), apply).unwrap())
    };
    assert_eq!(
        refusal(officer_action(
            &lic,
            &holder(),
            OfficerAction::Suspend,
            "x",
            t(1)
        )),
        reason::ROLE_NOT_PERMITTED
    );
    assert_eq!(
        refusal(officer_action(
            &lic,
            &officer,
            OfficerAction::Suspend,
            " ",
            t(1)
        )),
        reason::REASON_REQUIRED
    );
    assert_eq!(
        step(&lic, OfficerAction::Reinstate, t(1))
            .unwrap_err()
            .reason,
        reason::LICENSE_NOT_SUSPENDED
    );
    let suspended = step(&lic, OfficerAction::Suspend, t(1)).unwrap();
    assert_eq!(suspended.state, LicenseState::Suspended);
    let active = step(&suspended, OfficerAction::Reinstate, t(2)).unwrap();
    assert_eq!(active.state, LicenseState::Active);
    let revoked = step(&active, OfficerAction::Revoke, t(3)).unwrap();
    assert_eq!(revoked.state, LicenseState::Revoked);
    for action in [
        OfficerAction::Reinstate,
        OfficerAction::Suspend,
        OfficerAction::Revoke,
    ] {
        assert_eq!(
            step(&revoked, action, t(4)).unwrap_err().reason,
            reason::LICENSE_REVOKED
        );
    }
}

/// An export dated while the licence was suspended was not authorized:
/// reported after the reinstatement, it is refused all the same; one
/// dated before the suspension or from the reinstatement on is not.
#[test]
fn an_export_dated_in_a_suspension_is_refused_after_it() {
    let p = policy();
    let officer = Actor::new("lo", Role::LicensingOfficer, None);
    let act = |lic: &License, action, day| {
        let recorded = officer_action(lic, &officer, action, "because", t(day)).unwrap();
        recorded
            .events
            .iter()
            .fold(Some(lic.clone()), apply)
            .unwrap()
    };
    let suspended = act(&license("DE"), OfficerAction::Suspend, 10);
    let reinstated = act(&suspended, OfficerAction::Reinstate, 20);
    let dated = |day| ShipmentRequest {
        shipped_at: t(day),
        ..shipment(1)
    };
    let none = HashMap::new();
    let got = record_shipment(&p, &reinstated, &none, &holder(), &dated(15), None, t(25));
    let refused = got.expect_err("dated in the suspension");
    assert_eq!(refused.reason, reason::LICENSE_NOT_ACTIVE);
    assert!(refused
        .metadata
        .contains(&("suspendedFrom", t(10).to_rfc3339())));
    for day in [9, 20, 24] {
        let got = record_shipment(&p, &reinstated, &none, &holder(), &dated(day), None, t(25));
        assert!(got.is_ok(), "day {day}: {got:?}");
    }
    // A second suspension, then the revocation ends it: the periods stay.
    let again = act(&reinstated, OfficerAction::Suspend, 30);
    let revoked = act(&again, OfficerAction::Revoke, 40);
    assert_eq!(
        revoked.suspensions,
        vec![
            Suspension {
                from: t(10),
                until: Some(t(20))
            },
            Suspension {
                from: t(30),
                until: Some(t(40))
            },
        ]
    );
}

#[test]
fn the_sweeper_expires_at_the_end_of_validity() {
    let lic = license("DE");
    assert!(sweep(&lic, t(1460)).is_empty());
    let events = sweep(&lic, t(1461));
    assert_eq!(events.len(), 1);
    let expired = events.iter().fold(Some(lic), apply).unwrap();
    assert_eq!(expired.state, LicenseState::Expired);
    assert!(sweep(&expired, t(1500)).is_empty());
}

/// The aggregate-TPP cap holds at the export: an export reported late,
/// dated before some of the domestic shipments reported, is checked
/// against those made by its date only (which the ledger reads for it);
/// one dated after them all against the counters alone.
#[test]
fn the_tpp_cap_counts_the_domestic_shipments_made_by_the_export_date() {
    let p = policy();
    let lic = license("CN");
    // 316,640 TPP shipped at home allow 10 units; the latest on day 3.
    let counters = HashMap::from([
        (counter::domestic_tpp("exporter-1", "H200"), 316_640),
        (
            counter::domestic_latest("exporter-1", "H200"),
            t(3).timestamp_millis(),
        ),
    ]);
    let on = |day: i64| ShipmentRequest {
        shipped_at: t(day),
        ..shipment(10)
    };
    let record = |request: &ShipmentRequest, by_date| {
        record_shipment(&p, &lic, &counters, &holder(), request, by_date, t(4))
    };
    assert!(
        record(&on(3), None).is_ok(),
        "made after every domestic shipment"
    );
    // An export date is a day: the domestic shipments of that day count.
    let that_morning = ShipmentRequest {
        shipped_at: t(3) - Duration::hours(20),
        ..on(3)
    };
    let latest_that_evening = HashMap::from([
        (counter::domestic_tpp("exporter-1", "H200"), 316_640),
        (
            counter::domestic_latest("exporter-1", "H200"),
            (t(3) - Duration::hours(1)).timestamp_millis(),
        ),
    ]);
    let got = record_shipment(
        &p,
        &lic,
        &latest_that_evening,
        &holder(),
        &that_morning,
        None,
        t(4),
    );
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(
        refusal(record(&on(2), None)),
        reason::DOMESTIC_TPP_BY_DATE_NEEDED
    );
    // Half of it was shipped by day 2: 5 units, not 10.
    let refused = record(&on(2), Some(158_320)).expect_err("above the cap by day 2");
    assert_eq!(refused.reason, reason::AGGREGATE_TPP_CAP_EXCEEDED);
    assert!(
        refused.detail.contains("by the export date"),
        "{}",
        refused.detail
    );
    assert!(refused
        .metadata
        .contains(&("domesticShippedBefore", t(3).to_rfc3339())));
    let five = ShipmentRequest {
        quantity: 5,
        value_usd_cents: 5 * 3_000_000,
        ..on(2)
    };
    assert!(record(&five, Some(158_320)).is_ok());
    // Never more than every domestic shipment, whatever the ledger says.
    let eleven = ShipmentRequest {
        quantity: 11,
        value_usd_cents: 11 * 3_000_000,
        ..on(2)
    };
    assert_eq!(
        refusal(record(&eleven, Some(u128::MAX))),
        reason::AGGREGATE_TPP_CAP_EXCEEDED
    );
}

/// A domestic report raises the latest ship date, never lowers it.
#[test]
fn a_domestic_report_raises_the_latest_ship_date() {
    let lic = license("CN");
    let key = counter::domestic_latest("exporter-1", "H200");
    let on = |day: i64| ShipmentRequest {
        shipped_at: t(day),
        reference: format!("INV-{day}"),
        ..shipment(1)
    };
    let latest_on_day_2 = HashMap::from([(key.clone(), t(2).timestamp_millis())]);
    let change = |day| {
        record_domestic_shipment(&lic, &latest_on_day_2, &holder(), &on(day), t(4))
            .expect("recorded")
            .counters
            .into_iter()
            .find(|(k, _)| k == &key)
            .map(|(_, delta)| delta)
    };
    assert_eq!(change(3), Some(Duration::days(1).num_milliseconds()));
    assert_eq!(change(1), None);
    assert_eq!(change(2), None);
}

/// The end user's key is stored (licence rows, cap counters): a change to
/// what it sets aside must raise `END_USER_KEY_VERSION`, so that stores
/// move their licences to the new keys, and this pin with it.
#[test]
fn the_end_user_key_is_pinned_to_its_version() {
    let forms = service_kit::names::LEGAL_FORMS.join(",");
    let keys = [
        "Example Cloud Co.,Ltd",
        "\u{FF25}XAMPLE  Cloud, Inc.",
        "\u{0415}xample Cl\u{200B}oud",
        "Core42 FZ-LLC",
        "A|B Holdings",
    ]
    .map(counter::end_user_key)
    .join(",");
    assert_eq!(
        (counter::END_USER_KEY_VERSION, forms.as_str(), keys.as_str()),
        (
            2,
            "inc,incorporated,corp,corporation,co,company,coltd,colimited,llc,ltd,limited,plc,\
             pjsc,psc,fz,fze,fzco,fzllc,llcfz,gmbh,ag,sa,bv,nv,lp,llp,pte,pty,sarl,spa,kk",
            "exarnplecloud,exarnplecloud,exarnplecloud,core42,abholdings"
        ),
        "the end user's key changed: raise END_USER_KEY_VERSION and this pin"
    );
}
