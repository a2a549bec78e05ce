//! Bad input, table-driven: every refusal names its fields and reason.

use crate::support::*;

enum Call {
    Classify(Box<pb::ClassifyItemRequest>),
    GetChip(&'static str),
    ListChips(pb::ListChipsRequest),
}

struct BadInput {
    name: &'static str,
    call: Call,
    code: Code,
    field: &'static str,
}

/// A valid request (a spec and a transaction) changed by `edit`.
fn classify_edited(edit: impl FnOnce(&mut pb::ClassifyItemRequest)) -> Call {
    let mut request = with_spec(
        pb::ChipSpec {
            rates: vec![rate(8, 600.0), rate(16, 300.0)],
            dies: vec![logic_die(800.0)],
            ..datacenter(4800.0, None)
        },
        Some(export_with_hq("CN", "CN", "CN")),
        "2026-02-01",
    );
    edit(&mut request);
    Call::Classify(Box::new(request))
}

fn spec_of(request: &mut pb::ClassifyItemRequest) -> &mut pb::ChipSpec {
    match request.item.as_mut() {
        Some(pb::classify_item_request::Item::Spec(spec)) => spec,
        _ => unreachable!("the base request has a spec"),
    }
}

fn tx_of(request: &mut pb::ClassifyItemRequest) -> &mut pb::Transaction {
    request
        .transaction
        .as_mut()
        .expect("the base request has a transaction")
}

fn edit_spec(edit: impl FnOnce(&mut pb::ChipSpec)) -> Call {
    classify_edited(|r| edit(spec_of(r)))
}

fn edit_tx(edit: impl FnOnce(&mut pb::Transaction)) -> Call {
    classify_edited(|r| edit(tx_of(r)))
}

fn as_of(date: &'static str) -> Call {
    classify_edited(|r| r.as_of = date.to_owned())
}

#[rustfmt::skip]
fn bad_inputs(token: &str, nvidia_token: &str) -> Vec<BadInput> {
    use Code::{InvalidArgument as Invalid, NotFound};
    let row = |code, field, name, call| BadInput { name, call, code, field };
    let dense_tops = "spec.rates[0].dense_tops";
    let destination = "transaction.destination_country";
    let end_user = "transaction.end_user_headquarters_country";
    let parent = "transaction.ultimate_parent_headquarters_country";
    let list = |page_size: i32, page_token: &str, vendor: &str| {
        Call::ListChips(pb::ListChipsRequest {
            page_size,
            page_token: page_token.to_owned(),
            vendor: vendor.to_owned(),
        })
    };
    let assembly_of = |ic| {
        edit_spec(move |s| {
            s.kind = pb::ItemKind::ComputerOrAssembly as i32;
            s.contained_ics = vec![pb::ContainedIntegratedCircuit { ic, count: 8 }];
        })
    };
    let unknown_chip = || Some(pb::classify_item_request::Item::CatalogChip("H9000".into()));
    let mut tampered = token.to_owned().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii token");

    vec![
        // ClassifyItem: the item and its numbers.
        row(Invalid, "item", "missing item", classify_edited(|r| r.item = None)),
        row(Invalid, dense_tops, "NaN dense_tops", edit_spec(|s| s.rates[0].dense_tops = f64::NAN)),
        row(Invalid, dense_tops, "+inf dense_tops", edit_spec(|s| s.rates[0].dense_tops = f64::INFINITY)),
        row(Invalid, dense_tops, "-inf dense_tops", edit_spec(|s| s.rates[0].dense_tops = f64::NEG_INFINITY)),
        row(Invalid, dense_tops, "negative dense_tops", edit_spec(|s| s.rates[0].dense_tops = -600.0)),
        row(Invalid, dense_tops, "zero dense_tops", edit_spec(|s| s.rates[0].dense_tops = 0.0)),
        row(Invalid, "spec.rates[1].dense_tops", "TPP overflows", edit_spec(|s| s.rates[1].dense_tops = f64::MAX)),
        row(Invalid, "spec.rates[0].bit_length", "bit_length 0", edit_spec(|s| s.rates[0].bit_length = 0)),
        row(Invalid, "spec.rates[1].bit_length", "bit_length 65", edit_spec(|s| s.rates[1].bit_length = 65)),
        row(Invalid, "spec.rates", "no rates", edit_spec(|s| s.rates.clear())),
        row(Invalid, "spec.dies[0].area_mm2", "negative die area", edit_spec(|s| s.dies[0].area_mm2 = -1.0)),
        row(Invalid, "spec.dies[0].area_mm2", "NaN die area", edit_spec(|s| s.dies[0].area_mm2 = f64::NAN)),
        row(Invalid, "spec.dram_bandwidth_gb_s", "negative DRAM bandwidth", edit_spec(|s| s.dram_bandwidth_gb_s = -1.0)),
        row(Invalid, "spec.kind", "unknown ItemKind", edit_spec(|s| s.kind = 99)),
        row(Invalid, "spec.market", "unknown Market", edit_spec(|s| s.market = 99)),
        row(Invalid, "spec.contained_ics[0]", "contained IC without an IC", assembly_of(None)),
        row(Invalid, "spec.name", "name over 200 bytes", edit_spec(|s| s.name = "n".repeat(201))),
        row(Invalid, "spec.rates[1].format", "format over 200 bytes", edit_spec(|s| s.rates[1].format = "F".repeat(201))),
        row(Invalid, "spec.rates", "65 rates", edit_spec(|s| s.rates = vec![rate(8, 1.0); 65])),
        row(NotFound, "catalog_chip", "unknown catalogue chip", classify_edited(|r| r.item = unknown_chip())),
        row(NotFound, "spec.contained_ics[0].catalog_chip", "unknown contained chip",
            assembly_of(Some(pb::contained_integrated_circuit::Ic::CatalogChip("H9000".into())))),
        // ClassifyItem: the transaction.
        row(Invalid, "transaction.export_type", "unknown ExportType", edit_tx(|t| t.export_type = 99)),
        row(Invalid, "transaction.export_type", "missing ExportType", edit_tx(|t| t.export_type = 0)),
        row(Invalid, destination, "destination XX", edit_tx(|t| t.destination_country = "XX".into())),
        row(Invalid, destination, "destination C", edit_tx(|t| t.destination_country = "C".into())),
        row(Invalid, destination, "destination CHN", edit_tx(|t| t.destination_country = "CHN".into())),
        row(Invalid, destination, "destination empty", edit_tx(|t| t.destination_country.clear())),
        row(Invalid, end_user, "end-user HQ XX", edit_tx(|t| t.end_user_headquarters_country = "XX".into())),
        row(Invalid, end_user, "end-user HQ C", edit_tx(|t| t.end_user_headquarters_country = "C".into())),
        row(Invalid, end_user, "end-user HQ CHN", edit_tx(|t| t.end_user_headquarters_country = "CHN".into())),
        row(Invalid, parent, "parent HQ XX", edit_tx(|t| t.ultimate_parent_headquarters_country = "XX".into())),
        row(Invalid, parent, "parent HQ C", edit_tx(|t| t.ultimate_parent_headquarters_country = "C".into())),
        row(Invalid, parent, "parent HQ CHN", edit_tx(|t| t.ultimate_parent_headquarters_country = "CHN".into())),
        // ClassifyItem: the date.
        row(Invalid, "as_of", "as_of month 13", as_of("2026-13-01")),
        row(Invalid, "as_of", "as_of US style", as_of("01/02/2026")),
        row(Invalid, "as_of", "as_of unpadded", as_of("2026-2-1")),
        row(Invalid, "as_of", "as_of 30 February", as_of("2026-02-30")),
        // GetChip.
        row(Invalid, "name", "GetChip empty name", Call::GetChip("")),
        row(NotFound, "name", "GetChip unknown name", Call::GetChip("chips/h9000")),
        // ListChips.
        row(Invalid, "page_size", "negative page_size", list(-1, "", "")),
        row(Invalid, "page_token", "tampered token", list(7, &tampered, "")),
        row(Invalid, "page_token", "garbage token", list(7, "not a token", "")),
        row(Invalid, "page_token", "token of another vendor", list(5, nvidia_token, "AMD")),
        row(Invalid, "page_token", "filtered token, no filter", list(5, nvidia_token, "")),
        row(Invalid, "page_token", "unfiltered token, filter", list(5, token, "nvidia")),
    ]
}

async fn call(client: &mut ClassifierServiceClient<Channel>, call: Call) -> Result<(), Status> {
    match call {
        Call::Classify(request) => client.classify_item(*request).await.map(drop),
        Call::GetChip(name) => client
            .get_chip(pb::GetChipRequest {
                name: name.to_owned(),
            })
            .await
            .map(drop),
        Call::ListChips(request) => client.list_chips(request).await.map(drop),
    }
}

async fn first_page_token(client: &mut ClassifierServiceClient<Channel>, vendor: &str) -> String {
    let page = client
        .list_chips(pb::ListChipsRequest {
            page_size: 5,
            page_token: String::new(),
            vendor: vendor.to_owned(),
        })
        .await
        .expect("first page")
        .into_inner();
    assert!(
        !page.next_page_token.is_empty(),
        "{vendor:?} has a second page"
    );
    page.next_page_token
}

#[tokio::test]
async fn bad_input_is_refused_with_field_violations() {
    let app = spawn().await;
    let mut client = app.client();
    let token = first_page_token(&mut client, "").await;
    let nvidia_token = first_page_token(&mut client, "NVIDIA").await;
    let rows = bad_inputs(&token, &nvidia_token);
    assert!(rows.len() >= 25);
    for row in rows {
        let status = match timeout(LIMIT, call(&mut client, row.call)).await {
            Ok(Ok(())) => panic!("{}: accepted", row.name),
            Ok(Err(status)) => status,
            Err(_) => panic!("{}: no answer in time", row.name),
        };
        assert!(!status.message().is_empty(), "{}: message", row.name);
        Refusal::of_status(&status).assert_names(row.code, row.field, row.name);
    }
    assert_eq!(app.health_status("").await, ServingStatus::Serving);
    assert_eq!(app.health_status(SERVICE).await, ServingStatus::Serving);
    app.stop().await;
}

#[tokio::test]
async fn every_violation_of_a_request_is_reported() {
    let app = spawn().await;
    let request = pb::ClassifyItemRequest {
        item: Some(pb::classify_item_request::Item::Spec(pb::ChipSpec {
            kind: 99,
            ..datacenter(4800.0, None)
        })),
        transaction: Some(pb::Transaction {
            destination_country: "XX".into(),
            end_user_headquarters_country: "CHN".into(),
            export_type: 0,
            ..Default::default()
        }),
        as_of: "2026-2-1".into(),
        ..Default::default()
    };
    let status = app
        .client()
        .classify_item(request)
        .await
        .expect_err("refused");
    let refusal = Refusal::of_status(&status);
    for field in [
        "spec.kind",
        "transaction.destination_country",
        "transaction.end_user_headquarters_country",
        "transaction.export_type",
        "as_of",
    ] {
        refusal.assert_names(Code::InvalidArgument, field, "combined");
    }
    // Problems of different kinds: the reason says so, and names none of
    // them; each field violation names its own.
    assert_eq!(refusal.reason, "INVALID_FIELDS");
    let reason_of = |field: &str| {
        let at = refusal.fields.iter().position(|f| f == field).expect(field);
        refusal.field_reasons[at].as_str()
    };
    assert_eq!(reason_of("as_of"), "INVALID_AS_OF_DATE");
    assert_eq!(
        reason_of("transaction.destination_country"),
        "UNKNOWN_COUNTRY_CODE"
    );
    assert_eq!(reason_of("transaction.export_type"), "MISSING_FIELD");
    app.stop().await;
}

#[tokio::test]
async fn accepted_spellings() {
    let app = spawn().await;
    let mut client = app.client();
    // Lower-case country codes are normalised; empty HQ means unknown.
    let lower = classified(
        &mut client,
        catalogue("h200", Some(export_to("hk")), "2026-02-01"),
    )
    .await;
    assert_eq!(licence(&lower).normalized_destination, "CN");
    // An empty as_of means today.
    let today = classified(&mut client, catalogue("H200", None, "")).await;
    let date = chrono::NaiveDate::parse_from_str(&today.as_of, "%Y-%m-%d").expect("a date");
    let now = chrono::Utc::now().date_naive();
    assert!((now - date).num_days().abs() <= 1, "{date} vs {now}");
    // Before the first rule set nothing is in force.
    let early = classified(&mut client, catalogue("H200", None, "2021-01-01")).await;
    assert_eq!(control_status(&early), pb::ControlStatus::NotInForce);
    app.stop().await;
}
