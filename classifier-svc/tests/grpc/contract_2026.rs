//! Integration tests of the 2026 contract: the UAE question by end user,
//! the tariff block, thresholds, the history RPC, the BASIC view, and the
//! refusals (specific reasons, every violation, hostile names).

use crate::support::*;

fn uae(name: &str, kind: pb::EndUserKind) -> pb::Transaction {
    pb::Transaction {
        destination_country: "AE".into(),
        export_type: pb::ExportType::ExportFromUs as i32,
        end_user_name: name.into(),
        end_user_kind: kind as i32,
        ..Default::default()
    }
}

fn china() -> pb::Transaction {
    pb::Transaction {
        destination_country: "CN".into(),
        end_user_headquarters_country: "CN".into(),
        ultimate_parent_headquarters_country: "CN".into(),
        export_type: pb::ExportType::ExportFromUs as i32,
        ..Default::default()
    }
}

fn licence_and_policy(r: &pb::ClassifyItemResponse) -> (pb::LicenseStatus, pb::ReviewPolicy) {
    let l = r.license.as_ref().expect("licence");
    (l.status(), l.review_policy())
}

#[tokio::test]
async fn the_uae_question_for_three_end_users() {
    let app = spawn().await;
    let mut client = app.client();
    for (name, kind, want, rule) in [
        (
            "",
            pb::EndUserKind::Government,
            pb::LicenseStatus::NotRequired,
            "uae.government",
        ),
        (
            "G42",
            pb::EndUserKind::IaasProvider,
            pb::LicenseStatus::NotRequired,
            "uae.supplement8_entity",
        ),
        (
            "Falcon Compute LLC",
            pb::EndUserKind::Commercial,
            pb::LicenseStatus::Required,
            "uae.licence_required",
        ),
    ] {
        let r = classified(&mut client, h200(uae(name, kind), "2026-08-01")).await;
        assert_eq!(r.rule_set, "V2026b");
        assert_eq!(licence_and_policy(&r).0, want, "{name:?}");
        let reasons = &r.license.as_ref().unwrap().reasons;
        let f = reasons.iter().find(|f| f.rule_id == rule).expect(rule);
        assert!(f.holds && !f.citation.is_empty(), "{f:?}");
    }
    let other = classified(
        &mut client,
        h200(uae("", pb::EndUserKind::Unspecified), "2026-08-01"),
    )
    .await;
    assert_eq!(
        licence_and_policy(&other),
        (pb::LicenseStatus::Required, pb::ReviewPolicy::Indeterminate)
    );
    app.stop().await;
}

#[tokio::test]
async fn tariff_thresholds_and_the_basic_view() {
    let app = spawn().await;
    let mut client = app.client();
    let full = classified(&mut client, h200(china(), "2026-08-01")).await;
    let t = full.tariff.as_ref().expect("tariff block");
    assert_eq!(
        (t.applies, t.heading.as_str(), t.rate_percent, t.band),
        (true, "9903.79.01", 25.0, 1)
    );
    assert_eq!(t.exemptions.len(), 7);
    let c = full.classification.as_ref().unwrap();
    let fr26 = c
        .thresholds
        .iter()
        .find(|t| t.name == "January 2026 overlay TPP")
        .expect("the overlay's TPP limit");
    assert_eq!((fr26.limit, fr26.bound()), (21000.0, pb::Bound::Below));
    assert!((fr26.margin.unwrap() + 5168.8).abs() < 1e-6);
    let reasons = &full.license.as_ref().unwrap().reasons;
    assert!(reasons
        .iter()
        .any(|f| f.rule_id == "tariff.fr26_customs" && f.holds));

    let mut basic_request = h200(china(), "2026-08-01");
    basic_request.view = pb::ClassificationView::Basic as i32;
    let basic = classified(&mut client, basic_request).await;
    assert_eq!(licence_and_policy(&basic), licence_and_policy(&full));
    let b = basic.classification.as_ref().unwrap();
    // BASIC carries the thresholds in columns; read back, the numbers stay.
    assert!(b.thresholds.is_empty());
    let b_thresholds = classifier_svc::convert::compact::expand_compact_thresholds(
        b.compact_thresholds.as_ref().expect("compact thresholds"),
    )
    .expect("columns that fit together");
    assert_eq!(b_thresholds.len(), c.thresholds.len());
    for (b, c) in b_thresholds.iter().zip(&c.thresholds) {
        assert_eq!(
            (&b.rule_id, b.limit, b.value, b.margin, b.met),
            (&c.rule_id, c.limit, c.value, c.margin, c.met),
            "numbers stay"
        );
        assert!(b.name.is_empty());
    }
    assert_eq!(b.findings.len(), c.findings.len(), "rule ids stay");
    assert!(b
        .findings
        .iter()
        .all(|f| f.explanation.is_empty() && f.citation.is_empty()));
    assert!(basic.warnings.is_empty() && basic.not_evaluated.is_empty());
    assert!(
        basic.encoded_len() * 3 < full.encoded_len(),
        "BASIC {} bytes, FULL {}",
        basic.encoded_len(),
        full.encoded_len()
    );
    app.stop().await;
}

#[tokio::test]
async fn history_of_the_h200_to_china() {
    let app = spawn().await;
    let r = app
        .client()
        .classify_item_history(pb::ClassifyItemHistoryRequest {
            item: Some(pb::classify_item_history_request::Item::CatalogChip(
                "H200".into(),
            )),
            transaction: Some(china()),
            as_of: "2026-08-01".into(),
            view: pb::ClassificationView::Basic as i32,
        })
        .await
        .expect("answered")
        .into_inner();
    let rows: Vec<(&str, &str, pb::ReviewPolicy)> = r
        .entries
        .iter()
        .map(|e| {
            let answer = e.answer.as_ref().unwrap();
            (
                e.effective_date.as_str(),
                e.rule_set.as_str(),
                licence_and_policy(answer).1,
            )
        })
        .collect();
    use pb::ReviewPolicy::*;
    assert_eq!(
        rows,
        [
            ("", "NONE", NotApplicable),
            ("2022-10-07", "V2022", PresumptionOfDenial),
            ("2023-11-17", "V2023", PresumptionOfDenial),
            ("2026-01-15", "V2026a", CaseByCase),
        ]
    );
    assert!(r.entries[3]
        .flipped
        .iter()
        .any(|f| f.rule_id == "policy.fr26_case_by_case"));
    app.stop().await;
}

/// What a refusal says; every refusal of this contract carries an ErrorInfo.
fn refusal(status: &Status) -> Refusal {
    assert!(
        status.get_details_error_info().is_some(),
        "no ErrorInfo: {status:?}"
    );
    Refusal::of_status(status)
}

#[tokio::test]
async fn refusals_name_a_specific_reason_and_every_violation() {
    let app = spawn().await;
    let mut client = app.client();
    let bad_date = refused(&mut client, catalogue("H200", None, "2026-13-01")).await;
    let r = refusal(&bad_date);
    assert_eq!(
        (r.code, r.reason.as_str()),
        (Code::InvalidArgument, "INVALID_AS_OF_DATE")
    );
    assert_eq!(r.metadata.get("fields").map(String::as_str), Some("as_of"));
    assert!(
        r.metadata
            .keys()
            .all(|k| k.chars().all(|c| c.is_ascii_alphanumeric())
                && k.starts_with(|c: char| c.is_ascii_lowercase())),
        "lowerCamelCase keys: {:?}",
        r.metadata
    );
    // A zero bit length and a bad date: both reported.
    let spec = pb::ChipSpec {
        name: "zero".into(),
        rates: vec![pb::ProcessingRate {
            bit_length: 0,
            dense_tops: 100.0,
            format: "INT8".into(),
        }],
        ..Default::default()
    };
    let both = refused(
        &mut client,
        pb::ClassifyItemRequest {
            item: Some(pb::classify_item_request::Item::Spec(spec)),
            as_of: "yesterday".into(),
            ..Default::default()
        },
    )
    .await;
    let r = refusal(&both);
    assert_eq!(r.reason, "INVALID_FIELDS");
    assert_eq!(r.fields, ["as_of", "spec.rates[0].bit_length"]);
    assert_eq!(
        r.metadata.get("violationCount").map(String::as_str),
        Some("2")
    );
    app.stop().await;
}

#[tokio::test]
async fn hostile_names_and_duplicate_rates_are_refused() {
    let app = spawn().await;
    let mut client = app.client();
    for name in ["chips/../h200", " H200 ", "H200\u{202e}", "chips/H200"] {
        let status = client
            .classify_item(catalogue(name, None, "2026-02-01"))
            .await
            .expect_err(name);
        assert_eq!(refusal(&status).reason, "INVALID_CHIP_NAME", "{name:?}");
        let status = client
            .get_chip(pb::GetChipRequest { name: name.into() })
            .await
            .expect_err(name);
        assert_eq!(refusal(&status).reason, "INVALID_CHIP_NAME", "{name:?}");
    }
    // The canonical name is answered.
    let ok = classified(&mut client, catalogue("h200 sxm", None, "2026-02-01")).await;
    assert_eq!(ok.item_name, "NVIDIA H200 SXM 141GB");
    let rate = |format: &str| pb::ProcessingRate {
        bit_length: 8,
        dense_tops: 100.0,
        format: format.into(),
    };
    let spec = pb::ChipSpec {
        name: "Dup\u{0007}".into(),
        rates: vec![rate("FP8"), rate("fp8")],
        ..Default::default()
    };
    let status = refused(
        &mut client,
        pb::ClassifyItemRequest {
            item: Some(pb::classify_item_request::Item::Spec(spec)),
            ..Default::default()
        },
    )
    .await;
    let r = refusal(&status);
    assert_eq!(r.fields, ["spec.name", "spec.rates[1].bit_length"]);
    assert_eq!(
        r.metadata.get("reasons").map(String::as_str),
        Some("FORBIDDEN_CHARACTERS,DUPLICATE_BIT_LENGTH")
    );
    let mut tx = uae("G42\u{202e}", pb::EndUserKind::Commercial);
    tx.end_user_kind = 9;
    let status = refused(&mut client, h200(tx, "2026-08-01")).await;
    assert_eq!(
        refusal(&status).fields,
        ["transaction.end_user_name", "transaction.end_user_kind"]
    );
    app.stop().await;
}
