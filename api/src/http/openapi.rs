//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations (the same
//! `routes!` registrations that build the router, [`super::routes`]), then given what the
//! annotations cannot say: the exact schemas of path, query and header parameters (see
//! [`crate::model::schemas`]), the links between operations (so clients and stateful testers can chain
//! customer → cart → checkout → transaction; vendor → item, sales), and the 500 every operation
//! may answer.

use std::sync::OnceLock;

use serde_json::{json, Value};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use super::routes;
use crate::model::schemas;
use crate::model::CartLineRequest;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mercado API",
        description = "Customers, vendors and inventory (PostgreSQL); carts and checkout (DynamoDB).\n\n\
            Every path also answers with a trailing slash. Ids in bodies may be JSON numbers or numeric \
            strings. Unknown fields are ignored. Text fields are trimmed. Money is exact. Every error is \
            `{\"error\": {\"code\", \"message\", \"field\"}}`, `field` naming the request field at fault \
            (`email`, `cart[2].qty`, `vendor_id`, …) when there is one."
    ),
    // Schemas are collected from the operations' bodies; `CartLineRequest` is named by hand
    // because only the hand-written schema of `CartRequest.cart` refers to it.
    components(schemas(CartLineRequest)),
    tags(
        (name = "customers"), (name = "vendors"), (name = "inventory"),
        (name = "cart", description = "Carts and checkout"), (name = "transactions"), (name = "health"),
    )
)]
pub struct ApiDoc;

/// The document as the annotations give it: [`ApiDoc`] with every route's operation.
pub fn annotated() -> utoipa::openapi::OpenApi {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::routes())
        .into_openapi()
}

/// The document as JSON text, built once.
pub fn document_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::to_string_pretty(&document())
            .unwrap_or_else(|e| format!(r#"{{"error": "cannot render OpenAPI: {e}"}}"#))
    })
}

/// The complete document.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(annotated()).unwrap_or(Value::Null);
    fill_parameters(&mut doc);
    add_links(&mut doc);
    patch_needs_a_field(&mut doc);
    add_internal_errors(&mut doc);
    add_limit_errors(&mut doc);
    add_security(&mut doc);
    doc
}

/// Who may call an operation (the rules of [`crate::rules::access`], in words) and whether a
/// valid token may still be refused with 403. `None`: a public operation (the probes).
pub fn access(operation_id: &str) -> Option<(&'static str, bool)> {
    Some(match operation_id {
        "healthz" | "readyz" => return None,
        "createCustomer" => ("a service with scope `customers:write` (sign-up)", true),
        "getCustomer" | "listCustomerTransactions" => (
            "the customer itself, or a service with scope `customers:read`; another customer's id \
             is 404",
            true,
        ),
        "getTransaction" => (
            "the customer whose transaction it is, or a service with scope `customers:read`; \
             another customer's transaction is 404",
            true,
        ),
        "replaceCart" => (
            "the customer named by `user_id`, or a service with scope `carts:write`; another \
             customer's `user_id` is 403",
            true,
        ),
        "getCart" => (
            "the customer itself, or a service with scope `carts:read`; another customer's cart \
             is 404",
            true,
        ),
        "checkout" => (
            "the customer named by `user_id`, or a service with scope `checkout`; another \
             customer's `user_id` is 403",
            true,
        ),
        "createVendor" => ("a service with scope `vendors:write` (sign-up)", true),
        "getVendor" => (
            "the vendor itself, or a service with scope `vendors:read`; another vendor's id is 404",
            true,
        ),
        "getVendorSales" => (
            "the vendor itself, or a service with scope `sales:read`; another vendor's id is 404",
            true,
        ),
        "createItem" => (
            "the vendor named by `vendor_id`, or a service with scope `inventory:write`; another \
             vendor's `vendor_id` is 403",
            true,
        ),
        "updateItem" => (
            "the vendor selling the item, or a service with scope `inventory:write`; another \
             vendor's item is 404",
            true,
        ),
        "listItems" | "getItem" | "listCategories" => ("any principal", false),
        // An operation without a rule: documented as needing a token, refused to all but services
        // with every scope would be wrong, so the tests (openapi, authz) fail on it.
        _ => ("(no rule yet)", true),
    })
}

/// The `bearerAuth` scheme, each operation's security, who may call it, and its 401 and 403.
fn add_security(doc: &mut Value) {
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    for (_, op) in operations(doc) {
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        let Some((who, may_refuse)) = access(&id) else {
            op["security"] = json!([]);
            continue;
        };
        op["security"] = json!([{"bearerAuth": []}]);
        let description = op["description"].as_str().unwrap_or_default();
        let who = format!("**Who may call it:** {who}.");
        op["description"] = json!(if description.is_empty() {
            who
        } else {
            format!("{description}\n\n{who}")
        });
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        responses.insert(
            "401".into(),
            json!({
                "description": "No bearer token, or one that does not verify (`unauthorized`: \
                    malformed, unknown `kid`, bad signature, wrong issuer or audience, not yet \
                    valid), or an expired one (`token_expired`)",
                "headers": {"WWW-Authenticate": {
                    "description": "`Bearer`, with `error=\"invalid_token\"` when a token was sent",
                    "schema": {"type": "string"},
                }},
                "content": error,
            }),
        );
        if may_refuse {
            responses.insert(
                "403".into(),
                json!({
                    "description": "The token is valid but may not do this (`forbidden`): a \
                        principal of another kind, a service without the scope, or an owner id \
                        in the body or query string that is not the caller's",
                    "content": error,
                }),
            );
        }
    }
    doc["components"]["securitySchemes"] = json!({"bearerAuth": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "An EdDSA (Ed25519) JWT with the API's issuer and audience; `sub` is \
            `customer:<id>`, `vendor:<id>` or `service:<name>`, `scope` a service's scopes \
            (space-separated): customers:read customers:write carts:read carts:write checkout \
            vendors:read vendors:write inventory:write sales:read history:write.",
    }});
    doc["security"] = json!([{"bearerAuth": []}]);
}

/// The schema (and an example) of each parameter, by name.
fn parameter_schema(path: &str, name: &str) -> Option<(Value, Option<Value>)> {
    let id = |what: &str| {
        let schema = schemas::to_json(schemas::id_text(&format!(
            "{what} id: a positive integer (surrounding whitespace and leading zeros are ignored)"
        )));
        Some((schema, Some(json!(1))))
    };
    match (path, name) {
        ("/transactions/{id}", "id") => Some((
            json!({"type": "string", "pattern": schemas::transaction_id_pattern()}),
            None,
        )),
        (p, "id") if p.starts_with("/customers") => id("Customer"),
        ("/cart/{user_id}", "user_id") => id("Customer"),
        (p, "id") if p.starts_with("/vendors") => id("Vendor"),
        (p, "id") if p.starts_with("/inventory") => id("Item"),
        (_, "vendor_id") => id("Vendor"),
        ("/vendors/{id}/sales", "from" | "to") => Some((
            json!({
                "type": "string", "minLength": 10, "maxLength": 10,
                "pattern": format!("^{}$", schemas::DATE_PATTERN),
                "description": "A calendar date, YYYY-MM-DD",
            }),
            Some(json!(if name == "from" {
                "2025-03-01"
            } else {
                "2025-03-31"
            })),
        )),
        ("/inventory", "limit") => Some((
            schemas::to_json(schemas::int_or_text(1, 500, "1 to 500")),
            None,
        )),
        (_, "limit") => Some((
            schemas::to_json(schemas::int_or_text(1, 100, "1 to 100")),
            None,
        )),
        (_, "after_id") => Some((
            schemas::to_json(schemas::int_or_text(
                0,
                schemas::ID_MAX as u64,
                "0 or an item id",
            )),
            None,
        )),
        (_, "cursor") => Some((
            json!({"type": "string", "pattern": schemas::cursor_pattern()}),
            None,
        )),
        (_, "Idempotency-Key") => Some((
            json!({
                "type": "string", "minLength": 1, "maxLength": 200,
                "pattern": schemas::IDEMPOTENCY_KEY_PATTERN,
            }),
            Some(json!("order-1")),
        )),
        _ => None,
    }
}

fn operations(doc: &mut Value) -> impl Iterator<Item = (String, &mut Value)> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.iter_mut())
        .flat_map(|(path, item)| {
            item.as_object_mut()
                .into_iter()
                .flat_map(|ops| ops.values_mut())
                .map(move |op| (path.clone(), op))
        })
}

fn fill_parameters(doc: &mut Value) {
    for (path, op) in operations(doc) {
        let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
            continue;
        };
        for param in params {
            let name = param.get("name").and_then(Value::as_str).unwrap_or("");
            if let Some((schema, example)) = parameter_schema(&path, name) {
                param["schema"] = schema;
                if let Some(example) = example {
                    param["example"] = example;
                }
            }
        }
    }
}

/// The operation with this `operationId`.
fn operation<'a>(doc: &'a mut Value, id: &str) -> Option<&'a mut Value> {
    operations(doc)
        .map(|(_, op)| op)
        .find(|op| op.get("operationId").and_then(Value::as_str) == Some(id))
}

/// How responses lead to further operations. Bodies given in a link hold only the fields the
/// link fills in.
fn add_links(doc: &mut Value) {
    let links = [
        (
            "createCustomer",
            "201",
            json!({
                "GetCustomer": {"operationId": "getCustomer", "parameters": {"id": "$response.body#/id"},
                    "description": "The customer just created"},
                "ListTransactions": {"operationId": "listCustomerTransactions",
                    "parameters": {"id": "$response.body#/id"}, "description": "The customer's transactions"},
                "FillCart": {"operationId": "replaceCart", "requestBody": {"user_id": "$response.body#/id"},
                    "description": "`user_id` of a cart for this customer"},
            }),
        ),
        (
            "createVendor",
            "201",
            json!({
                "GetVendor": {"operationId": "getVendor", "parameters": {"id": "$response.body#/id"},
                    "description": "The vendor just created"},
                "AddItem": {"operationId": "createItem", "parameters": {"vendor_id": "$response.body#/id"},
                    "description": "`vendor_id` of an item this vendor sells"},
                "ListItems": {"operationId": "listItems", "parameters": {"vendor_id": "$response.body#/id"},
                    "description": "The vendor's items"},
                "GetSales": {"operationId": "getVendorSales", "parameters": {"id": "$response.body#/id"},
                    "description": "The vendor's sales (from the warehouse: 404 until the pipeline has loaded the vendor)"},
            }),
        ),
        (
            "createItem",
            "201",
            json!({
                "GetItem": {"operationId": "getItem", "parameters": {"id": "$response.body#/id"},
                    "description": "The item just created"},
                "UpdateItem": {"operationId": "updateItem", "parameters": {"id": "$response.body#/id"},
                    "description": "Change the item just created"},
                "PutInCart": {"operationId": "replaceCart",
                    "requestBody": {"cart": [{"item_id": "$response.body#/id",
                        "vendor_id": "$response.body#/vendor_id", "qty": 1}]},
                    "description": "A cart line of this item"},
            }),
        ),
        (
            "updateItem",
            "200",
            json!({
                "GetItem": {"operationId": "getItem", "parameters": {"id": "$response.body#/id"},
                    "description": "The item just changed"},
            }),
        ),
        (
            "replaceCart",
            "200",
            json!({
                "GetCart": {"operationId": "getCart", "parameters": {"user_id": "$response.body#/user_id"},
                    "description": "The cart just stored"},
                "Checkout": {"operationId": "checkout", "requestBody": {"user_id": "$response.body#/user_id"},
                    "description": "Check out the cart just stored"},
            }),
        ),
        (
            "checkout",
            "200",
            json!({
                "GetTransaction": {"operationId": "getTransaction",
                    "parameters": {"id": "$response.body#/transaction_id"},
                    "description": "The transaction just written"},
            }),
        ),
    ];
    for (id, status, link) in links {
        if let Some(response) =
            operation(doc, id).and_then(|op| op.pointer_mut(&format!("/responses/{status}")))
        {
            response["links"] = link;
        }
    }
}

/// `PATCH /inventory/{id}` needs at least one field, not null.
fn patch_needs_a_field(doc: &mut Value) {
    if let Some(patch) = doc.pointer_mut("/components/schemas/ItemPatch") {
        patch["minProperties"] = json!(1);
        patch["anyOf"] = ["item_name", "category", "price", "stock"]
            .iter()
            .map(|f| json!({"required": [f], "properties": {*f: {"not": {"type": "null"}}}}))
            .collect();
    }
}

/// Every operation that touches a store may fail on our side; the body is the usual error.
fn add_internal_errors(doc: &mut Value) {
    for (_, op) in operations(doc) {
        if op.get("operationId").and_then(Value::as_str) == Some("healthz") {
            continue;
        }
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            responses.entry("500").or_insert_with(|| {
                json!({
                    "description": "Internal error (logged; the message says no more)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                })
            });
        }
    }
}

/// The abuse limits (`http/limits.rs`) may refuse any operation but the probes: 429 when the
/// client is over its rate, 503 `overloaded` when too many requests are in flight, both with
/// `Retry-After`.
fn add_limit_errors(doc: &mut Value) {
    let retry_after = |what: &str| {
        json!({"Retry-After": {
            "description": format!("Seconds to wait before retrying {what}"),
            "schema": {"type": "integer", "minimum": 1},
        }})
    };
    for (_, op) in operations(doc) {
        if matches!(
            op.get("operationId").and_then(Value::as_str),
            Some("healthz" | "readyz")
        ) {
            continue;
        }
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        responses.insert(
            "429".into(),
            json!({
                "description": "Over the client's rate limit (`rate_limited`)",
                "headers": retry_after("(whole seconds, rounded up)"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            }),
        );
        let unavailable = responses.entry("503").or_insert_with(|| {
            json!({
                "description": "Too many requests in flight (`overloaded`)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            })
        });
        if let Some(Value::String(d)) = unavailable.get_mut("description") {
            if !d.contains("overloaded") {
                d.push_str("; or too many requests in flight (`overloaded`, with `Retry-After`)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many handlers carry a `#[utoipa::path]`, from the sources of `http/routes`.
    fn annotated_handlers() -> usize {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/routes");
        std::fs::read_dir(dir)
            .expect("http/routes")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
            .map(|e| {
                std::fs::read_to_string(e.path())
                    .expect("route source")
                    .matches("#[utoipa::path(")
                    .count()
            })
            .sum()
    }

    #[test]
    fn every_operation_but_the_probes_documents_the_limits() {
        let mut doc = document();
        for (path, op) in operations(&mut doc) {
            let probe = matches!(op["operationId"].as_str(), Some("healthz" | "readyz"));
            let limited = op.pointer("/responses/429/headers/Retry-After").is_some();
            assert_eq!(limited, !probe, "{path}");
            if !probe {
                let d = op
                    .pointer("/responses/503/description")
                    .and_then(Value::as_str);
                assert!(d.is_some_and(|d| d.contains("overloaded")), "{path}: {d:?}");
            }
        }
    }

    #[test]
    fn every_operation_has_a_unique_id_and_documented_errors() {
        let mut doc = document();
        let mut ids = std::collections::HashSet::new();
        for (path, op) in operations(&mut doc) {
            let id = op["operationId"].as_str().expect("operationId").to_string();
            assert!(ids.insert(id.clone()), "{id} twice");
            let responses = op["responses"].as_object().expect("responses");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response.pointer("/content/application~1json/schema/$ref"),
                        Some(&json!("#/components/schemas/ErrorBody")),
                        "{path} {status}"
                    );
                }
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                let schema = &param["schema"];
                assert!(
                    schema.get("pattern").is_some() || schema.get("anyOf").is_some(),
                    "{path} {}: {schema}",
                    param["name"]
                );
            }
        }
        // Every annotated handler is an operation of the document (17 when this was written).
        assert_eq!(ids.len(), annotated_handlers());
        assert!(ids.len() >= 17, "{ids:?}");
    }

    #[test]
    fn every_operation_but_the_probes_needs_a_token_and_has_a_rule() {
        let mut doc = document();
        assert_eq!(
            doc.pointer("/components/securitySchemes/bearerAuth/scheme"),
            Some(&json!("bearer"))
        );
        for (path, op) in operations(&mut doc) {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            let public = matches!(id.as_str(), "healthz" | "readyz");
            assert_eq!(
                op.pointer("/responses/401/headers/WWW-Authenticate")
                    .is_some(),
                !public,
                "{path}"
            );
            assert_eq!(op["security"] == json!([]), public, "{path}");
            if !public {
                let (who, _) = access(&id).expect("a rule");
                assert!(!who.contains("no rule"), "{id} has no access rule");
                assert!(
                    op["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("Who may call it")),
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn links_point_at_operations_that_exist() {
        let mut doc = document();
        let mut ids = std::collections::HashSet::new();
        let mut targets = Vec::new();
        for (_, op) in operations(&mut doc) {
            ids.insert(op["operationId"].as_str().unwrap_or("").to_string());
            for response in op["responses"]
                .as_object()
                .into_iter()
                .flat_map(|r| r.values())
            {
                for link in response["links"]
                    .as_object()
                    .into_iter()
                    .flat_map(|l| l.values())
                {
                    targets.push(link["operationId"].as_str().unwrap_or("").to_string());
                }
            }
        }
        assert!(targets.len() >= 12, "{targets:?}");
        for t in targets {
            assert!(ids.contains(&t), "link to {t}");
        }
    }
}
