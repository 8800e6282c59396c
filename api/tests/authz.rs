//! Identity and ownership over HTTP on real stores: for every operation of the served
//! `/openapi.json` (an operation added without a case here fails the test), no token, a token
//! signed by another key, an expired one and one for another audience are 401; another owner is
//! 403 or 404 as the document says; a service without the operation's scope is 403; the owner, and
//! a service with only the operation's scope, get the documented success. Prints the matrix.

use std::collections::BTreeMap;
use std::time::Duration;

use mercado_api::http::auth::{Claims, Principal, Scope, Signer};
use mercado_api::AppState;
use mercado_testkit::api as common;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_postgres::NoTls;

use common::TestApp;

/// Who owns what an operation acts on.
#[derive(Clone, Copy, Debug)]
enum Owner {
    Customer,
    Vendor,
    /// Only a service with the scope (sign-up).
    Service,
    /// Any principal (catalogue reads).
    Any,
}

struct Op {
    method: Method,
    path: String,
    body: Option<Value>,
    owner: Owner,
    /// The scope a service needs (`None`: none needed).
    scope: Option<Scope>,
    /// What another owner (or a principal of the wrong kind for service-only operations) gets.
    other: StatusCode,
    ok: StatusCode,
}

struct World {
    app: TestApp,
    c1: i64,
    c2: i64,
    v1: i64,
    v2: i64,
    item1: i64,
    txn1: String,
}

fn unique_email() -> String {
    format!("{}@example.com", common::unique_name())
}

impl World {
    fn op(&self, id: &str) -> Op {
        let (c1, v1, item1) = (self.c1, self.v1, self.item1);
        let op = |method: Method, path: String, body: Option<Value>, owner, scope, other, ok| Op {
            method,
            path,
            body,
            owner,
            scope,
            other,
            ok,
        };
        use Owner::*;
        const OK: StatusCode = StatusCode::OK;
        const CREATED: StatusCode = StatusCode::CREATED;
        const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
        const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
        match id {
            "createCustomer" => op(
                Method::POST,
                "/customers".into(),
                Some(json!({"first_name": "Ana", "last_name": "Silva", "email": unique_email()})),
                Service,
                Some(Scope::CustomersWrite),
                FORBIDDEN,
                CREATED,
            ),
            "getCustomer" => op(
                Method::GET,
                format!("/customers/{c1}"),
                None,
                Customer,
                Some(Scope::CustomersRead),
                NOT_FOUND,
                OK,
            ),
            "listCustomerTransactions" => op(
                Method::GET,
                format!("/customers/{c1}/transactions"),
                None,
                Customer,
                Some(Scope::CustomersRead),
                NOT_FOUND,
                OK,
            ),
            "getTransaction" => op(
                Method::GET,
                format!("/transactions/{}", self.txn1),
                None,
                Customer,
                Some(Scope::CustomersRead),
                NOT_FOUND,
                OK,
            ),
            "replaceCart" => op(
                Method::POST,
                "/cart".into(),
                Some(json!({"user_id": c1, "cart": [{"item_id": item1, "qty": 1}]})),
                Customer,
                Some(Scope::CartsWrite),
                FORBIDDEN,
                OK,
            ),
            "getCart" => op(
                Method::GET,
                format!("/cart/{c1}"),
                None,
                Customer,
                Some(Scope::CartsRead),
                NOT_FOUND,
                OK,
            ),
            "checkout" => op(
                Method::POST,
                "/checkout".into(),
                Some(json!({"user_id": c1})),
                Customer,
                Some(Scope::Checkout),
                FORBIDDEN,
                OK,
            ),
            "createVendor" => op(
                Method::POST,
                "/vendors".into(),
                Some(json!({"vendor_name": "Loja", "region": "PT"})),
                Service,
                Some(Scope::VendorsWrite),
                FORBIDDEN,
                CREATED,
            ),
            "getVendor" => op(
                Method::GET,
                format!("/vendors/{v1}"),
                None,
                Vendor,
                Some(Scope::VendorsRead),
                NOT_FOUND,
                OK,
            ),
            "getVendorSales" => op(
                Method::GET,
                format!("/vendors/{v1}/sales?from=2025-03-17&to=2025-03-17"),
                None,
                Vendor,
                Some(Scope::SalesRead),
                NOT_FOUND,
                OK,
            ),
            "createItem" => op(
                Method::POST,
                format!("/inventory?vendor_id={v1}"),
                Some(json!({"item_name": "Cup", "category": 1, "price": "2.50", "stock": 5})),
                Vendor,
                Some(Scope::InventoryWrite),
                FORBIDDEN,
                CREATED,
            ),
            "updateItem" => op(
                Method::PATCH,
                format!("/inventory/{item1}"),
                Some(json!({"stock": 1000})),
                Vendor,
                Some(Scope::InventoryWrite),
                NOT_FOUND,
                OK,
            ),
            "listItems" => op(
                Method::GET,
                format!("/inventory?vendor_id={v1}"),
                None,
                Any,
                None,
                OK,
                OK,
            ),
            "getItem" => op(
                Method::GET,
                format!("/inventory/{item1}"),
                None,
                Any,
                None,
                OK,
                OK,
            ),
            "listCategories" => op(Method::GET, "/categories".into(), None, Any, None, OK, OK),
            other => panic!("operation {other} has no authorisation case in api/tests/authz.rs"),
        }
    }

    fn token(&self, p: Principal) -> String {
        self.app.token_for(&p)
    }

    fn service(&self, scopes: impl IntoIterator<Item = Scope>) -> String {
        self.token(Principal::Service {
            name: "authz".into(),
            scopes: scopes.into_iter().collect(),
        })
    }

    /// A token with these claims changed, signed by `signer` (the app's own by default).
    fn claims(&self, signer: Option<&Signer>, edit: impl FnOnce(&mut Claims)) -> String {
        let own = self.app.state.auth.signer().expect("signs");
        let now = chrono::Utc::now().timestamp();
        let mut c = Claims {
            iss: own.issuer.clone(),
            aud: own.audience.clone(),
            sub: "service:authz".into(),
            scope: Some(Scope::all_text()),
            iat: now,
            nbf: now,
            exp: now + 600,
        };
        edit(&mut c);
        signer.unwrap_or(own).mint_claims(&c).expect("token")
    }

    async fn call(&self, op: &Op, token: Option<&str>) -> (StatusCode, Value) {
        // The cart checked out (or read) is put back first, so each case meets the same state.
        if matches!(op.path.as_str(), "/checkout") || op.path.starts_with("/cart/") {
            let r = self
                .app
                .post(
                    "/cart",
                    json!({"user_id": self.c1, "cart": [{"item_id": self.item1, "qty": 1}]}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let mut body = op.body.clone();
        if let Some(b) = body.as_mut().and_then(|b| b.get_mut("email")) {
            *b = json!(unique_email());
        }
        let mut req = reqwest::Client::new()
            .request(op.method.clone(), format!("{}{}", self.app.base, op.path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("sent");
        let status = resp.status();
        let challenge = resp.headers().get("www-authenticate").cloned();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status == StatusCode::UNAUTHORIZED {
            assert!(
                challenge.is_some_and(|c| c.to_str().is_ok_and(|c| c.starts_with("Bearer"))),
                "401 without WWW-Authenticate: Bearer"
            );
        }
        if status.is_client_error() {
            assert!(body["error"]["code"].is_string(), "{status}: {body}");
        }
        (status, body)
    }
}

async fn world() -> World {
    // A warehouse with the DDL and marts, for the sales endpoint; its vendors are added below.
    let wh = common::create_database(&format!("{}_wh", common::unique_name())).await;
    let (whc, conn) = tokio_postgres::connect(&wh, NoTls)
        .await
        .expect("warehouse");
    tokio::spawn(conn);
    let sql = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/warehouse");
    for file in ["postgres.sql", "marts.sql"] {
        let text = std::fs::read_to_string(sql.join(file)).expect("warehouse SQL");
        whc.batch_execute(&text).await.expect("warehouse DDL");
    }
    let name = common::unique_name();
    let database_url = common::create_database(&name).await;
    let mut config = common::config(database_url.clone(), name.clone());
    config.warehouse_url = Some(wh);
    let state = AppState::connect(&config).await.expect("stores ready");
    let app = TestApp::serve(state, name, database_url).await;

    let c1 = app.customer(&unique_email()).await;
    let c2 = app.customer(&unique_email()).await;
    let v1 = app.vendor("Loja A").await;
    let v2 = app.vendor("Loja B").await;
    let item1 = app.item(v1, "Mug", "12.50").await;
    let _item2 = app.item(v2, "Cup", "3.00").await;
    whc.batch_execute(&format!(
        "INSERT INTO core.dim_date VALUES (20250317, '2025-03-17', 2025, 1, 3, 17, 1, false);
         INSERT INTO core.dim_vendor (vendor_id, vendor_name, region, joined_at) VALUES
           ({v1}, 'Loja A', 'PT', '2025-01-01T00:00:00Z'), ({v2}, 'Loja B', 'PT', '2025-01-01T00:00:00Z');"
    ))
    .await
    .expect("warehouse rows");
    let r = app
        .post(
            "/cart",
            json!({"user_id": c1, "cart": [{"item_id": item1, "qty": 1}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.checkout(c1, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let txn1 = r.body["transaction_id"].as_str().expect("txn").to_string();
    World {
        app,
        c1,
        c2,
        v1,
        v2,
        item1,
        txn1,
    }
}

const CASES: [&str; 8] = [
    "no token",
    "other key",
    "expired",
    "wrong aud",
    "other owner",
    "no scope",
    "owner",
    "service+scope",
];

#[tokio::test]
async fn every_operation_checks_identity_and_ownership() {
    let w = world().await;
    let doc: Value = w
        .app
        .http
        .get(format!("{}/openapi.json", w.app.base))
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("json");

    let (foreign, _) = Signer::generate("mercado-local", "mercado-api").expect("key");
    let mut forged = foreign;
    // Another key claiming the app's key id: only the signature is wrong.
    forged.kid = w.app.state.auth.signer().expect("signs").kid.clone();
    let other_key = w.claims(Some(&forged), |_| {});
    let expired = w.claims(None, |c| {
        c.exp = c.iat - 3600;
        c.nbf = c.iat - 7200;
    });
    let wrong_aud = w.claims(None, |c| c.aud = "someone-else".into());

    let mut matrix: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let id = operation["operationId"].as_str().expect("operationId");
            if operation["security"] == json!([]) {
                continue; // the probes
            }
            seen += 1;
            let op = w.op(id);
            assert_eq!(
                op.method.as_str().to_lowercase(),
                *method,
                "{id}: {method} {path}"
            );
            let documented = |s: StatusCode| {
                s == StatusCode::OK && op.ok == StatusCode::OK
                    || operation["responses"].get(s.as_str()).is_some()
            };
            let (owner, other, no_scope) = match op.owner {
                Owner::Customer => (
                    w.token(Principal::Customer(w.c1)),
                    w.token(Principal::Customer(w.c2)),
                    w.service(Scope::ALL.into_iter().filter(|s| Some(*s) != op.scope)),
                ),
                Owner::Vendor => (
                    w.token(Principal::Vendor(w.v1)),
                    w.token(Principal::Vendor(w.v2)),
                    w.service(Scope::ALL.into_iter().filter(|s| Some(*s) != op.scope)),
                ),
                Owner::Service => (
                    w.service(op.scope),
                    w.token(Principal::Customer(w.c1)),
                    w.service(Scope::ALL.into_iter().filter(|s| Some(*s) != op.scope)),
                ),
                Owner::Any => (
                    w.token(Principal::Customer(w.c1)),
                    w.token(Principal::Vendor(w.v2)),
                    w.service([]),
                ),
            };
            let with_scope = w.service(op.scope);
            let cases: [(Option<&str>, StatusCode); 8] = [
                (None, StatusCode::UNAUTHORIZED),
                (Some(&other_key), StatusCode::UNAUTHORIZED),
                (Some(&expired), StatusCode::UNAUTHORIZED),
                (Some(&wrong_aud), StatusCode::UNAUTHORIZED),
                (Some(&other), op.other),
                (
                    Some(&no_scope),
                    if matches!(op.owner, Owner::Any) {
                        op.ok
                    } else {
                        StatusCode::FORBIDDEN
                    },
                ),
                (Some(&owner), op.ok),
                (Some(&with_scope), op.ok),
            ];
            let mut row = Vec::new();
            for (case, (token, want)) in CASES.iter().zip(cases) {
                let (got, body) = w.call(&op, token).await;
                assert_eq!(got, want, "{id} ({method} {path}), {case}: {body}");
                assert!(documented(got), "{id}: {got} is not documented");
                if *case == "expired" {
                    assert_eq!(body["error"]["code"], "token_expired", "{id}");
                }
                if matches!(*case, "no token" | "other key" | "wrong aud") {
                    assert_eq!(body["error"]["code"], "unauthorized", "{id}");
                }
                row.push(got.as_u16());
            }
            matrix.insert(format!("{} {path}", method.to_uppercase()), row);
        }
    }
    assert!(seen >= 15, "only {seen} protected operations");

    let mut out = format!("{:<40}", "operation");
    for c in CASES {
        out.push_str(&format!(" | {c:>13}"));
    }
    out.push('\n');
    for (op, row) in &matrix {
        out.push_str(&format!("{op:<40}"));
        for s in row {
            out.push_str(&format!(" | {s:>13}"));
        }
        out.push('\n');
    }
    eprintln!("authorisation matrix (status per case):\n{out}");
}

#[tokio::test]
async fn owners_cannot_touch_each_others_data() {
    let w = world().await;
    let send = |token: String, method: Method, path: String, body: Option<Value>| {
        let url = format!("{}{path}", w.app.base);
        async move {
            let mut req = reqwest::Client::new()
                .request(method, url)
                .bearer_auth(token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.expect("sent");
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (a, b) = (
        w.token(Principal::Vendor(w.v1)),
        w.token(Principal::Vendor(w.v2)),
    );
    // Vendor B tampers with vendor A's price: 404, and the price is unchanged.
    let (s, _) = send(
        b.clone(),
        Method::PATCH,
        format!("/inventory/{}", w.item1),
        Some(json!({"price": "0.01"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, item) = send(
        a.clone(),
        Method::GET,
        format!("/inventory/{}", w.item1),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(item["price"], json!(12.5), "{item}");
    // Vendor B lists an item as vendor A: 403 naming vendor_id.
    let (s, e) = send(
        b.clone(),
        Method::POST,
        format!("/inventory?vendor_id={}", w.v1),
        Some(json!({"item_name": "Fake", "category": 1, "price": "1.00"})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (StatusCode::FORBIDDEN, Some("vendor_id"))
    );
    // Vendor B reads vendor A's sales: 404; its own: 200.
    let sales = |v: i64| format!("/vendors/{v}/sales?from=2025-03-17&to=2025-03-17");
    assert_eq!(
        send(b.clone(), Method::GET, sales(w.v1), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(b, Method::GET, sales(w.v2), None).await.0,
        StatusCode::OK
    );

    let (ca, cb) = (
        w.token(Principal::Customer(w.c1)),
        w.token(Principal::Customer(w.c2)),
    );
    let r = w
        .app
        .post(
            "/cart",
            json!({"user_id": w.c1, "cart": [{"item_id": w.item1, "qty": 2}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Customer B checks out on A's account: 403, and A's cart is still there.
    let (s, e) = send(
        cb.clone(),
        Method::POST,
        "/checkout".into(),
        Some(json!({"user_id": w.c1})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // Customer B reads A's cart, transactions, a transaction, A itself: 404 each.
    for path in [
        format!("/cart/{}", w.c1),
        format!("/customers/{}/transactions", w.c1),
        format!("/transactions/{}", w.txn1),
        format!("/customers/{}", w.c1),
    ] {
        assert_eq!(
            send(cb.clone(), Method::GET, path.clone(), None).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
        assert_eq!(
            send(ca.clone(), Method::GET, path.clone(), None).await.0,
            StatusCode::OK,
            "{path}"
        );
    }
    // Customer B fills a cart for A: 403.
    let (s, _) = send(
        cb,
        Method::POST,
        "/cart".into(),
        Some(json!({"user_id": w.c1, "cart": [{"item_id": w.item1, "qty": 1}]})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A vendor reads a customer's transaction: 403, whether it exists or not.
    assert_eq!(
        send(
            w.token(Principal::Vendor(w.v1)),
            Method::GET,
            format!("/transactions/{}", w.txn1),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // A checkout by A with A's token goes through.
    let (s, _) = send(
        ca,
        Method::POST,
        "/checkout".into(),
        Some(json!({"user_id": w.c1})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn sign_up_returns_a_working_first_token() {
    let w = world().await;
    let svc = w.service([Scope::CustomersWrite]);
    let r = reqwest::Client::new()
        .post(format!("{}/customers", w.app.base))
        .bearer_auth(svc)
        .json(&json!({"first_name": "Rui", "last_name": "Costa", "email": unique_email()}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.expect("json");
    let id = body["id"].as_i64().expect("id");
    let token = body["token"].as_str().expect("a first token").to_string();
    let r = reqwest::Client::new()
        .get(format!("{}/customers/{id}", w.app.base))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    // … and only for itself.
    let r = reqwest::Client::new()
        .get(format!("{}/customers/{}", w.app.base, w.c1))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Original dates (importing history) only with scope `history:write`: a vendor listing its own
/// item or a service without the scope is refused naming the field; a bad or future instant is
/// 422 naming it; with the scope, the record is stored with that date.
#[tokio::test]
async fn only_history_write_sets_original_dates() {
    let w = world().await;
    let send = |path: String, token: String, body: Value| {
        let base = w.app.base.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("sent");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let customer = |at: &str| json!({"first_name": "Ana", "last_name": "Old", "email": unique_email(), "joined_at": at});
    let item = json!({"item_name": "Old mug", "category": 1, "price": "5.00", "created_at": "2024-05-01T10:00:00Z"});
    let vendor_token = w.token(Principal::Vendor(w.v1));
    let without = w.service([Scope::CustomersWrite, Scope::VendorsWrite]);
    let with = w.service([
        Scope::CustomersWrite,
        Scope::VendorsWrite,
        Scope::HistoryWrite,
    ]);

    let (s, b) = send(
        format!("/inventory?vendor_id={}", w.v1),
        vendor_token.clone(),
        item.clone(),
    )
    .await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (StatusCode::FORBIDDEN, Some("created_at")),
        "{b}"
    );
    let (s, b) = send(
        "/customers".into(),
        without,
        customer("2024-05-01T10:00:00Z"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (StatusCode::FORBIDDEN, Some("joined_at")),
        "{b}"
    );
    let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    for bad in [
        "yesterday",
        "2024-05-01",
        "1969-12-31T23:59:59Z",
        future.as_str(),
    ] {
        let (s, b) = send("/customers".into(), with.clone(), customer(bad)).await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("joined_at")),
            "{bad}: {b}"
        );
    }
    let (s, b) = send(
        "/customers".into(),
        with.clone(),
        customer("2024-05-01T10:00:00+02:00"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(
        b["joined_at"]
            .as_str()
            .map(|t| chrono::DateTime::parse_from_rfc3339(t).expect("rfc3339")),
        Some(chrono::DateTime::parse_from_rfc3339("2024-05-01T08:00:00Z").expect("instant"))
    );
    let (s, b) = send(
        "/vendors".into(),
        with,
        json!({"vendor_name": "Old shop", "region": "PT", "joined_at": "2024-05-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        (
            s,
            b["joined_at"]
                .as_str()
                .map(|t| t.starts_with("2024-05-01T00:00:00"))
        ),
        (StatusCode::CREATED, Some(true)),
        "{b}"
    );
    // Without the field, now (a vendor may list its own item as before).
    let (s, b) = send(
        format!("/inventory?vendor_id={}", w.v1),
        vendor_token,
        json!({"item_name": "New mug", "category": 1, "price": "5.00"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}
