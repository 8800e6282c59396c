//! How every Mercado component connects to PostgreSQL (the OLTP database, the warehouse, Redshift):
//! with TLS whenever the URL asks for it, as libpq's URLs say it.
//!
//! - `sslmode=disable`: plain TCP. `prefer` (the default, as libpq's): TLS when the server offers
//!   it, else plain. `require`, `verify-ca`, `verify-full`: TLS or no connection. With rustls the
//!   server's certificate chain and name are always verified, so `require` here is as strict as
//!   libpq's `verify-full` (libpq's `require` checks neither).
//! - Trusted roots: the Mozilla roots (webpki-roots: Redshift, public CAs) plus the PEM file named by
//!   `sslrootcert=` in the URL or `PGSSLROOTCERT` in the environment (RDS's CA bundle, or a private
//!   CA), as libpq reads them.

use std::sync::Arc;

use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Why a PostgreSQL URL could not be turned into a connection setting.
#[derive(Debug, thiserror::Error)]
pub enum PgUrlError {
    #[error("{setting} is not a valid PostgreSQL URL: {reason}")]
    Url { setting: String, reason: String },
    #[error("{setting}: cannot read the root certificates in {path}: {reason} (sslrootcert or PGSSLROOTCERT)")]
    RootCert {
        setting: String,
        path: String,
        reason: String,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// A parsed URL and the TLS connector for it: pass both to `tokio_postgres` (or a pool's manager).
pub struct PgConnect {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

/// `url` (named `setting` in errors, e.g. `DATABASE_URL`) as a connection setting; `require_tls`
/// raises the default `prefer` to `require` (Redshift accepts nothing else).
pub fn connect_config(
    setting: &str,
    url: &str,
    require_tls: bool,
) -> Result<PgConnect, PgUrlError> {
    let (url, root_file) = libpq_only_params(url);
    let mut config: tokio_postgres::Config =
        url.parse()
            .map_err(|e: tokio_postgres::Error| PgUrlError::Url {
                setting: setting.to_string(),
                reason: e.to_string(),
            })?;
    if require_tls && config.get_ssl_mode() == SslMode::Prefer {
        config.ssl_mode(SslMode::Require);
    }
    let root_file = root_file.or_else(|| {
        std::env::var("PGSSLROOTCERT")
            .ok()
            .filter(|p| !p.is_empty())
    });
    let tls = connector(setting, root_file.as_deref())?;
    Ok(PgConnect { config, tls })
}

/// The URL without what tokio-postgres does not parse (`sslrootcert`), `verify-ca` and
/// `verify-full` spelled `require` (rustls verifies anyway), and the root file if one was named.
fn libpq_only_params(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut root = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslrootcert", path)) => root = Some(path.to_string()),
            Some(("sslmode", "verify-ca" | "verify-full")) => {
                kept.push("sslmode=require".to_string())
            }
            _ => kept.push(pair.to_string()),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, root)
}

fn connector(setting: &str, root_file: Option<&str>) -> Result<MakeRustlsConnect, PgUrlError> {
    Ok(MakeRustlsConnect::new(client_tls_config(
        setting, root_file,
    )?))
}

/// The TLS client setting every Mercado component uses (PostgreSQL, and the API's JWKS fetch):
/// the Mozilla roots plus the certificates of `root_file` (a PEM file), aws-lc-rs as the provider.
pub fn client_tls_config(
    setting: &str,
    root_file: Option<&str>,
) -> Result<rustls::ClientConfig, PgUrlError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = root_file {
        let fail = |reason: String| PgUrlError::RootCert {
            setting: setting.to_string(),
            path: path.to_string(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| fail(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(e.to_string()))?;
        if certs.is_empty() {
            return Err(fail("no certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| fail(e.to_string()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| PgUrlError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_params_tokio_postgres_does_not_parse() {
        assert_eq!(
            libpq_only_params("postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem"),
            (
                "postgres://u@h/db?sslmode=require".to_string(),
                Some("/ca.pem".to_string())
            )
        );
        assert_eq!(
            libpq_only_params("postgres://u@h/db?sslrootcert=/ca.pem"),
            ("postgres://u@h/db".to_string(), Some("/ca.pem".to_string()))
        );
        assert_eq!(
            libpq_only_params("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), None)
        );
    }

    #[test]
    fn modes() {
        let mode = |url: &str, require: bool| {
            connect_config("X", url, require)
                .map(|c| c.config.get_ssl_mode())
                .map_err(|e| e.to_string())
        };
        assert_eq!(mode("postgres://u@h/db", false), Ok(SslMode::Prefer));
        assert_eq!(mode("postgres://u@h/db", true), Ok(SslMode::Require));
        assert_eq!(
            mode("postgres://u@h/db?sslmode=disable", true),
            Ok(SslMode::Disable)
        );
        assert_eq!(
            mode("postgres://u@h/db?sslmode=verify-ca", false),
            Ok(SslMode::Require)
        );
        let missing = mode("postgres://u@h/db?sslrootcert=/nonexistent.pem", false);
        assert!(missing.is_err_and(|e| e.contains("/nonexistent.pem")));
    }
}
