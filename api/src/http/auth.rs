//! Bearer tokens: every request but the probes and the documentation carries
//! `Authorization: Bearer <JWT>`, signed with an asymmetric key (EdDSA, RS256/384/512, PS256…,
//! ES256/384: each key's algorithm from the JWKS, never from the token) whose `kid` names a key of
//! the JWKS, with the configured `iss` and `aud`, within `nbf`..`exp` (a small leeway). The JWKS is
//! a file, or the URL of an identity provider's (Cognito, Auth0, Keycloak), fetched at start and
//! every few minutes after, so a provider's key rotation is followed. The middleware
//! [`authenticate`] verifies it once per request and leaves the [`Principal`] in the request's
//! extensions, where handlers take it as an extractor. Who may do what is
//! [`crate::rules::access`]; [`on_path`] and [`named`] turn its refusals into 404 and 403.
//!
//! For local use the API also signs ([`Signer`]): `mercado-api token` and the sign-up replies.
//! A real deployment leaves signing to its identity provider and only verifies.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::error::ApiError;
use super::state::AppState;
use crate::config::Config;
pub use crate::rules::access::{Denied, Principal, Scope};

/// Paths served without a token.
pub fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/docs" | "/openapi.json")
}

/// A token's claims.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

fn io_error(what: &str, path: &Path, e: std::io::Error) -> AuthError {
    AuthError(format!("{what} {}: {e}", path.display()))
}

/// A verification key and what a token signed with it must satisfy (its algorithm among them).
struct VerifyKey {
    key: DecodingKey,
    validation: Validation,
}

/// The keys by `kid`.
type KeyRing = HashMap<String, VerifyKey>;

/// What every token must carry, whichever key signed it.
#[derive(Clone)]
struct Policy {
    issuer: String,
    audience: String,
    leeway_seconds: u64,
}

/// A token that passed every check: whom it names and until when it holds.
struct Verified {
    principal: Principal,
    exp: i64,
}

/// Most tokens remembered as verified; past it the memory starts over (a client's next request
/// then verifies its token once more).
const VERIFIED_CAPACITY: usize = 50_000;

/// Verifies tokens; signs them too when a signing key is configured.
///
/// A client sends the same token with each request for as long as it holds, so a token that
/// passed every check is remembered by the SHA-256 of its text, with its principal and `exp`: its
/// next requests cost a hash and a lookup instead of a signature check (as API gateways cache
/// verified JWTs). `exp` is still checked on each use, and the memory is cleared whenever the keys
/// change, so a key retired from the JWKS stops its tokens at the next refresh.
pub struct Auth {
    keys: RwLock<Arc<KeyRing>>,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    policy: Policy,
    /// Where the keys come from when they are fetched ([`Auth::refresh`]); `None`: a file.
    jwks_url: Option<String>,
    signer: Option<Signer>,
    /// Every request taken as this principal, no token checked: set only by
    /// [`Auth::accepting_all`], which exists only in builds for the authentication benchmark.
    accept_all: Option<Principal>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("kids", &self.ring().keys().collect::<Vec<_>>())
            .field("jwks_url", &self.jwks_url)
            .field("signs", &self.signer.is_some())
            .finish()
    }
}

/// The algorithm a JWKS key verifies: its `alg` when given, else the one its key type implies.
/// Symmetric keys (`oct`) are never accepted: whoever can verify with them could sign.
fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None;
    }
    if let Some(alg) = jwk.common.key_algorithm {
        let alg: Algorithm = alg.to_string().parse().ok()?;
        return (!matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .then_some(alg);
    }
    Some(match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        AlgorithmParameters::OctetKey(_) => return None,
    })
}

/// The usable keys of a set (with a `kid` and an asymmetric algorithm); an error when none is.
fn key_ring(jwks: &JwkSet, policy: &Policy) -> Result<KeyRing, AuthError> {
    let mut keys = HashMap::new();
    for jwk in &jwks.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let Some(algorithm) = key_algorithm(jwk) else {
            tracing::warn!(%kid, "JWKS key skipped: no asymmetric algorithm this API accepts");
            continue;
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => {
                let mut validation = Validation::new(algorithm);
                validation.leeway = policy.leeway_seconds;
                validation.validate_exp = true;
                validation.validate_nbf = true;
                validation.set_issuer(&[&policy.issuer]);
                validation.set_audience(&[&policy.audience]);
                validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
                keys.insert(kid, VerifyKey { key, validation });
            }
            Err(e) => tracing::warn!(%kid, error = %e, "JWKS key skipped"),
        }
    }
    if keys.is_empty() {
        return Err(AuthError(
            "the JWKS has no usable key (with a kid and an asymmetric algorithm)".into(),
        ));
    }
    Ok(keys)
}

impl Auth {
    /// The signing key (created when missing) and the keys: from the JWKS file (written from the
    /// signing key when missing), or none yet when a JWKS URL is configured ([`Auth::refresh`]
    /// fetches them).
    pub fn from_config(config: &Config) -> Result<Auth, AuthError> {
        let jwks_url = config
            .jwks_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        if let Some(url) = &jwks_url {
            check_jwks_url(url)?;
        }
        let signer = if config.signing_key_file.as_os_str().is_empty() {
            None
        } else {
            let signer = Signer::load_or_create(
                &config.signing_key_file,
                &config.jwt_issuer,
                &config.jwt_audience,
            )?;
            if jwks_url.is_none() && !config.jwks_file.exists() {
                write_private(
                    &config.jwks_file,
                    signer.jwks().to_string().as_bytes(),
                    0o644,
                )?;
                tracing::info!(jwks = %config.jwks_file.display(), "wrote the local JWKS");
            }
            Some(signer)
        };
        let policy = Policy {
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            leeway_seconds: config.jwt_leeway_seconds,
        };
        if jwks_url.is_some() {
            return Ok(Auth {
                keys: RwLock::new(Arc::default()),
                verified: Mutex::default(),
                policy,
                jwks_url,
                signer,
                accept_all: None,
            });
        }
        let text = std::fs::read_to_string(&config.jwks_file)
            .map_err(|e| io_error("reading the JWKS", &config.jwks_file, e))?;
        let jwks: JwkSet = serde_json::from_str(&text).map_err(|e| {
            AuthError(format!(
                "the JWKS {} is not a JWK set: {e}",
                config.jwks_file.display()
            ))
        })?;
        let auth = Auth::new(
            &jwks,
            &config.jwt_issuer,
            &config.jwt_audience,
            config.jwt_leeway_seconds,
            signer,
        )?;
        if let Some(s) = &auth.signer {
            if !auth.ring().contains_key(&s.kid) {
                tracing::warn!(kid = %s.kid, jwks = %config.jwks_file.display(),
                    "the signing key is not in the JWKS: its tokens will be refused");
            }
        }
        Ok(auth)
    }

    /// From a key set already read (the keys with a `kid` and an algorithm this API accepts).
    pub fn new(
        jwks: &JwkSet,
        issuer: &str,
        audience: &str,
        leeway_seconds: u64,
        signer: Option<Signer>,
    ) -> Result<Auth, AuthError> {
        let policy = Policy {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway_seconds,
        };
        Ok(Auth {
            keys: RwLock::new(Arc::new(key_ring(jwks, &policy)?)),
            verified: Mutex::default(),
            policy,
            jwks_url: None,
            signer,
            accept_all: None,
        })
    }

    /// This verifier turned off: every request is `principal`, whatever it carries. For the
    /// benchmark of authentication's cost only (`--features bench-auth-off`, never in a binary).
    #[cfg(feature = "bench-auth-off")]
    pub fn accepting_all(mut self, principal: Principal) -> Auth {
        self.accept_all = Some(principal);
        self
    }

    /// The configured JWKS URL, when the keys are fetched.
    pub fn jwks_url(&self) -> Option<&str> {
        self.jwks_url.as_deref()
    }

    /// The current keys (a cheap copy of a pointer: a refresh swaps in a new set).
    fn ring(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Fetches the JWKS URL and replaces the keys with its usable ones; on any failure the keys
    /// stay as they were. Returns how many keys are in use.
    pub async fn refresh(&self, http: &reqwest::Client) -> Result<usize, AuthError> {
        let Some(url) = &self.jwks_url else {
            return Ok(self.ring().len());
        };
        let fail = |e: String| AuthError(format!("fetching the JWKS {url}: {e}"));
        let jwks: JwkSet = http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| fail(e.to_string()))?
            .json()
            .await
            .map_err(|e| fail(format!("not a JWK set: {e}")))?;
        let ring = key_ring(&jwks, &self.policy).map_err(|e| fail(e.0))?;
        let n = ring.len();
        match self.keys.write() {
            Ok(mut keys) => *keys = Arc::new(ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(ring),
        }
        // Tokens of a key that left the set must not outlive it here.
        self.forget_verified();
        Ok(n)
    }

    /// Refreshes the keys every `every` for as long as the API runs (the task ends with the last
    /// reference to `auth`). A failed refresh keeps the keys and is logged.
    pub fn keep_fresh(auth: &Arc<Auth>, http: reqwest::Client, every: Duration) {
        if auth.jwks_url.is_none() {
            return;
        }
        let auth = Arc::downgrade(auth);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick is now: start-up has just fetched
            loop {
                tick.tick().await;
                let Some(auth) = auth.upgrade() else {
                    return;
                };
                match auth.refresh(&http).await {
                    Ok(n) => tracing::debug!(keys = n, "JWKS refreshed"),
                    Err(e) => tracing::warn!(error = %e, "JWKS refresh failed; keeping the keys"),
                }
            }
        });
    }

    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    /// The principal of an `Authorization` header value; the 401 to answer otherwise.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Principal, ApiError> {
        if let Some(principal) = &self.accept_all {
            return Ok(principal.clone());
        }
        let header = header.ok_or_else(|| {
            ApiError::unauthorized("unauthorized", "an Authorization: Bearer token is required")
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "unauthorized",
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        self.verify(token)
    }

    /// The principal of a token: remembered when it was verified before and has not expired,
    /// else every check of the token.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let oldest_valid_exp =
            chrono::Utc::now().timestamp() - i64::try_from(self.policy.leeway_seconds).unwrap_or(0);
        if let Ok(mut verified) = self.verified.lock() {
            match verified.get(&digest) {
                Some(v) if v.exp >= oldest_valid_exp => return Ok(v.principal.clone()),
                Some(_) => {
                    verified.remove(&digest);
                }
                None => {}
            }
        }
        let (principal, exp) = self.check(token)?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
            verified.insert(
                digest,
                Verified {
                    principal: principal.clone(),
                    exp,
                },
            );
        }
        Ok(principal)
    }

    fn forget_verified(&self) {
        match self.verified.lock() {
            Ok(mut verified) => verified.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
    }

    /// Every check of a token (key, algorithm, signature, issuer, audience, `exp`, `nbf`, `sub`):
    /// its principal and `exp`.
    fn check(&self, token: &str) -> Result<(Principal, i64), ApiError> {
        let bad =
            |why: &str| ApiError::unauthorized("unauthorized", format!("invalid token: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad("malformed"))?;
        let ring = self.ring();
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| ring.get(kid))
            .ok_or_else(|| bad("unknown or missing key id (kid)"))?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("token_expired", "the token has expired")
                }
                ErrorKind::ImmatureSignature => bad("not valid yet (nbf)"),
                ErrorKind::InvalidAudience => bad("wrong audience"),
                ErrorKind::InvalidIssuer => bad("wrong issuer"),
                ErrorKind::InvalidSignature => bad("bad signature"),
                ErrorKind::InvalidAlgorithm => bad("algorithm not accepted"),
                ErrorKind::MissingRequiredClaim(c) => bad(&format!("claim {c} missing")),
                _ => bad("malformed"),
            },
        )?;
        let principal = Principal::parse(&data.claims.sub, data.claims.scope.as_deref())
            .ok_or_else(|| bad("sub must be customer:<id>, vendor:<id> or service:<name>"))?;
        Ok((principal, data.claims.exp))
    }
}

/// A JWKS URL must be `https://`, or `http://` on the loopback interface (a local identity
/// provider): keys fetched in the clear from elsewhere could be anyone's.
fn check_jwks_url(url: &str) -> Result<(), AuthError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| AuthError(format!("--jwks-url {url:?} is not a URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(AuthError(format!(
            "--jwks-url {url:?} must be https:// (http:// only on 127.0.0.1 or localhost)"
        ))),
    }
}

/// An Ed25519 signing key with its `kid` (derived from the public key) and the claims it stamps.
pub struct Signer {
    key: EncodingKey,
    public: Vec<u8>,
    pub kid: String,
    pub issuer: String,
    pub audience: String,
}

impl Signer {
    /// A new key, in memory.
    pub fn generate(issuer: &str, audience: &str) -> Result<(Signer, Vec<u8>), AuthError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| AuthError("cannot generate an Ed25519 key".into()))?;
        let der = pkcs8.as_ref().to_vec();
        Ok((Signer::from_pkcs8(&der, issuer, audience)?, der))
    }

    pub fn from_pkcs8(der: &[u8], issuer: &str, audience: &str) -> Result<Signer, AuthError> {
        use ring::signature::KeyPair;
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| AuthError(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let public = pair.public_key().as_ref().to_vec();
        let digest = sha2::Sha256::digest(&public);
        let kid = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Signer {
            key: EncodingKey::from_ed_der(der),
            public,
            kid,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        })
    }

    /// The key in `path` (PKCS#8 PEM); generated and written (mode 600) when the file is missing.
    pub fn load_or_create(path: &Path, issuer: &str, audience: &str) -> Result<Signer, AuthError> {
        match std::fs::read_to_string(path) {
            Ok(pem) => {
                let der = pem_decode(&pem).ok_or_else(|| {
                    AuthError(format!("{} is not a PEM private key", path.display()))
                })?;
                Signer::from_pkcs8(&der, issuer, audience)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (signer, der) = Signer::generate(issuer, audience)?;
                write_private(path, pem_encode(&der).as_bytes(), 0o600)?;
                tracing::info!(key = %path.display(), kid = %signer.kid, "generated a signing key");
                Ok(signer)
            }
            Err(e) => Err(io_error("reading the signing key", path, e)),
        }
    }

    /// The public key as a JWK set of one key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": self.kid,
            "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.public),
        }]})
    }

    /// A token for `principal`, valid from now for `ttl`.
    pub fn mint(&self, principal: &Principal, ttl: Duration) -> Result<String, AuthError> {
        let now = chrono::Utc::now().timestamp();
        let scope = match principal {
            Principal::Service { scopes, .. } if !scopes.is_empty() => Some(
                scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        };
        self.mint_claims(&Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: principal.subject(),
            scope,
            iat: now,
            nbf: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        })
    }

    /// A token with exactly these claims (tests make expired and foreign ones with it).
    pub fn mint_claims(&self, claims: &Claims) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| AuthError(e.to_string()))
    }
}

/// A service principal with every scope.
pub fn all_scopes(name: &str) -> Principal {
    Principal::Service {
        name: name.to_string(),
        scopes: Scope::ALL.into_iter().collect(),
    }
}

pub fn pem_encode(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn pem_decode(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Writes a new file with `mode`, its directory created (mode 700) when missing.
fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AuthError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(|e| io_error("creating", dir, e))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = o.open(path).map_err(|e| io_error("creating", path, e))?;
    f.write_all(bytes).map_err(|e| io_error("writing", path, e))
}

/// Why a request has no principal: the 401 [`require_token`] answers.
#[derive(Clone)]
struct Unauthenticated(ApiError);

/// Verifies the bearer token of every request but [`is_public`]'s and leaves its [`Principal`]
/// (or why there is none) in the request's extensions. Outside the rate limit, which counts a
/// request against its principal; [`require_token`], inside it, answers the 401.
pub async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    if !is_public(req.uri().path()) {
        let header = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match st.auth.verify_header(header) {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
            }
            Err(e) => {
                req.extensions_mut().insert(Unauthenticated(e));
            }
        }
    }
    next.run(req).await
}

/// 401 for a request [`authenticate`] found no principal for (every path but [`is_public`]'s).
pub async fn require_token(req: Request, next: Next) -> Response {
    if is_public(req.uri().path()) || req.extensions().get::<Principal>().is_some() {
        return next.run(req).await;
    }
    match req.extensions().get::<Unauthenticated>() {
        Some(Unauthenticated(e)) => e.clone().into_response(),
        None => {
            ApiError::unauthorized("unauthorized", "an Authorization: Bearer token is required")
                .into_response()
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::unauthorized("unauthorized", "an Authorization: Bearer token is required")
        })
    }
}

/// A refusal about a resource named by its id in the path: another owner's is 404 (`not_found`
/// says what), anything else 403.
pub fn on_path(
    r: Result<(), Denied>,
    not_found: impl FnOnce() -> ApiError,
) -> Result<(), ApiError> {
    match r {
        Ok(()) => Ok(()),
        Err(Denied::Hidden) => Err(not_found()),
        Err(Denied::Forbidden) => Err(forbidden()),
    }
}

/// A refusal about an owner named in the body or query (`field`): 403.
pub fn named(r: Result<(), Denied>, field: &str) -> Result<(), ApiError> {
    r.map_err(|_| {
        ApiError::forbidden(format!("this token may not act for the {field} given"))
            .with_field(field)
    })
}

/// A record's original date (`joined_at`, `created_at`) when importing history: only a service
/// with scope `history:write` may set it (403 naming the field otherwise); `None` when absent.
pub fn backdated(
    principal: &Principal,
    field: &str,
    value: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    if value.is_none() {
        return Ok(None);
    }
    principal.may(Scope::HistoryWrite).map_err(|_| {
        ApiError::forbidden(format!(
            "{field} may be set only by a service token with scope history:write"
        ))
        .with_field(field)
    })?;
    Ok(crate::rules::validate::past_instant(field, value)?)
}

/// A new principal's first token (a day long) when the API signs tokens itself; none otherwise.
pub fn first_token(st: &AppState, principal: &Principal) -> Result<Option<String>, ApiError> {
    st.auth
        .signer()
        .map(|s| s.mint(principal, Duration::from_secs(86_400)))
        .transpose()
        .map_err(|e| ApiError::internal(format!("signing a token: {e}")))
}

/// The token is valid but may not do this.
pub fn forbidden() -> ApiError {
    ApiError::forbidden("this token may not do this")
}
