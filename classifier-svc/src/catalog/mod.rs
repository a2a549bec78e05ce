//! Built-in catalogue of accelerators with public dense figures, so that a
//! caller can classify a chip by name.

use crate::rules::{ChipSpec, ContainedIc, Die, ItemKind, Market, ProcessingRate};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq)]
pub struct CatalogChip {
    /// Slug, e.g. "h200"; also the resource name "chips/h200".
    pub id: String,
    pub display_name: String,
    pub vendor: String,
    pub aliases: Vec<String>,
    pub spec: ChipSpec,
    pub sources: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug)]
pub struct Catalog {
    chips: Vec<CatalogChip>,
    /// Normalised id, display name and aliases -> index into `chips`.
    index: HashMap<String, usize>,
}

const RESOURCE_PREFIX: &str = "chips/";

/// Why a caller's chip name did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Not a shape of name the catalogue accepts.
    Malformed(&'static str),
    NotFound,
}

fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Lookup key: case, spaces, dashes and the "chips/" prefix do not matter.
fn key(name: &str) -> String {
    let trimmed = name.trim();
    let bare = match trimmed.get(..RESOURCE_PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(RESOURCE_PREFIX) => &trimmed[RESOURCE_PREFIX.len()..],
        _ => trimmed,
    };
    bare.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl Catalog {
    /// Parsed once from the embedded `chips.toml`; panics only if that file is
    /// broken, which a unit test proves it is not.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            Catalog::parse(include_str!("chips.toml"))
                .unwrap_or_else(|e| panic!("embedded chip catalogue is invalid: {e}"))
        })
    }

    /// Accepts the slug, the resource name ("chips/h200"), the display name or
    /// an alias, ignoring case, spaces and dashes.
    pub fn get(&self, name: &str) -> Option<&CatalogChip> {
        self.index.get(&key(name)).map(|i| &self.chips[*i])
    }

    /// Resolves a name a caller gave, refusing the shapes that would only
    /// resolve by accident: a resource name must be `chips/{id}` with the
    /// exact id; any other name must be letters, digits, spaces, dashes,
    /// underscores and parentheses with no space at either end. What passes
    /// is matched as `get` does (case, spaces and dashes do not matter), and
    /// the answer names the chip by its canonical display name.
    pub fn resolve(&self, name: &str) -> Result<&CatalogChip, NameError> {
        if let Some(id) = name.strip_prefix(RESOURCE_PREFIX) {
            return self
                .chips
                .iter()
                .find(|c| c.id == id)
                .ok_or(if is_slug(id) {
                    NameError::NotFound
                } else {
                    NameError::Malformed("a resource name is chips/{id} with a lower-case id")
                });
        }
        if name.is_empty() {
            return Err(NameError::Malformed("empty"));
        }
        if name.trim() != name {
            return Err(NameError::Malformed(
                "leading or trailing white space: give the name as listed",
            ));
        }
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '(' | ')');
        if !name.chars().all(allowed) {
            return Err(NameError::Malformed(
                "a chip name has only letters, digits, spaces, dashes, underscores and parentheses; a resource name is chips/{id}",
            ));
        }
        self.get(name).ok_or(NameError::NotFound)
    }

    /// In the order of the data file (by vendor, then generation).
    pub fn chips(&self) -> &[CatalogChip] {
        &self.chips
    }

    fn parse(text: &str) -> Result<Catalog, String> {
        let file: RawFile = toml::from_str(text).map_err(|e| format!("chips.toml: {e}"))?;
        let mut index = HashMap::new();
        let mut chips = Vec::with_capacity(file.chip.len());
        for (i, raw) in file.chip.into_iter().enumerate() {
            if !is_slug(&raw.id) {
                return Err(format!(
                    "chips.toml: id {:?} must be a lower-case slug",
                    raw.id
                ));
            }
            for name in std::iter::once(&raw.id)
                .chain([&raw.display_name])
                .chain(&raw.aliases)
            {
                match index.insert(key(name), i) {
                    Some(j) if j != i => {
                        return Err(format!(
                            "chips.toml: name {name:?} of {} is taken by another chip",
                            raw.id
                        ))
                    }
                    _ => {}
                }
            }
            if raw.sources.is_empty() {
                return Err(format!("chips.toml: {} has no source", raw.id));
            }
            let spec = raw.spec.into_spec(&raw.display_name);
            chips.push(CatalogChip {
                id: raw.id,
                display_name: raw.display_name,
                vendor: raw.vendor,
                aliases: raw.aliases,
                spec,
                sources: raw.sources,
                notes: raw.notes,
            });
        }
        Ok(Catalog { chips, index })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    chip: Vec<RawChip>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChip {
    id: String,
    display_name: String,
    vendor: String,
    #[serde(default)]
    aliases: Vec<String>,
    sources: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
    spec: RawSpec,
}

#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "snake_case")]
enum RawKind {
    #[default]
    IntegratedCircuit,
    ComputerOrAssembly,
    HbmStack,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawMarket {
    Unspecified,
    Datacenter,
    NonDatacenter,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<String>,
    #[serde(default)]
    kind: RawKind,
    market: RawMarket,
    #[serde(default)]
    rates: Vec<RawRate>,
    #[serde(default)]
    dies: Vec<RawDie>,
    dram_bandwidth_gb_s: Option<f64>,
    interconnect_bandwidth_gb_s: Option<f64>,
    hbm_bandwidth_gb_s: Option<f64>,
    hbm_package_area_mm2: Option<f64>,
    #[serde(default)]
    contained_ics: Vec<RawContained>,
    us_commercially_available_2026_01_15: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    bits: u32,
    tops: f64,
    format: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDie {
    area_mm2: f64,
    non_planar: bool,
    #[serde(default)]
    memory: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContained {
    count: u32,
    spec: RawSpec,
}

impl RawSpec {
    fn into_spec(self, default_name: &str) -> ChipSpec {
        let name = self.name.unwrap_or_else(|| default_name.to_owned());
        ChipSpec {
            kind: match self.kind {
                RawKind::IntegratedCircuit => ItemKind::IntegratedCircuit,
                RawKind::ComputerOrAssembly => ItemKind::ComputerOrAssembly,
                RawKind::HbmStack => ItemKind::HbmStack,
            },
            market: match self.market {
                RawMarket::Unspecified => Market::Unspecified,
                RawMarket::Datacenter => Market::Datacenter,
                RawMarket::NonDatacenter => Market::NonDatacenter,
            },
            rates: self
                .rates
                .into_iter()
                .map(|r| ProcessingRate {
                    bit_length: r.bits,
                    dense_tops: r.tops,
                    format: r.format,
                })
                .collect(),
            dies: self
                .dies
                .into_iter()
                .map(|d| Die {
                    area_mm2: d.area_mm2,
                    non_planar: d.non_planar,
                    memory: d.memory,
                })
                .collect(),
            dram_bandwidth_gb_s: self.dram_bandwidth_gb_s,
            interconnect_bandwidth_gb_s: self.interconnect_bandwidth_gb_s,
            hbm_bandwidth_gb_s: self.hbm_bandwidth_gb_s,
            hbm_package_area_mm2: self.hbm_package_area_mm2,
            contained_ics: self
                .contained_ics
                .into_iter()
                .map(|c| ContainedIc {
                    count: c.count,
                    spec: c.spec.into_spec(&name),
                })
                .collect(),
            us_commercially_available_2026_01_15: self.us_commercially_available_2026_01_15,
            name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{
        ControlStatus, ExportType, LicenseStatus, ReviewPolicy, RuleBook, Transaction,
    };

    fn date() -> chrono::NaiveDate {
        "2026-02-01".parse().unwrap()
    }

    fn to_china() -> Transaction {
        Transaction::new(
            "CN",
            ExportType::ExportFromUs,
            Some("CN".into()),
            Some("CN".into()),
        )
    }

    fn chip(name: &str) -> &'static CatalogChip {
        Catalog::builtin()
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in the catalogue"))
    }

    #[test]
    fn catalogue_loads_with_at_least_30_chips_and_unique_slugs() {
        let chips = Catalog::builtin().chips();
        assert!(chips.len() >= 30, "{}", chips.len());
        for c in chips {
            assert!(
                c.id.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'),
                "{}",
                c.id
            );
            assert!(!c.sources.is_empty(), "{}", c.id);
            assert_eq!(Catalog::builtin().get(&c.id).map(|x| &x.id), Some(&c.id));
        }
    }

    #[test]
    fn lookup_accepts_slugs_resource_names_and_aliases() {
        for name in [
            "H200",
            "h200",
            "chips/h200",
            "CHIPS/H200",
            "NVIDIA H200",
            "h200 sxm",
            "H200-SXM5",
            " h200 ",
        ] {
            assert_eq!(
                Catalog::builtin().get(name).map(|c| c.id.as_str()),
                Some("h200"),
                "{name}"
            );
        }
        assert_eq!(chip("Trillium").id, "tpu-v6e");
        assert_eq!(chip("RTX 4090 D").id, "rtx-4090d");
        assert!(Catalog::builtin().get("h300").is_none());
        assert!(Catalog::builtin().get("").is_none());
    }

    #[test]
    fn h200_figures() {
        let d = RuleBook::builtin()
            .classify(&chip("h200").spec, Some(&to_china()), date())
            .unwrap();
        let c = &d.classification;
        assert!((c.tpp - 15831.2).abs() < 0.01, "{}", c.tpp);
        assert_eq!(c.applicable_die_area_mm2, Some(814.0));
        assert!((c.performance_density.unwrap() - 19.45).abs() < 0.01);
        assert_eq!(chip("h200").spec.dram_bandwidth_gb_s, Some(4800.0));
        let l = d.license.unwrap();
        assert_eq!(
            (l.status, l.review_policy),
            (LicenseStatus::Required, ReviewPolicy::CaseByCase)
        );
    }

    #[test]
    fn known_chips_classify_as_expected() {
        let cases = [
            ("a100", ControlStatus::Controlled, "3A090.a.1"),
            ("a30", ControlStatus::Controlled, "3A090.b.1"),
            ("a40", ControlStatus::Controlled, "3A090.b.2"),
            ("a10", ControlStatus::NotControlled, ""),
            ("h20", ControlStatus::NotControlled, ""),
            ("l20", ControlStatus::NotControlled, ""),
            ("l4", ControlStatus::Controlled, "3A090.a.2"),
            ("rtx-4090", ControlStatus::Controlled, "3A090.a.1"),
            ("rtx-4090d", ControlStatus::NotControlled, ""),
            ("rtx-5090d", ControlStatus::NotControlled, ""),
            ("mi210", ControlStatus::Indeterminate, ""),
            ("tpu-v5e", ControlStatus::Indeterminate, ""),
            ("mi250x", ControlStatus::Controlled, "3A090.a.1"),
            ("gb200", ControlStatus::Controlled, "4A090.a"),
            ("b300", ControlStatus::Controlled, "3A090.a.1"),
            ("gb300-gpu", ControlStatus::Controlled, "3A090.a.1"),
            (
                "rtx-pro-6000-blackwell",
                ControlStatus::Controlled,
                "3A090.a.1",
            ),
            ("mi355x", ControlStatus::Controlled, "3A090.a.1"),
        ];
        for (name, status, paragraph) in cases {
            let d = RuleBook::builtin()
                .classify(&chip(name).spec, None, date())
                .unwrap();
            assert_eq!(
                (d.classification.status, d.classification.paragraph),
                (status, paragraph),
                "{name}"
            );
        }
        let b200 = RuleBook::builtin()
            .classify(&chip("b200").spec, None, date())
            .unwrap();
        assert_eq!(b200.classification.tpp, 36000.0);
    }

    #[test]
    fn mi325x_meets_the_overlay_and_b200_does_not() {
        for (name, policy) in [
            ("mi325x", ReviewPolicy::CaseByCase),
            ("b200", ReviewPolicy::PresumptionOfDenial),
            ("h800", ReviewPolicy::PresumptionOfDenial),
        ] {
            let l = RuleBook::builtin()
                .classify(&chip(name).spec, Some(&to_china()), date())
                .unwrap()
                .license
                .unwrap();
            assert_eq!(l.review_policy, policy, "{name}");
        }
    }

    #[test]
    fn every_chip_classifies_and_unknown_areas_are_explained() {
        for c in Catalog::builtin().chips() {
            let d = RuleBook::builtin().classify(&c.spec, Some(&to_china()), date());
            assert!(d.is_ok(), "{}: {:?}", c.id, d.err());
            let no_area = c.spec.dies.is_empty() && c.spec.kind == ItemKind::IntegratedCircuit;
            assert!(
                !no_area || c.notes.iter().any(|n| n.contains("area")),
                "{}: unknown area not explained",
                c.id
            );
            assert!(
                c.spec.rates.iter().all(|r| !r.format.contains("TF32")),
                "{}",
                c.id
            );
        }
    }

    #[test]
    fn broken_catalogue_is_refused() {
        let text = include_str!("chips.toml");
        let clash = text.replacen("aliases = [\"A100 PCIe\"", "aliases = [\"A100\"", 1);
        assert!(Catalog::parse(&clash)
            .unwrap_err()
            .contains("taken by another chip"));
        let unknown = text.replacen(
            "vendor = \"NVIDIA\"",
            "vendor = \"NVIDIA\"\ncolour = \"green\"",
            1,
        );
        assert!(Catalog::parse(&unknown).is_err());
    }
}
