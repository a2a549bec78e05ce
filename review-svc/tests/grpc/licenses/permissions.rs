//! The README's permission table for licences and shipments, row by row.

use super::*;

/// The README's permission table, licence rows: every development
/// principal against every licence RPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licence_permission_matrix_follows_the_readme() {
    let mut h = spawn().await;
    let mut licenses = licenses(&h).await;
    let now = h.clock.now();
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Row {
        Get,
        List,
        Shipments,
        Ship,
        Domestic,
        Suspend,
        Reinstate,
        Revoke,
    }
    let principals: Vec<&str> = vec![
        APPLICANT,
        OTHER_APPLICANT,
        "dev-commerce",
        "dev-state",
        OFFICER,
        OC_CHAIR,
        "dev-acep-state",
        "dev-earb-state",
        PRESIDENT,
        AUDITOR,
    ];
    let expected = |row: Row, who: &str| -> Option<(Code, &'static str)> {
        let denied = |reason| Some((Code::PermissionDenied, reason));
        match (row, who) {
            (Row::List, _) => None,
            (_, OTHER_APPLICANT) => denied("NOT_YOUR_LICENSE"),
            (Row::Get | Row::Shipments, _) => None,
            (Row::Ship | Row::Domestic, APPLICANT) => None,
            (Row::Ship | Row::Domestic, _) => denied("ROLE_NOT_PERMITTED"),
            (Row::Suspend | Row::Reinstate | Row::Revoke, OFFICER) => None,
            (Row::Suspend | Row::Reinstate | Row::Revoke, _) => denied("ROLE_NOT_PERMITTED"),
        }
    };
    let mut failures = Vec::new();
    let rows = [
        Row::Get,
        Row::List,
        Row::Shipments,
        Row::Ship,
        Row::Domestic,
        Row::Suspend,
        Row::Reinstate,
        Row::Revoke,
    ];
    for row in rows {
        for who in &principals {
            // A fresh licence per call that may change it.
            let app = approved(&mut h.client, 100).await;
            let license = license_of(&mut licenses, &app).await;
            domestic(&mut licenses, &license, 1_000, now).await;
            if row == Row::Reinstate {
                licenses
                    .suspend_license(authed(
                        pb::SuspendLicenseRequest {
                            name: license.name.clone(),
                            reason: "check".into(),
                            ..Default::default()
                        },
                        OFFICER,
                    ))
                    .await
                    .expect("suspended");
            }
            let name = license.name.clone();
            let reason = "check".to_owned();
            let result: Result<(), Status> = match row {
                Row::Get => licenses
                    .get_license(authed(pb::GetLicenseRequest { name }, who))
                    .await
                    .map(drop),
                Row::List => licenses
                    .list_licenses(authed(pb::ListLicensesRequest::default(), who))
                    .await
                    .map(drop),
                Row::Shipments => licenses
                    .list_shipments(authed(
                        pb::ListShipmentsRequest {
                            parent: name,
                            ..Default::default()
                        },
                        who,
                    ))
                    .await
                    .map(drop),
                Row::Ship => licenses
                    .record_shipment(authed(shipment(&license, 1, now), who))
                    .await
                    .map(drop),
                Row::Domestic => licenses
                    .record_domestic_shipment(authed(
                        pb::RecordDomesticShipmentRequest {
                            license: name,
                            item_index: 0,
                            quantity: 1,
                            ship_time: Some(ts(now)),
                            customer: "US Lab".into(),
                            reference: "INV-2".into(),
                            ..Default::default()
                        },
                        who,
                    ))
                    .await
                    .map(drop),
                Row::Suspend => licenses
                    .suspend_license(authed(
                        pb::SuspendLicenseRequest {
                            name,
                            reason,
                            ..Default::default()
                        },
                        who,
                    ))
                    .await
                    .map(drop),
                Row::Reinstate => licenses
                    .reinstate_license(authed(
                        pb::ReinstateLicenseRequest {
                            name,
                            reason,
                            ..Default::default()
                        },
                        who,
                    ))
                    .await
                    .map(drop),
                Row::Revoke => licenses
                    .revoke_license(authed(
                        pb::RevokeLicenseRequest {
                            name,
                            reason,
                            ..Default::default()
                        },
                        who,
                    ))
                    .await
                    .map(drop),
            };
            let got = result.as_ref().err().map(|s| {
                (
                    s.code(),
                    s.get_details_error_info()
                        .map(|i| i.reason)
                        .unwrap_or_default(),
                )
            });
            let want = expected(row, who).map(|(c, r)| (c, r.to_owned()));
            if got != want {
                failures.push(format!("{row:?} by {who}: expected {want:?}, got {got:?}"));
            }
        }
    }
    // A licence that does not exist is refused to an applicant as another's
    // is, naming it by its resource name.
    let refusal = expect_refusal(
        licenses
            .get_license(authed(
                pb::GetLicenseRequest {
                    name: "licenses/00000000-0000-0000-0000-000000000000".into(),
                },
                APPLICANT,
            ))
            .await,
        Code::PermissionDenied,
        "NOT_YOUR_LICENSE",
    );
    assert!(
        refusal
            .message()
            .ends_with("may not act on licenses/00000000-0000-0000-0000-000000000000"),
        "{}",
        refusal.message()
    );
    expect_refusal(
        licenses
            .get_license(authed(
                pb::GetLicenseRequest {
                    name: "licenses/00000000-0000-0000-0000-000000000000".into(),
                },
                AUDITOR,
            ))
            .await,
        Code::NotFound,
        "LICENSE_NOT_FOUND",
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // ListLicenses pages newest first; a token belongs to its filters.
    let request = pb::ListLicensesRequest {
        page_size: 7,
        ..Default::default()
    };
    let listed = pages(&licenses, request, |page| authed(page, AUDITOR)).await;
    assert!(listed.iter().all(|page| page.licenses.len() <= 7));
    let seen: Vec<_> = listed
        .into_iter()
        .flat_map(|page| page.licenses)
        .map(|l| (l.issue_time.unwrap().seconds, l.name))
        .collect();
    assert_eq!(seen.len(), rows.len() * principals.len());
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
    let request = pb::ListLicensesRequest {
        page_size: 1,
        ..Default::default()
    };
    let first = one_page(&licenses, request, |page| authed(page, AUDITOR)).await;
    // The token of one listing, presented with another filter.
    expect_invalid_page_token(
        &licenses,
        pb::ListLicensesRequest {
            page_size: 1,
            page_token: first.next_page_token,
            state: pb::LicenseState::Revoked as i32,
            ..Default::default()
        },
        AUDITOR,
        "ListLicenses",
    )
    .await;
}
