//! Each task binary killed with SIGKILL at several points of its run, then run again: the lake
//! and the warehouse end up equal to an uninterrupted run's, no reader ever sees a half-written
//! partition, and no file of a killed run is left behind once the re-run publishes.
//!
//! Two buckets and two warehouses over the same sources: A runs every task once; B runs each
//! task killed at 15%, 45% and 80% of the time it took in A, checks the lake's published state
//! after every kill, then runs it to the end.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mercado_lake::cli::LakeArgs;
use mercado_lake::contracts::{self as c, Contract};
use mercado_lake::manifest::Manifest;
use mercado_lake::parquet_io::PartitionReader;
use mercado_lake::rows::{batch_rows, Val};
use mercado_lake::Lake;
use mercado_testkit::lake::*;
use serde_json::json;

const KILL_AT: &[f64] = &[0.15, 0.45, 0.8];
const DATE: &str = "2025-06-02";

struct Run<'a> {
    env: &'a Env,
    bucket: String,
    warehouse: String,
}

impl Run<'_> {
    fn command(&self, task: &str) -> Command {
        let mut cmd = mercado_testkit::cli::task(task);
        cmd.env("MERCADO_DATE", DATE)
            .env("MERCADO_LAKE_BUCKET", &self.bucket)
            .env("DATABASE_URL", &self.env.app.database_url)
            .env("MERCADO_DDB_TABLE", &self.env.app.name)
            .env("WAREHOUSE_URL", &self.warehouse)
            .env("MERCADO_WAREHOUSE_TARGET", "postgres")
            // A re-run removes what a killed run left at once (nothing else writes these buckets).
            .env("MERCADO_ORPHAN_GRACE_SECONDS", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs a task to the end; returns how long it took.
    fn complete(&self, task: &str) -> Duration {
        let started = Instant::now();
        let out = self.command(task).output().expect("task runs");
        assert!(
            out.status.success(),
            "{task} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    }

    /// Starts a task and SIGKILLs it after `after`; false when it had already finished.
    fn killed(&self, task: &str, after: Duration) -> bool {
        let mut child = self.command(task).spawn().expect("task starts");
        std::thread::sleep(after);
        let running = matches!(child.try_wait(), Ok(None));
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        running
    }

    fn args(&self) -> LakeArgs {
        let mut a = self.env.args(day(DATE));
        a.bucket = self.bucket.clone();
        a
    }

    async fn lake(&self) -> Lake {
        Lake::connect(&self.args()).await.expect("lake")
    }

    /// Every published manifest's files exist with the size it lists: readers never see a
    /// partial partition. Returns the keys that are neither listed nor a manifest.
    async fn check_published(&self) -> BTreeSet<String> {
        let lake = self.lake().await;
        lake.ensure_bucket().await.expect("bucket");
        let objects = lake.list_keys("").await.expect("list");
        let all: BTreeSet<String> = objects.iter().cloned().collect();
        let mut listed = BTreeSet::new();
        for key in objects.iter().filter(|k| k.ends_with("_manifest.json")) {
            let bytes = lake
                .get_bytes(key)
                .await
                .expect("get")
                .expect("manifest exists");
            let m: Manifest = serde_json::from_slice(&bytes).expect("a whole manifest");
            assert_eq!(m.rows, m.files.iter().map(|f| f.rows).sum::<u64>(), "{key}");
            for f in &m.files {
                assert!(
                    all.contains(&f.key),
                    "{key} lists {} which does not exist",
                    f.key
                );
                listed.insert(f.key.clone());
            }
            listed.insert(key.clone());
        }
        // `reports/`: the report task's HTML, one object written by one PUT and replaced whole on
        // a re-run (no manifest; a reader never sees part of it).
        all.into_iter()
            .filter(|k| {
                !listed.contains(k)
                    && !k.ends_with("_redshift.manifest")
                    && !k.starts_with("reports/")
            })
            .collect()
    }

    async fn rows(&self, contract: Contract) -> Option<Vec<Vec<Val>>> {
        let lake = self.lake().await;
        let reader = PartitionReader::open(&lake, contract, day(DATE))
            .await
            .ok()?;
        let mut rows = Vec::new();
        for b in reader.read_all().await.expect("readable") {
            rows.extend(batch_rows(&b).expect("rows"));
        }
        rows.sort_by_key(|r| format!("{r:?}"));
        Some(rows)
    }

    /// The warehouse's core tables, row by row, and its leftover staging tables.
    async fn warehouse_state(&self) -> Vec<String> {
        let (client, conn) = tokio_postgres::connect(&self.warehouse, tokio_postgres::NoTls)
            .await
            .expect("warehouse");
        tokio::spawn(conn);
        let mut out = Vec::new();
        for table in [
            "dim_date",
            "dim_category",
            "dim_vendor",
            "dim_customer",
            "dim_inventory",
            "fact_sales",
            "fact_cart_snapshot",
        ] {
            for row in client
                .query(
                    &format!("SELECT t::text FROM core.{table} t ORDER BY 1"),
                    &[],
                )
                .await
                .expect("core table")
            {
                out.push(format!("{table} {}", row.get::<_, String>(0)));
            }
        }
        for row in client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'staging'",
                &[],
            )
            .await
            .expect("staging")
        {
            out.push(format!("staging table left: {}", row.get::<_, String>(0)));
        }
        out
    }
}

fn datasets() -> Vec<Contract> {
    let raw = [
        c::RAW_CUSTOMERS,
        c::RAW_VENDORS,
        c::RAW_CATEGORIES,
        c::RAW_INVENTORY,
        c::RAW_TRANSACTIONS,
        c::RAW_CARTS,
    ];
    let mut all: Vec<Contract> = raw.to_vec();
    all.extend(raw.iter().map(|r| c::quarantine_of(r.id)));
    all.extend([
        c::CLEAN_CUSTOMERS,
        c::CLEAN_VENDORS,
        c::CLEAN_CATEGORIES,
        c::CLEAN_INVENTORY,
        c::CLEAN_TRANSACTION_LINES,
        c::CLEAN_CART_LINES,
        c::WORK_SALES_LINES,
        c::GOLD_FACT_SALES,
        c::GOLD_DIM_CUSTOMER,
        c::GOLD_DIM_INVENTORY,
        c::GOLD_DIM_VENDOR,
        c::GOLD_DIM_CATEGORY,
        c::GOLD_DIM_DATE,
        c::GOLD_FACT_CART_SNAPSHOT,
    ]);
    all
}

/// A day of sources big enough for the tasks to take a while in a debug build: 300 transactions
/// (a few of them of unknown customers), open carts, a small catalogue.
async fn sources(env: &Env) {
    let mut items = Vec::new();
    let mut customers = Vec::new();
    for v in 0..3 {
        let vendor = env.app.vendor(&format!("Loja {v}")).await;
        for i in 0..8 {
            let id = env
                .app
                .item(
                    vendor,
                    &format!("Item {v}-{i}"),
                    &format!("{}.{}9", 2 + i, v),
                )
                .await;
            items.push((id, vendor, format!("{}.{}9", 2 + i, v)));
        }
    }
    for n in 0..12 {
        customers.push(env.app.customer(&format!("kill{n}@example.com")).await);
    }
    let writes = (0..300).map(|n| {
        let (item, vendor, price) = &items[n % items.len()];
        let other = &items[(n * 7 + 3) % items.len()];
        let user = if n % 97 == 5 {
            999_999
        } else {
            customers[n % customers.len()]
        };
        let id = format!("kill-{n:04}");
        let at = format!("{DATE}T{:02}:{:02}:{:02}Z", n % 24, n % 60, (n * 7) % 60);
        async move {
            env.txn(
                &id,
                user,
                &at,
                &[
                    (*item, *vendor, 1 + (n % 3) as i64, price),
                    (other.0, other.1, 1, &other.2),
                ],
            )
            .await;
        }
    });
    futures::future::join_all(writes).await;
    for (n, user) in customers.iter().enumerate().take(5) {
        let (item, _, _) = &items[n];
        let r = env
            .app
            .post(
                "/cart",
                json!({"user_id": user, "cart": [{"item_id": item, "qty": 2}]}),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_killed_at_any_point_then_rerun_equal_an_uninterrupted_run() {
    let env = Env::new().await;
    sources(&env).await;
    // Cart snapshots are as of the run; the carts above were written today, their date is D
    // only through the sources' own timestamps, so both runs read the very same state.
    let a = Run {
        env: &env,
        bucket: format!("{}-a", env.bucket),
        warehouse: env.named_warehouse("a").await,
    };
    let b = Run {
        env: &env,
        bucket: format!("{}-b", env.bucket),
        warehouse: env.named_warehouse("b").await,
    };

    // Every task of the binary, in order (the Iceberg commit's kill test is in
    // python/mercado_iceberg/tests).
    let tasks: Vec<&str> = mercado_lake::tasks::binary_tasks()
        .map(|t| t.name)
        .collect();
    let mut took = Vec::new();
    for task in &tasks {
        took.push(a.complete(task));
    }
    eprintln!(
        "uninterrupted run: {:?}",
        tasks.iter().zip(&took).collect::<Vec<_>>()
    );

    for (task, full) in tasks.iter().zip(&took) {
        let mut interrupted = 0;
        for fraction in KILL_AT {
            interrupted += usize::from(b.killed(task, full.mul_f64(*fraction)));
            // Whatever the kill interrupted, the published state is whole.
            b.check_published().await;
        }
        // Timing on a busy machine varies; at least one kill must land while the task runs.
        assert!(interrupted >= 1, "{task}: no kill landed while it ran");
        b.complete(task);
        let left = b.check_published().await;
        assert!(
            left.is_empty(),
            "after re-running {task}, files of killed runs remain: {left:?}"
        );
    }

    for contract in datasets() {
        assert_eq!(
            a.rows(contract).await,
            b.rows(contract).await,
            "{} differs between the uninterrupted and the killed-and-rerun run",
            contract.id
        );
    }
    let (wa, wb) = (a.warehouse_state().await, b.warehouse_state().await);
    assert!(
        wa.iter().any(|r| r.starts_with("fact_sales")),
        "the warehouse was loaded"
    );
    assert_eq!(wa, wb, "the warehouses differ");
    if tasks.contains(&"report") {
        let key = mercado_lake::tasks::report::lake_key(day(DATE));
        let (ra, rb) = (
            a.lake().await.get_bytes(&key).await.expect("get"),
            b.lake().await.get_bytes(&key).await.expect("get"),
        );
        assert!(ra.is_some(), "{key} was published");
        assert!(ra == rb, "the reports differ");
    }
}
