//! BASIC answers' thresholds in columns (`CompactThresholds`), and the way
//! back to `Threshold` messages, as the proto's comment tells a client to
//! read them.

use exportcontrol_proto::classifier::v1 as pb;

use crate::rules;

/// The columns of `thresholds`, in their order: rule ids and values written
/// once each, a threshold naming them by position. `None` when a limit is
/// not a whole number of thousandths (the answer then lists the thresholds).
pub fn compact_thresholds(thresholds: &[rules::Threshold<'_>]) -> Option<pb::CompactThresholds> {
    let count = thresholds.len();
    let mut c = pb::CompactThresholds {
        rule_ids: Vec::with_capacity(8),
        rule_index: Vec::with_capacity(count),
        metrics: Vec::with_capacity(count),
        bounds: Vec::with_capacity(count),
        limits_thousandths: Vec::with_capacity(count),
        values: Vec::with_capacity(8),
        value_index: Vec::with_capacity(count),
    };
    for t in thresholds {
        let rule = match c.rule_ids.iter().position(|id| id == t.rule_id) {
            Some(position) => position,
            None => {
                c.rule_ids.push(t.rule_id.to_owned());
                c.rule_ids.len() - 1
            }
        };
        c.rule_index.push(rule as u32);
        c.metrics.push(metric(t.metric) as i32);
        c.bounds.push(bound(t.bound) as i32);
        c.limits_thousandths.push(thousandths(t.limit)?);
        // Compared by bits: the client must get back the very same double.
        let value = t.value.map(|value| {
            match c.values.iter().position(|v| v.to_bits() == value.to_bits()) {
                Some(position) => position,
                None => {
                    c.values.push(value);
                    c.values.len() - 1
                }
            }
        });
        c.value_index
            .push(value.map_or(0, |position| position as u32 + 1));
    }
    Some(c)
}

/// Limits beyond this many thousandths are written as doubles: every whole
/// number up to it is exact in a double, so the division is exact too.
const EXACT_THOUSANDTHS: f64 = (1u64 << 53) as f64;

/// `limit` as n thousandths, when n / 1000.0 gives back the very same
/// double (division is correctly rounded, as reading the rule data's
/// decimal was, so any limit stated to three decimals qualifies).
fn thousandths(limit: f64) -> Option<i64> {
    let n = (limit * 1000.0).round();
    (n.abs() < EXACT_THOUSANDTHS && (n / 1000.0).to_bits() == limit.to_bits()).then_some(n as i64)
}

/// The thresholds a compact form stands for, as a FULL answer lists them
/// but without names; `None` when the columns do not fit together (a
/// column of the wrong length, a position out of range, an unknown bound).
pub fn expand_compact_thresholds(c: &pb::CompactThresholds) -> Option<Vec<pb::Threshold>> {
    let count = c.limits_thousandths.len();
    let columns = [
        c.rule_index.len(),
        c.metrics.len(),
        c.bounds.len(),
        c.value_index.len(),
    ];
    if columns.iter().any(|&len| len != count) {
        return None;
    }
    (0..count)
        .map(|i| {
            let rule_id = c.rule_ids.get(c.rule_index[i] as usize)?.clone();
            let value = match c.value_index[i] {
                0 => None,
                position => Some(*c.values.get(position as usize - 1)?),
            };
            let limit = c.limits_thousandths[i] as f64 / 1000.0;
            let met = match pb::Bound::try_from(c.bounds[i]).ok()? {
                pb::Bound::AtLeast => value.is_some_and(|v| v >= limit),
                pb::Bound::Above => value.is_some_and(|v| v > limit),
                pb::Bound::Below => value.is_some_and(|v| v < limit),
                pb::Bound::Unspecified => return None,
            };
            Some(pb::Threshold {
                rule_id,
                name: String::new(),
                metric: c.metrics[i],
                bound: c.bounds[i],
                limit,
                value,
                met,
                margin: value.map(|value| value - limit),
            })
        })
        .collect()
}

pub(crate) fn metric(metric: rules::Metric) -> pb::Metric {
    match metric {
        rules::Metric::Tpp => pb::Metric::Tpp,
        rules::Metric::Pd => pb::Metric::Pd,
        rules::Metric::DramGbS => pb::Metric::DramBandwidth,
        rules::Metric::IoGbS => pb::Metric::IoBandwidth,
        rules::Metric::Mbd => pb::Metric::Mbd,
    }
}

pub(crate) fn bound(bound: rules::Bound) -> pb::Bound {
    match bound {
        rules::Bound::AtLeast => pb::Bound::AtLeast,
        rules::Bound::Above => pb::Bound::Above,
        rules::Bound::Below => pb::Bound::Below,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_stated_to_three_decimals_are_exact_in_thousandths() {
        for limit in [
            5.92, 1.6, 3.2, 4800.0, 21000.0, 0.001, 123456.789, -2.5, 0.0,
        ] {
            let n = thousandths(limit).expect("three decimals");
            assert_eq!((n as f64 / 1000.0).to_bits(), limit.to_bits(), "{limit}");
        }
        for limit in [
            0.0001,
            1.0 / 3.0,
            19.44864864864865,
            f64::NAN,
            f64::INFINITY,
            1e300,
        ] {
            assert_eq!(thousandths(limit), None, "{limit}");
        }
    }
}
