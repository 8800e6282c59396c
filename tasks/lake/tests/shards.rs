//! A day split into shards on real PostgreSQL and S3/DynamoDB (moto): `clean_dimensions`,
//! `gold_dimensions`, then `clean`, `enrich`, `gold` once per shard and `commit` give the same
//! lake, row for row and count for count, as the unsharded tasks; until `commit` a reader of the
//! published partitions sees the earlier run's; `commit` with a shard missing publishes nothing and
//! names the shard.

use mercado_lake::contracts as c;
use mercado_lake::manifest::Manifest;
use mercado_lake::shard::Shard;
use mercado_lake::tasks::{clean, clean_dimensions, commit, enrich, gold, gold_dimensions};
use mercado_testkit::lake::{day, Env};

const D: &str = "2025-03-17";
const SHARDS: u32 = 3;
/// An Airflow run id, as the DAG passes it.
const STAGE: &str = "manual__2025-03-18T01:02:03+00:00";

/// Every dataset the tasks write for the date, by whom.
const OUTPUTS: [c::Contract; 12] = [
    c::CLEAN_CATEGORIES,
    c::CLEAN_VENDORS,
    c::CLEAN_CUSTOMERS,
    c::CLEAN_INVENTORY,
    c::CLEAN_CART_LINES,
    c::CLEAN_TRANSACTION_LINES,
    c::quarantine_of(c::RAW_TRANSACTIONS.id),
    c::WORK_SALES_LINES,
    c::GOLD_FACT_SALES,
    c::GOLD_DIM_CUSTOMER,
    c::GOLD_DIM_INVENTORY,
    c::GOLD_FACT_CART_SNAPSHOT,
];

/// Two customers, a vendor, three items; 40 transactions of one to three lines, an item claiming
/// to be one of them (a duplicate: its key is its own, its transaction id `t07`'s) and one for an
/// unknown item (quarantined).
async fn day_of_sales(env: &Env) {
    let app = &env.app;
    let customers = [
        app.customer("ana@example.com").await,
        app.customer("rui@example.com").await,
    ];
    let vendor = app.vendor("Porto").await;
    let items = [
        (app.item(vendor, "Mug", "12.50").await, "12.50"),
        (app.item(vendor, "Book", "8.00").await, "8.00"),
        (app.item(vendor, "Lamp", "30.00").await, "30.00"),
    ];
    for n in 0..40i64 {
        let lines: Vec<(i64, i64, i64, &str)> = (0..1 + n % 3)
            .map(|k| {
                let (item, price) = items[((n + k) % 3) as usize];
                (item, vendor, 1 + k, price)
            })
            .collect();
        let at = format!("{D}T{:02}:{:02}:00Z", n % 24, n % 60);
        env.txn(
            &format!("t{n:02}"),
            customers[(n % 2) as usize],
            &at,
            &lines,
        )
        .await;
    }
    let copied = env
        .txn(
            "t-copy",
            customers[0],
            &format!("{D}T09:00:00Z"),
            &[(items[0].0, vendor, 1, "12.50")],
        )
        .await;
    let mut copy = mercado_api::store::dynamo::transaction_item(&copied);
    copy.insert(
        "transaction_id".into(),
        aws_sdk_dynamodb::types::AttributeValue::S("t07".into()),
    );
    env.put_raw(copy).await;
    env.txn(
        "t-unknown",
        customers[1],
        &format!("{D}T12:00:00Z"),
        &[(999, vendor, 1, "5.00")],
    )
    .await;
}

async fn published(env: &Env, contract: c::Contract) -> Manifest {
    env.lake()
        .await
        .manifest(&contract.id.at(day(D)))
        .await
        .expect("read manifest")
        .unwrap_or_else(|| panic!("{} is published", contract.id))
}

#[tokio::test]
async fn a_split_day_equals_the_whole_and_shows_only_when_committed() {
    let env = Env::new().await;
    day_of_sales(&env).await;
    let date = day(D);

    // The unsharded reference: each task on the whole date.
    env.pipeline(date).await;
    let mut whole = Vec::new();
    for contract in OUTPUTS {
        whole.push(env.rows(contract, date).await);
    }
    assert_eq!(whole[5].len(), 79, "40 transactions of 1-3 lines");
    assert_eq!(
        whole[6].len(),
        2,
        "the copy and the unknown item quarantined"
    );
    let before: Vec<Manifest> = {
        let mut m = Vec::new();
        for contract in c::SHARDED {
            m.push(published(&env, contract).await);
        }
        m
    };

    // The split run: dimensions once, then every stage shard by shard.
    clean_dimensions::run(&env.args(date))
        .await
        .expect("clean_dimensions");
    gold_dimensions::run(&env.args(date))
        .await
        .expect("gold_dimensions");
    let shards = (0..SHARDS).map(|index| Shard {
        index,
        count: SHARDS,
    });
    let mut lines_per_shard = Vec::new();
    for shard in shards.clone() {
        let s = clean::run(&env.shard(date, shard, STAGE))
            .await
            .expect("clean shard");
        assert_eq!(s.figures["shard"], shard.to_string());
        lines_per_shard.push(s.datasets["raw/dynamodb/transactions"].rows_out);
    }
    assert!(
        lines_per_shard.iter().all(|n| *n > 0),
        "every shard has transactions: {lines_per_shard:?}"
    );
    for shard in shards.clone() {
        enrich::run(&env.shard(date, shard, STAGE))
            .await
            .expect("enrich shard");
    }
    // The last shard of gold not yet run: commit refuses and publishes nothing.
    for shard in shards.clone().take(SHARDS as usize - 1) {
        gold::run(&env.shard(date, shard, STAGE))
            .await
            .expect("gold shard");
    }
    let mut commit_args = commit::Args {
        lake: env.args(date),
        shards: SHARDS,
        stage_id: Some(STAGE.into()),
    };
    let err = commit::run(&commit_args)
        .await
        .expect_err("a shard is missing");
    let text = err.to_string();
    assert!(
        text.contains("shard(s) [2] of 3 of gold/mercado/fact_sales")
            && text.contains("gold --date 2025-03-17 --shard I/3"),
        "{text}"
    );
    for (contract, earlier) in c::SHARDED.into_iter().zip(&before) {
        assert_eq!(
            &published(&env, contract).await,
            earlier,
            "{} still the unsharded run's until commit",
            contract.id
        );
    }

    // A shard's input comes from its own stage: a shard of another run finds none.
    let err = enrich::run(&env.shard(
        date,
        Shard {
            index: 0,
            count: SHARDS,
        },
        "another-run",
    ))
    .await
    .expect_err("nothing staged for that run");
    assert!(
        err.to_string().contains(
            "is not staged; run `clean --date 2025-03-17 --shard 0/3 --stage-id another-run` first"
        ),
        "{err}"
    );

    gold::run(&env.shard(
        date,
        Shard {
            index: SHARDS - 1,
            count: SHARDS,
        },
        STAGE,
    ))
    .await
    .expect("last gold shard");
    commit_args.lake.run_id = None;
    let summary = commit::run(&commit_args).await.expect("commit");
    assert_eq!(
        summary.datasets["gold/mercado/fact_sales"].rows_written,
        whole[8].len() as u64
    );

    for (contract, want) in OUTPUTS.into_iter().zip(&whole) {
        assert_eq!(
            &env.rows(contract, date).await,
            want,
            "{} row for row",
            contract.id
        );
    }
    for (contract, earlier) in c::SHARDED.into_iter().zip(&before) {
        let now = published(&env, contract).await;
        assert_eq!(
            now.run_id, "manual__2025-03-18T01_02_03_00_00",
            "{}",
            contract.id
        );
        assert_eq!(
            (now.rows, &now.counts),
            (earlier.rows, &earlier.counts),
            "{} counts",
            contract.id
        );
        // The quarantine's two rows are in at most two shards.
        if contract.id.zone != mercado_lake::Zone::Quarantine {
            assert!(
                now.files.len() >= SHARDS as usize,
                "{}: a file per shard",
                contract.id
            );
        }
    }
}
