//! DynamoDB as the tasks read it: the day index Query (every shard at once) and raw attribute
//! text. The key design itself is `mercado_core::keys`, shared with the API that writes it.

use std::collections::HashMap;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use mercado_core::keys::{self, DayKind};

use crate::cli::LakeArgs;
use crate::error::{LakeError, Result};

/// A DynamoDB client on the tasks' one AWS configuration ([`aws_config()`]).
pub async fn client(args: &LakeArgs) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws_config(args).await)
}

/// The AWS configuration of every task (S3 and DynamoDB): the region and endpoint override of
/// [`LakeArgs`], its timeouts and retries ([`crate::cli::Waits`]), credentials from the SDK's
/// default chain.
pub async fn aws_config(args: &LakeArgs) -> aws_config::SdkConfig {
    use std::time::Duration;
    let waits = &args.waits;
    let attempt = Duration::from_secs(waits.aws_attempt_timeout_seconds);
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(attempt.min(Duration::from_secs(10)))
        .operation_attempt_timeout(attempt)
        .operation_timeout(Duration::from_secs(waits.aws_operation_timeout_seconds))
        .build();
    let retries = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(waits.aws_max_attempts)
        .with_initial_backoff(Duration::from_millis(200));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(args.aws_region.clone()))
        .timeout_config(timeouts)
        .retry_config(retries);
    if let Some(endpoint) = &args.aws_endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

pub type Item = HashMap<String, AttributeValue>;

/// Every item of one day under the `by_day` index: one paginated Query per shard, all shards at
/// once, pages arriving on the returned channel (bounded, so a slow consumer holds the readers
/// back instead of buffering the day).
pub fn query_day(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    kind: DayKind,
    date: chrono::NaiveDate,
    page_size: Option<i32>,
) -> tokio::sync::mpsc::Receiver<Result<Vec<Item>>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<Item>>>(keys::DAY_SHARDS as usize * 2);
    for shard in 0..keys::DAY_SHARDS {
        let tx = tx.clone();
        let query = ddb
            .query()
            .table_name(table)
            .set_limit(page_size)
            .index_name(keys::BY_DAY_INDEX)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", keys::BY_DAY_PK)
            .expression_attribute_values(":p", AttributeValue::S(keys::day_pk(kind, date, shard)));
        tokio::spawn(async move {
            let mut pages = query.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page
                    .map(|p| p.items.unwrap_or_default())
                    .map_err(|e| LakeError::Dynamo(sdk_message(&e)));
                let failed = page.is_err();
                if tx.send(page).await.is_err() || failed {
                    break;
                }
            }
        });
    }
    drop(tx);
    rx
}

/// An AWS SDK error in one line: the service's code and message when it answered, else the
/// transport error (DisplayErrorContext would dump the whole raw response).
pub fn sdk_message<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(se) => format!(
            "{}: {}",
            se.code().unwrap_or("error"),
            se.message().unwrap_or_default()
        ),
        None => aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
    }
}

/// An attribute as raw text: strings as they are, numbers as DynamoDB's exact decimal text,
/// lists and maps as JSON (numbers inside as strings, so nothing passes through a float).
pub fn attribute_text(v: Option<&AttributeValue>) -> Option<String> {
    match v? {
        AttributeValue::S(s) => Some(s.clone()),
        AttributeValue::N(n) => Some(n.clone()),
        AttributeValue::Bool(b) => Some(b.to_string()),
        AttributeValue::Null(_) => None,
        other => Some(attribute_json(other).to_string()),
    }
}

fn attribute_json(v: &AttributeValue) -> serde_json::Value {
    use serde_json::Value;
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => Value::String(s.clone()),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(l) => Value::Array(l.iter().map(attribute_json).collect()),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), attribute_json(v)))
                .collect(),
        ),
        _ => Value::Null,
    }
}
