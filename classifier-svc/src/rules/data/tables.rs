//! The rule table, the vintages and the country-group snapshots, each
//! checked and built from its file.

use super::*;

pub(super) fn load_rules(file: RulesFile) -> Result<RuleTable, String> {
    let mut metas: Vec<Option<RuleMeta>> = vec![None; Rule::ALL.len()];
    for r in file.rule {
        let id = rule("rules.toml", &r.id)?;
        let slot = &mut metas[id as usize];
        if slot.is_some() {
            return Err(format!("rules.toml: duplicate rule {:?}", r.id));
        }
        if r.title.is_empty() || r.citation.is_empty() {
            return Err(format!(
                "rules.toml: rule {:?} needs a title and a citation",
                r.id
            ));
        }
        *slot = Some(RuleMeta {
            id: r.id,
            citation: r.citation,
            source: r.source.into(),
            confirmed: r.confirmed,
            eccn: r.eccn,
            paragraph: r.paragraph,
        });
    }
    let metas = metas
        .into_iter()
        .zip(Rule::ALL)
        .map(|(m, r)| m.ok_or_else(|| format!("rules.toml: rule {:?} missing", r.id())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RuleTable(metas))
}

/// Later vintages inherit every threshold and the scope of the earlier ones.
pub(super) fn load_vintages(file: VintagesFile, codes: &Codes) -> Result<Vintages, String> {
    let mut out: Vec<Vintage> = Vec::new();
    let mut thresholds: BTreeMap<String, f64> = BTreeMap::new();
    let mut test: Option<RawTest> = None;
    let mut destination: Option<RawDestination> = None;
    for (index, raw) in file.vintage.into_iter().enumerate() {
        let ctx = format!("vintages.toml {}", raw.id);
        if let Some(prev) = out.last() {
            if raw.effective <= prev.effective || out.iter().any(|v| v.id == raw.id) {
                return Err(format!(
                    "{ctx}: vintages must have unique ids and increasing dates"
                ));
            }
        }
        test = raw.eccn_test.or(test);
        destination = raw.destination.or(destination);
        for (k, v) in raw.thresholds {
            thresholds.insert(k, positive(&format!("{ctx} {}", "threshold"), v)?);
        }
        let get = |k: &str| {
            thresholds
                .get(k)
                .copied()
                .ok_or_else(|| format!("{ctx}: threshold {k} missing"))
        };
        let test = match test.ok_or_else(|| format!("{ctx}: eccn_test missing"))? {
            RawTest::IoAndTpp => EccnTest::IoAndTpp {
                io_min: get("io_min_gb_s")?,
                tpp_min: get("io_test_tpp_min")?,
            },
            RawTest::TppAndPd => EccnTest::TppAndPd(TppPd {
                a1_tpp_min: get("a1_tpp_min")?,
                a2_tpp_min: get("a2_tpp_min")?,
                a2_pd_min: get("a2_pd_min")?,
                b1_tpp_min: get("b1_tpp_min")?,
                b1_tpp_below: get("b1_tpp_below")?,
                b1_pd_min: get("b1_pd_min")?,
                b1_pd_below: get("b1_pd_below")?,
                b2_tpp_min: get("b2_tpp_min")?,
                b2_pd_min: get("b2_pd_min")?,
                b2_pd_below: get("b2_pd_below")?,
                note2_tpp_min: get("note2_tpp_min")?,
            }),
        };
        let hbm = thresholds.get("c_mbd_above").map(|&c| HbmThresholds {
            c_mbd_above: c,
            exception_mbd_below: thresholds.get("hbm_exception_mbd_below").copied(),
        });
        let d = destination
            .clone()
            .ok_or_else(|| format!("{ctx}: destination scope missing"))?;
        let scope = ScopeRule {
            include_groups: d.include_groups,
            exclude_groups: d.exclude_groups,
            countries: d
                .countries
                .iter()
                .map(|c| {
                    Ok(DatedCountry {
                        code: codes.one(&ctx, &c.code)?,
                        effective: c.effective,
                    })
                })
                .collect::<Result<_, String>>()?,
        };
        out.push(Vintage {
            index,
            unconfirmed_warning: (!raw.confirmed)
                .then(|| format!("rule set {}: dates and scope UNCONFIRMED", raw.id)),
            id: raw.id,
            effective: raw.effective,
            compliance: raw.compliance,
            other_dates: raw.other_dates,
            summary: raw.summary,
            citations: raw.citations,
            source: raw.source.into(),
            confirmed: raw.confirmed,
            test,
            hbm,
            scope,
        });
    }
    if out.is_empty() {
        return Err("vintages.toml: no vintage".into());
    }
    Ok(Vintages(out))
}

/// Later snapshots are the earlier one with explicit changes applied.
pub(super) fn load_snapshots(file: GroupsFile, codes: &Codes) -> Result<Vec<Snapshot>, String> {
    let mut out: Vec<Snapshot> = Vec::new();
    for raw in file.snapshot {
        let ctx = format!("country_groups.toml {}", raw.id);
        let mut groups: Vec<(String, CountrySet)> = match out.last() {
            Some(prev) if raw.effective > prev.effective => prev.groups.clone(),
            Some(_) => return Err(format!("{ctx}: snapshots must have increasing dates")),
            None => Vec::new(),
        };
        for (name, members) in &raw.groups {
            let set = codes.set(&ctx, members)?;
            if set.len() != members.len() {
                return Err(format!("{ctx}: duplicate member in {name}"));
            }
            match groups.iter_mut().find(|(n, _)| n == name) {
                Some(g) => g.1 = set,
                None => groups.push((name.clone(), set)),
            }
        }
        for change in &raw.changes {
            let g = groups
                .iter_mut()
                .find(|(n, _)| *n == change.group)
                .ok_or_else(|| format!("{ctx}: change to unknown group {}", change.group))?;
            codes
                .set(&ctx, &change.add)?
                .iter()
                .for_each(|c| g.1.insert(c));
            for c in codes.set(&ctx, &change.remove)?.iter() {
                if !g.1.contains(c) {
                    return Err(format!("{ctx}: {c} is not in {}", change.group));
                }
                g.1.remove(c);
            }
        }
        out.push(Snapshot {
            id: raw.id,
            effective: raw.effective,
            citation: raw.citation,
            source: raw.source.into(),
            confirmed: raw.confirmed,
            note: raw.note,
            groups,
            scope_citation: String::new(),
            unverified_warning: None,
        });
    }
    Ok(out)
}

/// A group-based scope needs a snapshot from its first day and groups that
/// every snapshot defines.
pub(super) fn check_scope_groups(
    vintages: &Vintages,
    snapshots: &[Snapshot],
) -> Result<(), String> {
    for v in vintages.0.iter().filter(|v| v.scope.group_based()) {
        let first = snapshots
            .first()
            .ok_or("country_groups.toml: no snapshot")?;
        if v.effective < first.effective {
            return Err(format!(
                "vintages.toml {}: group-based scope before the first snapshot",
                v.id
            ));
        }
        for g in v.scope.include_groups.iter().chain(&v.scope.exclude_groups) {
            if snapshots.iter().any(|s| s.group(g).is_none()) {
                return Err(format!(
                    "vintages.toml {}: group {g} missing from a snapshot",
                    v.id
                ));
            }
        }
    }
    Ok(())
}
