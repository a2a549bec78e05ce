//! Pure classification speed: spec and transaction in, full Decision out.

use classifier_svc::catalog::Catalog;
use classifier_svc::rules::{ExportType, RuleBook, Transaction};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn classify(c: &mut Criterion) {
    let book = RuleBook::builtin();
    let h200 = &Catalog::builtin()
        .get("h200")
        .expect("h200 in the catalogue")
        .spec;
    let tx = Transaction::new(
        "CN",
        ExportType::ExportFromUs,
        Some("CN".into()),
        Some("CN".into()),
    );
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 2, 1).expect("valid date");

    c.bench_function("h200_us_export_to_cn_2026_02_01", |b| {
        b.iter(|| {
            book.classify(black_box(h200), black_box(Some(&tx)), black_box(as_of))
                .expect("valid input")
        })
    });
    c.bench_function("h200_without_transaction", |b| {
        b.iter(|| {
            book.classify(black_box(h200), None, black_box(as_of))
                .expect("valid input")
        })
    });
}

criterion_group!(benches, classify);
criterion_main!(benches);
