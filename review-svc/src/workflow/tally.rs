//! Counting the votes of ACEP and EARB.
//!
//! Votes are counted by direction: APPROVE and APPROVE_WITH_CONDITIONS are
//! both votes to approve, DENY is a vote to deny. The configured
//! [`VotingRule`] says whether a majority exists. Then:
//!
//! - no majority (a tie, or no votes): the lower level's decision stands,
//!   unchanged;
//! - a majority in the direction of the lower decision: it stands, unchanged
//!   (with its conditions);
//! - a majority the other way: the committee reverses it. A reversal to deny
//!   is DENY; a reversal to approve carries the union of the conditions of the
//!   approving votes (APPROVE_WITH_CONDITIONS if there are any, else APPROVE).

use serde::{Deserialize, Serialize};

use super::deadlines::VotingRule;
use super::model::{Agency, Application, Direction, Level, Outcome};

/// The count at one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub level: Level,
    pub rule: VotingRule,
    /// Agencies entitled to vote.
    pub members: u32,
    pub approve: u32,
    pub deny: u32,
    /// Members that did not vote, in referral order.
    pub not_voted: Vec<Agency>,
    /// `None` when the rule finds no majority.
    pub majority: Option<Direction>,
}

/// Counts the votes cast at `level` by the agencies referred at that level.
pub fn count(app: &Application, level: Level, rule: VotingRule) -> Tally {
    let mut approve = 0u32;
    let mut deny = 0u32;
    let mut not_voted = Vec::new();
    for due in &app.agency_due {
        match app.recommendation_of(due.agency, level) {
            Some(r) => match r.recommendation.direction() {
                Direction::Approve => approve += 1,
                Direction::Deny => deny += 1,
            },
            None => not_voted.push(due.agency),
        }
    }
    let members = u32::try_from(app.agency_due.len()).unwrap_or(u32::MAX);
    let base = match rule {
        VotingRule::MajorityOfVotesCast => approve + deny,
        VotingRule::MajorityOfMembers => members,
    };
    let majority = if u64::from(approve) * 2 > u64::from(base) {
        Some(Direction::Approve)
    } else if u64::from(deny) * 2 > u64::from(base) {
        Some(Direction::Deny)
    } else {
        None
    };
    Tally {
        level,
        rule,
        members,
        approve,
        deny,
        not_voted,
        majority,
    }
}

/// The committee's decision: outcome, conditions and a rationale that
/// explains the count.
pub fn decide(app: &Application, tally: &Tally) -> (Outcome, Vec<String>, String) {
    let committee = tally.level.as_str();
    let counted = format!(
        "{committee} vote: {} to approve, {} to deny, {} not voted ({})",
        tally.approve,
        tally.deny,
        tally.not_voted.len(),
        match tally.rule {
            VotingRule::MajorityOfVotesCast => "majority of votes cast",
            VotingRule::MajorityOfMembers => "majority of members",
        }
    );
    let lower = app.decision.as_ref();
    let lower_name = lower.map_or("lower", |d| d.level.as_str());
    match (tally.majority, lower) {
        (None, Some(d)) => (
            d.outcome,
            d.conditions.clone(),
            format!("{counted}; no majority: the {lower_name} decision stands"),
        ),
        (Some(m), Some(d)) if m == d.outcome.direction() => (
            d.outcome,
            d.conditions.clone(),
            format!(
                "{counted}; majority to {}: the {lower_name} decision is confirmed",
                m.as_str().to_ascii_lowercase()
            ),
        ),
        (Some(Direction::Deny), _) => (
            Outcome::Deny,
            Vec::new(),
            format!("{counted}; majority to deny"),
        ),
        (Some(Direction::Approve), _) => {
            let mut conditions: Vec<String> = Vec::new();
            for r in app.recommendations_at(tally.level) {
                if r.recommendation.direction() == Direction::Approve {
                    for c in &r.conditions {
                        if !conditions.contains(c) {
                            conditions.push(c.clone());
                        }
                    }
                }
            }
            let outcome = if conditions.is_empty() {
                Outcome::Approve
            } else {
                Outcome::ApproveWithConditions
            };
            (
                outcome,
                conditions,
                format!("{counted}; majority to approve"),
            )
        }
        // No lower decision to keep (not reachable through the workflow):
        // without a majority nothing supports an approval.
        (None, None) => (
            Outcome::Deny,
            Vec::new(),
            format!("{counted}; no majority and no lower decision"),
        ),
    }
}
