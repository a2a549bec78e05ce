//! The licensing policy, read from `licensing.toml` (embedded at build
//! time): validity, shipping tolerances, required attestations and caps,
//! each with its citation and a `confirmed` flag.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// The policy file compiled into the service.
pub const EMBEDDED_TOML: &str = include_str!("../../licensing.toml");

/// Label of a rule whose source is secondary or unseen.
pub const UNCONFIRMED_LABEL: &str = "unconfirmed rule";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validity {
    pub days: u32,
    pub confirmed: bool,
    pub citation: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Only "NUMBER" is supported: other units refuse draw-down (the
    /// reference leaves them unconfirmed).
    pub unit: String,
    pub quantity_percent: u32,
    pub value_percent: u32,
    pub confirmed: bool,
    pub citation: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationRule {
    /// What the shipment must carry, e.g. "US_LAB_TEST_REPORT".
    pub kind: String,
    /// Destinations (ISO 3166-1 alpha-2) whose shipments need it.
    pub destinations: Vec<String>,
    pub description: String,
    pub confirmed: bool,
    pub citation: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateTppCap {
    pub destinations: Vec<String>,
    pub percent_of_domestic: u32,
    pub confirmed: bool,
    pub citation: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndUserCap {
    pub destinations: Vec<String>,
    /// Also shipments anywhere to an end user headquartered (or whose
    /// ultimate parent is) in one of these.
    #[serde(default)]
    pub headquarters: Vec<String>,
    pub units: u64,
    pub confirmed: bool,
    pub citation: String,
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: String,
    pub validity: Validity,
    pub tolerance: Tolerance,
    #[serde(default, rename = "attestation")]
    pub attestations: Vec<AttestationRule>,
    pub aggregate_tpp_cap: Option<AggregateTppCap>,
    pub end_user_cap: Option<EndUserCap>,
    /// Length of a "day" (86 400 s in production).
    #[serde(skip, default = "one_day")]
    pub day_length: Duration,
}

fn one_day() -> Duration {
    Duration::days(1)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("licensing policy: {0}")]
pub struct PolicyError(pub String);

impl Policy {
    /// The embedded policy. It is checked by a unit test, so a broken
    /// file never ships.
    pub fn embedded(day_length: Duration) -> Policy {
        Policy::parse(EMBEDDED_TOML, day_length).expect("the embedded licensing.toml is valid")
    }

    pub fn parse(text: &str, day_length: Duration) -> Result<Policy, PolicyError> {
        let mut policy: Policy = toml::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        if day_length <= Duration::zero() {
            return Err(PolicyError("day_length must be positive".into()));
        }
        if policy.validity.days == 0 {
            return Err(PolicyError("validity.days must be positive".into()));
        }
        if policy.tolerance.unit != "NUMBER" {
            return Err(PolicyError(format!(
                "tolerance.unit {:?}: only NUMBER is supported",
                policy.tolerance.unit
            )));
        }
        policy.day_length = day_length;
        Ok(policy)
    }

    /// When a licence issued at `issued` expires.
    pub fn expiry(&self, issued: DateTime<Utc>) -> DateTime<Utc> {
        issued + self.day_length * i32::try_from(self.validity.days).unwrap_or(i32::MAX)
    }

    /// The attestation kinds a shipment to `destination` must carry.
    pub fn attestations_for(&self, destination: &str) -> Vec<String> {
        self.attestations
            .iter()
            .filter(|rule| rule.destinations.iter().any(|d| d == destination))
            .map(|rule| rule.kind.clone())
            .collect()
    }

    pub fn attestation(&self, kind: &str) -> Option<&AttestationRule> {
        self.attestations.iter().find(|rule| rule.kind == kind)
    }

    /// The aggregate-TPP cap, if shipments to `destination` are under it.
    pub fn tpp_cap_for(&self, destination: &str) -> Option<&AggregateTppCap> {
        self.aggregate_tpp_cap
            .as_ref()
            .filter(|cap| cap.destinations.iter().any(|d| d == destination))
    }

    /// The per-end-user unit cap, if shipments to `destination`, or to an
    /// end user headquartered in one of `headquarters`, are under it.
    pub fn end_user_cap_for(
        &self,
        destination: &str,
        headquarters: &[String],
    ) -> Option<&EndUserCap> {
        self.end_user_cap.as_ref().filter(|cap| {
            cap.destinations.iter().any(|d| d == destination)
                || headquarters.iter().any(|hq| cap.headquarters.contains(hq))
        })
    }
}

/// "citation" or "citation (unconfirmed rule)".
pub fn cite(citation: &str, confirmed: bool) -> String {
    if confirmed {
        citation.to_owned()
    } else {
        format!("{citation} ({UNCONFIRMED_LABEL})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_policy_reads() {
        let policy = Policy::embedded(Duration::days(1));
        assert_eq!(policy.validity.days, 1461);
        assert!(!policy.validity.confirmed, "750.7(g) is secondary");
        assert_eq!(policy.tolerance.value_percent, 25);
        assert_eq!(policy.attestations_for("CN"), vec!["US_LAB_TEST_REPORT"]);
        assert!(policy.attestations_for("DE").is_empty());
        assert_eq!(
            policy.tpp_cap_for("MO").map(|c| c.percent_of_domestic),
            Some(50)
        );
        assert!(policy.tpp_cap_for("AE").is_none());
        let cap = policy.end_user_cap_for("CN", &[]).expect("cap");
        assert_eq!(cap.units, 75_000);
        assert!(!cap.confirmed, "the per-customer cap is secondary");
    }

    #[test]
    fn unknown_keys_and_units_are_refused() {
        let text = EMBEDDED_TOML.replace("unit = \"NUMBER\"", "unit = \"WEIGHT\"");
        assert!(Policy::parse(&text, Duration::days(1)).is_err());
        let text = format!("{EMBEDDED_TOML}\nsurprise = 1\n");
        assert!(Policy::parse(&text, Duration::days(1)).is_err());
    }
}
