//! `enrich --date D [--shard I/N --stage-id S]`: transaction lines (one shard's, staged for
//! `commit` when the day is split) joined with inventory, category, vendor and customer as
//! of D, plus `date_id` (YYYYMMDD) and `price_differs` (the line's price is not the inventory
//! price of D, e.g. the price changed later that day). Output → `work/`.
//!
//! A hash join on Arrow columns ([`crate::columnar::Dimension`]): each dimension is held as the
//! few columns the output needs plus an index from id to row; a batch of lines becomes a batch of
//! output by one probe per key and one `take` per looked-up column. When the inventory would not
//! fit in half of `--memory-limit`, the join runs in partitions of item ids: the lines are spilled
//! to local disk by partition ([`crate::spill`]) and each partition joins its share of the
//! inventory.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use arrow_array::{Array, ArrayRef, BooleanArray, Int32Array, RecordBatch, UInt32Array};
use chrono::NaiveDate;
use mercado_core::calendar::date_id;

use crate::shard::ShardedArgs;
use crate::columnar::{column, conform, ids, Dimension, INDEX_BYTES_PER_KEY};
use crate::contracts as c;
use crate::error::{LakeError, Result};
use crate::parquet_io::{LocalPartition, PartitionReader, PartitionWriter};
use crate::spill::{partitions_for, rows_in, Spill};
use crate::summary::{DatasetCounts, Summary};

pub const TASK: &str = "enrich";

/// Every task's flags and the shard's.
pub type Args = ShardedArgs;

/// The inventory columns the output needs.
const ITEM_COLUMNS: [&str; 4] = ["id", "category_id", "item_name", "price"];

/// The day's small dimensions, as much of them as the output needs (the inventory, which may be
/// joined in partitions, is passed on its own).
struct Dimensions {
    categories: Dimension,
    vendors: Dimension,
    customers: Dimension,
}

/// The rows of `keys` (column `key_column` of `lines`) in `dimension`; a key it lacks means the
/// cleaned partitions of the date disagree, which only a re-run of clean mends.
fn probe(
    dimension: &Dimension,
    lines: &RecordBatch,
    key_column: &str,
    what: &str,
    date: NaiveDate,
) -> Result<UInt32Array> {
    let keys = ids(&column(lines, key_column)?)?;
    let rows = dimension.rows_of(&keys);
    if rows.null_count() > keys.null_count() {
        let missing = (0..keys.len())
            .find(|i| rows.is_null(*i) && keys.is_valid(*i))
            .map_or(0, |i| keys.value(i));
        return Err(LakeError::MissingInput(format!(
            "{what} {missing} is not in the cleaned partition of {date}; re-run clean for {date}"
        )));
    }
    Ok(rows)
}

impl Dimensions {
    /// One batch of cleaned lines → the same lines enriched (`work/sales_lines`' schema).
    fn enrich(&self, items: &Dimension, lines: &RecordBatch, date: NaiveDate) -> Result<RecordBatch> {
        let n = lines.num_rows();
        let item = probe(items, lines, "item_id", "item", date)?;
        let vendor = probe(&self.vendors, lines, "vendor_id", "vendor", date)?;
        let customer = probe(&self.customers, lines, "customer_id", "customer", date)?;
        let category_id = items.take("category_id", &item)?;
        // A category the day's categories lack leaves its name null (as an outer join would).
        let category = self.categories.rows_of(&ids(&category_id)?);
        let inventory_price = items.take("price", &item)?;
        let unit_price = column(lines, "unit_price")?;
        let price_differs: BooleanArray = inventory_price
            .as_primitive::<Decimal128Type>()
            .iter()
            .zip(unit_price.as_primitive::<Decimal128Type>().iter())
            .map(|(inventory, line)| Some(inventory.unwrap_or_default() != line.unwrap_or_default()))
            .collect();
        conform(c::WORK_SALES_LINES, |name| match name {
            "date_id" => Ok(Arc::new(Int32Array::from_value(date_id(date), n)) as ArrayRef),
            "category_id" => Ok(category_id.clone()),
            "item_name" => items.take("item_name", &item),
            "category_name" => self.categories.take("name", &category),
            "vendor_name" => self.vendors.take("vendor_name", &vendor),
            "vendor_region" => self.vendors.take("region", &vendor),
            "customer_email" => self.customers.take("email", &customer),
            "inventory_price" => Ok(inventory_price.clone()),
            "price_differs" => Ok(Arc::new(price_differs.clone()) as ArrayRef),
            // Every other column is the cleaned line's own.
            line_column => column(lines, line_column),
        })
    }
}

pub async fn run(args: &ShardedArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = crate::lake::Lake::connect(&args.lake)
        .await?
        .with_staging(args.shard.staging()?);
    let run_id = args.lake.run_id();
    let date = args.lake.date;
    let mut summary = Summary::new(TASK, date, &run_id);
    if let Some(shard) = args.shard.shard {
        summary.figures.insert("shard".into(), shard.to_string());
    }
    tracing::info!(%date, run_id, shard = ?args.shard.shard, "enrich starting");

    let dims = Dimensions {
        categories: Dimension::read(&lake, c::CLEAN_CATEGORIES, date, "id", &["id", "name"])
            .await?,
        vendors: Dimension::read(
            &lake,
            c::CLEAN_VENDORS,
            date,
            "id",
            &["id", "vendor_name", "region"],
        )
        .await?,
        customers: Dimension::read(&lake, c::CLEAN_CUSTOMERS, date, "id", &["id", "email"])
            .await?,
    };
    let inventory = LocalPartition::download(&lake, c::CLEAN_INVENTORY, date).await?;
    let held = inventory.decoded_bytes(&ITEM_COLUMNS)?
        + inventory.manifest.rows * INDEX_BYTES_PER_KEY;
    let partitions = partitions_for(held, lake.memory_limit());
    let items_of = |p: usize| {
        Dimension::from_batches(
            c::CLEAN_INVENTORY,
            inventory
                .batches(&ITEM_COLUMNS)
                .map(|b| b.and_then(|b| rows_in(&b, "id", p, partitions))),
            "id",
            &ITEM_COLUMNS,
        )
    };

    let mut reader = PartitionReader::open(&lake, c::CLEAN_TRANSACTION_LINES, date).await?;
    let mut writer = PartitionWriter::new(&lake, TASK, c::WORK_SALES_LINES, date, &run_id)?;
    let mut counts = DatasetCounts::default();
    if partitions == 1 {
        let items = items_of(0)?;
        tracing::info!(items = items.len(), customers = dims.customers.len(), "dimensions read");
        while let Some(file) = reader.next_file().await? {
            for lines in file {
                let lines = lines?;
                counts.rows_in += lines.num_rows() as u64;
                let out = dims.enrich(&items, &lines, date)?;
                counts.rows_out += out.num_rows() as u64;
                writer.write(&out).await?;
            }
        }
    } else {
        tracing::info!(
            partitions,
            inventory_bytes = held,
            "the inventory exceeds half the memory limit: joining by partitions of item ids, lines spilled to disk"
        );
        let mut spill: Option<Spill> = None;
        while let Some(file) = reader.next_file().await? {
            for lines in file {
                let lines = lines?;
                counts.rows_in += lines.num_rows() as u64;
                let s = match spill.as_mut() {
                    Some(s) => s,
                    None => spill.insert(Spill::new(&lines.schema(), partitions)?),
                };
                s.route(&lines, "item_id")?;
            }
        }
        counts.spilled_partitions = partitions as u64;
        if let Some(spill) = spill {
            let spilled = spill.finish()?;
            for p in 0..spilled.partitions() {
                let items = items_of(p)?;
                for lines in spilled.partition(p)? {
                    let out = dims.enrich(&items, &lines?, date)?;
                    counts.rows_out += out.num_rows() as u64;
                    writer.write(&out).await?;
                }
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
