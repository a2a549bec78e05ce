use super::*;

// ---------------------------------------------------------------------------
// Generators: wire messages
// ---------------------------------------------------------------------------

/// Everyone who records recommendations, votes or appeals.
pub(crate) const AGENCY_TOKENS: &[&str] = &[
    "dev-commerce",
    "dev-state",
    "dev-defense",
    "dev-energy",
    "dev-acep-commerce",
    "dev-acep-state",
    "dev-acep-defense",
    "dev-acep-energy",
    "dev-earb-commerce",
    "dev-earb-state",
    "dev-earb-defense",
    "dev-earb-energy",
];

pub(crate) const TOKENS: [&str; 20] = [
    "dev-applicant",
    "dev-applicant-2",
    "dev-commerce",
    "dev-state",
    "dev-defense",
    "dev-energy",
    "dev-officer",
    "dev-oc-chair",
    "dev-acep-commerce",
    "dev-acep-state",
    "dev-acep-defense",
    "dev-acep-energy",
    "dev-earb-commerce",
    "dev-earb-state",
    "dev-earb-defense",
    "dev-earb-energy",
    "dev-president",
    "dev-auditor",
    "dev-nobody",
    "",
];

pub(crate) fn text(rng: &mut Entropy) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => " \t ".into(),
        2 => "x".repeat(rng.random_range(190..4_100)),
        3 => "Ω\u{0}\u{202e}é芯片".into(),
        4 => (0..rng.random_range(0..12))
            .map(|_| char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('?'))
            .collect(),
        _ => pick(
            rng,
            &["diversion risk", "basis", "approve", "End-use check"],
        )
        .to_owned(),
    }
}

pub(crate) fn int(rng: &mut Entropy, known: i32) -> i32 {
    if rng.random_bool(0.85) {
        rng.random_range(0..=known)
    } else {
        pick(rng, &[-1, known + 1, 1000, i32::MAX, i32::MIN])
    }
}

pub(crate) fn request_id(rng: &mut Entropy, ids: &[String]) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => "not-a-uuid".into(),
        2 => uuid::Uuid::nil().to_string(),
        3 => uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        4 | 5 if !ids.is_empty() => pick(rng, ids),
        _ => uuid::Uuid::from_u128(rng.random()).to_string(),
    }
}

pub(crate) fn name(rng: &mut Entropy, known: &[(String, String)]) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => "applications/-".into(),
        2 => pick(
            rng,
            &[
                "applications/",
                "applications/../x",
                "applications/0",
                "Applications/x",
                "applications/x/y",
                "chips/h200",
            ],
        )
        .to_owned(),
        3 => format!("applications/{}", "a".repeat(rng.random_range(60..70))),
        4 => format!("applications/{}", text(rng)),
        _ if !known.is_empty() => pick(rng, known).0,
        _ => format!("applications/{}", uuid::Uuid::now_v7()),
    }
}

pub(crate) fn etag(rng: &mut Entropy, known: &[(String, String)]) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => pick(
            rng,
            &[
                "v0",
                "v-1",
                "v",
                "\"v3\"",
                "W/\"v3\"",
                "v99999999999999999999",
                "3",
                "v9223372036854775807",
            ],
        )
        .to_owned(),
        2 => text(rng),
        3 | 4 => format!("v{}", rng.random_range(1..30)),
        _ if !known.is_empty() => pick(rng, known).1,
        _ => "v3".into(),
    }
}

pub(crate) fn country(rng: &mut Entropy) -> String {
    if rng.random_bool(0.85) {
        pick(rng, &["CN", "DE", "HK", "SA", "AE", "US", "IN", "cn", ""]).to_owned()
    } else {
        pick(rng, &["XX", "C", "CNN", "中国", " CN"]).to_owned()
    }
}

pub(crate) fn line_item(rng: &mut Entropy) -> pb::LineItem {
    pb::LineItem {
        item: match rng.random_range(0..8) {
            0 => None,
            1 => Some(pb::line_item::Item::Spec(cpb::ChipSpec {
                name: text(rng),
                kind: int(rng, 3),
                rates: (0..rng.random_range(0..3))
                    .map(|_| cpb::ProcessingRate {
                        bit_length: pick(rng, &[0, 8, 16, u32::MAX]),
                        dense_tops: pick(
                            rng,
                            &[600.0, 0.0, -1.0, f64::NAN, f64::INFINITY, 1e308, 5e-324],
                        ),
                        format: text(rng),
                    })
                    .collect(),
                dies: vec![cpb::Die {
                    area_mm2: pick(rng, &[600.0, 0.0, f64::NAN, -0.0]),
                    non_planar: true,
                    ..Default::default()
                }],
                ..Default::default()
            })),
            _ => Some(pb::line_item::Item::CatalogChip(
                pick(
                    rng,
                    &[
                        "H200",
                        "H20",
                        "B200",
                        "MI300X",
                        "no-such-chip",
                        "",
                        "chips/h200",
                    ],
                )
                .to_owned(),
            )),
        },
        quantity: pick(rng, &[0, 1, 5_000, 1_000_000_000, 1_000_000_001, u64::MAX]),
        unit_value_usd_cents: pick(rng, &[0, 3_000_000, u64::MAX]),
    }
}

pub(crate) fn application(rng: &mut Entropy) -> pb::Application {
    if rng.random_bool(0.5) {
        // Well formed, so that filings get through and later calls find them.
        let destination = pick(rng, &["CN", "DE", "SA", "HK"]).to_owned();
        return pb::Application {
            items: (0..rng.random_range(1..3))
                .map(|_| pb::LineItem {
                    item: Some(pb::line_item::Item::CatalogChip(
                        pick(rng, &["H200", "H20", "B200"]).to_owned(),
                    )),
                    quantity: rng.random_range(1..10_000),
                    unit_value_usd_cents: 3_000_000,
                })
                .collect(),
            transaction: Some(test_support::filings::cloud_export(&destination)),
            ..Default::default()
        };
    }
    let items = if rng.random_bool(0.05) {
        101
    } else {
        rng.random_range(0..4)
    };
    pb::Application {
        items: (0..items).map(|_| line_item(rng)).collect(),
        transaction: rng.random_bool(0.9).then(|| pb::ExportTransaction {
            route: rng.random_bool(0.9).then(|| cpb::Transaction {
                destination_country: country(rng),
                end_user_headquarters_country: country(rng),
                ultimate_parent_headquarters_country: country(rng),
                export_type: int(rng, 3),
                is_informed_notice_received: rng.random_bool(0.1),
                ..Default::default()
            }),
            end_user_name: text(rng),
            end_use_statement: text(rng),
        }),
        // Output-only fields a careless client might send.
        name: if rng.random_bool(0.1) {
            "applications/mine".into()
        } else {
            String::new()
        },
        state: if rng.random_bool(0.1) {
            int(rng, 11)
        } else {
            0
        },
        etag: if rng.random_bool(0.1) {
            "v1".into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

pub(crate) fn conditions(rng: &mut Entropy) -> Vec<String> {
    let n = if rng.random_bool(0.05) {
        51
    } else {
        rng.random_range(0..3)
    };
    (0..n).map(|_| text(rng)).collect()
}

/// One message of every request type, random but mostly well formed.
pub(crate) struct Requests {
    pub(crate) create: pb::CreateApplicationRequest,
    pub(crate) get: pb::GetApplicationRequest,
    pub(crate) list: pb::ListApplicationsRequest,
    pub(crate) recommend: pb::RecordRecommendationRequest,
    pub(crate) decide: pb::DecideApplicationRequest,
    pub(crate) appeal: pb::AppealApplicationRequest,
    pub(crate) withdraw: pb::WithdrawApplicationRequest,
    pub(crate) events: pb::ListApplicationEventsRequest,
    pub(crate) watch: pb::WatchApplicationsRequest,
    pub(crate) verify: pb::VerifyAuditTrailRequest,
}

pub(crate) fn page_token(rng: &mut Entropy, tokens: &[String]) -> String {
    match rng.random_range(0..6) {
        0 if !tokens.is_empty() => pick(rng, tokens),
        1 => text(rng),
        2 => "eyJ4IjoxfQ".into(),
        _ => String::new(),
    }
}

/// An application and etag that go together (mostly), or unrelated ones.
pub(crate) fn target(rng: &mut Entropy, known: &[(String, String)]) -> (String, String) {
    if !known.is_empty() && rng.random_bool(0.6) {
        pick(rng, known)
    } else {
        (name(rng, known), etag(rng, known))
    }
}

pub(crate) fn requests(
    rng: &mut Entropy,
    known: &[(String, String)],
    ids: &[String],
    tokens: &[String],
) -> Requests {
    let targets: Vec<(String, String)> = (0..4).map(|_| target(rng, known)).collect();
    Requests {
        create: pb::CreateApplicationRequest {
            application: rng.random_bool(0.95).then(|| application(rng)),
            request_id: request_id(rng, ids),
        },
        get: pb::GetApplicationRequest {
            name: name(rng, known),
        },
        list: pb::ListApplicationsRequest {
            page_size: pick(rng, &[0, 1, 2, 50, 1000, 1001, -1, i32::MAX, i32::MIN]),
            page_token: page_token(rng, tokens),
            state: if rng.random_bool(0.5) {
                0
            } else {
                int(rng, 11)
            },
            destination_country: if rng.random_bool(0.5) {
                String::new()
            } else {
                country(rng)
            },
            level: if rng.random_bool(0.5) { 0 } else { int(rng, 5) },
            awaiting_agency: if rng.random_bool(0.5) { 0 } else { int(rng, 4) },
            overdue: rng.random_bool(0.2),
            view: if rng.random_bool(0.5) { 0 } else { int(rng, 3) },
        },
        recommend: pb::RecordRecommendationRequest {
            name: targets[0].0.clone(),
            etag: targets[0].1.clone(),
            request_id: request_id(rng, ids),
            agency: int(rng, 4),
            recommendation: int(rng, 4),
            conditions: conditions(rng),
            rationale: text(rng),
        },
        decide: pb::DecideApplicationRequest {
            name: targets[1].0.clone(),
            etag: targets[1].1.clone(),
            request_id: request_id(rng, ids),
            outcome: int(rng, 3),
            conditions: conditions(rng),
            rationale: text(rng),
        },
        appeal: pb::AppealApplicationRequest {
            name: targets[2].0.clone(),
            etag: targets[2].1.clone(),
            request_id: request_id(rng, ids),
            agency: int(rng, 4),
            rationale: text(rng),
        },
        withdraw: pb::WithdrawApplicationRequest {
            name: targets[3].0.clone(),
            etag: targets[3].1.clone(),
            request_id: request_id(rng, ids),
            reason: text(rng),
        },
        events: pb::ListApplicationEventsRequest {
            parent: name(rng, known),
            page_size: pick(rng, &[0, 1, 3, 100, 1000, 1001, -5, i32::MAX]),
            page_token: page_token(rng, tokens),
        },
        watch: pb::WatchApplicationsRequest {
            after_sequence: pick(rng, &[0, 1, 5, -1, i64::MAX, i64::MIN]),
            application: if rng.random_bool(0.5) {
                String::new()
            } else {
                name(rng, known)
            },
        },
        verify: pb::VerifyAuditTrailRequest {
            name: name(rng, known),
            ..Default::default()
        },
    }
}

/// `message`, or what its mutated encoding decodes to when it does.
pub(crate) fn perhaps_mutated<M: Message + Default>(rng: &mut Entropy, message: M) -> M {
    if rng.random_bool(0.3) {
        let bytes = mutate(rng, message.encode_to_vec());
        if let Ok(decoded) = M::decode(bytes.as_slice()) {
            return decoded;
        }
    }
    message
}

/// Decodes `bytes` as `M`; what decodes re-encodes to bytes that decode to the same.
pub(crate) fn decode_as<M: Message + Default>(bytes: &[u8]) -> bool {
    match M::decode(bytes) {
        Ok(message) => {
            // Bytes, not values: NaN != NaN in the classifier's answers.
            let encoded = message.encode_to_vec();
            let again = M::decode(encoded.as_slice()).expect("a re-encoded message decodes");
            assert_eq!(again.encode_to_vec(), encoded, "re-encoding is not stable");
            true
        }
        Err(_) => false,
    }
}

pub(crate) fn decode_as_every_type(bytes: &[u8]) -> usize {
    [
        decode_as::<pb::CreateApplicationRequest>(bytes),
        decode_as::<pb::GetApplicationRequest>(bytes),
        decode_as::<pb::ListApplicationsRequest>(bytes),
        decode_as::<pb::RecordRecommendationRequest>(bytes),
        decode_as::<pb::DecideApplicationRequest>(bytes),
        decode_as::<pb::AppealApplicationRequest>(bytes),
        decode_as::<pb::WithdrawApplicationRequest>(bytes),
        decode_as::<pb::ListApplicationEventsRequest>(bytes),
        decode_as::<pb::WatchApplicationsRequest>(bytes),
        decode_as::<pb::VerifyAuditTrailRequest>(bytes),
        decode_as::<pb::Application>(bytes),
        decode_as::<pb::ApplicationEvent>(bytes),
        decode_as::<pb::ListApplicationsResponse>(bytes),
    ]
    .into_iter()
    .filter(|decoded| *decoded)
    .count()
}

#[test]
pub(crate) fn prost_requests() {
    fuzz_target!("review/prost_requests", |rng, tally| {
        let bytes = noise_or_mutated(rng, 200, |rng| {
            let all = requests(rng, &[], &[], &[]);
            match rng.random_range(0..10) {
                0 => all.create.encode_to_vec(),
                1 => all.get.encode_to_vec(),
                2 => all.list.encode_to_vec(),
                3 => all.recommend.encode_to_vec(),
                4 => all.decide.encode_to_vec(),
                5 => all.appeal.encode_to_vec(),
                6 => all.withdraw.encode_to_vec(),
                7 => all.events.encode_to_vec(),
                8 => all.watch.encode_to_vec(),
                _ => all.verify.encode_to_vec(),
            }
        });
        let decoded = decode_as_every_type(&bytes);
        bump(tally, format!("decoded as {decoded} of 13 types"));
    });
}
