//! Tokens from an identity provider: the API configured with `--jwks-url` (as for Cognito, Auth0
//! or Keycloak) fetches the provider's key set from a JWKS endpoint served here on 127.0.0.1, and
//! accepts RS256 tokens (RSA key made by `openssl`) and ES256 ones (P-256, no `alg` in the JWK),
//! each key verifying only its own algorithm; follows a key rotation on its next refresh; and
//! refuses symmetric keys, the HS256-with-the-public-key confusion, keys dropped from the set,
//! its own local key, and a JWKS URL in the clear off the loopback interface.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mercado_api::http::auth::{Claims, Scope};
use mercado_api::AppState;
use mercado_testkit::api::{self as common, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ISSUER: &str = "https://idp.example.test/realms/mercado";
const AUDIENCE: &str = "mercado-api";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// An RSA key made by openssl: its private key (PKCS#1 DER), its public key (DER) and its JWK
/// (with `alg`: RS256).
fn rsa_key(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, Value) {
    let pem = dir.join("rsa.pem");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let modulus = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&pem)
        .output()
        .expect("openssl");
    let text = String::from_utf8(modulus.stdout).expect("text");
    let n = hex_bytes(text.trim().trim_start_matches("Modulus="));
    let jwk = json!({"kty": "RSA", "kid": "idp-rsa", "alg": "RS256", "use": "sig",
                     "n": b64url(&n), "e": "AQAB"});
    let der = |out: &str, args: &[&str]| {
        let path = dir.join(out);
        let made = Command::new("openssl")
            .arg("rsa")
            .args(args)
            .args(["-outform", "DER", "-in"])
            .arg(&pem)
            .arg("-out")
            .arg(&path)
            .output()
            .expect("openssl");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        std::fs::read(&path).expect("der")
    };
    (
        der("rsa.der", &["-traditional"]),
        der("rsa.pub.der", &["-pubout"]),
        jwk,
    )
}

/// A P-256 key made by ring: its PKCS#8 DER and its JWK (without `alg`: ES256 from the curve).
fn ec_key() -> (Vec<u8>, Value) {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("pair");
    let point = pair.public_key().as_ref(); // 0x04 || x || y
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "idp-ec", "use": "sig",
                     "x": b64url(&point[1..33]), "y": b64url(&point[33..65])});
    (pkcs8.as_ref().to_vec(), jwk)
}

fn token(alg: Algorithm, kid: &str, key: &EncodingKey, issuer: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        iss: issuer.into(),
        aud: AUDIENCE.into(),
        sub: "service:backoffice".into(),
        scope: Some(Scope::all_text()),
        iat: now,
        nbf: now - 5,
        exp: now + 600,
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

/// A JWKS endpoint whose key set the test changes at will.
async fn jwks_server(keys: Arc<Mutex<Value>>) -> String {
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let keys = keys.clone();
            async move { axum::Json(keys.lock().expect("keys").clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn create_vendor(app: &TestApp, token: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}/vendors/", app.base))
        .bearer_auth(token)
        .json(&json!({"vendor_name": "Loja do Porto", "region": "PT"}))
        .send()
        .await
        .expect("request")
        .status()
}

/// Polls until `token` gets `want` (the API refreshes its keys every second here).
async fn eventually(app: &TestApp, token: &str, want: StatusCode, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = create_vendor(app, token).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {got}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn tokens_of_an_identity_provider_are_verified_with_its_jwks() {
    let dir = tempfile::tempdir().expect("tmp");
    let (rsa_der, rsa_public, rsa_jwk) = rsa_key(dir.path());
    let (ec_der, ec_jwk) = ec_key();
    // The provider's set: its RSA key and a symmetric key, which the API must not take.
    let hmac_jwk = json!({"kty": "oct", "kid": "idp-hmac", "k": b64url(b"shared-secret")});
    let keys = Arc::new(Mutex::new(json!({"keys": [rsa_jwk.clone(), hmac_jwk]})));
    let url = jwks_server(keys.clone()).await;

    let name = common::unique_name();
    let database_url = common::create_database(&name).await;
    let mut config = common::config(database_url.clone(), name.clone());
    config.jwks_url = Some(url);
    config.jwks_refresh_seconds = 1;
    config.jwt_issuer = ISSUER.into();
    config.jwt_audience = AUDIENCE.into();
    let state = AppState::connect(&config)
        .await
        .expect("the API starts with the provider's keys");
    let app = TestApp::serve(state, name, database_url).await;

    let rsa = EncodingKey::from_rsa_der(&rsa_der);
    let ec = EncodingKey::from_ec_der(&ec_der);
    let rs256 = token(Algorithm::RS256, "idp-rsa", &rsa, ISSUER);
    let es256 = token(Algorithm::ES256, "idp-ec", &ec, ISSUER);
    assert_eq!(create_vendor(&app, &rs256).await, StatusCode::CREATED);
    for (bad, what) in [
        (
            token(Algorithm::RS256, "idp-rsa", &rsa, "https://elsewhere.test"),
            "another issuer",
        ),
        (
            token(
                Algorithm::HS256,
                "idp-hmac",
                &EncodingKey::from_secret(b"shared-secret"),
                ISSUER,
            ),
            "a symmetric key of the set",
        ),
        (
            token(
                Algorithm::HS256,
                "idp-rsa",
                &EncodingKey::from_secret(&rsa_public),
                ISSUER,
            ),
            "HS256 under the RSA key's kid",
        ),
        (es256.clone(), "a key not published yet"),
        (app.token.clone(), "the API's own local key"),
    ] {
        assert_eq!(
            create_vendor(&app, &bad).await,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
    }

    // Rotation: the provider publishes its new EC key, then retires the RSA one.
    *keys.lock().expect("keys") = json!({"keys": [rsa_jwk, ec_jwk.clone()]});
    eventually(
        &app,
        &es256,
        StatusCode::CREATED,
        "the new key after a refresh",
    )
    .await;
    assert_eq!(create_vendor(&app, &rs256).await, StatusCode::CREATED);
    *keys.lock().expect("keys") = json!({"keys": [ec_jwk]});
    eventually(&app, &rs256, StatusCode::UNAUTHORIZED, "the retired key").await;
    assert_eq!(create_vendor(&app, &es256).await, StatusCode::CREATED);

    // A provider that is down: the keys in use stay in use.
    *keys.lock().expect("keys") = json!({"not": "a key set"});
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(create_vendor(&app, &es256).await, StatusCode::CREATED);
}

#[tokio::test]
async fn a_jwks_url_in_the_clear_off_loopback_is_refused_at_start() {
    let name = common::unique_name();
    let database_url = common::create_database(&name).await;
    let mut config = common::config(database_url, name);
    config.jwks_url = Some("http://idp.example.test/.well-known/jwks.json".into());
    let err = AppState::connect(&config)
        .await
        .err()
        .expect("refused at start");
    assert!(err.to_string().contains("must be https://"), "{err}");
}

/// A token the API remembers as verified (its next requests skip the signature check) still
/// expires on time: with no leeway, refused as `token_expired` once its `exp` has passed.
#[tokio::test]
async fn a_remembered_token_still_expires() {
    use mercado_api::http::auth::{all_scopes, Auth, Signer};
    let (signer, _) = Signer::generate("mercado-local", AUDIENCE).expect("key");
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(signer.jwks()).expect("JWKS");
    let token = signer
        .mint(&all_scopes("short"), Duration::from_secs(1))
        .expect("token");
    let auth = Auth::new(&jwks, "mercado-local", AUDIENCE, 0, Some(signer)).expect("auth");
    for _ in 0..3 {
        auth.verify(&token).expect("valid, then remembered");
    }
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let err = auth.verify(&token).expect_err("expired");
    assert_eq!(err.code, "token_expired", "{}", err.message);
}
