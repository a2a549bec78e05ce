//! Databases written by earlier releases are served as those releases
//! served them, verify byte for byte, and take new events on the same
//! chains, the classifier's answers among them in format 4:
//! `review-svc/tests/fixtures/v2` (events, snapshots, licences and
//! shipments of format 2) and `v3` (the classifier's answers of format 3).
//!
//! Each fixture is written once, by `make_the_fixture` below, driving that
//! release's own binaries; see the fixture's README.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::license_service_client::LicenseServiceClient;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use prost::Message;
use system_tests::{
    all_events, authed, every_page, get_application, get_license, h200_to_china, licensed,
    start_both, verify_audit_trail, LicenseClient, ReviewClient,
};
use test_support::filings::{domestic_shipment_request, shipment_request, withdrawal_request};

fn fixture(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../review-svc/tests/fixtures")
        .join(version)
}

/// What `index.txt` lists: each application's label, name and number of
/// events, then the licence's name.
struct Index {
    applications: BTreeMap<String, (String, usize)>,
    license: String,
}

impl Index {
    fn read(dir: &Path) -> Index {
        let text = std::fs::read_to_string(dir.join("index.txt")).unwrap();
        let mut index = Index {
            applications: BTreeMap::new(),
            license: String::new(),
        };
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["license", name] => index.license = (*name).to_owned(),
                [label, name, count] => {
                    index.applications.insert(
                        (*label).to_owned(),
                        ((*name).to_owned(), count.parse().unwrap()),
                    );
                }
                _ => panic!("index.txt: {line}"),
            }
        }
        index
    }

    fn events(&self) -> usize {
        self.applications.values().map(|(_, count)| count).sum()
    }
}

/// Everything a reader sees of the fixture's records, as served.
struct Served {
    applications: BTreeMap<String, (pb::Application, Vec<pb::ApplicationEvent>)>,
    license: pb::License,
    shipments: Vec<pb::Shipment>,
}

async fn served(review: &mut ReviewClient, licenses: &mut LicenseClient, index: &Index) -> Served {
    let mut applications = BTreeMap::new();
    for (label, (name, _)) in &index.applications {
        let application = get_application(review, name, "dev-auditor").await;
        let events = all_events(review, name, "dev-auditor").await;
        applications.insert(label.clone(), (application, events));
    }
    let license = get_license(licenses, &index.license, "dev-auditor").await;
    let shipments = every_page(
        licenses,
        pb::ListShipmentsRequest {
            parent: index.license.clone(),
            page_size: 200,
            ..Default::default()
        },
        "dev-auditor",
    )
    .await;
    Served {
        applications,
        license,
        shipments,
    }
}

impl Served {
    /// As the release that wrote the fixtures served it: the fields added
    /// since are checked for what they say of the old records, then set
    /// aside. `ics_per_unit`: every licence item of those releases is one
    /// IC a unit.
    fn without_fields_added_since(mut self) -> Self {
        use pb::application_event::Payload;
        let issued = self
            .applications
            .values_mut()
            .flat_map(|(_, events)| events.iter_mut())
            .filter_map(|event| match &mut event.payload {
                Some(Payload::LicenseIssued(issued)) => issued.license.as_mut(),
                _ => None,
            });
        for license in std::iter::once(&mut self.license).chain(issued) {
            for item in &mut license.items {
                assert_eq!(item.ics_per_unit, 1, "{item:?}");
                item.ics_per_unit = 0;
            }
        }
        self
    }
}

/// The answers of the release that wrote `dir`, as `make_the_fixture`
/// kept them.
fn kept<M: Message + Default>(dir: &Path, file: &str) -> M {
    M::decode(std::fs::read(dir.join(file)).unwrap().as_slice()).unwrap()
}

/// A shipment of `quantity` units, exported when the licence was issued:
/// within its validity, and made before it is reported.
fn shipment(license: &pb::License, quantity: u64) -> pb::RecordShipmentRequest {
    let issued = license.issue_time.unwrap_or_default();
    pb::RecordShipmentRequest {
        filing_reference: format!("X20260{quantity:09}"),
        attestations: vec![pb::Attestation {
            kind: "US_LAB_TEST_REPORT".into(),
            reference: format!("LAB-{quantity}"),
        }],
        ..shipment_request(&license.name, quantity, issued)
    }
}

#[tokio::test]
async fn a_database_of_the_second_format_is_served_and_verified() {
    served_verified_and_extended("v2", 2).await;
}

#[tokio::test]
async fn a_database_written_by_the_previous_release_is_served_and_verified() {
    served_verified_and_extended("v3", 3).await;
}

/// The checks of the fixture `version`, whose classifier answers are
/// stored in format `answers_format`.
async fn served_verified_and_extended(version: &str, answers_format: u32) {
    let dir = fixture(version);
    let data = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("review.db"), data.path().join("review.db")).unwrap();
    // No sweeps: the fixture's deadlines are real days from when it was
    // written, and reading must not depend on when the test runs.
    let no_sweeps = vec!["--sweep-interval-ms".into(), "86400000".into()];
    let (classifier, review) = start_both(data.path(), no_sweeps).await;
    let mut client = ReviewServiceClient::connect(review.url()).await.unwrap();
    let mut licenses = LicenseServiceClient::connect(review.url()).await.unwrap();
    let index = Index::read(&dir);

    let now = served(&mut client, &mut licenses, &index)
        .await
        .without_fields_added_since();
    for (label, (application, events)) in &now.applications {
        let then: pb::Application = kept(&dir, &format!("{label}.application.pb"));
        assert_eq!(application, &then, "{label}");
        let then: pb::ListApplicationEventsResponse = kept(&dir, &format!("{label}.events.pb"));
        assert_eq!(events, &then.events, "{label}");
        assert_eq!(events.len(), index.applications[label].1, "{label}");
    }
    assert_eq!(now.license, kept::<pb::License>(&dir, "license.pb"));
    let then: pb::ListShipmentsResponse = kept(&dir, "shipments.pb");
    assert_eq!(now.shipments, then.shipments);
    let report = verify_audit_trail(&mut client, "applications/-", "dev-auditor").await;
    assert!(report.intact, "{report:?}");
    assert_eq!(report.events_checked as usize, index.events());

    // New events join the old chains: a shipment on the old licence (format
    // 2), and a new filing whose classifier answer is kept compressed
    // against the dictionary (format 4).
    let shipped = licenses
        .record_shipment(authed(shipment(&now.license, 7), "dev-applicant"))
        .await
        .unwrap()
        .into_inner();
    let item = &shipped.license.unwrap().items[0];
    assert_eq!(
        item.shipped_quantity,
        now.license.items[0].shipped_quantity + 7
    );
    // The end user's cap counter, kept by that release per product under a
    // key that set aside only case and spacing, was moved to today's key,
    // one per end user, on opening, and the shipment added to it there ("m"
    // is "rn" in the skeleton of look-alike letters the key is made of).
    let before = counters(&dir.join("review.db")).await;
    let after = counters(&data.path().join("review.db")).await;
    let product = "NVIDIA H200 SXM 141GB";
    assert_eq!(
        before.get(&format!("end-user-units|example cloud co.|{product}")),
        Some(&350),
        "{before:?}"
    );
    assert_eq!(
        after.get("end-user-cap|exarnplecloud"),
        Some(&357),
        "{after:?}"
    );
    assert!(
        !after
            .keys()
            .any(|k| k.starts_with("end-user-units|") || k.starts_with("end-user|")),
        "{after:?}"
    );
    // The invoice of the domestic shipment that release recorded was
    // counted on opening: reported again, it is refused.
    let again = pb::RecordDomesticShipmentRequest {
        reference: "inv-1".into(),
        ..domestic_shipment_request(
            &now.license.name,
            40_000,
            0,
            now.license.issue_time.unwrap_or_default(),
        )
    };
    let status = licenses
        .record_domestic_shipment(authed(again, "dev-applicant"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
    assert_eq!(
        after.get("domestic-invoices|exporter-1|INV-1"),
        Some(&1),
        "{after:?}"
    );
    // So were the export filings of the exports it recorded (of a format
    // that release still took), so that none is drawn down twice; and the
    // export just recorded, reported again, is refused.
    let id = now.license.name.trim_start_matches("licenses/");
    let exports: Vec<&pb::Shipment> = then
        .shipments
        .iter()
        .filter(|s| s.kind == pb::ShipmentKind::Export as i32)
        .collect();
    assert!(!exports.is_empty(), "{:?}", then.shipments);
    for export in &exports {
        let filing = format!(
            "export-filings|{id}|{}|{}",
            export.item_index, export.filing_reference
        );
        assert_eq!(after.get(&filing), Some(&1), "{filing}: {after:?}");
    }
    let status = licenses
        .record_shipment(authed(shipment(&now.license, 7), "dev-applicant"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
    // And so was the latest date of the holder's domestic shipments of the
    // product, which an export dated before it is checked by.
    let latest_domestic = then
        .shipments
        .iter()
        .filter(|s| s.kind == pb::ShipmentKind::Domestic as i32)
        .filter_map(|s| s.ship_time)
        .map(|t| t.seconds * 1_000 + i64::from(t.nanos) / 1_000_000)
        .max();
    assert!(latest_domestic.is_some(), "{:?}", then.shipments);
    assert_eq!(
        after.get(&format!("domestic-latest|exporter-1|{product}")),
        latest_domestic.as_ref(),
        "{after:?}"
    );
    let filed = client
        .create_application(authed(h200_to_china(10), "dev-applicant"))
        .await
        .unwrap()
        .into_inner();
    let filed_events = all_events(&client, &filed.name, "dev-auditor").await.len();
    assert!(filed_events >= 2, "{filed:?}");
    let (first, newest) = classifications_stored(data.path()).await;
    let written_then = format!(r#"{{"format":{answers_format},"#);
    assert!(first.starts_with(&written_then), "{first}");
    assert!(newest.starts_with(r#"{"format":4,"#), "{newest}");
    assert!(newest.contains(r#""answer":"lz4d1:"#), "{newest}");
    // The same question, the same answer: under a fifth of the room.
    assert!(
        newest.len() * 5 < first.len(),
        "{} and {} bytes",
        newest.len(),
        first.len()
    );
    let report = verify_audit_trail(&mut client, "applications/-", "dev-auditor").await;
    assert!(report.intact, "{report:?}");
    assert_eq!(
        report.events_checked as usize,
        index.events() + 1 + filed_events
    );
    drop(classifier);
}

/// The cap counters of the database at `path`, read without writing.
async fn counters(path: &Path) -> std::collections::HashMap<String, i64> {
    let mut db = read_only(path).await;
    sqlx::query_as("SELECT counter, value FROM license_counters")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn read_only(path: &Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", path.display());
    sqlx::SqliteConnection::connect(&url).await.unwrap()
}

/// The stored bytes of the first and the newest ItemsClassified events:
/// the classifier's answers as the previous release kept them, and as
/// this one does.
async fn classifications_stored(data: &Path) -> (String, String) {
    let mut db = read_only(&data.join("review.db")).await;
    let mut stored = Vec::new();
    for order in ["ASC", "DESC"] {
        let details: String = sqlx::query_scalar(&format!(
            "SELECT details FROM events WHERE kind = 'ItemsClassified' \
             ORDER BY sequence {order} LIMIT 1"
        ))
        .fetch_one(&mut db)
        .await
        .unwrap();
        stored.push(details);
    }
    (stored.remove(0), stored.remove(0))
}

/// Writes the fixture with the previous release's binaries. By hand, once:
///
/// ```sh
/// git worktree add --detach /tmp/previous <commit of the previous release>
/// (cd /tmp/previous && cargo build --bins -p classifier-svc -p review-svc)
/// cargo build -p system-tests --tests
/// FIXTURE_BINARIES=/tmp/previous/target/debug FIXTURE_OUT=../review-svc/tests/fixtures/v4 \
///   cargo test -p system-tests --test previous_release -- --ignored --nocapture
/// ```
#[tokio::test]
#[ignore = "writes the fixture, with the previous release's binaries (FIXTURE_BINARIES)"]
async fn make_the_fixture() {
    let out = PathBuf::from(std::env::var("FIXTURE_OUT").expect("FIXTURE_OUT"));
    std::fs::create_dir_all(&out).unwrap();
    assert!(
        std::env::var("FIXTURE_BINARIES").is_ok(),
        "FIXTURE_BINARIES: the previous release's binaries"
    );
    let data = tempfile::tempdir().unwrap();
    let (classifier, mut review) = start_both(data.path(), Vec::new()).await;
    let channel = tonic::transport::Endpoint::from_shared(review.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ReviewServiceClient::new(channel.clone());
    let mut licenses = LicenseServiceClient::new(channel.clone());

    // A licence, drawn on by two shipments (and the U.S. domestic shipment
    // the aggregate-TPP cap counts), suspended and reinstated.
    let issued = licensed(&channel, 10_000).await;
    for quantity in [100, 250] {
        licenses
            .record_shipment(authed(shipment(&issued, quantity), "dev-applicant"))
            .await
            .unwrap();
    }
    let license = issued.name;
    let reason = || "laboratory report under review".to_owned();
    let (name, officer) = (license.clone(), "dev-officer");
    let suspend = pb::SuspendLicenseRequest {
        name: name.clone(),
        reason: reason(),
        ..Default::default()
    };
    licenses
        .suspend_license(authed(suspend, officer))
        .await
        .unwrap();
    let reinstate = pb::ReinstateLicenseRequest {
        name,
        reason: reason(),
        ..Default::default()
    };
    licenses
        .reinstate_license(authed(reinstate, officer))
        .await
        .unwrap();
    let licensed = get_license(&mut licenses, &license, "dev-auditor")
        .await
        .application;

    // One waiting for the agencies, one withdrawn.
    let mut filed = Vec::new();
    for quantity in [500, 20] {
        let request = authed(h200_to_china(quantity), "dev-applicant");
        filed.push(
            client
                .create_application(request)
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let (referred, withdrawn) = (filed.remove(0), filed.remove(0));
    let withdrawal = withdrawal_request(&withdrawn.name, &withdrawn.etag, "order cancelled");
    let request = authed(withdrawal, "dev-applicant");
    client.withdraw_application(request).await.unwrap();

    let mut index = Index {
        applications: BTreeMap::new(),
        license: license.clone(),
    };
    for (label, name) in [
        ("licensed", licensed),
        ("referred", referred.name),
        ("withdrawn", withdrawn.name),
    ] {
        index.applications.insert(label.to_owned(), (name, 0));
    }
    let now = served(&mut client, &mut licenses, &index).await;
    let mut lines = String::new();
    for (label, (application, events)) in &now.applications {
        std::fs::write(
            out.join(format!("{label}.application.pb")),
            application.encode_to_vec(),
        )
        .unwrap();
        let events = pb::ListApplicationEventsResponse {
            events: events.clone(),
            next_page_token: String::new(),
        };
        std::fs::write(
            out.join(format!("{label}.events.pb")),
            events.encode_to_vec(),
        )
        .unwrap();
        lines += &format!("{label} {} {}\n", application.name, events.events.len());
    }
    lines += &format!("license {license}\n");
    std::fs::write(out.join("index.txt"), lines).unwrap();
    std::fs::write(out.join("license.pb"), now.license.encode_to_vec()).unwrap();
    let shipments = pb::ListShipmentsResponse {
        shipments: now.shipments,
        next_page_token: String::new(),
    };
    std::fs::write(out.join("shipments.pb"), shipments.encode_to_vec()).unwrap();
    review
        .terminate(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    drop(classifier);
    // What the last writes left in the write-ahead log goes into the
    // database file, so that the fixture is that one file.
    let db = data.path().join("review.db");
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        db.display()
    ))
    .await
    .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::Connection::close(conn).await.unwrap();
    std::fs::copy(&db, out.join("review.db")).unwrap();
    let wal = data.path().join("review.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}
