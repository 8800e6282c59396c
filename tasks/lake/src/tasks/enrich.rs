//! `enrich --date D`: transaction lines joined with inventory, category, vendor and customer as
//! of D, plus `date_id` (YYYYMMDD) and `price_differs` (the line's price is not the inventory
//! price of D, e.g. the price changed later that day). Output → `work/`.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use mercado_core::calendar::date_id;

use crate::cli::LakeArgs;
use crate::contracts as c;
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::parquet_io::{PartitionReader, PartitionWriter};
use crate::rows::{Layout, batch_rows, Cell, Columns, Val};
use crate::summary::{DatasetCounts, Summary};

pub const TASK: &str = "enrich";

/// This task's flags: the ones every task has.
pub type Args = LakeArgs;

/// A dimension read whole into memory, keyed by its `id` column.
async fn dimension(
    lake: &Lake,
    contract: c::Contract,
    date: NaiveDate,
) -> Result<HashMap<i64, Vec<Val>>> {
    let layout = Layout::of(contract);
    let mut out = HashMap::new();
    for batch in PartitionReader::open(lake, contract, date)
        .await?
        .read_all()
        .await?
    {
        for row in batch_rows(&batch)? {
            if let Some(id) = layout.get(&row, "id").as_i64() {
                out.insert(id, row);
            }
        }
    }
    Ok(out)
}

/// Text column `name` of a dimension row, null when there is no row.
fn text<'r>(layout: &Layout, row: Option<&'r Vec<Val>>, name: &str) -> Cell<'r> {
    row.and_then(|r| layout.get(r, name).as_str())
        .map_or(Cell::Null, Cell::Str)
}

/// The columns of `work/sales_lines`, in the order `run` pushes its cells (checked against the
/// contract before the first row).
const SALES_LINE_COLUMNS: &[&str] = &[
    "transaction_id",
    "line_no",
    "customer_id",
    "item_id",
    "vendor_id",
    "qty",
    "unit_price",
    "total_price",
    "order_total",
    "installments",
    "created_at",
    "date_id",
    "category_id",
    "item_name",
    "category_name",
    "vendor_name",
    "vendor_region",
    "customer_email",
    "inventory_price",
    "price_differs",
];

pub async fn run(args: &LakeArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(args).await?;
    let run_id = args.run_id();
    let date = args.date;
    let mut summary = Summary::new(TASK, date, &run_id);
    tracing::info!(%date, run_id, "enrich starting");

    let items = dimension(&lake, c::CLEAN_INVENTORY, date).await?;
    let categories = dimension(&lake, c::CLEAN_CATEGORIES, date).await?;
    let vendors = dimension(&lake, c::CLEAN_VENDORS, date).await?;
    let customers = dimension(&lake, c::CLEAN_CUSTOMERS, date).await?;
    let day = date_id(date);

    let mut reader = PartitionReader::open(&lake, c::CLEAN_TRANSACTION_LINES, date).await?;
    c::WORK_SALES_LINES.check_columns(SALES_LINE_COLUMNS)?;
    let (inventory, category_cols, vendor_cols, customer_cols) = (
        Layout::of(c::CLEAN_INVENTORY),
        Layout::of(c::CLEAN_CATEGORIES),
        Layout::of(c::CLEAN_VENDORS),
        Layout::of(c::CLEAN_CUSTOMERS),
    );
    let mut writer = PartitionWriter::new(&lake, TASK, c::WORK_SALES_LINES, date, &run_id)?;
    let mut counts = DatasetCounts::default();
    let missing = |what: &str, id: i64| {
        LakeError::MissingInput(format!(
            "{what} {id} is not in the cleaned partition of {date}; re-run clean for {date}"
        ))
    };
    while let Some(file) = reader.next_file().await? {
        for batch in file {
            let batch = batch?;
            let cols = Columns::new(&batch);
            let (txn, line_no, customer, item, vendor) = (
                cols.str("transaction_id")?,
                cols.i32("line_no")?,
                cols.i64("customer_id")?,
                cols.i64("item_id")?,
                cols.i64("vendor_id")?,
            );
            let (qty, unit, total, order_total, installments, created) = (
                cols.i64("qty")?,
                cols.money("unit_price")?,
                cols.money("total_price")?,
                cols.money("order_total")?,
                cols.i32("installments")?,
                cols.ts("created_at")?,
            );
            for i in 0..batch.num_rows() {
                counts.rows_in += 1;
                let item_row = items
                    .get(&item.value(i))
                    .ok_or_else(|| missing("item", item.value(i)))?;
                let category_id =
                    inventory.get(item_row, "category_id").as_i64().unwrap_or_default() as i32;
                let inventory_price = inventory.get(item_row, "price").as_money().unwrap_or_default();
                let category = categories.get(&i64::from(category_id));
                let vendor_row = vendors
                    .get(&vendor.value(i))
                    .ok_or_else(|| missing("vendor", vendor.value(i)))?;
                let customer_row = customers
                    .get(&customer.value(i))
                    .ok_or_else(|| missing("customer", customer.value(i)))?;
                writer
                    .push(&[
                        Cell::Str(txn.value(i)),
                        Cell::I32(line_no.value(i)),
                        Cell::I64(customer.value(i)),
                        Cell::I64(item.value(i)),
                        Cell::I64(vendor.value(i)),
                        Cell::I64(qty.value(i)),
                        Cell::Money(unit.value(i)),
                        Cell::Money(total.value(i)),
                        Cell::Money(order_total.value(i)),
                        Cell::I32(installments.value(i)),
                        Cell::Ts(created.value(i)),
                        Cell::I32(day),
                        Cell::I32(category_id),
                        text(&inventory, Some(item_row), "item_name"),
                        text(&category_cols, category, "name"),
                        text(&vendor_cols, Some(vendor_row), "vendor_name"),
                        text(&vendor_cols, Some(vendor_row), "region"),
                        text(&customer_cols, Some(customer_row), "email"),
                        Cell::Money(inventory_price),
                        Cell::Bool(inventory_price != unit.value(i)),
                    ])
                    .await?;
                counts.rows_out += 1;
            }
        }
    }
    let manifest = writer
        .publish(
            None,
            BTreeMap::from([("rows_in".to_string(), counts.rows_in)]),
        )
        .await?;
    counts.rows_written = manifest.rows;
    counts.bytes = manifest.files.iter().map(|f| f.bytes).sum();
    summary.add(c::WORK_SALES_LINES.id.to_string(), counts);
    Ok(summary.finish(started))
}
