//! DynamoDB side: carts, checkout transactions and idempotency records in one table
//! (key design in [`crate::keys`]).

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;

use crate::config::Config;
use crate::keys::{self, DayKind};
use crate::model::{
    Cart, CartLine, CheckoutReceipt, FlexId, Money, Transaction, TransactionLine, COMPLETED,
};

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB cannot be reached, timed out, throttled, or the table is missing (503).
    #[error("{0}")]
    Unavailable(String),
    /// An item in the table does not have the shape this code writes.
    #[error("malformed {what} item: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("{0}")]
    Other(String),
}

impl From<BuildError> for StoreError {
    fn from(e: BuildError) -> Self {
        StoreError::Other(e.to_string())
    }
}

fn classify<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = DisplayErrorContext(&e).to_string();
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(text)
        }
        SdkError::ServiceError(se) => match se.err().code().unwrap_or_default() {
            "ResourceNotFoundException"
            | "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "InternalServerError"
            | "ServiceUnavailable" => StoreError::Unavailable(text),
            _ => StoreError::Other(text),
        },
        _ => StoreError::Other(text),
    }
}

/// What a checkout write did.
#[derive(Debug)]
pub enum CheckoutWrite {
    Written,
    /// A condition failed: the cart changed or was checked out by a concurrent request, or the
    /// idempotency key was used concurrently.
    Conflict,
    /// No answer (timeout, connection lost after sending, unreadable response): the transaction
    /// may or may not have been written. Ask [`DynamoStore::get_transaction`].
    Unknown(StoreError),
}

/// How long an idempotency record is kept (its `expires_at`).
pub const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::days(1);

/// The idempotency record a checkout writes with its transaction.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyWrite<'a> {
    /// The `Idempotency-Key` header.
    pub key: &'a str,
    /// The digest of the request the key answers (`rules::checkout::request_digest`).
    pub request_digest: &'a str,
    pub receipt: &'a CheckoutReceipt,
}

/// A live (unexpired) idempotency record.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// The digest of the request that used the key; `None` on records written before digests.
    pub request_digest: Option<String>,
    /// The answer to that request.
    pub receipt: CheckoutReceipt,
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A client for `config`'s region and endpoint, with bounded timeouts and retries.
    pub async fn connect(config: &Config) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(config.store_timeout())
            .operation_timeout(config.store_timeout())
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.aws_region.clone()))
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(endpoint) = &config.aws_endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        Self {
            client: Client::new(&shared),
            table: config.table.clone(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with both indexes and TTL when it does not exist yet.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(classify(e)),
        }
        tracing::info!(table = %self.table, "creating DynamoDB table");
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let index = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, BuildError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash)?)
                .key_schema(key(sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(vec![
                attr(keys::PK)?,
                attr(keys::SK)?,
                attr(keys::BY_DAY_PK)?,
                attr(keys::BY_DAY_SK)?,
                attr(keys::BY_USER_PK)?,
                attr(keys::BY_USER_SK)?,
            ]))
            .key_schema(key(keys::PK, KeyType::Hash)?)
            .key_schema(key(keys::SK, KeyType::Range)?)
            .global_secondary_indexes(index(keys::BY_DAY_INDEX, keys::BY_DAY_PK, keys::BY_DAY_SK)?)
            .global_secondary_indexes(index(
                keys::BY_USER_INDEX,
                keys::BY_USER_PK,
                keys::BY_USER_SK,
            )?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Another process created it between our describe and create.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(classify(e)),
        }
        self.wait_active().await?;
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(keys::TTL_ATTRIBUTE)
            .build()?;
        if let Err(e) = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            // Not fatal: without TTL, old idempotency records just stay.
            tracing::warn!(error = %DisplayErrorContext(&e), "could not enable TTL");
        }
        Ok(())
    }

    async fn wait_active(&self) -> Result<(), StoreError> {
        for _ in 0..120 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(classify)?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(StoreError::Unavailable(format!(
            "table {} did not become ACTIVE",
            self.table
        )))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    // ---- carts -------------------------------------------------------------------------------

    /// Replaces the user's cart. `version` changes on every write; checkout deletes the cart only
    /// if it still has the version it priced.
    pub async fn put_cart(&self, cart: &Cart, version: &str) -> Result<(), StoreError> {
        let user = cart.user_id.0;
        let at = ts(cart.updated_at);
        let lines = cart
            .cart
            .iter()
            .map(|l| {
                AttributeValue::M(HashMap::from([
                    ("item_id".to_string(), n(l.item_id)),
                    ("vendor_id".to_string(), n(l.vendor_id)),
                    ("qty".to_string(), n(l.qty)),
                    ("unit_price".to_string(), n(l.unit_price)),
                    ("total_price".to_string(), n(l.total_price)),
                ]))
            })
            .collect();
        let shard = keys::shard_of(&user.to_string());
        let item: Item = HashMap::from([
            (keys::PK.to_string(), s(keys::user_pk(user))),
            (keys::SK.to_string(), s(keys::CART_SK)),
            (
                keys::BY_DAY_PK.to_string(),
                s(keys::day_pk(
                    DayKind::Carts,
                    cart.updated_at.date_naive(),
                    shard,
                )),
            ),
            (
                keys::BY_DAY_SK.to_string(),
                s(keys::time_sk(&at, &user.to_string())),
            ),
            ("entity".to_string(), s("cart")),
            ("user_id".to_string(), n(user)),
            ("lines".to_string(), AttributeValue::L(lines)),
            ("updated_at".to_string(), s(at)),
            ("version".to_string(), s(version)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// The user's open cart and its version.
    pub async fn get_cart(&self, user_id: FlexId) -> Result<Option<(Cart, String)>, StoreError> {
        let Some(item) = self.get(keys::user_pk(user_id.0), keys::CART_SK).await? else {
            return Ok(None);
        };
        let r = Reader::new(&item, "cart");
        let lines = r
            .list("lines")?
            .iter()
            .map(|v| {
                let l = Reader::of(v, "cart line")?;
                Ok(CartLine {
                    item_id: FlexId(l.num("item_id")?),
                    vendor_id: FlexId(l.num("vendor_id")?),
                    qty: l.num("qty")?,
                    unit_price: l.money("unit_price")?,
                    total_price: l.money("total_price")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let cart = Cart {
            user_id: FlexId(r.num("user_id")?),
            cart: lines,
            updated_at: r.time("updated_at")?,
        };
        Ok(Some((cart, r.str("version")?.to_string())))
    }

    // ---- checkout ----------------------------------------------------------------------------

    /// Writes the transaction, deletes the cart (only at `cart_version`) and records the
    /// idempotency key, all in one TransactWriteItems: either all happen or none.
    ///
    /// The idempotency record keeps the digest of the request it answered (see
    /// [`IdempotencyRecord`]) and lives for a day; it may replace only a record that has expired
    /// (DynamoDB's TTL deletes expired items lazily, so one may still be there).
    pub async fn checkout(
        &self,
        txn: &Transaction,
        cart_version: &str,
        idempotency: Option<IdempotencyWrite<'_>>,
    ) -> Result<CheckoutWrite, StoreError> {
        let user = txn.user_id.0;
        let put_txn = Put::builder()
            .table_name(&self.table)
            .set_item(Some(transaction_item(txn)))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        let delete_cart = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user_pk(user)))
            .key(keys::SK, s(keys::CART_SK))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", s(cart_version))
            .build()?;
        let mut writes = vec![
            TransactWriteItem::builder().put(put_txn).build(),
            TransactWriteItem::builder().delete(delete_cart).build(),
        ];
        if let Some(idem) = idempotency {
            let now = Utc::now();
            let expires = (now + IDEMPOTENCY_TTL).timestamp();
            let receipt = idem.receipt;
            let item: Item = HashMap::from([
                (keys::PK.to_string(), s(keys::idem_pk(user, idem.key))),
                (keys::SK.to_string(), s(keys::IDEM_SK)),
                ("entity".to_string(), s("idempotency")),
                ("request_digest".to_string(), s(idem.request_digest)),
                ("transaction_id".to_string(), s(&receipt.transaction_id)),
                ("total_price".to_string(), n(receipt.total_price)),
                ("created_at".to_string(), s(ts(receipt.created_at))),
                (keys::TTL_ATTRIBUTE.to_string(), n(expires)),
            ]);
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR #exp <= :now")
                .expression_attribute_names("#exp", keys::TTL_ATTRIBUTE)
                .expression_attribute_values(":now", n(now.timestamp()))
                .build()?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(CheckoutWrite::Written),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                Ok(CheckoutWrite::Conflict)
            }
            // The service answered with an error: nothing was written.
            Err(e @ SdkError::ServiceError(_)) => Err(classify(e)),
            // No (readable) answer: it may have been written.
            Err(e) => Ok(CheckoutWrite::Unknown(classify(e))),
        }
    }

    /// Writes a transaction as checkout would, without a cart: for loading history and traffic
    /// with explicit timestamps. Refuses to overwrite an existing transaction id.
    pub async fn put_transaction(&self, txn: &Transaction) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(transaction_item(txn)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// The underlying client, for tools that write items this API never would (test fixtures of
    /// malformed data).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The record of an idempotency key, if the key was used and its record has not expired
    /// (`expires_at` in the past: DynamoDB's TTL deletes lazily, so an expired record may still be
    /// read; it counts as absent).
    pub async fn get_idempotency(
        &self,
        user_id: FlexId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let Some(item) = self
            .get(keys::idem_pk(user_id.0, key), keys::IDEM_SK)
            .await?
        else {
            return Ok(None);
        };
        let r = Reader::new(&item, "idempotency");
        let expires_at: i64 = r.num(keys::TTL_ATTRIBUTE)?;
        if expires_at <= Utc::now().timestamp() {
            return Ok(None);
        }
        // Records written before requests were digested have none: they replay as before.
        let request_digest = item
            .get("request_digest")
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok(Some(IdempotencyRecord {
            request_digest,
            receipt: CheckoutReceipt {
                message: COMPLETED.to_string(),
                transaction_id: r.str("transaction_id")?.to_string(),
                total_price: r.money("total_price")?,
                created_at: r.time("created_at")?,
            },
        }))
    }

    // ---- transactions ------------------------------------------------------------------------

    pub async fn get_transaction(&self, id: &str) -> Result<Option<Transaction>, StoreError> {
        match self.get(keys::txn_pk(id), keys::TXN_SK).await? {
            Some(item) => read_transaction(&item).map(Some),
            None => Ok(None),
        }
    }

    /// A user's transactions, newest first, `limit` at a time. `cursor` is the previous page's
    /// `next_cursor`; `Err(None)`-like misuse is reported as [`CursorError`].
    pub async fn user_transactions(
        &self,
        user_id: FlexId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Result<(Vec<Transaction>, Option<String>), CursorError>, StoreError> {
        let user_pk = keys::user_pk(user_id.0);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::BY_USER_INDEX)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", keys::BY_USER_PK)
            .expression_attribute_values(":p", s(&user_pk))
            .scan_index_forward(false)
            .limit(limit);
        if let Some(cursor) = cursor {
            // The cursor is the index sort key of the last item returned; the rest of the key
            // follows from it.
            let Some(txn_id) = cursor_transaction(cursor) else {
                return Ok(Err(CursorError));
            };
            query = query
                .exclusive_start_key(keys::PK, s(keys::txn_pk(txn_id)))
                .exclusive_start_key(keys::SK, s(keys::TXN_SK))
                .exclusive_start_key(keys::BY_USER_PK, s(&user_pk))
                .exclusive_start_key(keys::BY_USER_SK, s(cursor));
        }
        let out = query.send().await.map_err(classify)?;
        let txns = out
            .items()
            .iter()
            .map(read_transaction)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out
            .last_evaluated_key()
            .and_then(|k| k.get(keys::BY_USER_SK))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok(Ok((txns, next)))
    }
}

/// The transaction id of a cursor shaped like the `next_cursor`s this API hands out:
/// `<created_at>#<transaction_id>`, `created_at` as [`ts`] writes it (a real date and time, UTC,
/// milliseconds), the id a lowercase hyphenated UUID. Anything else would reach DynamoDB as a
/// start key it may refuse.
pub fn cursor_transaction(cursor: &str) -> Option<&str> {
    let (at, id) = cursor.split_once('#')?;
    let id_ok = uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id);
    let b = at.as_bytes();
    let shape_ok = b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !id_ok || !shape_ok {
        return None;
    }
    let num = |range: std::ops::Range<usize>| at.get(range).and_then(|t| t.parse::<u32>().ok());
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let date_ok = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day).is_some();
    (date_ok && hour < 24 && minute < 60 && second < 60).then_some(id)
}

/// A `cursor` that this API did not hand out.
#[derive(Debug)]
pub struct CursorError;

/// The DynamoDB item of a transaction (key design in [`crate::keys`]).
pub fn transaction_item(txn: &Transaction) -> Item {
    let at = ts(txn.created_at);
    let lines = txn
        .lines
        .iter()
        .map(|l| {
            AttributeValue::M(HashMap::from([
                ("line_no".to_string(), n(l.line_no)),
                ("item_id".to_string(), n(l.item_id)),
                ("vendor_id".to_string(), n(l.vendor_id)),
                ("qty".to_string(), n(l.qty)),
                ("unit_price".to_string(), n(l.unit_price)),
                ("total_price".to_string(), n(l.total_price)),
            ]))
        })
        .collect();
    let id = &txn.transaction_id;
    let shard = keys::shard_of(id);
    HashMap::from([
        (keys::PK.to_string(), s(keys::txn_pk(id))),
        (keys::SK.to_string(), s(keys::TXN_SK)),
        (
            keys::BY_DAY_PK.to_string(),
            s(keys::day_pk(
                DayKind::Transactions,
                txn.created_at.date_naive(),
                shard,
            )),
        ),
        (keys::BY_DAY_SK.to_string(), s(keys::time_sk(&at, id))),
        (
            keys::BY_USER_PK.to_string(),
            s(keys::user_pk(txn.user_id.0)),
        ),
        (keys::BY_USER_SK.to_string(), s(keys::time_sk(&at, id))),
        ("entity".to_string(), s("transaction")),
        ("transaction_id".to_string(), s(id)),
        ("user_id".to_string(), n(txn.user_id)),
        ("lines".to_string(), AttributeValue::L(lines)),
        ("total_price".to_string(), n(txn.total_price)),
        ("installments".to_string(), n(txn.installments)),
        ("created_at".to_string(), s(at)),
    ])
}

/// Reads a transaction item as written by [`transaction_item`].
pub fn read_transaction(item: &Item) -> Result<Transaction, StoreError> {
    let r = Reader::new(item, "transaction");
    let lines = r
        .list("lines")?
        .iter()
        .map(|v| {
            let l = Reader::of(v, "transaction line")?;
            Ok(TransactionLine {
                line_no: l.num("line_no")?,
                item_id: FlexId(l.num("item_id")?),
                vendor_id: FlexId(l.num("vendor_id")?),
                qty: l.num("qty")?,
                unit_price: l.money("unit_price")?,
                total_price: l.money("total_price")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Transaction {
        transaction_id: r.str("transaction_id")?.to_string(),
        user_id: FlexId(r.num("user_id")?),
        lines,
        total_price: r.money("total_price")?,
        installments: r.num("installments")?,
        created_at: r.time("created_at")?,
    })
}

/// Timestamps are stored as fixed-width RFC 3339 in UTC, so string order is time order.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Typed reads of attributes, with errors that say which item and attribute was off.
struct Reader<'a> {
    item: &'a Item,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(item: &'a Item, what: &'static str) -> Self {
        Self { item, what }
    }

    fn of(value: &'a AttributeValue, what: &'static str) -> Result<Self, StoreError> {
        value
            .as_m()
            .map(|item| Self { item, what })
            .map_err(|_| StoreError::Corrupt {
                what,
                reason: "expected a map".into(),
            })
    }

    fn corrupt(&self, attr: &str, expected: &str) -> StoreError {
        StoreError::Corrupt {
            what: self.what,
            reason: format!("attribute {attr}: expected {expected}"),
        }
    }

    fn str(&self, attr: &str) -> Result<&'a str, StoreError> {
        self.item
            .get(attr)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            .ok_or_else(|| self.corrupt(attr, "a string"))
    }

    fn num<T: FromStr>(&self, attr: &str) -> Result<T, StoreError> {
        self.item
            .get(attr)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| self.corrupt(attr, "a number"))
    }

    fn money(&self, attr: &str) -> Result<Money, StoreError> {
        self.num::<Decimal>(attr).map(Money::normalized)
    }

    fn time(&self, attr: &str) -> Result<DateTime<Utc>, StoreError> {
        DateTime::parse_from_rfc3339(self.str(attr)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| self.corrupt(attr, "an RFC 3339 timestamp"))
    }

    fn list(&self, attr: &str) -> Result<&'a Vec<AttributeValue>, StoreError> {
        self.item
            .get(attr)
            .and_then(|v| v.as_l().ok())
            .ok_or_else(|| self.corrupt(attr, "a list"))
    }
}
