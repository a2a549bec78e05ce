//! The SQLite store's own tests; the suite shared with PostgreSQL is in
//! `store::suite`.

use super::*;
use crate::store::Store;

#[test]
fn urls_and_paths() {
    for (url, path) in [
        (
            "sqlite:///var/lib/review/db.sqlite",
            "/var/lib/review/db.sqlite",
        ),
        ("sqlite://data/review.db?mode=rwc", "data/review.db"),
        ("sqlite:review.db", "review.db"),
        ("./review.db", "./review.db"),
    ] {
        assert_eq!(path_from_url(url).ok(), Some(PathBuf::from(path)), "{url}");
    }
    assert!(path_from_url("sqlite::memory:").is_err());
    assert!(path_from_url("sqlite://").is_err());
    // Another store's URL, or PostgreSQL's mistyped, is not a file path.
    for url in [
        "mysql://db/review",
        "postgress://u@h/db",
        "pg://h/db",
        "file:///x.db",
    ] {
        let refused = path_from_url(url).expect_err(url).to_string();
        assert!(
            refused.contains("unsupported database URL scheme"),
            "{refused}"
        );
    }
}

/// A database in which SQLite had stored a counter past 64 bits as a
/// REAL (before the rules refused such totals) reads again once opened:
/// the repair keeps the largest integer.
#[tokio::test]
async fn a_counter_stored_as_a_real_is_repaired_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("earlier.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    // The schema as the release before the repair left it.
    let earlier = dir.path().join("migrations");
    std::fs::create_dir(&earlier).expect("dir");
    for m in MIGRATOR.iter().filter(|m| m.version < 5) {
        let name = format!("{:04}_{}.sql", m.version, m.description.replace(' ', "_"));
        std::fs::write(earlier.join(name), m.sql.as_bytes()).expect("write");
    }
    let pool = SqlitePool::connect(&url).await.expect("connect");
    let migrator = sqlx::migrate::Migrator::new(earlier.as_path())
        .await
        .expect("read");
    migrator.run(&pool).await.expect("earlier schema");
    sqlx::query(
        "INSERT INTO license_counters (counter, value) VALUES \
         ('domestic-tpp|exporter-1|H200', 9223372036854775807.0 * 15), \
         ('exported-tpp|exporter-1|H200', 42)",
    )
    .execute(&pool)
    .await
    .expect("insert");
    pool.close().await;

    let store = SqliteStore::open(&url).await.expect("open");
    store.close().await;
    let pool = SqlitePool::connect(&url).await.expect("connect");
    let counters: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT counter, typeof(value), value FROM license_counters ORDER BY counter",
    )
    .fetch_all(&pool)
    .await
    .expect("counters read as integers");
    assert_eq!(
        counters,
        vec![
            (
                "domestic-tpp|exporter-1|H200".to_owned(),
                "integer".to_owned(),
                i64::MAX
            ),
            (
                "exported-tpp|exporter-1|H200".to_owned(),
                "integer".to_owned(),
                42
            ),
        ]
    );
}

/// Files `count` applications of about 40 KB each (well past SQLite's
/// own checkpoint threshold of 1,000 pages).
async fn fill(store: &SqliteStore, count: usize) {
    for i in 0..count {
        let mut row = crate::store::suite::app(&format!("a{i}"), i as i64);
        row.snapshot = format!("{{\"padding\":\"{}\"}}", "x".repeat(40_000));
        let events = [crate::store::suite::ev("ApplicationFiled", i as i64)];
        store.create(&row, &events, None).await.expect("create");
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn commits_leave_checkpoints_to_the_checkpointer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = |name: &str, interval: Duration| {
        let path = dir.path().join(name);
        let options = SqliteOptions {
            checkpoint_interval: interval,
            ..SqliteOptions::default()
        };
        async move {
            let url = format!("sqlite://{}", path.display());
            let store = SqliteStore::open_with(&url, options).await.expect("open");
            (store, path)
        }
    };

    // Checkpoints at most every hour: the commits alone must not copy
    // anything into the database file.
    let (store, path) = open("idle.db", Duration::from_secs(3600)).await;
    let before = file_len(&path);
    fill(&store, 150).await;
    assert_eq!(file_len(&path), before, "a commit checkpointed");
    assert!(
        file_len(&path.with_extension("db-wal")) > 4_000_000,
        "the log holds the writes"
    );

    // A running checkpointer copies them in while the store is open.
    let (store, path) = open("busy.db", Duration::from_millis(20)).await;
    fill(&store, 150).await;
    for _ in 0..500 {
        if file_len(&path) > 4_000_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        file_len(&path) > 4_000_000,
        "the checkpointer copied the log"
    );
    let last = store.get("a149").await.expect("read");
    assert_eq!(last.map(|row| row.id), Some("a149".to_owned()));
}
