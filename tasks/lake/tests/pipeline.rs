//! extract → clean → enrich → gold on real PostgreSQL, DynamoDB (moto) and S3 (moto): exact
//! outputs, quarantine with reasons, reconciled counts, idempotent re-runs, and a run killed
//! before publishing.

use mercado_api::model::{Cart, CartLine, FlexId};
use mercado_lake::contracts as c;
use mercado_lake::parquet_io::PartitionWriter;
use mercado_lake::rows::{BatchBuilder, Cell, Val};
use mercado_testkit::api::FIXTURES_SINCE;
use mercado_testkit::lake::{at, cents, day, money, s, Env};
use serde_json::json;

const D: &str = "2025-03-17";

fn micros(ts: &str) -> Val {
    Val::Ts(at(ts).timestamp_micros())
}

/// Two customers, two vendors, three items through the API; one customer with a bad email
/// through SQL (the API would refuse it).
async fn catalogue(env: &Env) {
    let app = &env.app;
    assert_eq!(app.customer("ana@example.com").await, 1);
    assert_eq!(app.customer("rui@example.com").await, 2);
    env.sql("INSERT INTO customers (first_name, last_name, email, joined_at) VALUES ('Bad', 'Email', 'not-an-email', '2020-01-01Z')").await;
    env.sql("INSERT INTO customers (first_name, last_name, email, joined_at) VALUES ('  Rita ', ' Lopes', 'rita@example.com', '2020-01-01Z')").await;
    assert_eq!(app.vendor("Porto").await, 1);
    assert_eq!(app.vendor("Lisboa").await, 2);
    for (vendor, name, category, price) in [
        (1, "Mug", 3, "12.50"),
        (2, "Book", 5, "8.00"),
        (1, "Lamp", 2, "30.00"),
    ] {
        let r = app
            .post(
                &format!("/inventory?vendor_id={vendor}"),
                json!({"item_name": name, "category": category, "price": price, "created_at": FIXTURES_SINCE}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

#[tokio::test]
async fn a_day_through_every_zone() {
    let env = Env::new().await;
    catalogue(&env).await;
    env.txn(
        "t1",
        1,
        "2025-03-17T10:00:00Z",
        &[(1, 1, 2, "12.50"), (2, 2, 1, "8.00")],
    )
    .await;
    env.txn("t2", 2, "2025-03-17T15:30:00Z", &[(3, 1, 1, "30.00")])
        .await;
    env.txn("t3", 1, "2025-03-17T23:59:59Z", &[(2, 2, 3, "8.00")])
        .await;
    // Bad records, one per kind.
    env.txn("t-neg", 2, "2025-03-17T11:00:00Z", &[(1, 1, -2, "12.50")])
        .await;
    env.txn(
        "t-unknown",
        1,
        "2025-03-17T12:00:00Z",
        &[(999, 1, 1, "5.00")],
    )
    .await;
    env.txn("t-ghost", 3, "2025-03-17T13:00:00Z", &[(1, 1, 1, "12.50")])
        .await;
    let replay = env
        .txn(
            "t-replayed",
            1,
            "2025-03-17T10:00:00Z",
            &[(1, 1, 2, "12.50"), (2, 2, 1, "8.00")],
        )
        .await;
    let mut dup = mercado_api::store::dynamo::transaction_item(&replay);
    dup.insert(
        "transaction_id".into(),
        aws_sdk_dynamodb::types::AttributeValue::S("t1".into()),
    );
    env.put_raw(dup).await;
    // Another day: the day index keeps it out of D.
    env.txn(
        "t-next-day",
        1,
        "2025-03-18T00:00:01Z",
        &[(1, 1, 1, "12.50")],
    )
    .await;
    // An open cart touched on D.
    let cart = Cart {
        user_id: FlexId(2),
        cart: vec![CartLine {
            item_id: FlexId(2),
            vendor_id: FlexId(2),
            qty: 4,
            unit_price: money("8.00"),
            total_price: money("32.00"),
        }],
        updated_at: at("2025-03-17T20:00:00Z"),
    };
    env.app.state.ddb.put_cart(&cart, "v1").await.expect("cart");

    let summaries = env.pipeline(day(D)).await;
    let [extract, clean, enrich, gold] = &summaries[..] else {
        panic!("four summaries")
    };
    assert_eq!(extract.datasets["raw/dynamodb/transactions"].rows_in, 7);
    assert_eq!(extract.datasets["raw/postgres/customers"].rows_in, 4);
    assert_eq!(extract.datasets["raw/dynamodb/carts"].rows_in, 1);

    // Clean: counts reconcile, and every refused row is in quarantine with its reason.
    let t = &clean.datasets["raw/dynamodb/transactions"];
    assert_eq!(
        (
            t.rows_in,
            t.rows_out,
            t.quarantined,
            t.duplicates,
            t.rows_written
        ),
        (7, 3, 3, 1, 4)
    );
    let cu = &clean.datasets["raw/postgres/customers"];
    assert_eq!((cu.rows_in, cu.rows_out, cu.quarantined), (4, 3, 1));
    // Standardized: names trimmed (emails are already lowercase in PostgreSQL by constraint).
    let cleaned: Vec<(Val, Val, Val, Val)> = env
        .rows(c::CLEAN_CUSTOMERS, day(D))
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()))
        .collect();
    assert_eq!(
        cleaned,
        vec![
            (Val::I64(1), s("Ana"), s("Silva"), s("ana@example.com")),
            (Val::I64(2), s("Ana"), s("Silva"), s("rui@example.com")),
            (Val::I64(4), s("Rita"), s("Lopes"), s("rita@example.com")),
        ]
    );
    for counts in clean.datasets.values() {
        assert_eq!(
            counts.rows_in,
            counts.rows_out + counts.quarantined + counts.duplicates
        );
    }
    let q = env
        .rows(c::quarantine_of(c::RAW_TRANSACTIONS.id), day(D))
        .await;
    let mut reasons: Vec<(String, String)> = q
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or("").to_string(),
                r[1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("t-ghost".into(), "unknown_customer".into()),
            ("t-neg".into(), "bad_qty".into()),
            ("t-unknown".into(), "unknown_item".into()),
            ("t1".into(), "duplicate".into()),
        ]
    );
    let record: serde_json::Value =
        serde_json::from_str(q[1][3].as_str().expect("record")).expect("json");
    assert_eq!(
        record["transaction_id"], "t-neg",
        "the quarantined record keeps the raw row"
    );
    let qc = env
        .rows(c::quarantine_of(c::RAW_CUSTOMERS.id), day(D))
        .await;
    assert_eq!((qc.len(), qc[0][1].as_str()), (1, Some("bad_email")));

    // Enrich: joins and flags.
    assert_eq!(enrich.rows_out, 4);
    let work = env.rows(c::WORK_SALES_LINES, day(D)).await;
    let t2 = work.iter().find(|r| r[0] == s("t2")).expect("t2");
    assert_eq!(
        (&t2[11], &t2[13], &t2[15], &t2[16]),
        (&Val::I32(20250317), &s("Lamp"), &s("Porto"), &s("PT"))
    );
    assert_eq!(
        (&t2[17], &t2[19]),
        (&s("rui@example.com"), &Val::Bool(false))
    );

    // Gold: exact fact rows; the day's totals equal what checkout recorded for the good orders.
    assert_eq!(gold.datasets["gold/mercado/fact_sales"].rows_out, 4);
    let fact = env.rows(c::GOLD_FACT_SALES, day(D)).await;
    let row = |id: &str,
               line: i32,
               item: i64,
               customer: i64,
               vendor: i64,
               category: i32,
               unit: i128,
               qty: i64,
               ts: &str| {
        vec![
            s(id),
            Val::I32(line),
            Val::I64(item),
            Val::I64(customer),
            Val::I64(vendor),
            Val::I32(category),
            Val::I32(20250317),
            cents(unit),
            Val::I64(qty),
            cents(unit * i128::from(qty)),
            Val::I32(1),
            micros(ts),
        ]
    };
    let mut expected = vec![
        row("t1", 1, 1, 1, 1, 3, 1250, 2, "2025-03-17T10:00:00Z"),
        row("t1", 2, 2, 1, 2, 5, 800, 1, "2025-03-17T10:00:00Z"),
        row("t2", 1, 3, 2, 1, 2, 3000, 1, "2025-03-17T15:30:00Z"),
        row("t3", 1, 2, 1, 2, 5, 800, 3, "2025-03-17T23:59:59Z"),
    ];
    expected.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(fact, expected);
    let snapshot = env.rows(c::GOLD_FACT_CART_SNAPSHOT, day(D)).await;
    assert_eq!(
        snapshot,
        vec![vec![
            Val::I32(20250317),
            Val::I64(2),
            Val::I64(2),
            Val::I64(2),
            Val::I64(4),
            cents(800),
            cents(3200),
            micros("2025-03-17T20:00:00Z")
        ]]
    );
    let dim_date = env.rows(c::GOLD_DIM_DATE, day(D)).await;
    assert_eq!(
        dim_date[0][0..8].to_vec(),
        vec![
            Val::I32(20250317),
            Val::Date(20164),
            Val::I32(2025),
            Val::I32(1),
            Val::I32(3),
            Val::I32(17),
            Val::I32(1),
            Val::Bool(false)
        ]
    );

    // Re-running the date: same counts, same data, earlier runs' files gone.
    let lake = env.lake().await;
    let before = lake
        .manifest(&c::GOLD_FACT_SALES.id.at(day(D)))
        .await
        .expect("read")
        .expect("manifest");
    let again = env.pipeline(day(D)).await;
    for (a, b) in summaries.iter().zip(&again) {
        assert_eq!(
            a.datasets,
            b.datasets
                .iter()
                .map(|(k, v)| (
                    k.clone(),
                    mercado_lake::summary::DatasetCounts {
                        bytes: a.datasets[k].bytes,
                        seconds: a.datasets[k].seconds,
                        ..v.clone()
                    }
                ))
                .collect()
        );
    }
    assert_eq!(env.rows(c::GOLD_FACT_SALES, day(D)).await, fact);
    let after = lake
        .manifest(&c::GOLD_FACT_SALES.id.at(day(D)))
        .await
        .expect("read")
        .expect("manifest");
    assert_ne!(before.run_id, after.run_id);
    assert_eq!(before.rows, after.rows);
    let keys = lake
        .list_keys(&c::GOLD_FACT_SALES.id.at(day(D)).prefix())
        .await
        .expect("list");
    assert_eq!(
        keys.len(),
        after.files.len() + 1,
        "only the manifest and its files remain: {keys:?}"
    );

    // A run killed after uploading files but before publishing leaves the partition as it was.
    let mut dying = PartitionWriter::new(&lake, "gold", c::GOLD_FACT_SALES, day(D), "killed-run")
        .expect("writer")
        .with_max_file_bytes(1);
    let mut rows = BatchBuilder::new(c::GOLD_FACT_SALES.schema()).expect("builder");
    let bogus: Vec<Val> = row("t-bogus", 1, 1, 1, 1, 3, 1, 1, "2025-03-17T10:00:00Z");
    let cells: Vec<Cell<'_>> = bogus.iter().map(Val::cell).collect();
    rows.push(&cells).expect("push");
    dying
        .write(&rows.finish().expect("batch").expect("rows"))
        .await
        .expect("upload");
    drop(dying);
    // The writer's thread uploads the rolled file in the background: wait for it (bounded).
    let mut keys = Vec::new();
    for _ in 0..100 {
        keys = lake
            .list_keys(&c::GOLD_FACT_SALES.id.at(day(D)).prefix())
            .await
            .expect("list");
        if keys.iter().any(|k| k.contains("run=killed-run/")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        keys.iter().any(|k| k.contains("run=killed-run/")),
        "{keys:?}"
    );
    assert_eq!(
        env.rows(c::GOLD_FACT_SALES, day(D)).await,
        fact,
        "readers see only the published manifest"
    );
    // Within the grace period the unpublished files may be a run of this date still writing:
    // the next publish leaves them. Past it, they are orphans and the next publish removes them.
    mercado_lake::tasks::gold::run(&env.whole(day(D)))
        .await
        .expect("gold again");
    let keys = lake
        .list_keys(&c::GOLD_FACT_SALES.id.at(day(D)).prefix())
        .await
        .expect("list");
    assert!(
        keys.iter().any(|k| k.contains("run=killed-run/")),
        "a publish never touches a run that may still be writing: {keys:?}"
    );
    let mut no_grace = env.args(day(D));
    no_grace.orphan_grace_seconds = 0;
    mercado_lake::tasks::gold::run(&mercado_lake::shard::ShardedArgs::whole(no_grace))
        .await
        .expect("gold again");
    let keys = lake
        .list_keys(&c::GOLD_FACT_SALES.id.at(day(D)).prefix())
        .await
        .expect("list");
    assert!(
        !keys.iter().any(|k| k.contains("killed-run")),
        "the next publish removes orphans past the grace period: {keys:?}"
    );
    assert_eq!(
        keys.len(),
        lake.manifest(&c::GOLD_FACT_SALES.id.at(day(D)))
            .await
            .expect("read")
            .expect("manifest")
            .files
            .len()
            + 1,
        "the replaced manifest's files are removed at once: {keys:?}"
    );
    assert_eq!(env.rows(c::GOLD_FACT_SALES, day(D)).await, fact);
}

#[tokio::test]
async fn missing_input_is_a_clear_error() {
    let env = Env::new().await;
    let err = mercado_lake::tasks::clean::run(&env.whole(day(D)))
        .await
        .expect_err("no raw yet");
    let msg = err.to_string();
    assert!(
        msg.contains("raw/postgres/categories/dt=2025-03-17/_manifest.json")
            && msg.contains("extract"),
        "{msg}"
    );
}

/// Copies of one transaction (the same id under different DynamoDB keys): `clean` keeps the one
/// with the earliest `created_at` whatever order the shards return them in, and sends the others
/// to quarantine as `duplicate`.
#[tokio::test]
async fn duplicates_keep_the_earliest_copy() {
    let env = Env::new().await;
    catalogue(&env).await;
    let d = day("2025-03-17");
    for (n, (at, qty)) in [
        ("2025-03-17T15:00:00Z", 3),
        ("2025-03-17T09:00:00Z", 1),
        ("2025-03-17T20:00:00Z", 2),
    ]
    .into_iter()
    .enumerate()
    {
        let copy = env
            .txn(&format!("copy-{n}"), 1, at, &[(1, 1, qty, "12.50")])
            .await;
        let mut item = mercado_api::store::dynamo::transaction_item(&copy);
        item.insert(
            "transaction_id".into(),
            aws_sdk_dynamodb::types::AttributeValue::S("same".into()),
        );
        // Overwrite the copy under its own key with the shared id.
        env.put_raw(item).await;
    }
    for _ in 0..2 {
        env.pipeline(d).await;
        let lines = env.rows(c::CLEAN_TRANSACTION_LINES, d).await;
        let kept: Vec<_> = lines
            .iter()
            .filter(|r| r[0].as_str() == Some("same"))
            .map(|r| (r[5].as_i64(), format!("{:?}", r[10])))
            .collect();
        assert_eq!(kept.len(), 1, "{lines:?}");
        assert_eq!(kept[0].0, Some(1), "the 09:00 copy (qty 1) is kept");
        let q = env.rows(c::quarantine_of(c::RAW_TRANSACTIONS.id), d).await;
        let dups = q
            .iter()
            .filter(|r| r[0].as_str() == Some("same") && r[1].as_str() == Some("duplicate"))
            .count();
        assert_eq!(dups, 2);
    }
    // Under a memory limit too small for the day's ids, repeats are found in passes, alike.
    let want = (
        env.rows(c::CLEAN_TRANSACTION_LINES, d).await,
        env.rows(c::quarantine_of(c::RAW_TRANSACTIONS.id), d).await,
    );
    let mut args = env.args(d);
    args.memory_limit = Some(64);
    let summary = mercado_lake::tasks::clean::run(&mercado_lake::shard::ShardedArgs::whole(args))
        .await
        .expect("clean under the limit");
    let passes = summary.datasets[&c::RAW_TRANSACTIONS.id.to_string()].spilled_partitions;
    assert!(passes > 1, "repeats searched in {passes} passes");
    let got = (
        env.rows(c::CLEAN_TRANSACTION_LINES, d).await,
        env.rows(c::quarantine_of(c::RAW_TRANSACTIONS.id), d).await,
    );
    assert_eq!(got, want);
}
