//! Every task's contract, one table-driven test over the registry (`tasks/registry.toml`, read
//! through `mercado_lake::tasks::TASKS`): for each task, its `--help` and the refusal of a missing
//! or malformed date; the one-line failure naming what to run first while its input is missing;
//! its JSON summary as the last stdout line once its inputs exist, with the task's own numbers.
//!
//! What differs between tasks is a row of [`CONTRACT`], keyed by task name. A task added to the
//! registry without a row fails here, saying to add it.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::NaiveDate;
use mercado_lake::tasks;
use mercado_testkit::cli;
use mercado_testkit::lake::{day, Env};
use mercado_testkit::services::unique_name;
use serde_json::Value;

/// The test's logical date.
const DATE: &str = "2025-03-17";

/// What the source holds for the date.
#[derive(Clone, Copy)]
enum Data {
    /// One customer (`ana@example.com`), no sale.
    Customer,
    /// One customer buying 2 × "Mug" at `price` from vendor "Porto" at 10:00 on [`DATE`]
    /// (transaction `t1`).
    Sale { price: &'static str },
}

/// What is done (in-process, through the library) before the task's run: each stage includes
/// the ones before it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Inputs {
    /// The sources only.
    Sources,
    Extracted,
    Cleaned,
    Enriched,
    /// extract → clean → enrich → gold.
    Gold,
    /// … and `load_redshift` into the test's warehouse.
    Loaded,
}

/// One task's expectations.
struct Row {
    task: &'static str,
    /// What its `--help` says besides the flags every task has.
    help: &'static [&'static str],
    /// Runs with `WAREHOUSE_URL` (a fresh warehouse database of its own).
    warehouse: bool,
    data: Data,
    /// Done before its run.
    inputs: Inputs,
    /// Its one-line failure when run on an empty lake (and an empty warehouse) names this; `None`
    /// for a task whose inputs are the sources themselves.
    missing: Option<&'static str>,
    /// Its summary's own numbers, once its inputs exist.
    summary: fn(&Value, &Case),
    /// Run again with `WAREHOUSE_URL` and `--run-id <task>-audited` (the audit schema made by
    /// loading the date): `audit.pipeline_runs` holds `ok` and this many rows.
    audited_rows: Option<i64>,
}

/// The contract's table: one row per task of the registry.
const CONTRACT: &[Row] = &[
    Row {
        task: "extract",
        help: &[],
        warehouse: false,
        data: Data::Customer,
        inputs: Inputs::Sources,
        missing: None,
        summary: |v, _| {
            assert_eq!(v["datasets"]["raw/postgres/categories"]["rows_in"], 9);
            assert_eq!(v["datasets"]["raw/postgres/customers"]["rows_in"], 1);
            assert_eq!(v["datasets"]["raw/dynamodb/transactions"]["rows_in"], 0);
        },
        audited_rows: None,
    },
    Row {
        task: "clean_dimensions",
        help: &[],
        warehouse: false,
        data: Data::Customer,
        inputs: Inputs::Extracted,
        missing: Some("run `extract --date 2025-03-17` first"),
        summary: |v, _| {
            assert_eq!(v["datasets"]["raw/postgres/customers"]["rows_out"], 1);
            assert_eq!(v["datasets"]["raw/postgres/categories"]["rows_out"], 9);
            assert!(v["datasets"].get("raw/dynamodb/transactions").is_none());
        },
        audited_rows: None,
    },
    Row {
        task: "gold_dimensions",
        help: &[],
        warehouse: false,
        data: Data::Customer,
        inputs: Inputs::Cleaned,
        missing: Some("run `clean --date 2025-03-17` first"),
        summary: |v, _| {
            assert_eq!(v["datasets"]["gold/mercado/dim_customer"]["rows_out"], 1);
            assert_eq!(v["datasets"]["gold/mercado/dim_date"]["rows_out"], 1);
            assert!(v["datasets"].get("gold/mercado/fact_sales").is_none());
        },
        audited_rows: None,
    },
    Row {
        task: "commit",
        help: &[
            "--shards <N>",
            "MERCADO_SHARDS",
            "--stage-id <ID>",
            "MERCADO_STAGE_ID",
        ],
        warehouse: false,
        data: Data::Sale { price: "3.00" },
        inputs: Inputs::Gold,
        missing: Some("run `clean --date 2025-03-17` first"),
        summary: |v, _| {
            assert_eq!(v["figures"]["shards"], "1");
            assert_eq!(
                v["datasets"]["cleaned/dynamodb/transaction_lines"]["rows_out"],
                1
            );
            assert_eq!(v["datasets"]["gold/mercado/fact_sales"]["rows_out"], 1);
        },
        audited_rows: None,
    },
    Row {
        task: "clean",
        help: &["--shard <I/N>", "MERCADO_SHARD", "--stage-id <ID>"],
        warehouse: false,
        data: Data::Customer,
        inputs: Inputs::Extracted,
        missing: Some("run `extract --date 2025-03-17` first"),
        summary: |v, _| assert_eq!(v["datasets"]["raw/postgres/customers"]["rows_out"], 1),
        audited_rows: None,
    },
    Row {
        task: "enrich",
        help: &["--shard <I/N>", "MERCADO_STAGE_ID"],
        warehouse: false,
        data: Data::Customer,
        inputs: Inputs::Cleaned,
        missing: Some("run `clean --date 2025-03-17` first"),
        summary: |v, _| assert_eq!(v["rows_out"], 0),
        audited_rows: None,
    },
    Row {
        task: "gold",
        help: &["--shard <I/N>", "MERCADO_STAGE_ID"],
        warehouse: false,
        data: Data::Customer,
        inputs: Inputs::Enriched,
        missing: Some("run `clean --date 2025-03-17` first"),
        summary: |v, _| {
            assert_eq!(v["datasets"]["gold/mercado/dim_customer"]["rows_out"], 1);
            assert_eq!(v["datasets"]["gold/mercado/dim_category"]["rows_out"], 9);
        },
        audited_rows: Some(11),
    },
    Row {
        task: "load_redshift",
        help: &[
            "--target <TARGET>",
            "redshift",
            "postgres",
            "WAREHOUSE_URL",
            "MERCADO_REDSHIFT_IAM_ROLE",
        ],
        warehouse: true,
        data: Data::Customer,
        inputs: Inputs::Gold,
        missing: Some("run `gold --date 2025-03-17` first"),
        summary: |v, _| {
            assert_eq!(v["datasets"]["core.dim_customer"]["rows_out"], 1);
            assert_eq!(v["datasets"]["core.dim_category"]["rows_out"], 9);
        },
        audited_rows: None,
    },
    Row {
        task: "reconcile",
        help: &[],
        warehouse: true,
        data: Data::Sale { price: "3.00" },
        inputs: Inputs::Loaded,
        missing: Some("run `clean --date 2025-03-17` first"),
        summary: |v, _| {
            assert_eq!(
                (
                    v["rows_in"].as_u64(),
                    v["datasets"]["warehouse"]["rows_out"].as_u64()
                ),
                (Some(1), Some(1))
            );
        },
        audited_rows: None,
    },
    Row {
        task: "marts",
        help: &[],
        warehouse: true,
        data: Data::Sale { price: "3.25" },
        inputs: Inputs::Loaded,
        missing: Some("run `load_redshift --date 2025-03-17` first"),
        summary: |v, _| {
            assert_eq!(v["figures"]["gmv"], "6.50");
            assert_eq!(v["figures"]["orders"], "1");
            assert_eq!(v["figures"]["aov"], "6.50");
            assert_eq!(v["datasets"]["marts.top_items"]["rows_out"], 1);
        },
        audited_rows: None,
    },
    Row {
        task: "report",
        help: &["--out-dir <DIR>", "MERCADO_REPORT_DIR"],
        warehouse: true,
        data: Data::Sale { price: "3.25" },
        inputs: Inputs::Loaded,
        missing: Some("load_redshift --date 2025-03-17"),
        summary: |v, case| {
            let path = v["figures"]["report_path"].as_str().expect("report_path");
            assert_eq!(
                std::path::Path::new(path),
                case.out
                    .canonicalize()
                    .expect("out dir")
                    .join("mercado-report-2025-03-17.html")
            );
            let html = std::fs::read_to_string(path).expect("the report");
            assert!(html.contains("data-chart=\"daily\"") && html.contains(">6.50</td>"));
            assert_eq!(
                v["figures"]["report_uri"],
                format!(
                    "s3://{}/reports/mercado/kpi/dt=2025-03-17/report.html",
                    case.env.bucket
                )
            );
            assert_eq!(v["datasets"]["reports/mercado/kpi"]["rows_written"], 1);
        },
        audited_rows: None,
    },
];

/// The row of a task of the registry; fails saying to add it when there is none.
fn row(task: &str) -> &'static Row {
    CONTRACT.iter().find(|r| r.task == task).unwrap_or_else(|| {
        panic!(
            "task `{task}` is in tasks/registry.toml but has no row in tasks/bin/tests/contract.rs: \
             add its row to CONTRACT (its --help, inputs, missing-input reason and summary numbers)"
        )
    })
}

#[test]
fn every_task_of_the_registry_has_a_row_and_no_other() {
    // The Iceberg commit (`program = "iceberg"`) keeps its contract in python/mercado_iceberg/tests.
    for t in tasks::binary_tasks() {
        row(t.name);
    }
    for r in CONTRACT {
        assert!(
            tasks::binary_tasks().any(|t| t.name == r.task),
            "tasks/bin/tests/contract.rs has a row for `{}`, which tasks/registry.toml does not \
             list: remove the row",
            r.task
        );
    }
}

#[test]
fn help_and_date_errors() {
    for t in tasks::binary_tasks() {
        let row = row(t.name);
        cli::help_and_date_errors(t.name);
        let help = cli::task(t.name).arg("--help").output().expect("help");
        let text = String::from_utf8_lossy(&help.stdout);
        for needle in row.help {
            assert!(
                text.contains(needle),
                "{} --help lacks {needle}:\n{text}",
                t.name
            );
        }
    }
}

/// One task's run of the contract: its own database, table, bucket and (when it uses one)
/// warehouse.
struct Case {
    env: Env,
    date: NaiveDate,
    warehouse: Option<String>,
    /// `MERCADO_REPORT_DIR`: a folder the binary creates.
    out: PathBuf,
}

impl Case {
    async fn new(row: &Row) -> Case {
        let env = Env::new().await;
        let warehouse = match row.warehouse {
            true => Some(env.warehouse().await),
            false => None,
        };
        Case {
            env,
            date: day(DATE),
            warehouse,
            out: std::env::temp_dir().join(unique_name()).join("reports"),
        }
    }

    /// The task's binary on this case's services.
    fn run(&self, task: &str) -> std::process::Output {
        let mut cmd = cli::command(task, &self.env, self.date);
        cmd.env("MERCADO_REPORT_DIR", &self.out);
        if let Some(w) = &self.warehouse {
            cmd.env("WAREHOUSE_URL", w);
        }
        cmd.output().expect("run task binary")
    }

    async fn data(&self, data: Data) {
        let user = self.env.app.customer("ana@example.com").await;
        if let Data::Sale { price } = data {
            let vendor = self.env.app.vendor("Porto").await;
            let item = self.env.app.item(vendor, "Mug", price).await;
            self.env
                .txn(
                    "t1",
                    user,
                    "2025-03-17T10:00:00Z",
                    &[(item, vendor, 2, price)],
                )
                .await;
        }
    }

    async fn inputs(&self, inputs: Inputs) {
        let (env, date) = (&self.env, self.date);
        if inputs >= Inputs::Extracted {
            tasks::extract::run(&env.extract_args(date))
                .await
                .expect("extract");
        }
        if inputs >= Inputs::Cleaned {
            tasks::clean::run(&env.whole(date)).await.expect("clean");
        }
        if inputs >= Inputs::Enriched {
            tasks::enrich::run(&env.whole(date)).await.expect("enrich");
        }
        if inputs >= Inputs::Gold {
            tasks::gold::run(&env.whole(date)).await.expect("gold");
        }
        if inputs >= Inputs::Loaded {
            let warehouse = self.warehouse.as_deref().expect("a warehouse task");
            tasks::load_redshift::run(&env.load_args(date, warehouse))
                .await
                .expect("load");
        }
    }

    /// The run is recorded in `audit.pipeline_runs` under its run id when `WAREHOUSE_URL` is set.
    async fn audited(&self, task: &str, rows: i64) {
        let warehouse = self.env.warehouse().await;
        tasks::load_redshift::run(&self.env.load_args(self.date, &warehouse))
            .await
            .expect("load creates the audit schema");
        let run_id = format!("{task}-audited");
        let out = cli::task(task)
            .args(["--date", DATE, "--run-id", &run_id])
            .env("MERCADO_LAKE_BUCKET", &self.env.bucket)
            .env("WAREHOUSE_URL", &warehouse)
            .output()
            .expect("run");
        cli::summary(&out, task, self.date);
        let (client, conn) = tokio_postgres::connect(&warehouse, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let row = client
            .query_one(
                "SELECT status, rows FROM audit.pipeline_runs WHERE task = $1 AND run_id = $2",
                &[&task, &run_id],
            )
            .await
            .expect("audit row");
        assert_eq!(
            (row.get::<_, String>(0).as_str(), row.get::<_, i64>(1)),
            ("ok", rows)
        );
    }
}

/// A task's contract on real services: the failure while its input is missing, then its summary.
async fn check(row: &Row) {
    let case = Case::new(row).await;
    if let Some(expected) = row.missing {
        let reason = cli::one_line_failure(&case.run(row.task), row.task);
        assert!(reason.contains(expected), "{reason}");
    }
    case.data(row.data).await;
    case.inputs(row.inputs).await;
    let v = cli::summary(&case.run(row.task), row.task, case.date);
    (row.summary)(&v, &case);
    if let Some(rows) = row.audited_rows {
        case.audited(row.task, rows).await;
    }
    if let Some(parent) = case.out.parent() {
        let _ = std::fs::remove_dir_all(parent);
    }
}

/// Tasks checked at once (each its own database, table and bucket).
const AT_ONCE: usize = 3;

#[test]
fn every_task_names_its_missing_input_and_prints_its_summary_last() {
    let rows: Vec<&Row> = tasks::binary_tasks().map(|t| row(t.name)).collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..AT_ONCE {
            s.spawn(|| {
                while let Some(row) = rows.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("runtime")
                            .block_on(check(row))
                    }));
                    if let Err(panic) = result {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        if let Ok(mut f) = failures.lock() {
                            f.push(format!("{}: {message}", row.task));
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    assert!(
        failures.is_empty(),
        "the contract fails for:\n{}",
        failures.join("\n")
    );
}
