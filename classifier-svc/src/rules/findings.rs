//! The rules the logic can fire, their metadata from `rules.toml`, and cheap
//! construction of findings and their numbers.

use super::model::{Finding, SourceTag};
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::Write;

macro_rules! rule_ids {
    ($($variant:ident => $id:literal,)*) => {
        /// Every rule the logic knows. The ids are stable API; citations and
        /// tags come from the data, and a test proves both lists agree.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Rule { $($variant,)* }

        impl Rule {
            pub(crate) const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            pub(crate) fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id,)* }
            }
        }
    };
}

rule_ids! {
    Tpp => "metrics.tpp",
    Pd => "metrics.pd",
    Mbd => "metrics.mbd",
    Aggregation => "metrics.aggregation",
    InForce => "ruleset.in_force",
    A2022 => "eccn.3A090.a.2022",
    A1 => "eccn.3A090.a.1",
    A2 => "eccn.3A090.a.2",
    B1 => "eccn.3A090.b.1",
    B2 => "eccn.3A090.b.2",
    C => "eccn.3A090.c",
    Note2 => "eccn.note2",
    DatacenterMarket => "eccn.datacenter_market",
    Sys4A090A => "eccn.4A090.a",
    Sys4A090B => "eccn.4A090.b",
    AssemblyAggregate => "eccn.assembly_aggregate",
    HkAsCn => "dest.hk_as_cn",
    Scope2022 => "dest.country_scope.2022",
    Scope => "dest.country_scope",
    Hq => "hq.d5_macau",
    ChinaDenial2022 => "policy.china_denial_2022",
    D5MacauDenial => "policy.d5_macau_denial",
    NonDcCaseByCase => "policy.non_dc_a_or_b_case_by_case",
    Fr26 => "policy.fr26_case_by_case",
    Fr26Route => "policy.fr26_route",
    HqPartyCaseByCase => "policy.hq_party_case_by_case",
    HqPartyDenial => "policy.hq_party_denial",
    D1D4Approval => "policy.d1_d4_approval",
    CScope => "policy.c_scope_not_evaluated",
    Nac => "exception.nac",
    Aca => "exception.aca",
    HbmException => "exception.hbm",
    CNotEligible => "exception.c_not_eligible",
    IsInformed => "overlay.is_informed",
    AiDiffusion => "info.ai_diffusion",
    UaeGovernment => "uae.government",
    UaeEntity => "uae.supplement8_entity",
    UaeUsCompany => "uae.us_hq_company",
    UaeLicence => "uae.licence_required",
    Tariff => "tariff.section232",
    TariffCustoms => "tariff.fr26_customs",
}

impl Rule {
    pub(crate) fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RuleMeta {
    pub id: String,
    pub citation: String,
    pub source: SourceTag,
    pub confirmed: bool,
    pub eccn: String,
    pub paragraph: String,
}

const _: () = assert!(Rule::ALL.len() <= 64, "Relied is a 64-bit mask");

/// Rules that held during one classification, as a bitmask, so that the
/// answer can name the unconfirmed ones it relies on without a lookup per
/// finding.
#[derive(Debug, Default)]
pub(crate) struct Relied(Cell<u64>);

impl Relied {
    pub(crate) fn note(&self, rule: Rule, holds: bool) {
        if holds {
            self.0.set(self.0.get() | 1 << (rule as u32));
        }
    }

    pub(crate) fn rules(&self) -> impl Iterator<Item = Rule> + '_ {
        let mask = self.0.get();
        Rule::ALL
            .iter()
            .copied()
            .filter(move |r| mask & (1 << (*r as u32)) != 0)
    }
}

/// A layer of the classification that takes its findings from a rule table
/// (`'a`, which they borrow) and records in a [`Relied`] the rules that held.
pub(crate) trait Relies<'a> {
    fn table(&self) -> &'a RuleTable;

    fn relied(&self) -> &Relied;

    /// A finding on `rule`, noted as relied on when it holds.
    fn finding(
        &self,
        rule: Rule,
        holds: bool,
        explanation: impl Into<Cow<'a, str>>,
    ) -> Finding<'a> {
        self.relied().note(rule, holds);
        self.table().finding(rule, holds, explanation)
    }
}

/// Metadata indexed by `Rule as usize`.
#[derive(Debug)]
pub(crate) struct RuleTable(pub(crate) Vec<RuleMeta>);

impl RuleTable {
    pub(crate) fn meta(&self, rule: Rule) -> &RuleMeta {
        &self.0[rule as usize]
    }

    pub(crate) fn finding<'a>(
        &'a self,
        rule: Rule,
        holds: bool,
        explanation: impl Into<Cow<'a, str>>,
    ) -> Finding<'a> {
        let meta = self.meta(rule);
        self.finding_cited(rule, holds, explanation, &meta.citation, meta.source)
    }

    /// A finding whose facts come from other data than the rule's own, which
    /// then supplies the citation and the tag.
    pub(crate) fn finding_cited<'a>(
        &'a self,
        rule: Rule,
        holds: bool,
        explanation: impl Into<Cow<'a, str>>,
        citation: &'a str,
        source: SourceTag,
    ) -> Finding<'a> {
        Finding {
            rule_id: &self.meta(rule).id,
            holds,
            explanation: explanation.into(),
            citation,
            source,
        }
    }
}

/// `x` in hundredths, rounded half away from zero. A truncating cast is one
/// instruction where `f64::round` is a library call on baseline x86-64.
fn cents_of(x: f64) -> i64 {
    let y = x * 100.0;
    let r = (y.abs() + 0.5) as i64;
    if y < 0.0 {
        -r
    } else {
        r
    }
}

/// Where an explanation is written: a `String`, or a [`Text`] that writes
/// only when the answer carries texts.
pub(crate) trait Out: Write {
    /// False when whatever is written is dropped: skip the work.
    fn on(&self) -> bool {
        true
    }
    fn push_str(&mut self, s: &str);
    fn push(&mut self, c: char);
}

impl Out for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s)
    }
    fn push(&mut self, c: char) {
        String::push(self, c)
    }
}

/// An explanation being written, or nothing in an answer without texts
/// (the BASIC view): the numbers are then neither formatted nor allocated.
#[derive(Debug, Default)]
pub(crate) struct Text(Option<String>);

impl Text {
    /// `label` and room for a typical explanation after it, when `on`.
    pub(crate) fn labelled(on: bool, label: &str) -> Text {
        let mut text = Text::with_capacity(on, label.len() + 96);
        text.push_str(label);
        text
    }

    /// An empty explanation with room for `capacity` bytes, when `on`.
    pub(crate) fn with_capacity(on: bool, capacity: usize) -> Text {
        Text(on.then(|| String::with_capacity(capacity)))
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if let Some(text) = &mut self.0 {
            text.push_str(s);
        }
        Ok(())
    }
}

impl Out for Text {
    fn on(&self) -> bool {
        self.0.is_some()
    }
    fn push_str(&mut self, s: &str) {
        if let Some(text) = &mut self.0 {
            text.push_str(s);
        }
    }
    fn push(&mut self, c: char) {
        if let Some(text) = &mut self.0 {
            text.push(c);
        }
    }
}

impl<'a> From<Text> for Cow<'a, str> {
    fn from(text: Text) -> Self {
        text.0.map_or(Cow::Borrowed(""), Cow::Owned)
    }
}

/// Appends `x` with at most two decimals and no trailing zeros. Integer
/// arithmetic into a stack buffer keeps this far cheaper than float
/// formatting; the buffer holds only ASCII, appended char by char, which is
/// cheaper than validating it as UTF-8 for `push_str`.
pub(crate) fn push_num(out: &mut impl Out, x: f64) {
    const LIMIT: f64 = 1e15;
    if !out.on() {
        return;
    }
    if !x.is_finite() || x.abs() >= LIMIT {
        let _ = write!(out, "{x}");
        return;
    }
    let cents = cents_of(x);
    let mut n = cents.unsigned_abs();
    let mut buf = [0u8; 24];
    let mut i = buf.len();
    let mut put = |b: u8| {
        i -= 1;
        buf[i] = b;
    };
    let frac = n % 100;
    n /= 100;
    if frac != 0 {
        if !frac.is_multiple_of(10) {
            put(b'0' + (frac % 10) as u8);
        }
        put(b'0' + (frac / 10) as u8);
        put(b'.');
    }
    loop {
        put(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if cents < 0 {
        put(b'-');
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// Appends `x` for comparison with `threshold`: when two decimals would make
/// a value just below a threshold look equal to it, the full value is shown.
pub(crate) fn push_vs(out: &mut impl Out, x: f64, threshold: f64) {
    let close = x != threshold && (x - threshold).abs() < 0.01;
    if close && cents_of(x) == cents_of(threshold) {
        let _ = write!(out, "{x}");
    } else {
        push_num(out, x);
    }
}

pub(crate) fn num(x: f64) -> String {
    let mut s = String::new();
    push_num(&mut s, x);
    s
}

/// Builds "NAME VALUE OP THRESHOLD" with the comparison's outcome picking the
/// operator, e.g. "TPP 15831.2 >= 4800" or "PD 2.9 < 3.2".
pub(crate) fn push_cmp(
    out: &mut impl Out,
    name: &str,
    x: f64,
    holds: bool,
    yes: &str,
    no: &str,
    t: f64,
) {
    if !out.on() {
        return;
    }
    out.push_str(name);
    out.push(' ');
    push_vs(out, x, t);
    out.push(' ');
    out.push_str(if holds { yes } else { no });
    out.push(' ');
    push_num(out, t);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_exact_enough() {
        for (x, text) in [
            (15831.2, "15831.2"),
            (1978.9 * 8.0, "15831.2"),
            (4800.0, "4800"),
            (5.92, "5.92"),
            (19.448_402_948, "19.45"),
            (0.004, "0"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "inf"),
            (1e20, "100000000000000000000"),
        ] {
            assert_eq!(num(x), text, "{x}");
        }
    }

    #[test]
    fn values_just_below_a_threshold_show_all_digits() {
        let mut s = String::new();
        push_cmp(&mut s, "PD", 5.919_999, false, ">=", "<", 5.92);
        assert_eq!(s, "PD 5.919999 < 5.92");
    }

    #[test]
    fn rule_ids_are_unique() {
        for (i, a) in Rule::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
            assert_eq!(Rule::from_id(a.id()), Some(*a));
        }
    }
}
