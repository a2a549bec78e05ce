//! Golden tests: the exact bytes of formats 2 and 3, and the first format read.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::workflow::{
    Agency, Chip, Direction, Encoded, EndUserKind, ExportType, FiledApplication, FiledItem,
    HoldKind, ItemOutcome, Level, Outcome, Recommendation, Route, VotingRule,
};

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 12, 0, second).unwrap()
}

fn filed() -> Arc<FiledApplication> {
    Arc::new(FiledApplication {
        items: vec![
            FiledItem {
                chip: Chip::Catalog("H200".into()),
                quantity: 5000,
                unit_value_usd_cents: 3_000_000,
            },
            FiledItem {
                chip: Chip::Spec(Encoded::new(vec![0x0a, 0x02, b'X', b'1'])),
                quantity: 1,
                unit_value_usd_cents: 1,
            },
        ],
        route: Route {
            destination_country: "CN".into(),
            end_user_headquarters_country: "CN".into(),
            ultimate_parent_headquarters_country: String::new(),
            export_type: ExportType::ExportFromUs,
            is_informed_notice_received: false,
            end_user_kind: EndUserKind::Unspecified,
        },
        end_user_name: "Example Cloud Co.".into(),
        end_use_statement: "inference".into(),
    })
}

/// One event of every kind, with every field set.
fn every_kind() -> Vec<Event> {
    let actor = || "system".to_string();
    vec![
        Event::ApplicationFiled {
            at: at(0),
            actor: "acme".into(),
            id: "01a2".into(),
            applicant: "acme".into(),
            application: filed(),
            first_action_due: at(9),
            overall_due: at(59),
        },
        classified(Encoded::new(vec![0x0a, 0x04, b'H', b'2', b'0', b'0'])),
        Event::NoLicenseRequired {
            at: at(2),
            actor: actor(),
            reason: "no item needs a licence".into(),
        },
        Event::ReferredToAgencies {
            at: at(3),
            actor: actor(),
            agencies: vec![Agency::Commerce, Agency::State],
            due: at(33),
            reason: "licence required".into(),
            information_due: None,
        },
        Event::RecommendationRecorded {
            at: at(4),
            actor: "state-1".into(),
            level: Level::Agency,
            agency: Agency::State,
            recommendation: Recommendation::ApproveWithConditions,
            conditions: vec!["no military end use".into()],
            rationale: "diversion risk is low".into(),
        },
        Event::DeemedNoObjection {
            at: at(5),
            actor: actor(),
            level: Level::Agency,
            agency: Agency::Energy,
            due: at(5),
        },
        Event::ReferredToLicensingOfficer {
            at: at(6),
            actor: actor(),
            consensus: Direction::Approve,
        },
        Event::EscalatedToOperatingCommittee {
            at: at(7),
            actor: actor(),
            reason: "the agencies disagree".into(),
            due: at(21),
        },
        Event::Decided {
            at: at(8),
            actor: "oc-chair".into(),
            level: Level::OperatingCommittee,
            outcome: Outcome::Deny,
            conditions: Vec::new(),
            rationale: "risk".into(),
            is_final: false,
            appeal_due: Some(at(13)),
        },
        Event::Appealed {
            at: at(9),
            actor: "commerce-1".into(),
            agency: Agency::Commerce,
            from_level: Level::OperatingCommittee,
            to_level: Level::Acep,
            rationale: "trade".into(),
            voters: vec![Agency::Commerce, Agency::Defense],
            votes_due: Some(at(20)),
        },
        Event::VotesTallied {
            at: at(10),
            actor: actor(),
            level: Level::Acep,
            rule: VotingRule::MajorityOfVotesCast,
            members: 4,
            approve: 2,
            deny: 2,
            not_voted: vec![Agency::Energy],
            majority: None,
        },
        Event::DecisionFinal {
            at: at(11),
            actor: actor(),
            level: Level::Acep,
        },
        Event::ReferredToPresident {
            at: at(12),
            actor: actor(),
            reason: "90 days passed".into(),
        },
        Event::Withdrawn {
            at: at(13),
            actor: "acme".into(),
            reason: "order cancelled".into(),
        },
        Event::InformationRequested {
            at: at(14),
            actor: "state-1".into(),
            hold: 1,
            agency: Agency::State,
            missing: "end-user statement".into(),
            answer_due: at(24),
        },
        Event::InformationProvided {
            at: at(15),
            actor: "acme".into(),
            hold: 1,
            answer: "attached".into(),
            documents: vec!["doc-7".into()],
        },
        Event::HoldPlaced {
            at: at(16),
            actor: "officer".into(),
            hold: 2,
            kind: HoldKind::PreLicenseCheck,
            reason: "visit the end user".into(),
            due: Some(at(21)),
        },
        Event::HoldReleased {
            at: at(17),
            actor: "officer".into(),
            hold: 2,
            note: "check requested".into(),
        },
        Event::ReturnedWithoutAction {
            at: at(18),
            actor: actor(),
            hold: 3,
            reason: "no answer".into(),
        },
    ]
}

/// The bytes of format 2. Never edit an expectation to make a test pass:
/// stored events are hashed, so a change here is a new format.
const GOLDEN_EVENTS: [&str; 19] = [
    r#"{"format":2,"event":{"type":"ApplicationFiled","at":"2026-02-01T12:00:00Z","actor":"acme","id":"01a2","applicant":"acme","application":{"items":[{"chip":{"catalog":"H200"},"quantity":5000,"unit_value_usd_cents":3000000},{"chip":{"spec":"CgJYMQ=="},"quantity":1,"unit_value_usd_cents":1}],"route":{"destination_country":"CN","end_user_headquarters_country":"CN","ultimate_parent_headquarters_country":"","export_type":"EXPORT_FROM_US","is_informed_notice_received":false},"end_user_name":"Example Cloud Co.","end_use_statement":"inference"},"first_action_due":"2026-02-01T12:00:09Z","overall_due":"2026-02-01T12:00:59Z"}}"#,
    r#"{"format":2,"event":{"type":"ItemsClassified","at":"2026-02-01T12:00:01Z","actor":"system","items":[{"item_index":0,"license_required":true,"review_policy":"CASE_BY_CASE","rule_set":"V2026a","decision_id":"d-1","summary":"item 0 (H200): 3A090.a.1","answer":"CgRIMjAw"}]}}"#,
    r#"{"format":2,"event":{"type":"NoLicenseRequired","at":"2026-02-01T12:00:02Z","actor":"system","reason":"no item needs a licence"}}"#,
    r#"{"format":2,"event":{"type":"ReferredToAgencies","at":"2026-02-01T12:00:03Z","actor":"system","agencies":["COMMERCE","STATE"],"due":"2026-02-01T12:00:33Z","reason":"licence required"}}"#,
    r#"{"format":2,"event":{"type":"RecommendationRecorded","at":"2026-02-01T12:00:04Z","actor":"state-1","level":"AGENCY","agency":"STATE","recommendation":"APPROVE_WITH_CONDITIONS","conditions":["no military end use"],"rationale":"diversion risk is low"}}"#,
    r#"{"format":2,"event":{"type":"DeemedNoObjection","at":"2026-02-01T12:00:05Z","actor":"system","level":"AGENCY","agency":"ENERGY","due":"2026-02-01T12:00:05Z"}}"#,
    r#"{"format":2,"event":{"type":"ReferredToLicensingOfficer","at":"2026-02-01T12:00:06Z","actor":"system","consensus":"APPROVE"}}"#,
    r#"{"format":2,"event":{"type":"EscalatedToOperatingCommittee","at":"2026-02-01T12:00:07Z","actor":"system","reason":"the agencies disagree","due":"2026-02-01T12:00:21Z"}}"#,
    r#"{"format":2,"event":{"type":"Decided","at":"2026-02-01T12:00:08Z","actor":"oc-chair","level":"OPERATING_COMMITTEE","outcome":"DENY","conditions":[],"rationale":"risk","final":false,"appeal_due":"2026-02-01T12:00:13Z"}}"#,
    r#"{"format":2,"event":{"type":"Appealed","at":"2026-02-01T12:00:09Z","actor":"commerce-1","agency":"COMMERCE","from_level":"OPERATING_COMMITTEE","to_level":"ACEP","rationale":"trade","voters":["COMMERCE","DEFENSE"],"votes_due":"2026-02-01T12:00:20Z"}}"#,
    r#"{"format":2,"event":{"type":"VotesTallied","at":"2026-02-01T12:00:10Z","actor":"system","level":"ACEP","rule":"MAJORITY_OF_VOTES_CAST","members":4,"approve":2,"deny":2,"not_voted":["ENERGY"],"majority":null}}"#,
    r#"{"format":2,"event":{"type":"DecisionFinal","at":"2026-02-01T12:00:11Z","actor":"system","level":"ACEP"}}"#,
    r#"{"format":2,"event":{"type":"ReferredToPresident","at":"2026-02-01T12:00:12Z","actor":"system","reason":"90 days passed"}}"#,
    r#"{"format":2,"event":{"type":"Withdrawn","at":"2026-02-01T12:00:13Z","actor":"acme","reason":"order cancelled"}}"#,
    r#"{"format":2,"event":{"type":"InformationRequested","at":"2026-02-01T12:00:14Z","actor":"state-1","hold":1,"agency":"STATE","missing":"end-user statement","answer_due":"2026-02-01T12:00:24Z"}}"#,
    r#"{"format":2,"event":{"type":"InformationProvided","at":"2026-02-01T12:00:15Z","actor":"acme","hold":1,"answer":"attached","documents":["doc-7"]}}"#,
    r#"{"format":2,"event":{"type":"HoldPlaced","at":"2026-02-01T12:00:16Z","actor":"officer","hold":2,"kind":"PRE_LICENSE_CHECK","reason":"visit the end user","due":"2026-02-01T12:00:21Z"}}"#,
    r#"{"format":2,"event":{"type":"HoldReleased","at":"2026-02-01T12:00:17Z","actor":"officer","hold":2,"note":"check requested"}}"#,
    r#"{"format":2,"event":{"type":"ReturnedWithoutAction","at":"2026-02-01T12:00:18Z","actor":"system","hold":3,"reason":"no answer"}}"#,
];

#[test]
fn format_2_events_keep_their_bytes() {
    let events = every_kind();
    assert_eq!(
        events.len(),
        Event::KINDS.len(),
        "one golden event per kind"
    );
    for (event, golden) in events.iter().zip(GOLDEN_EVENTS) {
        assert_eq!(encode_event(event), golden, "{}", event.kind());
        assert_eq!(&decode_event(golden).unwrap(), event, "{}", event.kind());
    }
}

#[test]
fn an_end_user_kind_is_written_only_when_given() {
    let mut filed = (*filed()).clone();
    filed.route.end_user_kind = EndUserKind::IaasProvider;
    let event = Event::ApplicationFiled {
        at: at(0),
        actor: "acme".into(),
        id: "01a2".into(),
        applicant: "acme".into(),
        application: Arc::new(filed),
        first_action_due: at(9),
        overall_due: at(59),
    };
    let bytes = encode_event(&event);
    assert!(
        bytes.contains(r#""is_informed_notice_received":false,"end_user_kind":"IAAS_PROVIDER"}"#),
        "{bytes}"
    );
    assert_eq!(decode_event(&bytes).unwrap(), event);
}

#[test]
fn a_referral_names_its_information_deadline_when_it_has_one() {
    let event = Event::ReferredToAgencies {
        at: at(3),
        actor: "system".into(),
        agencies: vec![Agency::Commerce],
        due: at(33),
        reason: "licence required".into(),
        information_due: Some(at(13)),
    };
    let bytes = encode_event(&event);
    assert!(
        bytes
            .ends_with(r#""reason":"licence required","information_due":"2026-02-01T12:00:13Z"}}"#),
        "{bytes}"
    );
    assert_eq!(decode_event(&bytes).unwrap(), event);
}

#[test]
fn format_2_snapshots_leave_out_what_the_events_hold() {
    let events = every_kind();
    let app = crate::workflow::Application::replay(&events[..2]).unwrap();
    let snapshot = encode_snapshot(&app);
    assert_eq!(
        snapshot,
        r#"{"format":2,"application":{"id":"01a2","applicant":"acme","destination":"CN","item_count":2,"state":"CLASSIFICATION_PENDING","level":null,"classifications":[{"item_index":0,"license_required":true,"review_policy":"CASE_BY_CASE","rule_set":"V2026a","decision_id":"d-1","summary":"item 0 (H200): 3A090.a.1"}],"recommendations":[],"agency_due":[],"step_due":"2026-02-01T12:00:09Z","overall_due":"2026-02-01T12:00:59Z","decision":null,"decision_history":[],"state_reason":"filed; waiting for the classification of every item","created_at":"2026-02-01T12:00:00Z","updated_at":"2026-02-01T12:00:01Z","version":2}}"#
    );
    let Snapshot::State(read) = decode_snapshot(&snapshot).unwrap() else {
        panic!("a format 2 snapshot is read, not replayed");
    };
    assert!(read.filed.items.is_empty());
    assert!(read.classifications[0].answer.is_empty());
    assert_eq!(*read, app.without_documents());
}

#[test]
fn first_format_events_are_read_into_the_current_types() {
    let filed = r#"{"type":"ApplicationFiled","at":"2026-12-06T01:05:10.123Z","actor":"dev-applicant","id":"01a2","applicant":"dev-applicant","destination":"CN","content":{"items":[{"item":{"CatalogChip":"H200"},"quantity":5000,"unit_value_usd_cents":3000000}],"transaction":{"route":{"destination_country":"CN","end_user_headquarters_country":"CN","ultimate_parent_headquarters_country":"CN","export_type":1,"is_informed_notice_received":false},"end_user_name":"Example Cloud Co.","end_use_statement":"Commercial cloud inference"}},"item_count":1,"first_action_due":"2026-12-15T01:05:10.123Z","overall_due":"2027-03-06T01:05:10.123Z"}"#;
    let Event::ApplicationFiled { application, .. } = decode_event(filed).unwrap() else {
        panic!("ApplicationFiled");
    };
    assert_eq!(application.items[0].chip, Chip::Catalog("H200".into()));
    assert_eq!(application.items[0].quantity, 5000);
    assert_eq!(application.route.destination_country, "CN");
    assert_eq!(application.route.export_type, ExportType::ExportFromUs);
    assert_eq!(application.end_use_statement, "Commercial cloud inference");

    let classified = r#"{"type":"ItemsClassified","at":"2026-12-06T01:05:10.200Z","actor":"system","items":[{"item_index":0,"license_required":true,"review_policy":"CASE_BY_CASE","rule_set":"V2026a","decision_id":"d-1","summary":"s","result":{"item_name":"H200","rule_set":"V2026a"}},{"item_index":1,"license_required":true,"review_policy":"INDETERMINATE","rule_set":"","decision_id":"","summary":"refused","result":null}]}"#;
    let Event::ItemsClassified { items, .. } = decode_event(classified).unwrap() else {
        panic!("ItemsClassified");
    };
    let answer = crate::convert::answer(&items[0].answer).unwrap();
    assert_eq!(answer.item_name, "H200");
    assert_eq!(answer.rule_set, "V2026a");
    assert!(items[1].answer.is_empty());

    let withdrawn = r#"{"type":"Withdrawn","at":"2026-12-06T01:05:11Z","actor":"a","reason":"r"}"#;
    assert!(matches!(
        decode_event(withdrawn).unwrap(),
        Event::Withdrawn { .. }
    ));
    assert!(matches!(
        decode_snapshot(r#"{"id":"01a2","applicant":"a"}"#),
        Ok(Snapshot::Replay)
    ));
}

#[test]
fn unknown_and_broken_records_are_refused_not_guessed() {
    assert!(matches!(
        decode_event(r#"{"format":5,"event":{}}"#),
        Err(FormatError::UnknownFormat(5))
    ));
    assert!(matches!(
        decode_snapshot(r#"{"format":3,"application":{}}"#),
        Err(FormatError::UnknownFormat(3))
    ));
    assert!(decode_event(r#"{"format":4,"event":{}}"#).is_err());
    assert!(decode_event(r#"{"format":2,"event":{"type":"Nothing"}}"#).is_err());
    assert!(decode_event(r#"{"format":"#).is_err());
    assert!(decode_event("not json").is_err());
    assert!(decode_snapshot(r#"{"format":2,"application":{}}"#).is_err());
}

/// One licence event of every kind, with every field set.
fn every_license_kind() -> Vec<Event> {
    use crate::licensing::{Attestation, LicenseEvent, LicenseItem, LicenseTerms, Shipment};
    let license = || "01a2".to_string();
    let shipment = |number| Shipment {
        number,
        item_index: 0,
        product: "NVIDIA H200 SXM 141GB".into(),
        quantity: 10,
        value_usd_cents: 30_000_000,
        shipped_at: at(20),
        reference: "X20260201000001".into(),
        customer: "Example Cloud Co.".into(),
        attestations: vec![Attestation {
            kind: "US_LAB_TEST_REPORT".into(),
            reference: "LAB-1".into(),
        }],
        tpp: 158_320,
    };
    [
        LicenseEvent::LicenseIssued {
            at: at(14),
            actor: "system".into(),
            terms: LicenseTerms {
                id: license(),
                number: "D-01A2".into(),
                application: license(),
                holder: "acme".into(),
                destination: "CN".into(),
                end_user_headquarters: Vec::new(),
                end_user: "Example Cloud Co.".into(),
                end_use: "inference".into(),
                conditions: vec!["no military end use".into()],
                required_attestations: vec!["US_LAB_TEST_REPORT".into()],
                items: vec![LicenseItem {
                    item_index: 0,
                    product: "NVIDIA H200 SXM 141GB".into(),
                    tpp_per_unit: 15_832,
                    ics_per_unit: 1,
                    authorized_quantity: 5000,
                    authorized_value_usd_cents: 15_000_000_000,
                    shipped_quantity: 0,
                    shipped_value_usd_cents: 0,
                }],
                issued_at: at(14),
                expires_at: at(59),
                policy_version: "2026-12".into(),
            },
        },
        LicenseEvent::ShipmentRecorded {
            at: at(15),
            actor: "acme".into(),
            license: license(),
            shipment: shipment(1),
        },
        LicenseEvent::DomesticShipmentRecorded {
            at: at(16),
            actor: "acme".into(),
            license: license(),
            shipment: shipment(1),
        },
        LicenseEvent::LicenseSuspended {
            at: at(17),
            actor: "officer".into(),
            license: license(),
            reason: "lab under review".into(),
        },
        LicenseEvent::LicenseReinstated {
            at: at(18),
            actor: "officer".into(),
            license: license(),
            reason: "lab confirmed".into(),
        },
        LicenseEvent::LicenseRevoked {
            at: at(19),
            actor: "officer".into(),
            license: license(),
            reason: "diversion".into(),
        },
        LicenseEvent::LicenseExpired {
            at: at(21),
            actor: "system".into(),
            license: license(),
            expired_at: at(21),
        },
        LicenseEvent::LicenseExhausted {
            at: at(22),
            actor: "system".into(),
            license: license(),
        },
    ]
    .into_iter()
    .map(|event| Event::License(Box::new(event)))
    .collect()
}

const GOLDEN_LICENSE_EVENTS: [&str; 8] = [
    r#"{"format":2,"event":{"type":"LicenseIssued","at":"2026-02-01T12:00:14Z","actor":"system","terms":{"id":"01a2","number":"D-01A2","application":"01a2","holder":"acme","destination":"CN","end_user":"Example Cloud Co.","end_use":"inference","conditions":["no military end use"],"required_attestations":["US_LAB_TEST_REPORT"],"items":[{"item_index":0,"product":"NVIDIA H200 SXM 141GB","tpp_per_unit":15832,"authorized_quantity":5000,"authorized_value_usd_cents":15000000000,"shipped_quantity":0,"shipped_value_usd_cents":0}],"issued_at":"2026-02-01T12:00:14Z","expires_at":"2026-02-01T12:00:59Z","policy_version":"2026-12"}}}"#,
    r#"{"format":2,"event":{"type":"ShipmentRecorded","at":"2026-02-01T12:00:15Z","actor":"acme","license":"01a2","shipment":{"number":1,"item_index":0,"product":"NVIDIA H200 SXM 141GB","quantity":10,"value_usd_cents":30000000,"shipped_at":"2026-02-01T12:00:20Z","reference":"X20260201000001","customer":"Example Cloud Co.","attestations":[{"kind":"US_LAB_TEST_REPORT","reference":"LAB-1"}],"tpp":158320}}}"#,
    r#"{"format":2,"event":{"type":"DomesticShipmentRecorded","at":"2026-02-01T12:00:16Z","actor":"acme","license":"01a2","shipment":{"number":1,"item_index":0,"product":"NVIDIA H200 SXM 141GB","quantity":10,"value_usd_cents":30000000,"shipped_at":"2026-02-01T12:00:20Z","reference":"X20260201000001","customer":"Example Cloud Co.","attestations":[{"kind":"US_LAB_TEST_REPORT","reference":"LAB-1"}],"tpp":158320}}}"#,
    r#"{"format":2,"event":{"type":"LicenseSuspended","at":"2026-02-01T12:00:17Z","actor":"officer","license":"01a2","reason":"lab under review"}}"#,
    r#"{"format":2,"event":{"type":"LicenseReinstated","at":"2026-02-01T12:00:18Z","actor":"officer","license":"01a2","reason":"lab confirmed"}}"#,
    r#"{"format":2,"event":{"type":"LicenseRevoked","at":"2026-02-01T12:00:19Z","actor":"officer","license":"01a2","reason":"diversion"}}"#,
    r#"{"format":2,"event":{"type":"LicenseExpired","at":"2026-02-01T12:00:21Z","actor":"system","license":"01a2","expired_at":"2026-02-01T12:00:21Z"}}"#,
    r#"{"format":2,"event":{"type":"LicenseExhausted","at":"2026-02-01T12:00:22Z","actor":"system","license":"01a2"}}"#,
];

/// Licence events are format 2 events of new kinds: the same envelope,
/// their own `"type"`, read back as the licence event they are.
#[test]
fn license_events_keep_their_bytes() {
    let events = every_license_kind();
    assert_eq!(
        events.len(),
        crate::licensing::LicenseEvent::KINDS.len(),
        "one golden event per kind"
    );
    for (event, golden) in events.iter().zip(GOLDEN_LICENSE_EVENTS) {
        assert_eq!(encode_event(event), golden, "{}", event.kind());
        assert_eq!(&decode_event(golden).unwrap(), event, "{}", event.kind());
        assert!(!Event::KINDS.contains(&event.kind()), "{}", event.kind());
    }
}

#[test]
fn license_snapshots_and_shipments_round_trip() {
    use crate::licensing::{apply, LicenseEvent};
    let Event::License(issued) = &every_license_kind()[0] else {
        panic!("a licence event");
    };
    let license = apply(None, issued).unwrap();
    let bytes = license::encode_license(&license);
    assert!(
        bytes.starts_with(r#"{"format":2,"license":{"id":"01a2","#),
        "{bytes}"
    );
    assert_eq!(license::decode_license(&bytes).unwrap(), license);
    let events = every_license_kind();
    let Event::License(recorded) = &events[1] else {
        panic!("a licence event");
    };
    let LicenseEvent::ShipmentRecorded { shipment, .. } = &**recorded else {
        panic!("a shipment");
    };
    let bytes = license::encode_shipment(shipment);
    assert_eq!(&license::decode_shipment(&bytes).unwrap(), shipment);
    assert!(license::decode_license(r#"{"format":3,"license":{}}"#).is_err());
}

/// A classifier answer of `len` bytes, as repetitive as real ones (rule
/// texts and citations recur in every reason).
fn answer_of(len: usize) -> Encoded {
    Encoded::new(
        b"3A090.a.1 15 CFR 744.23(a)(1) "
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect(),
    )
}

fn classified(answer: Encoded) -> Event {
    Event::ItemsClassified {
        at: at(1),
        actor: "system".into(),
        items: vec![ItemOutcome {
            item_index: 0,
            license_required: true,
            review_policy: "CASE_BY_CASE".into(),
            rule_set: "V2026a".into(),
            decision_id: "d-1".into(),
            summary: "item 0 (H200): 3A090.a.1".into(),
            answer,
        }],
    }
}

/// Written before format 4, and read still.
#[test]
fn format_3_events_are_read() {
    const GOLDEN: &str = r#"{"format":3,"event":{"type":"ItemsClassified","at":"2026-02-01T12:00:01Z","actor":"system","items":[{"item_index":0,"license_required":true,"review_policy":"CASE_BY_CASE","rule_set":"V2026a","decision_id":"d-1","summary":"item 0 (H200): 3A090.a.1","answer":"lz4:AAEAAP8PM0EwOTAuYS4xIDE1IENGUiA3NDQuMjMoYSkoMSkgHgDJYDE1IENGUg=="}]}}"#;
    let event = classified(answer_of(Encoded::COMPRESSED_FROM));
    assert_eq!(decode_event(GOLDEN).unwrap(), event);
}

/// The compressed block is what `lz4_flex` writes. Another LZ4 compressor
/// (or a new version of this one) may write another block for the same
/// message, which reads back alike: if this golden moves with such an
/// upgrade, events written before it stay readable and verifiable, as
/// every stored event keeps the bytes it was hashed with.
#[test]
fn format_4_events_keep_their_bytes() {
    const GOLDEN: &str = r#"{"format":4,"event":{"type":"ItemsClassified","at":"2026-02-01T12:00:01Z","actor":"system","items":[{"item_index":0,"license_required":true,"review_policy":"CASE_BY_CASE","rule_set":"V2026a","decision_id":"d-1","summary":"item 0 (H200): 3A090.a.1","answer":"lz4d1:AAEAAAMVBzkuMSBFCAAvHD8xKSAeAMlgMTUgQ0ZS"}]}}"#;
    let event = classified(answer_of(Encoded::COMPRESSED_FROM));
    assert_eq!(encode_event(&event), GOLDEN);
    assert_eq!(decode_event(GOLDEN).unwrap(), event);
}

/// Messages compressed against a dictionary read back only with the very
/// same bytes: dictionary 1 never changes. (A new dictionary is a new
/// file, number and marker; see `workflow::filing`.)
#[test]
fn the_answer_dictionary_is_pinned() {
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(crate::workflow::filing::DICTIONARY_1)),
        "cf6f583a5d8eba0074bb515fd81cf6fdc45c6b7c8fc525a7af1a143cc42f95ec",
        "answers-1.dict changed: records compressed against it would not read back"
    );
}

#[test]
fn messages_are_compressed_from_their_threshold_on_and_only_then() {
    let below = classified(answer_of(Encoded::COMPRESSED_FROM - 1));
    let bytes = encode_event(&below);
    assert!(bytes.starts_with(r#"{"format":2,"#), "{bytes}");
    assert!(!bytes.contains("lz4"), "{bytes}");
    assert_eq!(decode_event(&bytes).unwrap(), below);

    // A classifier answer's size: stored in well under half the room.
    let answer = answer_of(7_000);
    let plain = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        answer.as_bytes(),
    );
    let event = classified(answer);
    let bytes = encode_event(&event);
    assert!(bytes.starts_with(r#"{"format":4,"#), "{bytes}");
    assert!(bytes.contains(r#""answer":"lz4d1:"#), "{bytes}");
    assert!(bytes.len() * 2 < plain.len(), "{} bytes", bytes.len());
    assert_eq!(decode_event(&bytes).unwrap(), event);

    // A filing's chip specifications are compressed alike.
    let mut application = (*filed()).clone();
    application.items[1].chip = Chip::Spec(answer_of(300));
    let filed = Event::ApplicationFiled {
        at: at(0),
        actor: "acme".into(),
        id: "01a2".into(),
        applicant: "acme".into(),
        application: Arc::new(application),
        first_action_due: at(9),
        overall_due: at(59),
    };
    let bytes = encode_event(&filed);
    assert!(bytes.starts_with(r#"{"format":4,"#), "{bytes}");
    assert!(bytes.contains(r#""spec":"lz4d1:"#), "{bytes}");
    assert_eq!(decode_event(&bytes).unwrap(), filed);
}

#[test]
fn a_broken_compressed_message_is_refused() {
    let b64 =
        |bytes: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    let read = |stored: &str| {
        serde_json::from_str::<Encoded>(&format!("\"{stored}\"")).map_err(|e| e.to_string())
    };
    let mut short = lz4_flex::block::compress_prepend_size(b"abc");
    short[0] = 9;
    let cases = [
        // Not base64.
        ("lz4:???".to_owned(), "Invalid"),
        // Shorter than its size prefix.
        ("lz4:AAE=".to_owned(), "expected another byte"),
        // A block that is not LZ4.
        (format!("lz4:{}", b64(&[16, 0, 0, 0, 0xff])), ""),
        // A size of 4 GiB is refused before anything is allocated.
        (
            format!("lz4:{}", b64(&[0xff, 0xff, 0xff, 0xff, 0x10, b'x'])),
            "claims 4294967295 bytes",
        ),
        // A block that expands to less than its prefix says.
        (format!("lz4:{}", b64(&short)), "not the 9 it claims"),
        // The same against the dictionary.
        ("lz4d1:???".to_owned(), "Invalid"),
        (format!("lz4d1:{}", b64(&short)), "not the 9 it claims"),
    ];
    for (stored, expected) in cases {
        let error = read(&stored).unwrap_err();
        assert!(error.contains(expected), "{stored}: {error}");
        let event = encode_event(&classified(Encoded::default()))
            .replace(r#""answer":"""#, &format!(r#""answer":"{stored}""#));
        assert!(decode_event(&event).is_err(), "{event}");
    }
    assert_eq!(read("lz4:AwAAADBhYmM=").unwrap().as_bytes(), b"abc");
}
