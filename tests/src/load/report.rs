//! Printing: one run for people, and the benchmark's table from the JSON
//! lines of all its runs (labels as scripts/bench writes them).

use std::fmt::Write as _;

use serde_json::Value;

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    let mut v = v;
    for key in path {
        v = v.get(key)?;
    }
    v.as_f64()
}

fn statuses(v: &Value, key: &str) -> String {
    match v.get(key).and_then(Value::as_object) {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "-".to_owned(),
    }
}

/// One run, for people.
pub fn human(v: &Value) -> String {
    let mut out = String::new();
    let s = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let _ = writeln!(out, "{} -> {}  [{}]", s("rpc"), s("target"), s("label"));
    if let Some(ms) = num(v, &["startup_ms"]) {
        let _ = writeln!(out, "  start-up to healthy  {ms:.1} ms (pid {})", v["pid"]);
        return out;
    }
    let _ = writeln!(
        out,
        "  {} connections, {} concurrent, {:.1} s measured after {:.1} s warm-up",
        v["connections"],
        v["concurrency"],
        num(v, &["elapsed_s"]).unwrap_or(0.0),
        num(v, &["warmup_s"]).unwrap_or(0.0)
    );
    let _ = writeln!(
        out,
        "  calls        {} OK of {}   {:.1} OK/s   ({:.1} calls/s)",
        v["ok"],
        v["requests"],
        num(v, &["ok_per_s"]).unwrap_or(0.0),
        num(v, &["requests_per_s"]).unwrap_or(0.0)
    );
    if num(v, &["items"]).unwrap_or(0.0) > 0.0 {
        let _ = writeln!(
            out,
            "  items        {}   {:.1} items/s",
            v["items"],
            num(v, &["items_per_s"]).unwrap_or(0.0)
        );
    }
    let l = |q: &str| num(v, &["latency_ms", q]).unwrap_or(0.0);
    let _ = writeln!(
        out,
        "  latency ms   p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (mean {:.3})",
        l("p50"),
        l("p90"),
        l("p99"),
        l("p999"),
        l("max"),
        l("mean")
    );
    if v.get("due_query_ms").is_some() {
        let d = |q: &str| num(v, &["due_query_ms", q]).unwrap_or(0.0);
        let _ = writeln!(
            out,
            "  due query ms p50 {:.3}  p99 {:.3}  max {:.3}",
            d("p50"),
            d("p99"),
            d("max")
        );
    }
    let _ = writeln!(out, "  statuses     {}", statuses(v, "statuses"));
    if v.get("item_statuses")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
    {
        let _ = writeln!(out, "  item status  {}", statuses(v, "item_statuses"));
    }
    if let Some(bytes) = num(v, &["response_bytes"]).filter(|b| *b > 0.0) {
        let _ = writeln!(out, "  response     {bytes} bytes each");
    }
    if let Some(cpu) = v.get("cpu").and_then(Value::as_array) {
        let parts: Vec<String> = cpu
            .iter()
            .map(|c| {
                format!(
                    "{}: {} cores, {} us CPU/OK",
                    c["pid"].as_str().unwrap_or("?"),
                    c["cores"],
                    c["cpu_us_per_ok"]
                )
            })
            .collect();
        if !parts.is_empty() {
            let _ = writeln!(out, "  cpu          {}", parts.join("; "));
        }
    }
    out
}

struct Runs(Vec<Value>);

impl Runs {
    fn get(&self, label: &str) -> Option<&Value> {
        self.0
            .iter()
            .rev()
            .find(|v| v["label"].as_str() == Some(label))
    }

    fn prefixed(&self, prefix: &str) -> Vec<&Value> {
        self.0
            .iter()
            .filter(|v| v["label"].as_str().is_some_and(|l| l.starts_with(prefix)))
            .collect()
    }
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn fmt_int(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

struct Table {
    header: [&'static str; 4],
    rows: Vec<[String; 4]>,
}

impl Table {
    fn row(&mut self, figure: &str, measured: Option<String>, target: &str, met: Option<bool>) {
        let met = match (&measured, met) {
            (None, _) => "not measured".to_owned(),
            (Some(_), Some(true)) => "met".to_owned(),
            (Some(_), Some(false)) => "NOT MET".to_owned(),
            (Some(_), None) => "-".to_owned(),
        };
        self.rows.push([
            figure.to_owned(),
            measured.unwrap_or_else(|| "-".to_owned()),
            target.to_owned(),
            met,
        ]);
    }

    /// The row of a write load's `run`: its rate, p50, p99 and any errors;
    /// met at `rate_target` calls a second or more, with p99 under 50 ms
    /// and no errors.
    fn write_load(&mut self, figure: &str, run: Option<&Value>, rate_target: f64) {
        let rate = run.and_then(|v| num(v, &["ok_per_s"]));
        let p99 = run.and_then(|v| num(v, &["latency_ms", "p99"]));
        let errors = run.and_then(|v| num(v, &["errors"])).unwrap_or(0.0);
        self.row(
            figure,
            rate.zip(p99).map(|(r, p)| {
                let p50 = run
                    .and_then(|v| num(v, &["latency_ms", "p50"]))
                    .unwrap_or(0.0);
                let errs = if errors > 0.0 {
                    format!(", {} errors", fmt_int(errors))
                } else {
                    String::new()
                };
                format!("{}/s, p50 {p50:.1} ms, p99 {p:.1} ms{errs}", fmt_int(r))
            }),
            &format!(">= {}/s, p99 < 50 ms", fmt_int(rate_target)),
            rate.zip(p99)
                .map(|(r, p)| r >= rate_target && p < 50.0 && errors == 0.0),
        );
    }

    fn render(&self) -> String {
        let header = self.header;
        let mut widths = header.map(str::len);
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 4]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let mut out = line(header);
        out.push_str(&line(
            widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str),
        ));
        for row in &self.rows {
            out.push_str(&line(row.each_ref().map(String::as_str)));
        }
        out
    }
}

/// The benchmark's table from its runs (one JSON object per line).
pub fn table(text: &str) -> String {
    let runs = Runs(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    );
    let mut t = Table {
        header: ["Figure", "Measured", "Target", "Met"],
        rows: Vec::new(),
    };

    // The first three are always listed (as not measured when missing),
    // the others only when measured.
    for (label, name, always) in [
        (
            "startup/classifier",
            "classifier-svc start-up to healthy",
            true,
        ),
        (
            "startup/review/sqlite",
            "review-svc start-up to healthy (SQLite, new database)",
            true,
        ),
        (
            "startup/review/postgres",
            "review-svc start-up to healthy (PostgreSQL, new database)",
            true,
        ),
        (
            "startup/review/sqlite-100k",
            "review-svc start-up, SQLite with 100,000 applications",
            false,
        ),
        (
            "startup/review/postgres-100k",
            "review-svc start-up, PostgreSQL with 100,000 applications",
            false,
        ),
        ("startup/baseline", "baseline start-up to healthy", false),
    ] {
        let ms = runs.get(label).and_then(|v| num(v, &["startup_ms"]));
        if always || ms.is_some() {
            t.row(
                name,
                ms.map(|m| format!("{m:.1} ms")),
                "< 300 ms",
                ms.map(|m| m < 300.0),
            );
        }
    }

    let unary = |who: &str| runs.prefixed(&format!("unary/{who}/"));
    let (base, classifier) = (unary("baseline"), unary("classifier"));
    let rps = |runs: &[&Value]| median(runs.iter().filter_map(|v| num(v, &["ok_per_s"])).collect());
    let (base_rps, cls_rps) = (rps(&base), rps(&classifier));
    let rounds = |runs: &[&Value]| {
        runs.iter()
            .filter_map(|v| num(v, &["ok_per_s"]))
            .map(fmt_int)
            .collect::<Vec<_>>()
            .join(" / ")
    };
    t.row(
        "baseline unary ClassifyItem, 64 concurrent (median of rounds)",
        base_rps.map(|r| format!("{}/s (rounds {})", fmt_int(r), rounds(&base))),
        "reference",
        None,
    );
    t.row(
        "classifier-svc unary ClassifyItem, 64 concurrent (median of rounds)",
        cls_rps.map(|r| format!("{}/s (rounds {})", fmt_int(r), rounds(&classifier))),
        "-",
        None,
    );
    let ratio = base_rps.zip(cls_rps).map(|(b, c)| c / b);
    t.row(
        "unary throughput ratio classifier / baseline",
        ratio.map(|r| format!("{r:.3}")),
        ">= 0.85",
        ratio.map(|r| r >= 0.85),
    );
    let p = |runs: &[&Value], q: &str| -> Vec<f64> {
        runs.iter()
            .filter_map(|v| num(v, &["latency_ms", q]))
            .collect()
    };
    for (who, runs_of, target) in [
        ("classifier-svc", &classifier, true),
        ("baseline", &base, false),
    ] {
        let p99 = p(runs_of, "p99");
        let worst = p99
            .iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let text = median(p(runs_of, "p50"))
            .zip(median(p(runs_of, "p90")))
            .zip(worst)
            .map(|((p50, p90), w)| {
                let max = p(runs_of, "max").into_iter().fold(0.0, f64::max);
                format!("p50 {p50:.2} / p90 {p90:.2} / p99 {w:.2} / max {max:.2} ms")
            });
        if target {
            t.row(
                &format!("{who} unary latency, 64 concurrent (p99: worst round)"),
                text,
                "p99 < 5 ms",
                worst.map(|w| w < 5.0),
            );
        } else {
            t.row(
                &format!("{who} unary latency, 64 concurrent"),
                text,
                "reference",
                None,
            );
        }
    }
    let bytes = |runs: &[&Value]| runs.first().and_then(|v| num(v, &["response_bytes"]));
    if let (Some(b), Some(c)) = (bytes(&base), bytes(&classifier)) {
        t.row(
            "encoded ClassifyItem response, baseline / classifier",
            Some(format!("{b} / {c} bytes")),
            "equal",
            Some(b == c),
        );
    }

    let stream = runs.get("stream/classifier");
    let items = stream.and_then(|v| num(v, &["items_per_s"]));
    t.row(
        "streaming ClassifyItems, one stream",
        items.map(|i| {
            let p99 = stream
                .and_then(|v| num(v, &["latency_ms", "p99"]))
                .unwrap_or(0.0);
            format!("{} items/s (item p99 {p99:.1} ms)", fmt_int(i))
        }),
        ">= 100,000 items/s",
        items.map(|i| i >= 100_000.0),
    );

    for store in ["sqlite", "postgres"] {
        t.write_load(
            &format!("CreateApplication, 32 clients, {store}"),
            runs.get(&format!("create/{store}")),
            2000.0,
        );
    }

    for store in ["sqlite", "postgres"] {
        let target = if store == "sqlite" { 2000.0 } else { 1000.0 };
        for (spread, name) in [("hot", "one hot licence"), ("spread", "1,000 licences")] {
            t.write_load(
                &format!("RecordShipment, 64 clients, {name}, {store}"),
                runs.get(&format!("shipment/{store}/{spread}")),
                target,
            );
        }
    }

    for (label, name, limit) in [
        (
            "rss/classifier",
            "classifier-svc peak RSS (VmHWM), whole run",
            30.0,
        ),
        (
            "rss/review/sqlite",
            "review-svc peak RSS (VmHWM), CreateApplication load, SQLite",
            80.0,
        ),
        (
            "rss/review/sqlite/list",
            "review-svc peak RSS (VmHWM), ListApplications load, SQLite",
            80.0,
        ),
        (
            "rss/review/postgres",
            "review-svc peak RSS (VmHWM), CreateApplication load, PostgreSQL",
            80.0,
        ),
        (
            "rss/review/postgres/list",
            "review-svc peak RSS (VmHWM), ListApplications load, PostgreSQL",
            80.0,
        ),
    ] {
        let mb = runs
            .get(label)
            .and_then(|v| num(v, &["vmhwm_kb"]))
            .map(|kb| kb / 1024.0);
        t.row(
            name,
            mb.map(|m| format!("{m:.1} MB")),
            &format!("< {limit:.0} MB"),
            mb.map(|m| m < limit),
        );
    }
    if let Some(mb) = runs
        .get("rss/baseline")
        .and_then(|v| num(v, &["vmhwm_kb"]))
        .map(|kb| kb / 1024.0)
    {
        t.row(
            "baseline peak RSS (VmHWM), whole run",
            Some(format!("{mb:.1} MB")),
            "reference",
            None,
        );
    }

    for store in ["sqlite", "postgres"] {
        for size in ["10k", "100k"] {
            let page = runs.get(&format!("list/{store}/{size}/page"));
            t.row(
                &format!("ListApplications first page (50), {size} stored, {store}"),
                page.and_then(|v| {
                    Some(format!(
                        "{}/s, p99 {:.1} ms",
                        fmt_int(num(v, &["ok_per_s"])?),
                        num(v, &["latency_ms", "p99"])?
                    ))
                }),
                "report",
                None,
            );
            let walk = runs.get(&format!("list/{store}/{size}/walk"));
            t.row(
                &format!(
                    "ListApplications paging through all (200 a page), {size} stored, {store}"
                ),
                walk.and_then(|v| {
                    Some(format!(
                        "{} applications/s, p99 {:.1} ms a page",
                        fmt_int(num(v, &["items_per_s"])?),
                        num(v, &["latency_ms", "p99"])?
                    ))
                }),
                "report",
                None,
            );
            let sweep = runs.get(&format!("sweep/{store}/{size}"));
            t.row(
                &format!("deadline sweeper, {size} stored (all due), {store}"),
                sweep.and_then(|v| {
                    Some(format!(
                        "{} applications/s (p99 {:.1} ms each, due query p99 {:.1} ms)",
                        fmt_int(num(v, &["ok_per_s"])?),
                        num(v, &["latency_ms", "p99"])?,
                        num(v, &["due_query_ms", "p99"])?
                    ))
                }),
                "report",
                None,
            );
        }
    }

    let mut out = t.render();
    let diag = runs.prefixed("diag/");
    if !diag.is_empty() {
        let mut d = Table {
            header: ["Diagnostic run", "Measured", "Statuses", ""],
            rows: Vec::new(),
        };
        for v in diag {
            let label = v["label"].as_str().unwrap_or("?");
            d.row(
                label,
                Some(format!(
                    "{}/s, p50 {:.1} ms, p99 {:.1} ms",
                    fmt_int(num(v, &["ok_per_s"]).unwrap_or(0.0)),
                    num(v, &["latency_ms", "p50"]).unwrap_or(0.0),
                    num(v, &["latency_ms", "p99"]).unwrap_or(0.0)
                )),
                &statuses(v, "statuses"),
                None,
            );
        }
        out.push_str("\nDiagnostics:\n");
        out.push_str(&d.render());
    }
    let mut errors = Vec::new();
    for v in &runs.0 {
        let bad = |key: &str| {
            v.get(key)
                .and_then(Value::as_object)
                .is_some_and(|m| m.iter().any(|(k, _)| k != "OK" && k != "NOTHING_DUE"))
        };
        if bad("statuses") || bad("item_statuses") {
            errors.push(format!(
                "  {}: {}; items: {}",
                v["label"].as_str().unwrap_or("?"),
                statuses(v, "statuses"),
                statuses(v, "item_statuses")
            ));
        }
    }
    out.push_str(if errors.is_empty() {
        "\nEvery call of every run answered OK.\n"
    } else {
        "\nRuns with calls that did not answer OK (never counted as successes):\n"
    });
    for e in errors {
        out.push_str(&e);
        out.push('\n');
    }
    out
}
