//! Ordered PostgreSQL migrations from `sql/oltp/`, compiled into the binary and applied once each.

use tokio_postgres::Client;

use super::pg::PgError;

pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every file in `sql/oltp/`, in order. A test checks that this list and the folder agree.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init.sql",
        sql: include_str!("../../../sql/oltp/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "0002_rate_limits.sql",
        sql: include_str!("../../../sql/oltp/0002_rate_limits.sql"),
    },
];

/// Grants of the application's tables to the API's and the extract's group roles, applied after
/// every migration run (so tables a migration adds are granted too).
pub const GRANTS: &str = include_str!("../../../sql/access/oltp_grants.sql");

/// Any number for the advisory lock, as long as it is always the same one: it keeps two API
/// processes starting together from applying the same migration twice.
const MIGRATION_LOCK: i64 = 0x006d_6572_6361_646f;

/// Applies pending migrations and then [`GRANTS`] in one transaction; returns the versions applied.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, PgError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer     PRIMARY KEY,
            name       text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let done: Vec<i32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        tracing::info!(version = m.version, name = m.name, "applying migration");
        tx.batch_execute(m.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await?;
        applied.push(m.version);
    }
    tx.batch_execute(GRANTS).await?;
    tx.commit().await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_sql_file_is_registered_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/oltp");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("sql/oltp exists")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let names: Vec<&str> = super::MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, names);
        for (i, m) in super::MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
    }
}
