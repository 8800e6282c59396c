//! The lake's fixtures: the API's harness (own database and DynamoDB table, API over HTTP) plus
//! an own bucket, and helpers to run the tasks and read partitions back.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use mercado_api::model::{FlexId, Money, Transaction, TransactionLine};
use mercado_lake::cli::LakeArgs;
use mercado_lake::contracts::Contract;
use mercado_lake::iceberg::{CatalogKind, IcebergArgs};
use mercado_lake::parquet_io::PartitionReader;
use mercado_lake::rows::{batch_rows, Val};
use mercado_lake::shard::{Shard, ShardedArgs};
use mercado_lake::tasks::{clean, enrich, extract, gold, load_redshift, reconcile};
use mercado_lake::warehouse::{Target, WarehouseArgs};
use mercado_lake::{Lake, Summary};
use rust_decimal::Decimal;

use crate::api;
pub use crate::api::TestApp;
pub use crate::cli::{bin, task};

pub struct Env {
    pub app: TestApp,
    pub bucket: String,
}

pub fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("timestamp")
        .with_timezone(&Utc)
}

pub fn money(s: &str) -> Money {
    Money::normalized(Decimal::from_str(s).expect("decimal"))
}

impl Env {
    pub async fn new() -> Env {
        let app = TestApp::spawn().await;
        // Bucket names: lowercase letters, digits and hyphens.
        let bucket = app.name.replace('_', "-");
        Env { app, bucket }
    }

    pub fn args(&self, date: NaiveDate) -> LakeArgs {
        LakeArgs {
            date,
            bucket: self.bucket.clone(),
            create_bucket: true,
            aws_endpoint_url: std::env::var("AWS_ENDPOINT_URL").ok(),
            aws_region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            run_id: None,
            orphan_grace_seconds: 6 * 3600,
            memory_limit: None,
            waits: Default::default(),
        }
    }

    /// A sharded task's flags for the whole date (no `--shard`).
    pub fn whole(&self, date: NaiveDate) -> ShardedArgs {
        ShardedArgs::whole(self.args(date))
    }

    /// A sharded task's flags for shard `shard` of the run `stage`.
    pub fn shard(&self, date: NaiveDate, shard: Shard, stage: &str) -> ShardedArgs {
        ShardedArgs::of(self.args(date), shard, stage)
    }

    pub fn extract_args(&self, date: NaiveDate) -> extract::ExtractArgs {
        extract::ExtractArgs {
            lake: self.args(date),
            database_url: self.app.database_url.clone(),
            table: self.app.name.clone(),
            ddb_page_size: None,
            pg_readers: 2,
            refresh: false,
            late_after_minutes: 360,
        }
    }

    /// A fresh warehouse database for this test.
    pub async fn warehouse(&self) -> String {
        self.named_warehouse("wh").await
    }

    /// Another warehouse database of this test, `<test>_<suffix>`.
    pub async fn named_warehouse(&self, suffix: &str) -> String {
        api::create_database(&format!("{}_{suffix}", self.app.name)).await
    }

    pub fn load_args(&self, date: NaiveDate, warehouse_url: &str) -> load_redshift::LoadArgs {
        load_redshift::LoadArgs {
            lake: self.args(date),
            warehouse: WarehouseArgs {
                target: Target::Postgres,
                warehouse_url: Some(warehouse_url.to_string()),
            },
            iam_role: None,
            apply_ddl: true,
            print_sql: false,
        }
    }

    /// `reconcile`'s flags for `date`: this test's table against the warehouse at `warehouse_url`.
    pub fn reconcile_args(&self, date: NaiveDate, warehouse_url: &str) -> reconcile::ReconcileArgs {
        reconcile::ReconcileArgs {
            lake: self.args(date),
            warehouse: WarehouseArgs {
                target: Target::Postgres,
                warehouse_url: Some(warehouse_url.to_string()),
            },
            // The Rust tests commit no Iceberg tables (python/mercado_iceberg/tests and the DAG's
            // tests read them through reconcile).
            iceberg: IcebergArgs {
                catalog: CatalogKind::None,
                catalog_url: None,
            },
            table: self.app.name.clone(),
        }
    }

    pub async fn lake(&self) -> Lake {
        Lake::connect(&self.args(day("2000-01-01")))
            .await
            .expect("lake")
    }

    /// extract → clean → enrich → gold for one date (a closed date's kept snapshot reused).
    pub async fn pipeline(&self, date: NaiveDate) -> Vec<Summary> {
        self.pipeline_from(self.extract_args(date)).await
    }

    /// The same, the sources read again (`extract --refresh`): a correction of a closed date.
    pub async fn pipeline_refreshed(&self, date: NaiveDate) -> Vec<Summary> {
        let mut args = self.extract_args(date);
        args.refresh = true;
        self.pipeline_from(args).await
    }

    async fn pipeline_from(&self, extract_args: extract::ExtractArgs) -> Vec<Summary> {
        let date = extract_args.lake.date;
        vec![
            extract::run(&extract_args).await.expect("extract"),
            clean::run(&self.whole(date)).await.expect("clean"),
            enrich::run(&self.whole(date)).await.expect("enrich"),
            gold::run(&self.whole(date)).await.expect("gold"),
        ]
    }

    /// Every row of a published partition, sorted (run order is not part of the contract).
    pub async fn rows(&self, contract: Contract, date: NaiveDate) -> Vec<Vec<Val>> {
        let lake = self.lake().await;
        let mut rows = Vec::new();
        let batches = PartitionReader::open(&lake, contract, date)
            .await
            .expect("partition published")
            .read_all()
            .await
            .expect("readable");
        for b in batches {
            rows.extend(batch_rows(&b).expect("rows"));
        }
        rows.sort_by_key(|r| format!("{r:?}"));
        rows
    }

    /// Writes a transaction through the API's store, with an explicit timestamp.
    pub async fn txn(
        &self,
        id: &str,
        user: i64,
        created_at: &str,
        lines: &[(i64, i64, i64, &str)],
    ) -> Transaction {
        let lines: Vec<TransactionLine> = lines
            .iter()
            .enumerate()
            .map(|(i, (item, vendor, qty, price))| TransactionLine {
                line_no: i as i64 + 1,
                item_id: FlexId(*item),
                vendor_id: FlexId(*vendor),
                qty: *qty,
                unit_price: money(price),
                total_price: Money::normalized(money(price).0 * Decimal::from(*qty)),
            })
            .collect();
        let txn = Transaction {
            transaction_id: id.to_string(),
            user_id: FlexId(user),
            total_price: Money::normalized(lines.iter().map(|l| l.total_price.0).sum()),
            lines,
            installments: 1,
            created_at: at(created_at),
        };
        self.app
            .state
            .ddb
            .put_transaction(&txn)
            .await
            .expect("put transaction");
        txn
    }

    /// Writes a DynamoDB item as it is (copies and damaged records the API would never write).
    pub async fn put_raw(
        &self,
        item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    ) {
        self.app
            .state
            .ddb
            .client()
            .put_item()
            .table_name(&self.app.name)
            .set_item(Some(item))
            .send()
            .await
            .expect("put item");
    }

    /// Runs SQL on the test database (for rows the API would refuse).
    pub async fn sql(&self, sql: &str) {
        let (client, conn) = tokio_postgres::connect(&self.app.database_url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client.batch_execute(sql).await.expect("sql");
    }
}

pub fn s(v: &str) -> Val {
    Val::Str(v.to_string())
}

pub fn cents(v: i128) -> Val {
    Val::Money(v)
}
