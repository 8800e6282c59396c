//! `gold --date D`: the star schema as Parquet under `gold/`: `fact_sales` (one row per
//! transaction line), `dim_customer` and `dim_inventory` as slowly changing type 2 (history carried
//! from the latest earlier gold partition), `dim_vendor`, `dim_category`, `dim_date`, and
//! `fact_cart_snapshot` (open carts at the end of D).
//!
//! SCD2 validity is half-open: a version holds on `valid_from <= day < valid_to`; the current
//! version has `valid_to` null and `is_current` true.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};

use crate::cli::LakeArgs;
use crate::contracts::{self as c, Contract};
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::parquet_io::{PartitionReader, PartitionWriter};
use crate::rows::{Layout, batch_rows, cells, Cell, Columns, Val};
use crate::summary::{DatasetCounts, Summary};
use mercado_core::calendar::date_id;

pub const TASK: &str = "gold";

/// The last columns of an SCD2 dimension, in this order.
const SCD2_COLUMNS: [&str; 3] = ["valid_from", "valid_to", "is_current"];

/// This task's flags: the ones every task has.
pub type Args = LakeArgs;

use mercado_core::calendar::epoch_days;

struct Ctx<'a> {
    lake: &'a Lake,
    date: NaiveDate,
    run_id: &'a str,
}

impl Ctx<'_> {
    fn writer(&self, contract: Contract) -> Result<PartitionWriter> {
        PartitionWriter::new(self.lake, TASK, contract, self.date, self.run_id)
    }

    async fn publish(&self, writer: PartitionWriter, rows_in: u64) -> Result<DatasetCounts> {
        let m = writer
            .publish(None, BTreeMap::from([("rows_in".to_string(), rows_in)]))
            .await?;
        Ok(DatasetCounts {
            rows_in,
            rows_out: m.rows,
            rows_written: m.rows,
            bytes: m.files.iter().map(|f| f.bytes).sum(),
            ..Default::default()
        })
    }

    /// A writer for `contract` whose cells come in the order of `names` (checked once).
    fn writer_of(&self, contract: Contract, names: &[&str]) -> Result<PartitionWriter> {
        contract.check_columns(names)?;
        self.writer(contract)
    }

    /// Rows of cleaned `source` as the leading columns of gold `target`: `pairs` maps each target
    /// column to the source column it comes from, by name.
    async fn rows(
        &self,
        source: Contract,
        target: Contract,
        pairs: &[(&str, &str)],
    ) -> Result<Vec<Vec<Val>>> {
        let target_names = target.column_names();
        if !target_names
            .iter()
            .map(String::as_str)
            .take(pairs.len())
            .eq(pairs.iter().map(|(t, _)| *t))
        {
            return Err(LakeError::Schema(format!(
                "{}: its leading columns are not {:?}",
                target.id,
                pairs.iter().map(|(t, _)| *t).collect::<Vec<_>>()
            )));
        }
        let layout = Layout::of(source);
        let from: Vec<&str> = pairs.iter().map(|(_, s)| *s).collect();
        let mut out = Vec::new();
        for batch in PartitionReader::open(self.lake, source, self.date)
            .await?
            .read_all()
            .await?
        {
            for row in batch_rows(&batch)? {
                out.push(layout.project(&row, &from));
            }
        }
        Ok(out)
    }

    /// Type 1 dimension: today's rows as they are.
    async fn type1(&self, target: Contract, rows: Vec<Vec<Val>>) -> Result<DatasetCounts> {
        let mut w = self.writer(target)?;
        for row in &rows {
            w.push(&cells(row)).await?;
        }
        self.publish(w, rows.len() as u64).await
    }

    /// Type 2 dimension: `current` holds today's `[key, attributes…]`; history comes from the
    /// latest gold partition before today. A changed key gets its open version closed today and a
    /// new one opened; an unchanged key keeps its version.
    async fn scd2(&self, target: Contract, current: Vec<Vec<Val>>) -> Result<DatasetCounts> {
        // The positions below: the key first, the validity columns last.
        let names = target.column_names();
        if !names.ends_with(&SCD2_COLUMNS.map(String::from)) {
            return Err(LakeError::Schema(format!(
                "{}: an SCD2 dimension ends with {SCD2_COLUMNS:?}, not {names:?}",
                target.id
            )));
        }
        let today = epoch_days(self.date);
        let mut history: Vec<Vec<Val>> = Vec::new();
        if let Some(prev) = self.lake.latest_before(target.id, self.date).await? {
            tracing::info!(dimension = %target.id, from = %prev.date, "carrying SCD2 history");
            for batch in PartitionReader::open(self.lake, target, prev.date)
                .await?
                .read_all()
                .await?
            {
                history.extend(batch_rows(&batch)?);
            }
        }
        let width = current.first().map_or(0, Vec::len);
        let today_by_key: HashMap<i64, &[Val]> = current
            .iter()
            .filter_map(|r| Some((r[0].as_i64()?, &r[1..])))
            .collect();
        let mut open: HashMap<i64, Vec<Val>> = HashMap::new();
        let mut out: Vec<Vec<Val>> = Vec::with_capacity(history.len() + current.len());
        for mut row in history {
            let n = row.len();
            let key = row[0].as_i64().unwrap_or_default();
            let is_current = row[n - 1] == Val::Bool(true);
            if is_current {
                match today_by_key.get(&key) {
                    Some(attrs) if *attrs != &row[1..n - 3] => {
                        row[n - 2] = Val::Date(today);
                        row[n - 1] = Val::Bool(false);
                    }
                    _ => {
                        open.insert(key, row[1..n - 3].to_vec());
                    }
                }
            }
            out.push(row);
        }
        for row in &current {
            let key = row[0].as_i64().unwrap_or_default();
            if open
                .get(&key)
                .is_some_and(|attrs| attrs.as_slice() == &row[1..width])
            {
                continue;
            }
            let mut version = row.clone();
            version.extend([Val::Date(today), Val::Null, Val::Bool(true)]);
            out.push(version);
        }
        out.sort_by_key(|r| {
            (
                r[0].as_i64(),
                r.get(r.len() - 3).cloned().and_then(|v| match v {
                    Val::Date(d) => Some(d),
                    _ => None,
                }),
            )
        });
        self.type1(target, out).await
    }
}

pub async fn run(args: &LakeArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(args).await?;
    let run_id = args.run_id();
    let date = args.date;
    let mut summary = Summary::new(TASK, date, &run_id);
    tracing::info!(%date, run_id, "gold starting");
    let ctx = Ctx {
        lake: &lake,
        date,
        run_id: &run_id,
    };

    let rows = ctx
        .rows(
            c::CLEAN_CATEGORIES,
            c::GOLD_DIM_CATEGORY,
            &[("category_id", "id"), ("category_name", "name")],
        )
        .await?;
    summary.add(
        c::GOLD_DIM_CATEGORY.id.to_string(),
        ctx.type1(c::GOLD_DIM_CATEGORY, rows).await?,
    );
    let rows = ctx
        .rows(
            c::CLEAN_VENDORS,
            c::GOLD_DIM_VENDOR,
            &[
                ("vendor_id", "id"),
                ("vendor_name", "vendor_name"),
                ("region", "region"),
                ("joined_at", "joined_at"),
            ],
        )
        .await?;
    summary.add(
        c::GOLD_DIM_VENDOR.id.to_string(),
        ctx.type1(c::GOLD_DIM_VENDOR, rows).await?,
    );
    let rows = ctx
        .rows(
            c::CLEAN_CUSTOMERS,
            c::GOLD_DIM_CUSTOMER,
            &[
                ("customer_id", "id"),
                ("first_name", "first_name"),
                ("last_name", "last_name"),
                ("email", "email"),
                ("joined_at", "joined_at"),
            ],
        )
        .await?;
    summary.add(
        c::GOLD_DIM_CUSTOMER.id.to_string(),
        ctx.scd2(c::GOLD_DIM_CUSTOMER, rows).await?,
    );
    let rows = ctx
        .rows(
            c::CLEAN_INVENTORY,
            c::GOLD_DIM_INVENTORY,
            &[
                ("item_id", "id"),
                ("vendor_id", "vendor_id"),
                ("category_id", "category_id"),
                ("item_name", "item_name"),
                ("price", "price"),
            ],
        )
        .await?;
    summary.add(
        c::GOLD_DIM_INVENTORY.id.to_string(),
        ctx.scd2(c::GOLD_DIM_INVENTORY, rows).await?,
    );

    let mut w = ctx.writer_of(
        c::GOLD_DIM_DATE,
        &["date_id", "date", "year", "quarter", "month", "day", "day_of_week", "is_weekend"],
    )?;
    w.push(&[
        Cell::I32(date_id(date)),
        Cell::Date(epoch_days(date)),
        Cell::I32(date.year()),
        Cell::I32(date.month0() as i32 / 3 + 1),
        Cell::I32(date.month() as i32),
        Cell::I32(date.day() as i32),
        Cell::I32(date.weekday().number_from_monday() as i32),
        Cell::Bool(date.weekday().number_from_monday() >= 6),
    ])
    .await?;
    summary.add(c::GOLD_DIM_DATE.id.to_string(), ctx.publish(w, 1).await?);

    summary.add(c::GOLD_FACT_SALES.id.to_string(), fact_sales(&ctx).await?);
    summary.add(
        c::GOLD_FACT_CART_SNAPSHOT.id.to_string(),
        cart_snapshot(&ctx).await?,
    );
    Ok(summary.finish(started))
}

async fn fact_sales(ctx: &Ctx<'_>) -> Result<DatasetCounts> {
    let mut reader = PartitionReader::open(ctx.lake, c::WORK_SALES_LINES, ctx.date).await?;
    let mut w = ctx.writer_of(
        c::GOLD_FACT_SALES,
        &[
            "transaction_id",
            "line_no",
            "item_id",
            "customer_id",
            "vendor_id",
            "category_id",
            "date_id",
            "unit_price",
            "qty",
            "total_price",
            "installments",
            "created_at",
        ],
    )?;
    let mut n = 0u64;
    while let Some(file) = reader.next_file().await? {
        for batch in file {
            let batch = batch?;
            let cols = Columns::new(&batch);
            let (txn, line_no, item, customer, vendor, category, day) = (
                cols.str("transaction_id")?,
                cols.i32("line_no")?,
                cols.i64("item_id")?,
                cols.i64("customer_id")?,
                cols.i64("vendor_id")?,
                cols.i32("category_id")?,
                cols.i32("date_id")?,
            );
            let (unit, qty, total, installments, created) = (
                cols.money("unit_price")?,
                cols.i64("qty")?,
                cols.money("total_price")?,
                cols.i32("installments")?,
                cols.ts("created_at")?,
            );
            for i in 0..batch.num_rows() {
                w.push(&[
                    Cell::Str(txn.value(i)),
                    Cell::I32(line_no.value(i)),
                    Cell::I64(item.value(i)),
                    Cell::I64(customer.value(i)),
                    Cell::I64(vendor.value(i)),
                    Cell::I32(category.value(i)),
                    Cell::I32(day.value(i)),
                    Cell::Money(unit.value(i)),
                    Cell::I64(qty.value(i)),
                    Cell::Money(total.value(i)),
                    Cell::I32(installments.value(i)),
                    Cell::Ts(created.value(i)),
                ])
                .await?;
                n += 1;
            }
        }
    }
    ctx.publish(w, n).await
}

async fn cart_snapshot(ctx: &Ctx<'_>) -> Result<DatasetCounts> {
    let day = date_id(ctx.date);
    let mut reader = PartitionReader::open(ctx.lake, c::CLEAN_CART_LINES, ctx.date).await?;
    // The snapshot is the day's key followed by the cleaned cart line, column for column.
    let mut names = vec!["date_id".to_string()];
    names.extend(c::CLEAN_CART_LINES.column_names());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut w = ctx.writer_of(c::GOLD_FACT_CART_SNAPSHOT, &names)?;
    let mut n = 0u64;
    while let Some(file) = reader.next_file().await? {
        for batch in file {
            for row in batch_rows(&batch?)? {
                let mut out = vec![Val::I32(day)];
                out.extend(row);
                w.push(&cells(&out)).await?;
                n += 1;
            }
        }
    }
    ctx.publish(w, n).await
}
