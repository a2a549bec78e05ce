//! ECCN tests: 3A090.a/.b (2023 on), the 2022 3A090.a test, 3A090.c and the
//! mapping of assemblies to 4A090.

use std::borrow::Cow;

use super::data::Texts;
use super::findings::{push_cmp, push_num, Out, Relied, Relies, Rule, RuleTable, Text};
use super::metrics::{self, Metrics};
use super::model::{ChipSpec, Classification, ControlStatus, Finding, ItemKind, Market};
use super::vintage::{EccnTest, TppPd, Vintage};

/// Control level of an item, ordered so that the most restrictive wins when
/// an assembly holds several ICs (Indeterminate sits between .a and .b: an
/// unresolved IC could still be .a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    None,
    B,
    Indeterminate,
    A,
}

/// Per-chip figures the January 2026 overlay and the is-informed overlay
/// compare against their thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct ChipFigures {
    pub tpp: f64,
    pub dram: Option<f64>,
    pub io: Option<f64>,
    pub available: Option<bool>,
}

impl ChipFigures {
    fn of(spec: &ChipSpec, tpp: f64) -> Self {
        ChipFigures {
            tpp,
            dram: spec.dram_bandwidth_gb_s,
            io: spec.interconnect_bandwidth_gb_s,
            available: spec.us_commercially_available_2026_01_15,
        }
    }

    /// The least favourable figures of two chips: an unknown figure stays
    /// unknown, and one chip not available makes the item not available.
    fn worst(self, other: Self) -> Self {
        let max = |a: Option<f64>, b: Option<f64>| Some(a?.max(b?));
        ChipFigures {
            tpp: self.tpp.max(other.tpp),
            dram: max(self.dram, other.dram),
            io: max(self.io, other.io),
            available: match (self.available, other.available) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Assessed<'a> {
    pub classification: Classification<'a>,
    pub level: Level,
    /// A standalone HBM stack (3A090.c candidate).
    pub hbm_item: bool,
    /// Whether 3A090.c is met.
    pub hbm_c: bool,
    pub datacenter: bool,
    /// Figures of the .a-level chips (worst case), for the January 2026 overlay.
    pub a_chips: Option<ChipFigures>,
    /// Figures of the item for the is-informed overlay.
    pub figures: ChipFigures,
    pub warnings: Vec<Cow<'a, str>>,
}

/// What the ECCN tests read: the rule data (`'a`, which the findings
/// borrow) and the classification's record of rules relied on (`'r`).
pub(crate) struct Ctx<'a, 'r> {
    pub rules: &'a RuleTable,
    pub relied: &'r Relied,
    pub texts: &'a Texts,
    pub v: &'a Vintage,
    /// Whether the findings carry explanations (FULL) or only their rule
    /// ids and outcomes (BASIC).
    pub detail: bool,
}

/// One IC's outcome before it is placed in a Classification.
/// ICs of an assembly counted together: how many, and their TPP.
#[derive(Debug, Clone, Copy, Default)]
struct UnitCount {
    ics: u32,
    tpp: f64,
}

impl UnitCount {
    fn add(&mut self, count: u32, tpp_each: f64) {
        self.ics = self.ics.saturating_add(count);
        self.tpp += f64::from(count) * tpp_each;
    }
}

struct Ic {
    level: Level,
    met: Vec<Rule>,
    metrics: Metrics,
    datacenter: bool,
    assumed: bool,
    open: Option<String>,
}

fn push_range(out: &mut impl Out, name: &str, x: f64, lo: f64, hi: f64) -> bool {
    let holds = x >= lo && x < hi;
    out.push_str(name);
    out.push(' ');
    push_num(out, x);
    out.push_str(if holds { " in [" } else { " not in [" });
    push_num(out, lo);
    out.push_str(", ");
    push_num(out, hi);
    out.push(')');
    holds
}

impl<'a> Relies<'a> for Ctx<'a, '_> {
    fn table(&self) -> &'a RuleTable {
        self.rules
    }

    fn relied(&self) -> &Relied {
        self.relied
    }
}

impl<'a> Ctx<'a, '_> {
    /// An explanation starting with `label`, written only with `detail`.
    fn text(&self, label: &str) -> Text {
        Text::labelled(self.detail, label)
    }

    pub(crate) fn assess(&self, spec: &ChipSpec) -> Assessed<'a> {
        match spec.kind {
            ItemKind::HbmStack => self.assess_hbm(spec),
            ItemKind::IntegratedCircuit => self.assess_single(spec, None),
            ItemKind::ComputerOrAssembly if spec.contained_ics.is_empty() => {
                self.assess_single(spec, Some(&self.texts.assembly_aggregate))
            }
            ItemKind::ComputerOrAssembly => self.assess_assembly(spec),
        }
    }

    fn empty(&self, status: ControlStatus) -> Classification<'a> {
        Classification {
            status,
            eccn: "",
            paragraph: "",
            paragraphs_met: Vec::new(),
            tpp: 0.0,
            performance_density: None,
            tpp_bit_length: 0,
            tpp_by_precision: Vec::new(),
            applicable_die_area_mm2: None,
            memory_bandwidth_density: None,
            findings: Vec::with_capacity(8),
            open_tests: Vec::new(),
            market_assumed_datacenter: false,
            eligible_license_exceptions: Vec::new(),
            thresholds: Vec::new(),
            ics_per_unit: 1,
            tpp_per_unit: 0.0,
        }
    }

    /// An IC, or an assembly given only as aggregated figures (then
    /// `aggregate_note` is the warning and the ECCN is the 4A090 paragraph).
    fn assess_single(&self, spec: &ChipSpec, aggregate_note: Option<&'a str>) -> Assessed<'a> {
        let mut c = self.empty(ControlStatus::NotControlled);
        let mut ic = self.classify_ic(spec, spec.market, "", &mut c.findings);
        let mut warnings = Vec::new();
        let met: Vec<Rule> = match aggregate_note {
            Some(note) => {
                let sys = self.system_rule(ic.level);
                if let Some(rule) = sys {
                    let mut e = String::from("assembly classified on its aggregated figures: ");
                    e.push_str(&self.rules.meta(ic.met[0]).paragraph);
                    c.findings.push(self.finding(rule, true, e));
                }
                c.findings
                    .push(self.finding(Rule::AssemblyAggregate, true, note));
                warnings.push(note.into());
                sys.into_iter().collect()
            }
            None => std::mem::take(&mut ic.met),
        };
        let (level, datacenter) = (ic.level, ic.datacenter);
        let figures = ChipFigures::of(spec, ic.metrics.tpp);
        self.fill(&mut c, ic, &met, &mut warnings);
        Assessed {
            level,
            hbm_item: false,
            hbm_c: false,
            datacenter,
            a_chips: (level == Level::A).then_some(figures),
            figures,
            classification: c,
            warnings,
        }
    }

    fn system_rule(&self, level: Level) -> Option<Rule> {
        match level {
            Level::A => Some(Rule::Sys4A090A),
            Level::B => Some(Rule::Sys4A090B),
            Level::None | Level::Indeterminate => None,
        }
    }

    fn assess_assembly(&self, spec: &ChipSpec) -> Assessed<'a> {
        let mut c = self.empty(ControlStatus::NotControlled);
        let mut warnings = Vec::new();
        let mut best: Option<(Ic, &ChipSpec)> = None;
        let mut a_chips: Option<ChipFigures> = None;
        let mut figures: Option<ChipFigures> = None;
        let mut hbm_c = false;
        // One datacenter .a-level IC makes the assembly a datacenter .a item.
        let mut a_datacenter = false;
        // What one unit counts as: the controlled ICs, else every IC.
        let mut controlled = UnitCount::default();
        let mut every_ic = UnitCount::default();
        for contained in &spec.contained_ics {
            let ic_spec = &contained.spec;
            let label = format!("contained IC '{}' x{}: ", ic_spec.name, contained.count);
            if ic_spec.kind == ItemKind::HbmStack {
                hbm_c |= self.hbm_test(ic_spec, &label, &mut c).0;
                continue;
            }
            let market = if ic_spec.market == Market::Unspecified {
                spec.market
            } else {
                ic_spec.market
            };
            let ic = self.classify_ic(ic_spec, market, &label, &mut c.findings);
            every_ic.add(contained.count, ic.metrics.tpp);
            if matches!(ic.level, Level::A | Level::B) {
                controlled.add(contained.count, ic.metrics.tpp);
            }
            let f = ChipFigures::of(ic_spec, ic.metrics.tpp);
            figures = Some(figures.map_or(f, |w| w.worst(f)));
            if ic.level == Level::A {
                a_chips = Some(a_chips.map_or(f, |w| w.worst(f)));
                a_datacenter |= ic.datacenter;
            }
            let better = best
                .as_ref()
                .is_none_or(|(b, _)| (ic.level, ic.metrics.tpp) > (b.level, b.metrics.tpp));
            if better {
                best = Some((ic, ic_spec));
            }
        }
        if hbm_c {
            warnings.push(
                "contained HBM stack meets 3A090.c; 4A090 covers assemblies of .a/.b ICs only"
                    .into(),
            );
        }
        let Some((ic, ic_spec)) = best else {
            // Only HBM stacks inside: nothing for 4A090 to catch.
            c.status = ControlStatus::NotControlled;
            return Assessed {
                level: Level::None,
                hbm_item: false,
                hbm_c: false,
                datacenter: spec.market != Market::NonDatacenter,
                a_chips: None,
                figures: ChipFigures::of(spec, 0.0),
                classification: c,
                warnings,
            };
        };
        let sys = self.system_rule(ic.level);
        if let Some(rule) = sys {
            let mut e = String::from("contains '");
            e.push_str(&ic_spec.name);
            e.push_str("' meeting ");
            e.push_str(&self.rules.meta(ic.met[0]).paragraph);
            c.findings.push(self.finding(rule, true, e));
        }
        let met: Vec<Rule> = sys.into_iter().collect();
        let mut e = String::from("metrics reported for contained IC '");
        e.push_str(&ic_spec.name);
        e.push('\'');
        warnings.push(e.into());
        let level = ic.level;
        let datacenter = if level == Level::A {
            a_datacenter
        } else {
            ic.datacenter
        };
        self.fill(&mut c, ic, &met, &mut warnings);
        let unit = if controlled.ics > 0 {
            controlled
        } else {
            every_ic
        };
        c.ics_per_unit = unit.ics;
        c.tpp_per_unit = unit.tpp;
        Assessed {
            level,
            hbm_item: false,
            hbm_c: false,
            datacenter,
            a_chips,
            figures: figures.unwrap_or_default(),
            classification: c,
            warnings,
        }
    }

    /// Copies an IC's outcome into the classification.
    fn fill(
        &self,
        c: &mut Classification<'a>,
        ic: Ic,
        met: &[Rule],
        warnings: &mut Vec<Cow<'a, str>>,
    ) {
        c.status = match ic.level {
            Level::A | Level::B => ControlStatus::Controlled,
            Level::Indeterminate => ControlStatus::Indeterminate,
            Level::None => ControlStatus::NotControlled,
        };
        if let Some(first) = met.first() {
            let meta = self.rules.meta(*first);
            c.paragraph = &meta.paragraph;
            c.eccn = &meta.eccn;
            c.paragraphs_met = met
                .iter()
                .map(|r| self.rules.meta(*r).paragraph.as_str())
                .collect();
        }
        let m = ic.metrics;
        c.tpp = m.tpp;
        c.tpp_per_unit = m.tpp;
        c.performance_density = m.pd;
        c.tpp_bit_length = m.bit_length;
        c.tpp_by_precision = m.by_precision;
        c.applicable_die_area_mm2 = m.applicable_area;
        c.market_assumed_datacenter |= ic.assumed;
        c.open_tests.extend(ic.open);
        if ic.assumed {
            warnings.push(Cow::Borrowed(self.texts.market_assumed_datacenter.as_str()));
        }
        if m.logic_dies > 1 {
            let mut w = self.texts.multi_die.clone();
            w.push_str(": ");
            push_num(&mut w, m.logic_dies as f64);
            w.push_str(" logic dies, ");
            push_num(&mut w, m.applicable_area.unwrap_or(0.0));
            w.push_str(" mm2");
            warnings.push(w.into());
        }
    }

    fn classify_ic(
        &self,
        spec: &ChipSpec,
        market: Market,
        label: &str,
        findings: &mut Vec<Finding<'a>>,
    ) -> Ic {
        let metrics = metrics::compute(spec);
        self.push_metric_findings(&metrics, spec, label, findings);
        let datacenter = market != Market::NonDatacenter;
        let assumed = market == Market::Unspecified;
        let mut ic = Ic {
            level: Level::None,
            met: Vec::new(),
            metrics,
            datacenter,
            assumed,
            open: None,
        };
        match &self.v.test {
            EccnTest::IoAndTpp { io_min, tpp_min } => {
                self.test_2022(spec, *io_min, *tpp_min, label, &mut ic, findings)
            }
            EccnTest::TppAndPd(t) => {
                // A stated market is the caller's logged judgement; only an
                // assumed one is a rule the answer relies on.
                if assumed {
                    let mut e = self.text(label);
                    e.push_str("market not given: treated as designed or marketed for datacenters");
                    findings.push(self.finding(Rule::DatacenterMarket, true, e));
                }
                self.test_2023(t, label, &mut ic, findings)
            }
        }
        ic
    }

    fn push_metric_findings(
        &self,
        m: &Metrics,
        spec: &ChipSpec,
        label: &str,
        findings: &mut Vec<Finding<'a>>,
    ) {
        let mut e = self.text(label);
        e.push_str("TPP ");
        push_num(&mut e, m.tpp);
        if let Some(r) = m.winner.map(|i| &spec.rates[i]) {
            e.push_str(" = ");
            push_num(&mut e, r.dense_tops);
            e.push_str(" dense TOPS x ");
            push_num(&mut e, f64::from(r.bit_length));
            e.push_str(" bits (");
            e.push_str(&r.format);
            e.push_str("), highest of ");
            push_num(&mut e, spec.rates.len() as f64);
            e.push_str(" precisions");
        }
        findings.push(self.finding(Rule::Tpp, true, e));
        let mut e = self.text(label);
        match (m.pd, m.applicable_area) {
            (Some(pd), Some(area)) => {
                e.push_str("PD ");
                push_num(&mut e, pd);
                e.push_str(" = TPP / ");
                push_num(&mut e, area);
                e.push_str(" mm2 of non-planar logic die area");
            }
            _ => e.push_str("applicable die area unknown: PD not computed"),
        }
        findings.push(self.finding(Rule::Pd, m.pd.is_some(), e));
    }

    fn test_2022(
        &self,
        spec: &ChipSpec,
        io_min: f64,
        tpp_min: f64,
        label: &str,
        ic: &mut Ic,
        findings: &mut Vec<Finding<'a>>,
    ) {
        let tpp = ic.metrics.tpp;
        let tpp_ok = tpp >= tpp_min;
        let mut e = self.text(label);
        let holds = match spec.interconnect_bandwidth_gb_s {
            Some(io) => {
                let io_ok = io >= io_min;
                push_cmp(&mut e, "I/O", io, io_ok, ">=", "<", io_min);
                e.push_str(" GB/s and ");
                io_ok
            }
            None => {
                e.push_str("I/O unknown and ");
                false
            }
        };
        push_cmp(&mut e, "TPP", tpp, tpp_ok, ">=", "<", tpp_min);
        let holds = holds && tpp_ok;
        findings.push(self.finding(Rule::A2022, holds, e));
        if holds {
            ic.level = Level::A;
            ic.met.push(Rule::A2022);
        } else if tpp_ok && spec.interconnect_bandwidth_gb_s.is_none() {
            ic.level = Level::Indeterminate;
            ic.open = Some(format!(
                "{label}spec.interconnect_bandwidth_gb_s: aggregate bidirectional I/O needed for the 2022 test (TPP {} >= {})",
                super::findings::num(tpp),
                super::findings::num(tpp_min)
            ));
        }
    }

    fn test_2023(&self, t: &TppPd, label: &str, ic: &mut Ic, findings: &mut Vec<Finding<'a>>) {
        let tpp = ic.metrics.tpp;
        let pd = ic.metrics.pd;
        if !ic.datacenter {
            let excluded = tpp < t.note2_tpp_min;
            let mut e = self.text(label);
            e.push_str("not for datacenters and ");
            push_cmp(&mut e, "TPP", tpp, excluded, "<", ">=", t.note2_tpp_min);
            e.push_str(if excluded {
                ": outside 3A090"
            } else {
                ": Note 2 does not exclude"
            });
            findings.push(self.finding(Rule::Note2, excluded, e));
            if excluded {
                return;
            }
        }
        let a1 = tpp >= t.a1_tpp_min;
        let mut e = self.text(label);
        push_cmp(&mut e, "TPP", tpp, a1, ">=", "<", t.a1_tpp_min);
        findings.push(self.finding(Rule::A1, a1, e));

        let a2_tpp = tpp >= t.a2_tpp_min;
        let a2_pd = pd.is_some_and(|pd| pd >= t.a2_pd_min);
        let mut e = self.text(label);
        push_cmp(&mut e, "TPP", tpp, a2_tpp, ">=", "<", t.a2_tpp_min);
        e.push_str(" and ");
        match pd {
            Some(pd) => push_cmp(&mut e, "PD", pd, a2_pd, ">=", "<", t.a2_pd_min),
            None => e.push_str("PD unknown"),
        }
        findings.push(self.finding(Rule::A2, a2_tpp && a2_pd, e));

        ic.met.extend(
            [(a1, Rule::A1), (a2_tpp && a2_pd, Rule::A2)]
                .into_iter()
                .filter(|m| m.0)
                .map(|m| m.1),
        );
        if !ic.met.is_empty() {
            ic.level = Level::A;
            return;
        }
        if tpp < t.b2_tpp_min.min(t.b1_tpp_min) {
            return;
        }
        let Some(pd) = pd else {
            ic.level = Level::Indeterminate;
            ic.open = Some(format!(
                "{label}spec.dies: applicable die area (non-planar logic dies) needed for performance density; TPP {} is in [{}, {})",
                super::findings::num(tpp),
                super::findings::num(t.a2_tpp_min),
                super::findings::num(t.a1_tpp_min)
            ));
            return;
        };
        let mut e = self.text(label);
        let b1 = push_range(&mut e, "TPP", tpp, t.b1_tpp_min, t.b1_tpp_below) & {
            e.push_str(" and ");
            push_range(&mut e, "PD", pd, t.b1_pd_min, t.b1_pd_below)
        };
        findings.push(self.finding(Rule::B1, b1, e));
        let b2_tpp = tpp >= t.b2_tpp_min;
        let mut e = self.text(label);
        push_cmp(&mut e, "TPP", tpp, b2_tpp, ">=", "<", t.b2_tpp_min);
        e.push_str(" and ");
        let b2 = b2_tpp & push_range(&mut e, "PD", pd, t.b2_pd_min, t.b2_pd_below);
        findings.push(self.finding(Rule::B2, b2, e));
        ic.met.extend(
            [(b1, Rule::B1), (b2, Rule::B2)]
                .into_iter()
                .filter(|m| m.0)
                .map(|m| m.1),
        );
        if !ic.met.is_empty() {
            ic.level = Level::B;
        }
    }

    /// Returns whether 3A090.c is met and whether the test is unresolved.
    fn hbm_test(&self, spec: &ChipSpec, label: &str, c: &mut Classification<'a>) -> (bool, bool) {
        let mbd = metrics::mbd(spec);
        let mut e = self.text(label);
        match mbd {
            Some(x) => {
                e.push_str("MBD ");
                push_num(&mut e, x);
                e.push_str(" GB/s/mm2 = ");
                push_num(&mut e, spec.hbm_bandwidth_gb_s.unwrap_or(0.0));
                e.push_str(" GB/s / ");
                push_num(&mut e, spec.hbm_package_area_mm2.unwrap_or(0.0));
                e.push_str(" mm2");
            }
            None => e.push_str("MBD unknown: HBM bandwidth or package area not given"),
        }
        c.findings.push(self.finding(Rule::Mbd, mbd.is_some(), e));
        if c.memory_bandwidth_density.is_none() {
            c.memory_bandwidth_density = mbd;
        }
        let mut e = self.text(label);
        let Some(h) = &self.v.hbm else {
            e.push_str("3A090.c is not in force under ");
            e.push_str(&self.v.id);
            c.findings.push(self.finding(Rule::C, false, e));
            return (false, false);
        };
        let Some(x) = mbd else {
            e.push_str("MBD unknown");
            c.findings.push(self.finding(Rule::C, false, e));
            c.open_tests.push(format!("{label}spec.hbm_bandwidth_gb_s and spec.hbm_package_area_mm2: needed for memory bandwidth density"));
            return (false, true);
        };
        let holds = x > h.c_mbd_above;
        push_cmp(&mut e, "MBD", x, holds, ">", "<=", h.c_mbd_above);
        c.findings.push(self.finding(Rule::C, holds, e));
        (holds, false)
    }

    fn assess_hbm(&self, spec: &ChipSpec) -> Assessed<'a> {
        let mut c = self.empty(ControlStatus::NotControlled);
        let (holds, open) = self.hbm_test(spec, "", &mut c);
        let mut warnings = Vec::new();
        if holds {
            let texts = self.texts;
            let meta = self.rules.meta(Rule::C);
            c.status = ControlStatus::Controlled;
            c.eccn = &meta.eccn;
            c.paragraph = &meta.paragraph;
            c.paragraphs_met.push(c.paragraph);
            c.findings
                .push(self.finding(Rule::CNotEligible, true, texts.c_exceptions.as_str()));
            warnings.push(Cow::Borrowed(texts.c_exceptions.as_str()));
        } else if open {
            c.status = ControlStatus::Indeterminate;
        }
        Assessed {
            level: Level::None,
            hbm_item: true,
            hbm_c: holds,
            datacenter: true,
            a_chips: None,
            figures: ChipFigures::of(spec, 0.0),
            classification: c,
            warnings,
        }
    }
}
