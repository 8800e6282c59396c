//! extract: the day index read across every shard and page.

use mercado_lake::contracts as c;
use mercado_lake::tasks::extract;
use mercado_testkit::lake::{day, Env};

#[tokio::test]
async fn reads_every_shard_and_page_of_the_day_and_nothing_else() {
    let env = Env::new().await;
    let user = env.app.customer("ana@example.com").await;
    let vendor = env.app.vendor("Porto").await;
    let item = env.app.item(vendor, "Mug", "2.00").await;
    for i in 0..60 {
        env.txn(
            &format!("t{i:03}"),
            user,
            &format!("2025-03-17T{:02}:{:02}:00Z", i / 3, i % 60),
            &[(item, vendor, 1, "2.00")],
        )
        .await;
    }
    env.txn(
        "before",
        user,
        "2025-03-16T23:59:59.999Z",
        &[(item, vendor, 1, "2.00")],
    )
    .await;
    env.txn(
        "after",
        user,
        "2025-03-18T00:00:00Z",
        &[(item, vendor, 1, "2.00")],
    )
    .await;

    let mut args = env.extract_args(day("2025-03-17"));
    args.ddb_page_size = Some(2);
    let summary = extract::run(&args).await.expect("extract");
    assert_eq!(summary.datasets["raw/dynamodb/transactions"].rows_in, 60);
    let rows = env.rows(c::RAW_TRANSACTIONS, day("2025-03-17")).await;
    let ids: std::collections::BTreeSet<&str> = rows.iter().filter_map(|r| r[0].as_str()).collect();
    assert_eq!(ids.len(), 60);
    assert!(!ids.contains("before") && !ids.contains("after"));
    let manifest = env
        .lake()
        .await
        .manifest(&c::RAW_TRANSACTIONS.id.at(day("2025-03-17")))
        .await
        .expect("read")
        .expect("published");
    assert_eq!(
        manifest.watermark.as_deref(),
        Some("2025-03-17T19:59:00.000Z")
    );
}

/// A table spanning more ids than one reader takes is read by several connections, each a range
/// of ids, in one snapshot: every row exactly once, whatever the number of readers.
#[tokio::test]
async fn a_large_table_is_read_in_ranges_every_row_once() {
    let env = Env::new().await;
    let vendor = env.app.vendor("Porto").await;
    let mut ids = Vec::new();
    for name in ["Mug", "Lamp", "Book"] {
        ids.push(env.app.item(vendor, name, "2.00").await);
    }
    // Far ids: the span crosses the threshold, so the ranges split it.
    for id in [150_000_i64, 150_001, 400_000] {
        env.sql(&format!(
            "INSERT INTO inventory (id, vendor_id, category_id, item_name, price, stock, created_at) \
             VALUES ({id}, {vendor}, 1, 'Far {id}', 3.00, 1, '2020-01-01Z')"
        ))
        .await;
        ids.push(id);
    }
    for readers in [1, 2, 3] {
        let mut args = env.extract_args(day("2025-03-17"));
        args.pg_readers = readers;
        // The date has closed: without --refresh the first snapshot would be reused.
        args.refresh = true;
        extract::run(&args).await.expect("extract");
        let mut got: Vec<i64> = env
            .rows(c::RAW_INVENTORY, day("2025-03-17"))
            .await
            .iter()
            .filter_map(|r| r[0].as_i64())
            .collect();
        got.sort_unstable();
        assert_eq!(got, ids, "{readers} reader(s)");
    }
}

/// Binary COPY decoded straight into Arrow agrees with PostgreSQL's own arithmetic for every
/// column type extract reads (numerics of any scale rounded to cents as `round` does, times
/// around PostgreSQL's epoch, text beyond ASCII, nulls), whatever the chunks' boundaries.
#[tokio::test]
async fn binary_copy_decodes_as_postgres_computes() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, Int32Type, Int64Type, TimestampMicrosecondType};
    use arrow_array::Array;
    use futures::StreamExt;
    use mercado_lake::pg_copy::CopyDecoder;

    let env = Env::new().await;
    let (client, conn) = tokio_postgres::connect(&env.app.database_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let sql = "COPY (SELECT id::int8, n::int4, name::text, price::numeric, at::timestamptz, \
         (round(price, 2) * 100)::int8 AS cents, (extract(epoch FROM at) * 1000000)::int8 AS micros \
         FROM (VALUES (1, 7, 'Caneca ☕ ação', 12.5, '2025-03-17 10:00:00.123456+00'::timestamptz), \
           (2, -3, NULL, 0.005, '1999-12-31 23:59:59.999999+00'), \
           (3, NULL, '', -123456789.01, '2000-01-01 00:00:00+00'), \
           (4, 0, 'x', 0, NULL), (5, 2147483647, 'y', 20000, '1970-01-01 00:00:00+00'), \
           (6, 1, 'z', 0.0049, '1900-06-01 12:00:00+00'), (7, 1, 'w', NULL, '2100-01-01 00:00:00+00'), \
           (8, 1, 'v', -0.005, '2025-01-01 00:00:00+00'), (9, 1, 'u', 99999999.995, '2025-01-01 00:00:00+00'), \
           (10, 1, 'u', 0.00000001, '2025-01-01 00:00:00+00')) \
         AS v(id, n, name, price, at) ORDER BY id) TO STDOUT (FORMAT binary)";
    let mut wire = Vec::new();
    let stream = client.copy_out(sql).await.expect("copy");
    futures::pin_mut!(stream);
    while let Some(chunk) = stream.next().await {
        wire.extend_from_slice(&chunk.expect("chunk"));
    }
    let money = arrow_schema::DataType::Decimal128(18, 2);
    let ts =
        arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()));
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false),
        arrow_schema::Field::new("n", arrow_schema::DataType::Int32, true),
        arrow_schema::Field::new("name", arrow_schema::DataType::Utf8, true),
        arrow_schema::Field::new("price", money, true),
        arrow_schema::Field::new("updated_at", ts, true),
        arrow_schema::Field::new("cents", arrow_schema::DataType::Int64, true),
        arrow_schema::Field::new("micros", arrow_schema::DataType::Int64, true),
    ]));
    for piece in [wire.len(), 7, 1] {
        let mut decoder = CopyDecoder::new(schema.clone()).expect("decoder");
        let mut batches = Vec::new();
        for chunk in wire.chunks(piece) {
            decoder.feed(chunk, &mut batches).expect("feed");
        }
        batches.extend(decoder.finish().expect("finish"));
        assert_eq!(batches.len(), 1, "pieces of {piece}");
        let b = &batches[0];
        assert_eq!(b.num_rows(), 10);
        let col = |name: &str| b.column_by_name(name).expect(name).clone();
        let (price, cents) = (col("price"), col("cents"));
        let (price, cents) = (
            price.as_primitive::<Decimal128Type>(),
            cents.as_primitive::<Int64Type>(),
        );
        let (at, micros) = (col("updated_at"), col("micros"));
        let (at, micros) = (
            at.as_primitive::<TimestampMicrosecondType>(),
            micros.as_primitive::<Int64Type>(),
        );
        for row in 0..10 {
            assert_eq!(price.is_null(row), cents.is_null(row), "row {row}");
            if !price.is_null(row) {
                assert_eq!(
                    price.value(row),
                    i128::from(cents.value(row)),
                    "price of row {row}"
                );
            }
            assert_eq!(at.is_null(row), micros.is_null(row), "row {row}");
            if !at.is_null(row) {
                assert_eq!(at.value(row), micros.value(row), "time of row {row}");
            }
        }
        let names = col("name");
        let names = names.as_string::<i32>();
        assert_eq!(names.value(0), "Caneca ☕ ação");
        assert!(names.is_null(1));
        assert_eq!(names.value(2), "");
        let n = col("n");
        let n = n.as_primitive::<Int32Type>();
        assert_eq!((n.value(1), n.is_null(2), n.value(4)), (-3, true, i32::MAX));
    }
    // Data cut short is an error, not fewer rows.
    let mut decoder = CopyDecoder::new(schema).expect("decoder");
    decoder
        .feed(&wire[..wire.len() - 2], &mut Vec::new())
        .expect("feed");
    assert!(decoder.finish().is_err());
}

/// A closed date's snapshot: its first extract takes only the entities created by the date's end
/// (late: marked so), every later run reuses it whatever changed since, `--refresh` takes it again
/// and the audit says so; a date still open is read again by every run.
#[tokio::test]
async fn a_closed_dates_snapshot_is_taken_once_and_kept() {
    use mercado_testkit::cli;
    use tokio_postgres::NoTls;

    let env = Env::new().await;
    let warehouse = env.warehouse().await;
    let (wh, conn) = tokio_postgres::connect(&warehouse, NoTls)
        .await
        .expect("warehouse");
    tokio::spawn(conn);
    let ddl =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql/warehouse/postgres.sql");
    wh.batch_execute(&std::fs::read_to_string(ddl).expect("DDL"))
        .await
        .expect("warehouse DDL");

    let (d1, d2) = (day("2025-03-17"), day("2025-03-18"));
    let app = &env.app;
    let signed_up = |email: &str, at: &str| {
        let body = serde_json::json!({"first_name": "Ana", "last_name": "Dias", "email": email, "joined_at": at});
        async move {
            let r = app.post("/customers", body).await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
    };
    signed_up("on-d1@example.com", "2025-03-17T10:00:00Z").await;
    signed_up("last-instant-d1@example.com", "2025-03-17T23:59:59.999999Z").await;
    signed_up("on-d2@example.com", "2025-03-18T00:00:00Z").await;
    signed_up("today@example.com", &chrono::Utc::now().to_rfc3339()).await;
    let vendor = app
        .post("/vendors", serde_json::json!({"vendor_name": "Late", "region": "PT", "joined_at": "2025-03-18T08:00:00Z"}))
        .await;
    assert_eq!(vendor.status, 201, "{}", vendor.body);

    let extract = |date, refresh: bool| {
        let mut cmd = cli::command("extract", &env, date);
        cmd.env("WAREHOUSE_URL", &warehouse);
        if refresh {
            cmd.arg("--refresh");
        }
        cli::summary(&cmd.output().expect("extract runs"), "extract", date)
    };

    // First extracts, long after the dates closed: late, only what existed by each date's end.
    let first = extract(d1, false);
    assert_eq!(first["figures"]["snapshot"], "taken late");
    assert_eq!(
        emails(&env, d1).await,
        ["last-instant-d1@example.com", "on-d1@example.com"]
    );
    assert_eq!(env.rows(c::RAW_VENDORS, d1).await.len(), 0);
    extract(d2, false);
    assert_eq!(
        emails(&env, d2).await,
        [
            "last-instant-d1@example.com",
            "on-d1@example.com",
            "on-d2@example.com"
        ]
    );
    assert_eq!(env.rows(c::RAW_VENDORS, d2).await.len(), 1);
    let lake = env.lake().await;
    let manifest = lake
        .manifest(&c::RAW_CUSTOMERS.id.at(d1))
        .await
        .expect("read")
        .expect("published");
    let snapshot = manifest.snapshot.clone().expect("a snapshot");
    assert!(snapshot.closed && snapshot.late, "{snapshot:?}");
    assert_eq!(snapshot.closes_at, "2025-03-18T00:00:00.000Z");

    // History imported into D1 afterwards does not change D1's kept snapshot…
    signed_up("imported-later@example.com", "2025-03-17T12:00:00Z").await;
    let again = extract(d1, false);
    assert_eq!(again["figures"]["snapshot"], "kept");
    assert_eq!(again["datasets"]["raw/postgres/customers"]["rows_out"], 2);
    assert_eq!(emails(&env, d1).await.len(), 2);
    let kept = lake
        .manifest(&c::RAW_CUSTOMERS.id.at(d1))
        .await
        .expect("read")
        .expect("published");
    assert_eq!(kept, manifest, "the kept partition is not rewritten");
    // … until a refresh, which the audit records.
    let refreshed = extract(d1, true);
    assert_eq!(refreshed["figures"]["snapshot"], "refreshed");
    assert_eq!(emails(&env, d1).await.len(), 3);
    let details: Vec<String> = wh
        .query(
            "SELECT detail FROM audit.pipeline_runs WHERE task = 'extract' AND date = $1 ORDER BY finished_at",
            &[&d1],
        )
        .await
        .expect("audit")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(
        details[0].starts_with("snapshot taken at") && details[0].contains("late"),
        "{details:?}"
    );
    assert!(details[1].starts_with("snapshot kept"), "{details:?}");
    assert!(
        details[2].starts_with("snapshot refreshed (--refresh)"),
        "{details:?}"
    );

    // Today has not closed: every run reads the sources again.
    let today = chrono::Utc::now().date_naive();
    assert_eq!(extract(today, false)["figures"]["snapshot"], "open");
    signed_up("later-today@example.com", &chrono::Utc::now().to_rfc3339()).await;
    assert_eq!(extract(today, false)["figures"]["snapshot"], "open");
    assert!(emails(&env, today)
        .await
        .contains(&"later-today@example.com".to_string()));
}

/// The emails in a date's raw customers, sorted.
async fn emails(env: &Env, date: chrono::NaiveDate) -> Vec<String> {
    let mut got: Vec<String> = env
        .rows(c::RAW_CUSTOMERS, date)
        .await
        .iter()
        .filter_map(|r| r[3].as_str().map(str::to_string))
        .collect();
    got.sort_unstable();
    got
}
