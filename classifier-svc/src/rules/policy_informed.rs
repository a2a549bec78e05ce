//! The April 2025 is-informed overlay: company-specific, reported, never
//! applied to callers without a notice.

use super::*;

impl<'a> Licence<'a, '_> {
    pub(super) fn is_informed(
        &mut self,
        det: &mut LicenseDetermination<'a>,
        place: &Place<'a>,
        dest: Cc,
    ) {
        if !self.tx.is_informed_notice_received {
            return;
        }
        let ii = &self.book.policy.is_informed;
        let f = self.a.figures;
        let mut e = String::with_capacity(160);
        e.push_str(&self.book.texts.is_informed_status);
        e.push_str(": ");
        let in_time = self.as_of >= ii.effective;
        let in_place = place.informed.contains(dest);
        let dram = f.dram.map(|d| d >= ii.dram_min);
        let io = f.io.map(|d| d >= ii.io_min);
        let combined = f.dram.zip(f.io).map(|(d, i)| d + i >= ii.combined_min);
        let any_known_true = [dram, io, combined].contains(&Some(true));
        let all_known = combined.is_some();
        let mut sep = "";
        for (name, x, holds, t) in [
            ("DRAM", f.dram, dram, ii.dram_min),
            ("I/O", f.io, io, ii.io_min),
        ] {
            e.push_str(sep);
            sep = ", ";
            match (x, holds) {
                (Some(x), Some(h)) => push_cmp(&mut e, name, x, h, ">=", "<", t),
                _ => {
                    e.push_str(name);
                    e.push_str(" unknown");
                }
            }
        }
        if let (Some(d), Some(i), Some(h)) = (f.dram, f.io, combined) {
            e.push_str(", ");
            push_cmp(&mut e, "combined", d + i, h, ">=", "<", ii.combined_min);
        }
        e.push_str(" GB/s (reported thresholds, UNCONFIRMED)");
        if !in_time {
            e.push_str("; notices start ");
            e.push_str(&ii.effective.to_string());
        } else if self.as_of < ii.indefinite_from {
            e.push_str("; notice in its initial period");
        }
        if !in_place {
            e.push_str("; destination outside China, Macau and D:5");
        }
        let holds = in_time && in_place && any_known_true;
        if in_time && in_place && !any_known_true && !all_known {
            self.warnings.push(Cow::Borrowed(
                "is-informed overlay: DRAM or I/O bandwidth unknown, not evaluated",
            ));
        }
        det.reported_requirements
            .push(self.finding(ii.rule, holds, e));
        if holds && det.status != LicenseStatus::Required {
            det.status = LicenseStatus::Required;
            det.review_policy = ReviewPolicy::Indeterminate;
        }
    }
}
