//! The local services every test uses (scripts/services.sh): settings from `.env`/`.env.example`,
//! names unique to a test, and a PostgreSQL database of its own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use tokio_postgres::NoTls;

/// Reads .env (or .env.example) at the workspace root for variables the environment lacks, so
/// `cargo test` works after `scripts/services.sh start` without exporting anything.
pub fn load_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The workspace root is the nearest ancestor holding the example env file.
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .flat_map(|dir| [dir.join(".env"), dir.join(".env.example")])
            .find(|p| p.exists())
            .expect(".env.example exists at the workspace root");
        let text = std::fs::read_to_string(file).expect("readable env file");
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            if let Some((k, v)) = line.split_once('=') {
                if std::env::var_os(k).is_none() {
                    std::env::set_var(k, v);
                }
            }
        }
        // The example's URLs name a user and no password: the password is the one the services
        // generated for that user (as the scripts' own `local_passwords_into_env` does).
        for name in ["DATABASE_URL", "WAREHOUSE_URL"] {
            let Ok(url) = std::env::var(name) else {
                continue;
            };
            let Some((user, None)) = url_login(&url) else {
                continue;
            };
            if let Some(password) = local_password(&user) {
                std::env::set_var(name, login_url(&url, &user, &password));
            }
        }
    });
}

/// Where the services keep each PostgreSQL login's generated password (scripts/lib.sh: PG_SECRETS).
pub fn secrets_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/secrets/pg")
}

/// The generated password of a login of the local cluster, if the services made one.
pub fn local_password(role: &str) -> Option<String> {
    let text = std::fs::read_to_string(secrets_dir().join(role)).ok()?;
    Some(text.trim().to_owned()).filter(|p| !p.is_empty())
}

/// A postgres:// URL's user and password (if it has one).
fn url_login(url: &str) -> Option<(String, Option<String>)> {
    let (_, rest) = url.split_once("://")?;
    let (userinfo, _) = rest.split_once('@')?;
    Some(match userinfo.split_once(':') {
        Some((user, password)) => (user.to_owned(), Some(password.to_owned())),
        None => (userinfo.to_owned(), None),
    })
}

/// `url` logged in as `user` with `password` instead of its own login.
pub fn login_url(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let place = rest.split_once('@').map_or(rest, |(_, place)| place);
    format!("{scheme}://{user}:{password}@{place}")
}

/// `url` logged in as one of the local cluster's component roles (scripts/services.sh makes them
/// and their passwords); panics naming the script when the role's password is missing.
pub fn role_url(role: &str, url: &str) -> String {
    let password = local_password(role).unwrap_or_else(|| {
        panic!("no password for PostgreSQL role {role}; start the services with scripts/services.sh start")
    });
    login_url(url, role, &password)
}

/// A setting the services provide; panics naming how to start them when it is missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set; start the services with scripts/services.sh start")
    })
}

/// A name unique to this test: usable as a database and a table name.
pub fn unique_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        &suffix[24..]
    )
}

/// The same server and credentials with another database name.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = &base[..base.rfind('/').expect("URL has a path")];
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

pub async fn create_database(name: &str) -> String {
    load_env();
    let admin = env("DATABASE_URL");
    let (client, conn) = tokio_postgres::connect(&admin, NoTls)
        .await
        .expect("connect to PostgreSQL (is scripts/services.sh start running?)");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    with_database(&admin, name)
}
