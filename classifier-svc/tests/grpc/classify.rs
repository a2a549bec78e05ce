//! The headline (the H200 to China) and the reference's scenarios, with
//! specifications over the wire.

use crate::support::*;

#[tokio::test]
async fn h200_to_china_under_the_january_2026_overlay() {
    let app = spawn().await;
    let mut client = app.client();

    let response = classified(&mut client, h200_to_china()).await;
    let c = classification(&response);
    assert_eq!(control_status(&response), pb::ControlStatus::Controlled);
    assert_eq!(c.eccn, "3A090.a");
    assert_eq!(c.paragraph, "3A090.a.1");
    assert!(
        c.paragraphs_met.iter().any(|p| p == "3A090.a.1"),
        "{:?}",
        c.paragraphs_met
    );
    assert!((c.tpp - 15_832.0).abs() <= 1.0, "tpp {}", c.tpp);
    assert_eq!(c.tpp_bit_length, 8);
    let pd = c.performance_density.expect("performance density known");
    assert!((pd - 19.4).abs() <= 0.1, "performance density {pd}");
    assert!(!c.tpp_by_precision.is_empty());

    let l = licence(&response);
    assert!(l.license_required);
    assert_eq!(licence_status(&response), pb::LicenseStatus::Required);
    assert_eq!(review_policy(&response), pb::ReviewPolicy::CaseByCase);
    assert!(
        !l.conditions.is_empty(),
        "the overlay comes with conditions"
    );
    assert_eq!(l.normalized_destination, "CN");
    assert_eq!(response.rule_set, "V2026a");
    assert_eq!(response.as_of, "2026-02-01");
    assert!(!response.item_name.is_empty());
    assert!(
        !response.not_evaluated.is_empty(),
        "answers list what was not screened"
    );
    assert_eq!(response.index, 0);
    assert!(response.error.is_none());
    assert_decision_id(&response);
    assert_every_finding_cited(&response);

    // A second identical request is a new decision.
    let again = classified(&mut client, h200_to_china()).await;
    assert_ne!(again.decision_id, response.decision_id);

    // Before the overlay: the rule set of that date, presumption of denial.
    let mid_2025 = classified(&mut client, h200(export_to("CN"), "2025-06-01")).await;
    assert_eq!(mid_2025.rule_set, "V2025b");
    assert_eq!(classification(&mid_2025).paragraph, "3A090.a.1");
    assert_denial_presumed(&mid_2025);

    // A reexport stays at denial under the overlay.
    let reexport = classified(
        &mut client,
        h200(shipment("CN", pb::ExportType::Reexport), "2026-02-01"),
    )
    .await;
    assert_eq!(reexport.rule_set, "V2026a");
    assert_denial_presumed(&reexport);

    // Hong Kong is China.
    let hong_kong = classified(&mut client, h200(export_to("HK"), "2026-02-01")).await;
    assert_eq!(licence(&hong_kong).normalized_destination, "CN");
    assert!(licence(&hong_kong).license_required);
    assert_eq!(review_policy(&hong_kong), pb::ReviewPolicy::CaseByCase);
    assert_eq!(licence(&hong_kong).conditions, l.conditions);

    // Without a transaction only the classification is answered.
    let bare = classified(&mut client, catalogue("chips/h200", None, "2026-02-01")).await;
    assert!(bare.license.is_none());
    assert_eq!(classification(&bare).paragraph, "3A090.a.1");

    app.stop().await;
}

/// A licence is required under a presumption of denial, and every finding
/// cites its source.
fn assert_denial_presumed(response: &pb::ClassifyItemResponse) {
    assert!(licence(response).license_required);
    assert_eq!(
        review_policy(response),
        pb::ReviewPolicy::PresumptionOfDenial
    );
    assert_every_finding_cited(response);
}

// ---------------------------------------------------------------------------
// 2. Reference section 8 scenarios, with specifications over the wire
// ---------------------------------------------------------------------------

struct Scenario {
    /// Row of the reference's section 8 table (with a variant note).
    label: &'static str,
    spec: pb::ChipSpec,
    transaction: Option<pb::Transaction>,
    as_of: &'static str,
    status: pb::ControlStatus,
    /// Expected most specific paragraph ("" = none).
    paragraph: &'static str,
    /// Expected licence status and review policy when a transaction is given.
    licence: Option<(pb::LicenseStatus, pb::ReviewPolicy)>,
}

fn scenarios() -> Vec<Scenario> {
    use pb::ControlStatus::{Controlled, Indeterminate, NotControlled};
    use pb::LicenseStatus::{NotRequired, Required};
    use pb::ReviewPolicy::{NotApplicable, PresumptionOfApproval, PresumptionOfDenial};
    let a100_class = || pb::ChipSpec {
        interconnect_bandwidth_gb_s: 400.0,
        ..datacenter(4992.0, Some(6.04))
    };
    vec![
        Scenario {
            label: "1",
            spec: pb::ChipSpec {
                rates: vec![pb::ProcessingRate {
                    format: "INT8".to_owned(),
                    ..rate(8, 600.0)
                }],
                ..datacenter(4800.0, None)
            },
            transaction: None,
            as_of: "2024-01-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: None,
        },
        Scenario {
            label: "4",
            spec: ic(4700.0, Some(7.7), pb::Market::NonDatacenter),
            transaction: None,
            as_of: "2026-02-01",
            status: NotControlled,
            paragraph: "",
            licence: None,
        },
        Scenario {
            label: "5",
            spec: ic(5285.0, None, pb::Market::NonDatacenter),
            transaction: None,
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: None,
        },
        Scenario {
            label: "6",
            spec: datacenter(2600.0, Some(3.0)),
            transaction: None,
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.b.1",
            licence: None,
        },
        Scenario {
            label: "9",
            spec: datacenter(2000.0, None),
            transaction: None,
            as_of: "2026-02-01",
            status: Indeterminate,
            paragraph: "",
            licence: None,
        },
        Scenario {
            label: "10",
            spec: a100_class(),
            transaction: None,
            as_of: "2023-06-01",
            status: NotControlled,
            paragraph: "",
            licence: None,
        },
        Scenario {
            label: "11",
            spec: a100_class(),
            transaction: None,
            as_of: "2024-01-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: None,
        },
        Scenario {
            label: "16",
            spec: pb::ChipSpec {
                dram_bandwidth_gb_s: 8000.0,
                us_commercially_available_2026_01_15: Some(true),
                ..datacenter(36_000.0, Some(36_000.0 / 1600.0))
            },
            transaction: Some(export_with_hq("CN", "CN", "CN")),
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: Some((Required, PresumptionOfDenial)),
        },
        a1_export(
            "17",
            export_with_hq("DE", "DE", "DE"),
            (NotRequired, NotApplicable),
        ),
        a1_export(
            "18",
            export_with_hq("DE", "DE", "CN"),
            (Required, PresumptionOfDenial),
        ),
        a1_export(
            "19",
            export_with_hq("SA", "SA", "SA"),
            (Required, PresumptionOfApproval),
        ),
        a1_export(
            "20",
            export_with_hq("IL", "IL", "IL"),
            (NotRequired, NotApplicable),
        ),
        // Section 5.2: the HQ rule needs both headquarters; unknown is not "no".
        a1_export(
            "17, headquarters unknown",
            export_to("DE"),
            (
                pb::LicenseStatus::Indeterminate,
                pb::ReviewPolicy::Indeterminate,
            ),
        ),
        a1_export(
            "19, headquarters unknown",
            export_to("SA"),
            (Required, pb::ReviewPolicy::Indeterminate),
        ),
    ]
}

/// A row in which an A1 part (controlled under 3A090.a.1) is exported on
/// 2026-02-01: only the transaction and the expected licence differ.
fn a1_export(
    label: &'static str,
    transaction: pb::Transaction,
    licence: (pb::LicenseStatus, pb::ReviewPolicy),
) -> Scenario {
    Scenario {
        label,
        spec: a1_part(),
        transaction: Some(transaction),
        as_of: "2026-02-01",
        status: pb::ControlStatus::Controlled,
        paragraph: "3A090.a.1",
        licence: Some(licence),
    }
}

#[tokio::test]
async fn reference_scenarios_over_the_wire() {
    let app = spawn().await;
    let mut client = app.client();
    for s in scenarios() {
        let context = format!("scenario {}", s.label);
        let response = client
            .classify_item(with_spec(s.spec, s.transaction, s.as_of))
            .await
            .unwrap_or_else(|status| panic!("{context}: {status:?}"))
            .into_inner();
        let c = classification(&response);
        assert_eq!(control_status(&response), s.status, "{context}: {c:#?}");
        assert_eq!(c.paragraph, s.paragraph, "{context}");
        assert_eq!(response.as_of, s.as_of, "{context}");
        assert_every_finding_cited(&response);
        match s.licence {
            None => assert!(response.license.is_none(), "{context}"),
            Some((status, policy)) => {
                assert_eq!(licence_status(&response), status, "{context}");
                assert_eq!(review_policy(&response), policy, "{context}");
                let required = status == pb::LicenseStatus::Required;
                assert_eq!(licence(&response).license_required, required, "{context}");
            }
        }
        match s.label {
            "1" => assert_eq!(c.tpp, 4800.0, "{context}: `>=` at exactly 4800"),
            "5" => assert!(
                ["NAC", "ACA"]
                    .iter()
                    .all(|e| c.eligible_license_exceptions.iter().any(|x| x == e)),
                "{context}: {:?}",
                c.eligible_license_exceptions
            ),
            "9" => {
                assert!(c.performance_density.is_none(), "{context}");
                assert!(!c.open_tests.is_empty(), "{context}: names the open test");
            }
            "11" => assert_eq!(c.eccn, "3A090.a", "{context}"),
            _ => {}
        }
    }
    app.stop().await;
}
