//! The catalogue and the rule sets.

use crate::support::*;

async fn list_all(
    client: &mut ClassifierServiceClient<Channel>,
    vendor: &str,
    page_size: i32,
) -> (Vec<pb::Chip>, usize) {
    let mut chips = Vec::new();
    let mut token = String::new();
    let mut total = None;
    for _ in 0..1000 {
        let page = client
            .list_chips(pb::ListChipsRequest {
                page_size,
                page_token: token.clone(),
                vendor: vendor.to_owned(),
            })
            .await
            .expect("page")
            .into_inner();
        let expected_max = match page_size {
            0 => 50,
            n => n.min(100) as usize,
        };
        assert!(
            page.chips.len() <= expected_max,
            "page of {}",
            page.chips.len()
        );
        let size = usize::try_from(page.total_size).expect("non-negative total");
        assert_eq!(*total.get_or_insert(size), size, "total_size is stable");
        chips.extend(page.chips);
        if page.next_page_token.is_empty() {
            return (chips, size);
        }
        token = page.next_page_token;
    }
    panic!("pagination does not end");
}

#[tokio::test]
async fn list_chips_pages_through_the_whole_catalogue() {
    let app = spawn().await;
    let mut client = app.client();

    let (chips, total) = list_all(&mut client, "", 7).await;
    assert!(total >= 30, "catalogue has {total} chips");
    assert_eq!(chips.len(), total, "no gaps");
    let names: HashSet<_> = chips.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names.len(), total, "no duplicates");
    for chip in &chips {
        assert!(chip.name.starts_with("chips/"), "{}", chip.name);
        assert!(!chip.display_name.is_empty() && !chip.vendor.is_empty());
        assert!(!chip.sources.is_empty(), "{} cites sources", chip.name);
        assert!(chip.spec.is_some());
    }
    // One big page (clamped to the maximum) gives the same order.
    let (all_at_once, _) = list_all(&mut client, "", 1000).await;
    let order = |chips: &[pb::Chip]| chips.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(order(&all_at_once), order(&chips));
    // page_size 0 means the default.
    let (default_pages, _) = list_all(&mut client, "", 0).await;
    assert_eq!(order(&default_pages), order(&chips));

    // The vendor filter ignores case.
    let (nvidia, nvidia_total) = list_all(&mut client, "nvidia", 7).await;
    assert_eq!(nvidia.len(), nvidia_total);
    assert!(nvidia_total > 7 && nvidia_total < total);
    assert!(nvidia.iter().all(|c| c.vendor == "NVIDIA"));
    assert_eq!(
        nvidia_total,
        chips.iter().filter(|c| c.vendor == "NVIDIA").count()
    );
    let (amd, _) = list_all(&mut client, "AmD", 3).await;
    assert!(!amd.is_empty() && amd.iter().all(|c| c.vendor == "AMD"));
    let (none, none_total) = list_all(&mut client, "no such vendor", 7).await;
    assert!(none.is_empty());
    assert_eq!(none_total, 0);

    // GetChip by resource name, plain name and any case.
    for name in ["chips/h200", "H200", "h200", "NVIDIA H200"] {
        let chip = client
            .get_chip(pb::GetChipRequest {
                name: name.to_owned(),
            })
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner();
        assert_eq!(chip.name, "chips/h200", "{name}");
        assert_eq!(chip.vendor, "NVIDIA");
        let spec = chip.spec.expect("spec");
        assert!(!spec.rates.is_empty());
        assert_eq!(spec.us_commercially_available_2026_01_15, Some(true));
    }
    app.stop().await;
}

#[tokio::test]
async fn catalogue_specs_round_trip_through_classify() {
    // A spec read from GetChip classifies exactly as the catalogue name does.
    let app = spawn().await;
    let mut client = app.client();
    let chip = client
        .get_chip(pb::GetChipRequest {
            name: "chips/h200".into(),
        })
        .await
        .expect("chip")
        .into_inner();
    let by_name = classified(&mut client, h200_to_china()).await;
    let by_spec = classified(
        &mut client,
        with_spec(
            chip.spec.expect("spec"),
            Some(export_to("CN")),
            "2026-02-01",
        ),
    )
    .await;
    assert_eq!(by_spec.classification, by_name.classification);
    assert_eq!(by_spec.license, by_name.license);
    assert_eq!(by_spec.rule_set, by_name.rule_set);
    app.stop().await;
}

#[tokio::test]
async fn list_rule_sets_in_date_order_with_citations() {
    let app = spawn().await;
    let response = app
        .client()
        .list_rule_sets(pb::ListRuleSetsRequest {})
        .await
        .expect("rule sets")
        .into_inner();
    let sets = &response.rule_sets;
    let ids: Vec<_> = sets.iter().map(|s| s.id.as_str()).collect();
    for id in ["V2022", "V2023", "V2024b", "V2025b", "V2026a"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert_eq!(ids.first(), Some(&"V2022"));
    let dates: Vec<_> = sets
        .iter()
        .map(|s| {
            chrono::NaiveDate::parse_from_str(&s.effective_date, "%Y-%m-%d").expect("YYYY-MM-DD")
        })
        .collect();
    assert!(
        dates.windows(2).all(|w| w[0] < w[1]),
        "date order: {dates:?}"
    );
    for set in sets {
        assert!(!set.citations.is_empty(), "{} has citations", set.id);
        assert!(!set.summary.is_empty(), "{} has a summary", set.id);
        assert_ne!(set.source, pb::SourceTag::Unspecified as i32, "{}", set.id);
    }
    assert!(!response.country_group_snapshots.is_empty());

    // The rule set a classification reports is the one in force on its date.
    let mut client = app.client();
    for as_of in [
        "2022-10-07",
        "2023-11-16",
        "2023-11-17",
        "2025-06-01",
        "2026-01-14",
        "2026-01-15",
    ] {
        let date = chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d").expect("date");
        let expected = sets
            .iter()
            .zip(&dates)
            .filter(|(_, effective)| **effective <= date)
            .map(|(s, _)| s.id.clone())
            .next_back()
            .expect("a rule set in force");
        let response = classified(&mut client, catalogue("H100 SXM", None, as_of)).await;
        assert_eq!(response.rule_set, expected, "as of {as_of}");
    }
    app.stop().await;
}
