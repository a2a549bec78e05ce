//! PostgreSQL for the suites that run against it: whether a server was
//! given (`REVIEW_TEST_DATABASE_URL`) or required (`REVIEW_REQUIRE_POSTGRES=1`,
//! as CI sets it), and a schema of its own per test, dropped afterwards.

use sqlx::Connection;

const DATABASE_URL: &str = "REVIEW_TEST_DATABASE_URL";
const REQUIRED: &str = "REVIEW_REQUIRE_POSTGRES";

/// The test run's own settings, which the services (rightly) refuse as
/// unknown `REVIEW_*` variables: never passed on to them.
pub const TEST_RUN_VARIABLES: [&str; 2] = [DATABASE_URL, REQUIRED];

/// The two settings, read once and then removed from this process's
/// environment: services the tests start as child processes inherit it, and
/// review-svc refuses to start beside an unknown `REVIEW_*` variable.
struct Settings {
    database_url: Option<String>,
    required: bool,
}

fn settings() -> &'static Settings {
    static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
    SETTINGS.get_or_init(|| {
        let settings = Settings {
            database_url: std::env::var(DATABASE_URL)
                .ok()
                .filter(|url| !url.trim().is_empty()),
            required: std::env::var(REQUIRED).is_ok_and(|v| v == "1"),
        };
        for variable in TEST_RUN_VARIABLES {
            std::env::remove_var(variable);
        }
        settings
    })
}

/// `REVIEW_TEST_DATABASE_URL`, or `None` (after saying that `test` is
/// skipped) when it is unset. With `REVIEW_REQUIRE_POSTGRES=1` a missing
/// URL fails the test instead of skipping it.
pub fn database_url(test: &str) -> Option<String> {
    let settings = settings();
    if settings.database_url.is_none() {
        if settings.required {
            panic!("REVIEW_REQUIRE_POSTGRES=1 but REVIEW_TEST_DATABASE_URL is not set");
        }
        eprintln!("{test}: skipped: REVIEW_TEST_DATABASE_URL not set");
    }
    settings.database_url.clone()
}

/// Reads (and removes) the settings now, before any child process starts.
pub fn read_settings() {
    settings();
}

/// A PostgreSQL schema of its own, selected by the database URL's
/// `options[search_path]` (which sqlx passes to the server as a startup
/// option), and dropped when this guard is, even when the test failed.
pub struct Schema {
    admin_url: String,
    name: String,
}

impl Schema {
    /// Creates an empty schema named `{prefix}_{random}`.
    pub async fn create(admin_url: &str, prefix: &str) -> Schema {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to REVIEW_TEST_DATABASE_URL");
        sqlx::raw_sql(&format!("CREATE SCHEMA {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test schema");
        let _ = admin.close().await;
        Schema {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL whose connections work in this schema.
    pub fn url(&self) -> String {
        let separator = if self.admin_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options[search_path]={}",
            self.admin_url, self.name
        )
    }

    /// Tables created in the schema: proves the URL selected it.
    pub async fn tables(&self) -> i64 {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("connect");
        let count = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
        )
        .bind(&self.name)
        .fetch_one(&mut admin)
        .await
        .expect("count tables");
        let _ = admin.close().await;
        count
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let url = self.admin_url.clone();
        let name = self.name.clone();
        // A thread of its own: the test's runtime may be the one being dropped.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.name);
        }
    }
}
