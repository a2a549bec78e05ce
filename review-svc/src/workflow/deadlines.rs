//! The clocks and voting rules, read from `workflow.toml` (embedded at build
//! time). No day count appears in code.
//!
//! A deadline is `instant + days × day_length`. `day_length` is 86 400 s in
//! production; tests and demos shorten it so that the whole ladder runs in
//! seconds. Calendar days are counted as exact multiples of the day length
//! (no business-day or time-zone adjustment); an instant exactly at a
//! deadline is *at* the deadline: the deadline has passed.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::holds::HoldKind;
use super::model::{Agency, Level};

/// The embedded data file.
pub const EMBEDDED_TOML: &str = include_str!("../../workflow.toml");

/// Label shown next to a deadline whose clock is UNCONFIRMED.
pub const UNVERIFIED_LABEL: &str = "unverified deadline";

/// The clocks of the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// BIS first action (refer, HWA, RWA), from registration. Overdue only.
    FirstAction,
    /// The applicant's time to answer a request for information, from the
    /// request; then the application is returned without action.
    HoldWithoutAction,
    /// A reviewing agency may say that information is missing, from referral.
    InformationRequest,
    /// Agency recommendations, from referral; then deemed no objection.
    AgencyRecommendation,
    /// OC chair's decision, from the agency deadline. Overdue only.
    OperatingCommittee,
    /// Appeal of an OC decision to ACEP, from the decision.
    AppealToAcep,
    /// ACEP votes, from the appeal.
    AcepVote,
    /// Appeal of an ACEP decision to EARB, from the decision.
    AppealToEarb,
    /// EARB votes, from the appeal.
    EarbVote,
    /// Appeal of an EARB decision to the President, from the decision.
    AppealToPresident,
    /// Resolve or refer to the President, from registration.
    Overall,
}

impl Clock {
    pub const ALL: [Clock; 11] = [
        Clock::FirstAction,
        Clock::HoldWithoutAction,
        Clock::InformationRequest,
        Clock::AgencyRecommendation,
        Clock::OperatingCommittee,
        Clock::AppealToAcep,
        Clock::AcepVote,
        Clock::AppealToEarb,
        Clock::EarbVote,
        Clock::AppealToPresident,
        Clock::Overall,
    ];

    /// The key in `workflow.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Clock::FirstAction => "first_action",
            Clock::HoldWithoutAction => "hold_without_action",
            Clock::InformationRequest => "information_request",
            Clock::AgencyRecommendation => "agency_recommendation",
            Clock::OperatingCommittee => "operating_committee",
            Clock::AppealToAcep => "appeal_to_acep",
            Clock::AcepVote => "acep_vote",
            Clock::AppealToEarb => "appeal_to_earb",
            Clock::EarbVote => "earb_vote",
            Clock::AppealToPresident => "appeal_to_president",
            Clock::Overall => "overall",
        }
    }

    /// The clock of the appeal window after a decision at `level`.
    pub fn appeal_window(level: Level) -> Option<Clock> {
        match level {
            Level::OperatingCommittee => Some(Clock::AppealToAcep),
            Level::Acep => Some(Clock::AppealToEarb),
            Level::Earb => Some(Clock::AppealToPresident),
            Level::Agency | Level::President => None,
        }
    }

    /// The clock of the votes at `level`.
    pub fn vote(level: Level) -> Option<Clock> {
        match level {
            Level::Acep => Some(Clock::AcepVote),
            Level::Earb => Some(Clock::EarbVote),
            _ => None,
        }
    }
}

/// One clock, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineRule {
    pub clock: Clock,
    pub days: u32,
    /// The instant the clock runs from, in words.
    pub from: String,
    /// What happens when it expires, in words.
    pub on_expiry: String,
    /// `false` for UNCONFIRMED clocks: they run, labelled "unverified deadline".
    pub confirmed: bool,
    /// The reference's source tag: "rule text", "secondary" or "unconfirmed".
    pub tag: String,
    pub citation: String,
}

impl DeadlineRule {
    /// `"unverified deadline"` for an UNCONFIRMED clock, `None` otherwise.
    pub fn label(&self) -> Option<&'static str> {
        (!self.confirmed).then_some(UNVERIFIED_LABEL)
    }
}

/// One kind of hold, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldRule {
    pub kind: HoldKind,
    /// Its own deadline, in days from when it is placed.
    pub days: Option<u32>,
    /// What is due by the deadline, or what the hold waits for, in words.
    pub due_for: String,
    /// Whether passing the deadline returns the application without action
    /// (the request for information); otherwise it only makes it overdue.
    pub returns_without_action: bool,
    pub confirmed: bool,
    pub tag: String,
    pub citation: String,
}

impl HoldRule {
    /// `"unverified deadline"` for an UNCONFIRMED deadline, `None` otherwise.
    pub fn label(&self) -> Option<&'static str> {
        (!self.confirmed && self.days.is_some()).then_some(UNVERIFIED_LABEL)
    }
}

/// How the votes of a committee (ACEP, EARB) are counted. Votes are counted
/// by direction (approve, with or without conditions, against deny).
/// Whenever the rule does not produce a majority the lower level's decision
/// stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VotingRule {
    /// More than half of the votes cast; a tie or no votes keeps the lower decision.
    MajorityOfVotesCast,
    /// More than half of the members (all referred agencies), whether or not they voted.
    MajorityOfMembers,
}

/// The voting rule of one committee, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VotingSetting {
    pub level: Level,
    pub rule: VotingRule,
    /// In words: what happens without a majority.
    pub on_tie: String,
    pub confirmed: bool,
    pub tag: String,
    pub citation: String,
}

/// The data file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid workflow data: {0}")]
pub struct ConfigError(pub String);

/// All clocks, the agency list and the voting rules, with the day length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadlines {
    day_length: Duration,
    agencies: Vec<Agency>,
    agencies_citation: String,
    rules: [DeadlineRule; 11],
    holds: Vec<HoldRule>,
    acep: VotingSetting,
    earb: VotingSetting,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileData {
    agencies: Vec<Agency>,
    agencies_citation: String,
    clocks: ClocksData,
    holds: HoldsData,
    voting: VotingData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClocksData {
    first_action: ClockData,
    hold_without_action: ClockData,
    information_request: ClockData,
    agency_recommendation: ClockData,
    operating_committee: ClockData,
    appeal_to_acep: ClockData,
    acep_vote: ClockData,
    appeal_to_earb: ClockData,
    earb_vote: ClockData,
    appeal_to_president: ClockData,
    overall: ClockData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockData {
    days: u32,
    from: String,
    on_expiry: String,
    confirmed: bool,
    tag: String,
    citation: String,
}

/// The kinds of 750.4(b), each with its own deadline if it has one. The
/// request for information (750.4(d)(1)) is not here: its answer period is
/// the `hold_without_action` clock.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldsData {
    applicant_agreed_delay: HoldData,
    pre_license_check: HoldData,
    pre_license_check_analysis: HoldData,
    government_assurances: HoldData,
    government_assurances_state: HoldData,
    foreign_consultation: HoldData,
    congressional_notification: HoldData,
    other_notification: HoldData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldData {
    /// The hold's own deadline in days from its placing; absent when it has none.
    days: Option<u32>,
    /// What is due by the deadline, or what the hold waits for.
    due_for: String,
    confirmed: bool,
    tag: String,
    citation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VotingData {
    acep: VotingSettingData,
    earb: VotingSettingData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VotingSettingData {
    rule: VotingRule,
    on_tie: String,
    confirmed: bool,
    tag: String,
    citation: String,
}

/// Longest clock accepted, so that `days × day_length` stays far from overflow.
const MAX_DAYS: u32 = 3650;
const TAGS: [&str; 3] = ["rule text", "secondary", "unconfirmed"];

impl Deadlines {
    /// Parses and checks the data. A `day_length` that is not positive is
    /// raised to one millisecond.
    pub fn parse(text: &str, day_length: Duration) -> Result<Deadlines, ConfigError> {
        let data: FileData = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        if data.agencies.is_empty() {
            return Err(ConfigError(
                "agencies: at least one agency is needed".into(),
            ));
        }
        for (i, a) in data.agencies.iter().enumerate() {
            if data.agencies[..i].contains(a) {
                return Err(ConfigError(format!(
                    "agencies: {} is listed twice",
                    a.as_str()
                )));
            }
        }
        nonblank("agencies_citation", &data.agencies_citation)?;
        let c = data.clocks;
        let rules = [
            clock(Clock::FirstAction, c.first_action)?,
            clock(Clock::HoldWithoutAction, c.hold_without_action)?,
            clock(Clock::InformationRequest, c.information_request)?,
            clock(Clock::AgencyRecommendation, c.agency_recommendation)?,
            clock(Clock::OperatingCommittee, c.operating_committee)?,
            clock(Clock::AppealToAcep, c.appeal_to_acep)?,
            clock(Clock::AcepVote, c.acep_vote)?,
            clock(Clock::AppealToEarb, c.appeal_to_earb)?,
            clock(Clock::EarbVote, c.earb_vote)?,
            clock(Clock::AppealToPresident, c.appeal_to_president)?,
            clock(Clock::Overall, c.overall)?,
        ];
        let holds = hold_rules(data.holds, &rules[Clock::HoldWithoutAction as usize])?;
        Ok(Deadlines {
            day_length: if day_length > Duration::zero() {
                day_length
            } else {
                Duration::milliseconds(1)
            },
            agencies: data.agencies,
            agencies_citation: data.agencies_citation,
            rules,
            holds,
            acep: voting(Level::Acep, data.voting.acep)?,
            earb: voting(Level::Earb, data.voting.earb)?,
        })
    }

    /// The length of one day.
    pub fn day_length(&self) -> Duration {
        self.day_length
    }

    /// The agencies an application is referred to, in referral order.
    pub fn agencies(&self) -> &[Agency] {
        &self.agencies
    }

    pub fn agencies_citation(&self) -> &str {
        &self.agencies_citation
    }

    /// Every clock, in [`Clock::ALL`] order.
    pub fn rules(&self) -> &[DeadlineRule] {
        &self.rules
    }

    pub fn rule(&self, clock: Clock) -> &DeadlineRule {
        &self.rules[clock as usize]
    }

    /// The rule of a kind of hold.
    pub fn hold(&self, kind: HoldKind) -> &HoldRule {
        &self.holds[kind as usize]
    }

    /// Every kind of hold, in [`HoldKind::ALL`] order.
    pub fn holds(&self) -> &[HoldRule] {
        &self.holds
    }

    /// The deadline of a hold of `kind` placed at `placed`, if it has one.
    pub fn hold_due(&self, kind: HoldKind, placed: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.hold(kind)
            .days
            .map(|days| self.after_days(days, placed))
    }

    /// The voting rule at ACEP or EARB; `None` at other levels.
    pub fn voting(&self, level: Level) -> Option<&VotingSetting> {
        match level {
            Level::Acep => Some(&self.acep),
            Level::Earb => Some(&self.earb),
            _ => None,
        }
    }

    /// `from + days × day_length`, saturating at the largest instant.
    pub fn due(&self, clock: Clock, from: DateTime<Utc>) -> DateTime<Utc> {
        self.after_days(self.rule(clock).days, from)
    }

    fn after_days(&self, days: u32, from: DateTime<Utc>) -> DateTime<Utc> {
        let days = i32::try_from(days).unwrap_or(i32::MAX);
        self.day_length
            .checked_mul(days)
            .and_then(|span| from.checked_add_signed(span))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

fn nonblank(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError(format!("{field}: must not be blank")))
    } else {
        Ok(())
    }
}

fn clock(clock: Clock, d: ClockData) -> Result<DeadlineRule, ConfigError> {
    let key = clock.key();
    if d.days == 0 || d.days > MAX_DAYS {
        return Err(ConfigError(format!(
            "clocks.{key}.days: {} is outside 1..={MAX_DAYS}",
            d.days
        )));
    }
    check_tag(&format!("clocks.{key}"), &d.tag, d.confirmed)?;
    nonblank(&format!("clocks.{key}.from"), &d.from)?;
    nonblank(&format!("clocks.{key}.on_expiry"), &d.on_expiry)?;
    nonblank(&format!("clocks.{key}.citation"), &d.citation)?;
    Ok(DeadlineRule {
        clock,
        days: d.days,
        from: d.from,
        on_expiry: d.on_expiry,
        confirmed: d.confirmed,
        tag: d.tag,
        citation: d.citation,
    })
}

fn hold_rules(data: HoldsData, answer: &DeadlineRule) -> Result<Vec<HoldRule>, ConfigError> {
    let HoldsData {
        applicant_agreed_delay,
        pre_license_check,
        pre_license_check_analysis,
        government_assurances,
        government_assurances_state,
        foreign_consultation,
        congressional_notification,
        other_notification,
    } = data;
    let mut rules = vec![HoldRule {
        kind: HoldKind::MissingInformation,
        days: Some(answer.days),
        due_for: "the applicant answers the request for information".into(),
        returns_without_action: true,
        confirmed: answer.confirmed,
        tag: answer.tag.clone(),
        citation: answer.citation.clone(),
    }];
    for (kind, d) in [
        (HoldKind::ApplicantAgreedDelay, applicant_agreed_delay),
        (HoldKind::PreLicenseCheck, pre_license_check),
        (
            HoldKind::PreLicenseCheckAnalysis,
            pre_license_check_analysis,
        ),
        (HoldKind::GovernmentAssurances, government_assurances),
        (
            HoldKind::GovernmentAssurancesState,
            government_assurances_state,
        ),
        (HoldKind::ForeignConsultation, foreign_consultation),
        (
            HoldKind::CongressionalNotification,
            congressional_notification,
        ),
        (HoldKind::OtherNotification, other_notification),
    ] {
        let key = format!("holds.{}", kind.key());
        if let Some(days) = d.days.filter(|days| *days == 0 || *days > MAX_DAYS) {
            return Err(ConfigError(format!(
                "{key}.days: {days} is outside 1..={MAX_DAYS}"
            )));
        }
        check_tag(&key, &d.tag, d.confirmed)?;
        nonblank(&format!("{key}.due_for"), &d.due_for)?;
        nonblank(&format!("{key}.citation"), &d.citation)?;
        rules.push(HoldRule {
            kind,
            days: d.days,
            due_for: d.due_for,
            returns_without_action: false,
            confirmed: d.confirmed,
            tag: d.tag,
            citation: d.citation,
        });
    }
    Ok(rules)
}

fn voting(level: Level, d: VotingSettingData) -> Result<VotingSetting, ConfigError> {
    let key = format!("voting.{}", level.as_str().to_ascii_lowercase());
    check_tag(&key, &d.tag, d.confirmed)?;
    nonblank(&format!("{key}.on_tie"), &d.on_tie)?;
    nonblank(&format!("{key}.citation"), &d.citation)?;
    Ok(VotingSetting {
        level,
        rule: d.rule,
        on_tie: d.on_tie,
        confirmed: d.confirmed,
        tag: d.tag,
        citation: d.citation,
    })
}

fn check_tag(key: &str, tag: &str, confirmed: bool) -> Result<(), ConfigError> {
    if !TAGS.contains(&tag) {
        return Err(ConfigError(format!(
            "{key}.tag: {tag:?} is not one of {TAGS:?}"
        )));
    }
    if confirmed == (tag == "unconfirmed") {
        return Err(ConfigError(format!(
            "{key}: confirmed = {confirmed} contradicts tag {tag:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded() -> Deadlines {
        Deadlines::parse(EMBEDDED_TOML, Duration::days(1)).expect("embedded data parses")
    }

    #[test]
    fn embedded_data_is_valid() {
        let d = embedded();
        assert_eq!(d.agencies(), &Agency::ALL);
        assert_eq!(d.rules().len(), Clock::ALL.len());
        for (rule, clock) in d.rules().iter().zip(Clock::ALL) {
            assert_eq!(rule.clock, clock, "rules are in Clock::ALL order");
        }
    }

    #[test]
    fn embedded_numbers_and_confirmation() {
        let d = embedded();
        let table = [
            (Clock::FirstAction, 9, "750.4(c)"),
            (Clock::HoldWithoutAction, 10, "interpretation"),
            (Clock::InformationRequest, 10, "750.4(d)(1)"),
            (Clock::AgencyRecommendation, 30, "750.4(d)(2)"),
            (Clock::OperatingCommittee, 14, "750.4(f)(1)"),
            (Clock::AppealToAcep, 5, "750.4(f)(1)"),
            (Clock::AcepVote, 11, "750.4(f)(2)"),
            (Clock::AppealToEarb, 5, "750.4(f)(2)"),
            (Clock::EarbVote, 11, "750.4(f)(3)"),
            (Clock::AppealToPresident, 5, "750.4(f)(3)"),
            (Clock::Overall, 90, "750.4(a)(1)"),
        ];
        for (clock, days, cited) in table {
            let rule = d.rule(clock);
            assert_eq!(rule.days, days, "{}", clock.key());
            assert!(
                rule.confirmed,
                "{}: the text of 750.4 confirms it",
                clock.key()
            );
            assert_eq!(rule.label(), None);
            assert!(rule.citation.contains(cited), "{}", clock.key());
        }
        let holds = [
            (HoldKind::MissingInformation, Some(10), true),
            (HoldKind::ApplicantAgreedDelay, None, false),
            (HoldKind::PreLicenseCheck, Some(5), false),
            (HoldKind::PreLicenseCheckAnalysis, Some(5), false),
            (HoldKind::GovernmentAssurances, Some(5), false),
            (HoldKind::GovernmentAssurancesState, Some(10), false),
            (HoldKind::ForeignConsultation, None, false),
            (HoldKind::CongressionalNotification, Some(30), false),
            (HoldKind::OtherNotification, None, false),
        ];
        for (kind, days, returns) in holds {
            let rule = d.hold(kind);
            assert_eq!(rule.kind, kind);
            assert_eq!(rule.days, days, "{}", kind.key());
            assert_eq!(rule.returns_without_action, returns, "{}", kind.key());
            assert!(rule.citation.contains("750.4") || returns, "{}", kind.key());
        }
        let acep = d.voting(Level::Acep).unwrap();
        let earb = d.voting(Level::Earb).unwrap();
        assert_eq!(acep.rule, VotingRule::MajorityOfVotesCast);
        assert_eq!(earb.rule, acep.rule, "EARB defaults to the ACEP rule");
        assert!(
            acep.confirmed && earb.confirmed,
            "750.4(f) asks for a majority"
        );
        assert!(
            acep.on_tie.contains("interpretation"),
            "the tie rule is not in the text"
        );
        assert!(d.voting(Level::OperatingCommittee).is_none());
    }

    #[test]
    fn due_is_instant_plus_days_times_day_length() {
        let t0 = DateTime::parse_from_rfc3339("2026-02-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let d = embedded();
        assert_eq!(
            d.due(Clock::AgencyRecommendation, t0),
            t0 + Duration::days(30)
        );
        let fast = Deadlines::parse(EMBEDDED_TOML, Duration::seconds(2)).unwrap();
        assert_eq!(fast.due(Clock::Overall, t0), t0 + Duration::seconds(180));
        let clamped = Deadlines::parse(EMBEDDED_TOML, Duration::zero()).unwrap();
        assert_eq!(clamped.day_length(), Duration::milliseconds(1));
        assert_eq!(
            d.due(Clock::Overall, DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC,
            "saturates instead of overflowing"
        );
    }

    #[test]
    fn broken_data_is_rejected() {
        let cases = [
            (
                "agencies = [\"COMMERCE\", \"STATE\", \"DEFENSE\", \"ENERGY\"]",
                "agencies = []",
            ),
            (
                "agencies = [\"COMMERCE\", \"STATE\", \"DEFENSE\", \"ENERGY\"]",
                "agencies = [\"COMMERCE\", \"COMMERCE\"]",
            ),
            ("days = 90", "days = 0"),
            ("days = 90", "days = 99999"),
            ("days = 90", "days = 90\nsurprise = 1"),
            ("[clocks.overall]", "[clocks.overal]"),
            ("rule = \"MAJORITY_OF_VOTES_CAST\"", "rule = \"COIN_TOSS\""),
            ("tag = \"rule text\"", "tag = \"hearsay\""),
            ("tag = \"rule text\"", "tag = \"unconfirmed\""),
            (
                "[holds.pre_license_check]\ndays = 5",
                "[holds.pre_license_check]\ndays = 0",
            ),
            ("[holds.other_notification]", "[holds.other_notifications]"),
            ("citation = \"15 CFR 750.4(a)(1)\"", "citation = \" \""),
        ];
        for (from, to) in cases {
            assert!(EMBEDDED_TOML.contains(from), "fixture {from:?} not found");
            let broken = EMBEDDED_TOML.replacen(from, to, 1);
            assert!(
                Deadlines::parse(&broken, Duration::days(1)).is_err(),
                "{to:?} should be rejected"
            );
        }
    }
}
