//! Random shipments, domestic shipments, suspensions, reinstatements,
//! revocations and expiries: shipped never exceeds what is authorized
//! (with the 750.11 tolerance), nothing ships on a licence that is not
//! ACTIVE, nor dated while it was suspended, the caps hold, no export
//! filing is drawn down twice, and no running total passes what a counter
//! keeps (the holder may report absurdly large domestic shipments).

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::rules::counter;
use super::tests::{holder, license, policy, shipment, t};
use super::*;
use crate::workflow::{Actor, Role};

#[derive(Debug, Clone)]
enum Step {
    Ship {
        quantity: u64,
        value_percent: u64,
        day: i64,
        /// One of a few export filings, so that some are reported again.
        filing: u8,
    },
    Domestic {
        quantity: u64,
    },
    Officer(u8),
    Sweep {
        day: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u64..60, 0u64..140, 0i64..1600, 0u8..24)
            .prop_map(|(quantity, value_percent, day, filing)| Step::Ship { quantity, value_percent, day, filing }),
        2 => prop_oneof![0u64..200, (1u64 << 50)..(1u64 << 53)]
            .prop_map(|quantity| Step::Domestic { quantity }),
        2 => (0u8..3).prop_map(Step::Officer),
        1 => (0i64..1600).prop_map(|day| Step::Sweep { day }),
    ]
}

proptest! {
    #[test]
    fn draw_down_never_overdraws(destination in prop_oneof![Just("CN"), Just("DE")],
                                 steps in proptest::collection::vec(step(), 1..60)) {
        let p = policy();
        let officer = Actor::new("lo", Role::LicensingOfficer, None);
        let mut lic = license(destination);
        let mut counters: HashMap<String, i64> = HashMap::new();
        let mut now = t(0);
        let mut filings_drawn = HashSet::new();
        // When the licence was suspended, as the test saw it happen.
        let mut suspended: Vec<(chrono::DateTime<chrono::Utc>, Option<chrono::DateTime<chrono::Utc>>)> = Vec::new();
        for step in steps {
            let before = lic.clone();
            let result = match step {
                Step::Ship { quantity, value_percent, day, filing } => {
                    now = now.max(t(day));
                    let mut s = shipment(quantity);
                    s.value_usd_cents = quantity * 3_000_000 * value_percent / 100;
                    s.shipped_at = t(day);
                    s.reference = format!("X{filing:014}");
                    let result = record_shipment(&p, &lic, &counters, &holder(), &s, None, now);
                    if result.is_ok() {
                        prop_assert!(filings_drawn.insert(filing), "filing {} drawn twice", filing);
                        prop_assert_eq!(effective_state(&before, now), LicenseState::Active,
                            "shipped on a licence that is not active");
                        prop_assert!(
                            !suspended.iter().any(|(from, until)| *from <= s.shipped_at && until.is_none_or(|u| s.shipped_at < u)),
                            "shipped dated in a suspension");
                    }
                    result
                }
                Step::Domestic { quantity } => {
                    let reference = format!("INV-{quantity}");
                    let s = ShipmentRequest { shipped_at: now, reference, ..shipment(quantity) };
                    record_domestic_shipment(&lic, &counters, &holder(), &s, now)
                }
                Step::Officer(which) => {
                    let action = [OfficerAction::Suspend, OfficerAction::Reinstate, OfficerAction::Revoke][which as usize];
                    officer_action(&lic, &officer, action, "check", now)
                }
                Step::Sweep { day } => {
                    now = now.max(t(day));
                    Ok(Recorded { events: sweep(&lic, now), counters: Vec::new() })
                }
            };
            if let Ok(recorded) = result {
                lic = recorded.events.iter().fold(Some(lic), apply).expect("licence");
                match (before.state, lic.state) {
                    (LicenseState::Active, LicenseState::Suspended) => suspended.push((now, None)),
                    (LicenseState::Suspended, LicenseState::Active | LicenseState::Revoked) => {
                        if let Some(open) = suspended.last_mut() {
                            open.1 = Some(now);
                        }
                    }
                    _ => {}
                }
                for (key, delta) in recorded.counters {
                    let total = counters.entry(key).or_default();
                    *total = total.checked_add(delta).expect("a counter passed 64 bits");
                }
            }
            let item = &lic.terms.items[0];
            prop_assert!(item.shipped_quantity <= item.authorized_quantity);
            prop_assert!(item.shipped_value_usd_cents as u128 * 100 <= item.authorized_value_usd_cents as u128 * 125);
            if before.state == LicenseState::Revoked {
                prop_assert_eq!(lic.state, LicenseState::Revoked, "a revocation is final");
            }
            if destination == "CN" {
                let exported = counters.get(&counter::exported_tpp("exporter-1", "H200")).copied().unwrap_or(0);
                let domestic = counters.get(&counter::domestic_tpp("exporter-1", "H200")).copied().unwrap_or(0);
                prop_assert!(exported * 2 <= domestic, "aggregate TPP cap: {exported} vs {domestic}");
            }
        }
    }
}

proptest! {
    /// The key of an end user's key is that key: the stores key a licence
    /// row by it and a filter by it, and keep a key they find as it is.
    #[test]
    fn an_end_users_key_is_its_own_key(
        name in prop_oneof![
            "\\PC{0,12}",
            "[ a-zA-Z0-9.,\u{00A0}\u{200B}\u{0410}-\u{044F}\u{FF10}-\u{FF5A}Il1O0rnm|-]{0,24}",
        ]
    ) {
        let key = counter::end_user_key(&name);
        prop_assert_eq!(counter::end_user_key(&key), key);
    }
}
