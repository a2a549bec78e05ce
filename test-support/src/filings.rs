//! Requests the review-svc suites send: over gRPC in-process, over the
//! wire to the built binaries, and in the fuzzers.

use exportcontrol_proto::classifier::v1 as cpb;
use exportcontrol_proto::review::v1 as pb;

/// An export from the U.S. to a customer, and the customer's and its
/// parent's headquarters, all in `destination`.
pub fn route(destination: &str) -> cpb::Transaction {
    cpb::Transaction {
        destination_country: destination.into(),
        end_user_headquarters_country: destination.into(),
        ultimate_parent_headquarters_country: destination.into(),
        export_type: cpb::ExportType::ExportFromUs as i32,
        is_informed_notice_received: false,
        ..Default::default()
    }
}

/// [`route`] to a cloud company using the chips for inference.
pub fn cloud_export(destination: &str) -> pb::ExportTransaction {
    pb::ExportTransaction {
        route: Some(route(destination)),
        end_user_name: "Example Cloud Co.".into(),
        end_use_statement: "Commercial cloud inference".into(),
    }
}

/// `quantity` catalogue chips at $30,000 each.
pub fn catalog_item(chip: &str, quantity: u64) -> pb::LineItem {
    pb::LineItem {
        item: Some(pb::line_item::Item::CatalogChip(chip.into())),
        quantity,
        unit_value_usd_cents: 3_000_000,
    }
}

/// A valid filing: `quantity` H200s to a cloud company in `destination`,
/// with a fresh request id.
pub fn h200_to(destination: &str, quantity: u64) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        application: Some(pb::Application {
            items: vec![catalog_item("H200", quantity)],
            transaction: Some(cloud_export(destination)),
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

/// A datacenter chip given by its specifications: `dense_tops` dense INT8
/// TOPS on one 600 mm2 non-planar die.
pub fn accelerator(dense_tops: f64) -> cpb::ChipSpec {
    cpb::ChipSpec {
        name: "my-accelerator".into(),
        kind: cpb::ItemKind::IntegratedCircuit as i32,
        market: cpb::Market::Datacenter as i32,
        rates: vec![cpb::ProcessingRate {
            bit_length: 8,
            dense_tops,
            format: "INT8".into(),
        }],
        dies: vec![cpb::Die {
            area_mm2: 600.0,
            non_planar: true,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// One board of `chips` chips of `rates` processing rates each, every rate
/// with a long format: a large item, for the size limits (64 by 64 is
/// about 700 kB).
pub fn assembly(chips: usize, rates: usize) -> pb::LineItem {
    let chip = cpb::ChipSpec {
        name: "accelerator".into(),
        kind: cpb::ItemKind::IntegratedCircuit as i32,
        rates: (0..rates)
            .map(|i| cpb::ProcessingRate {
                bit_length: 1 + (i % 64) as u32,
                dense_tops: 100.0,
                format: format!("{i:0>148}"),
            })
            .collect(),
        dies: vec![cpb::Die {
            area_mm2: 600.0,
            non_planar: true,
            ..Default::default()
        }],
        ..Default::default()
    };
    pb::LineItem {
        item: Some(pb::line_item::Item::Spec(cpb::ChipSpec {
            name: "board".into(),
            kind: cpb::ItemKind::ComputerOrAssembly as i32,
            contained_ics: vec![
                cpb::ContainedIntegratedCircuit {
                    ic: Some(cpb::contained_integrated_circuit::Ic::Spec(chip)),
                    count: 1,
                };
                chips
            ],
            ..Default::default()
        })),
        quantity: 1,
        unit_value_usd_cents: 3_000_000,
    }
}

/// `agency`'s `recommendation` on application `name` at `etag`, with a
/// fresh request id, a condition when it approves with conditions, and the
/// agency's position as the rationale.
pub fn recommendation_request(
    name: &str,
    etag: &str,
    agency: pb::Agency,
    recommendation: pb::Recommendation,
) -> pb::RecordRecommendationRequest {
    let with_conditions = recommendation == pb::Recommendation::ApproveWithConditions;
    pb::RecordRecommendationRequest {
        name: name.to_owned(),
        etag: etag.to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        agency: agency as i32,
        recommendation: recommendation as i32,
        conditions: conditions(with_conditions, "No transfer to military end users"),
        rationale: format!("{} position", agency.as_str_name()),
    }
}

/// `outcome` on application `name` at `etag`, with a fresh request id and a
/// condition when it approves with conditions.
pub fn decision_request(
    name: &str,
    etag: &str,
    outcome: pb::Outcome,
    rationale: &str,
) -> pb::DecideApplicationRequest {
    let with_conditions = outcome == pb::Outcome::ApproveWithConditions;
    pb::DecideApplicationRequest {
        name: name.to_owned(),
        etag: etag.to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        outcome: outcome as i32,
        conditions: conditions(with_conditions, "Quarterly end-use reports"),
        rationale: rationale.to_owned(),
    }
}

/// `condition` alone when the answer approves with conditions, else none.
fn conditions(with_conditions: bool, condition: &str) -> Vec<String> {
    if with_conditions {
        vec![condition.to_owned()]
    } else {
        Vec::new()
    }
}

/// `agency`'s appeal of the decision on application `name` at `etag`, with
/// a fresh request id.
pub fn appeal_request(
    name: &str,
    etag: &str,
    agency: pb::Agency,
    rationale: &str,
) -> pb::AppealApplicationRequest {
    pb::AppealApplicationRequest {
        name: name.to_owned(),
        etag: etag.to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        agency: agency as i32,
        rationale: rationale.to_owned(),
    }
}

/// The applicant's withdrawal of application `name` at `etag`, with a fresh
/// request id.
pub fn withdrawal_request(name: &str, etag: &str, reason: &str) -> pb::WithdrawApplicationRequest {
    pb::WithdrawApplicationRequest {
        name: name.to_owned(),
        etag: etag.to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        reason: reason.to_owned(),
    }
}

/// This instant in whole seconds, as the requests' times are given.
pub fn now_timestamp() -> prost_types::Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: since_epoch.as_secs() as i64,
        nanos: 0,
    }
}

/// A fresh AES Internal Transaction Number: X and 14 digits, in
/// increasing order within a process from a random start, as AES hands
/// them out (an item is drawn down once per filing, and a store keeps the
/// filings of a licence in order, so random numbers would cost it more
/// than real ones do).
pub fn fresh_itn() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    const SPACE: u64 = 100_000_000_000_000;
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        // Room for a billion before the 14 digits run out.
        let start = (uuid::Uuid::new_v4().as_u128() % u128::from(SPACE - 1_000_000_000)) as u64;
        AtomicU64::new(start)
    });
    format!("X{:014}", next.fetch_add(1, Ordering::Relaxed) % SPACE)
}

/// An export of `quantity` units of item 0 under licence `license` at the
/// unit value filed, on `export_time`, with the U.S. laboratory's test
/// report the H200 licences require, a fresh request id and an export
/// filing of its own ([`fresh_itn`]).
pub fn shipment_request(
    license: &str,
    quantity: u64,
    export_time: prost_types::Timestamp,
) -> pb::RecordShipmentRequest {
    pb::RecordShipmentRequest {
        license: license.to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        item_index: 0,
        quantity,
        value_usd_cents: quantity * 3_000_000,
        export_time: Some(export_time),
        filing_reference: fresh_itn(),
        attestations: vec![pb::Attestation {
            kind: "US_LAB_TEST_REPORT".into(),
            reference: "LAB-2026-0001".into(),
        }],
    }
}

/// A shipment within the U.S. of `quantity` units of item 0 under licence
/// `license` to a research cloud, declared at `value_usd_cents`, with a
/// fresh request id and an invoice of its own (an invoice is reported
/// once).
pub fn domestic_shipment_request(
    license: &str,
    quantity: u64,
    value_usd_cents: u64,
    ship_time: prost_types::Timestamp,
) -> pb::RecordDomesticShipmentRequest {
    let request_id = uuid::Uuid::new_v4().to_string();
    pb::RecordDomesticShipmentRequest {
        license: license.to_owned(),
        reference: format!("INV-{}", &request_id[..8]),
        request_id,
        item_index: 0,
        quantity,
        value_usd_cents,
        ship_time: Some(ship_time),
        customer: "US Research Cloud Inc.".into(),
    }
}
