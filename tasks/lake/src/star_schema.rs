//! What `gold` and `gold_dimensions` write: the star schema as Parquet under `gold/`: `fact_sales` (one row per
//! transaction line), `dim_customer` and `dim_inventory` as slowly changing type 2, `dim_vendor`,
//! `dim_category`, `dim_date`, and `fact_cart_snapshot` (open carts at the end of D).
//!
//! An SCD2 partition holds the versions D opens: the keys whose attributes in D's cleaned snapshot
//! differ from the latest earlier cleaned snapshot (or that it lacks), each valid from D and open.
//! The warehouse load closes the version each of them replaces ([`crate::warehouse::Merge::Scd2`]),
//! so a day costs what its snapshot and its changes cost, however long the history. SCD2 validity
//! is half-open: a version holds on `valid_from <= day < valid_to`; the current version has
//! `valid_to` null and `is_current` true.
//!
//! [`StarSchema::dimensions`] is the once-per-date part (the dimensions and the cart snapshot);
//! [`StarSchema::facts`] the part a split day shards (`fact_sales` from one shard's lines).
//!
//! Everything moves as whole Arrow columns ([`crate::columnar`]): facts are the enriched lines'
//! columns by name, dimensions the cleaned columns renamed.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use arrow_array::{new_null_array, ArrayRef, BooleanArray, Date32Array, Int32Array};
use arrow_schema::DataType;
use chrono::{Datelike, NaiveDate};

use crate::columnar::{column, conform, ids, row_digests, INDEX_BYTES_PER_KEY};
use crate::contracts::{self as c, Contract, SCD2_COLUMNS};
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::parquet_io::{LocalPartition, PartitionReader, PartitionWriter};
use crate::rows::Cell;
use crate::spill::{partitions_for, rows_in as rows_in_partition};
use crate::summary::{DatasetCounts, Summary};
use mercado_core::calendar::{date_id, epoch_days};

/// One date's star schema, written as `task`.
pub struct StarSchema<'a> {
    lake: &'a Lake,
    date: NaiveDate,
    run_id: &'a str,
    task: &'static str,
}

/// A gold dimension made from a cleaned one: `renames` maps each gold column to the cleaned
/// column it comes from, the key first.
struct Renames<'a> {
    source: Contract,
    target: Contract,
    renames: &'a [(&'a str, &'a str)],
}

impl Renames<'_> {
    fn source_of(&self, target_column: &str) -> Option<&str> {
        self.renames
            .iter()
            .find(|(t, _)| *t == target_column)
            .map(|(_, s)| *s)
    }

    fn key(&self) -> &str {
        self.renames[0].1
    }

    fn attributes(&self) -> Vec<&str> {
        self.renames[1..].iter().map(|(_, s)| *s).collect()
    }
}

impl StarSchema<'_> {
    fn writer(&self, contract: Contract) -> Result<PartitionWriter> {
        PartitionWriter::new(self.lake, self.task, contract, self.date, self.run_id)
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

    /// Streams the published partition of `source` at `date` (only `columns`) through `each`,
    /// which turns a batch into the batch to write to `target` (or none).
    async fn stream(
        &self,
        source: Contract,
        columns: &[&str],
        target: Contract,
        mut each: impl FnMut(&arrow_array::RecordBatch) -> Result<Option<arrow_array::RecordBatch>>,
    ) -> Result<DatasetCounts> {
        let mut reader = PartitionReader::open(self.lake, source, self.date)
            .await?
            .only(columns);
        let mut w = self.writer(target)?;
        let mut rows_in = 0u64;
        while let Some(file) = reader.next_file().await? {
            for batch in file {
                let batch = batch?;
                rows_in += batch.num_rows() as u64;
                if let Some(out) = each(&batch)? {
                    w.write(&out).await?;
                }
            }
        }
        self.publish(w, rows_in).await
    }

    /// Type 1 dimension: today's cleaned rows, renamed.
    async fn type1(&self, dim: Renames<'_>) -> Result<DatasetCounts> {
        let columns: Vec<&str> = dim.renames.iter().map(|(_, s)| *s).collect();
        self.stream(dim.source, &columns, dim.target, |batch| {
            conform(dim.target, |name| {
                column(batch, dim.source_of(name).unwrap_or(name))
            })
            .map(Some)
        })
        .await
    }

    /// Type 2 dimension: the versions today opens (see the module's doc).
    async fn scd2(&self, dim: Renames<'_>) -> Result<DatasetCounts> {
        let names = dim.target.column_names();
        if !names.ends_with(&SCD2_COLUMNS.map(String::from)) {
            return Err(LakeError::Schema(format!(
                "{}: an SCD2 dimension ends with {SCD2_COLUMNS:?}, not {names:?}",
                dim.target.id
            )));
        }
        let (key, attributes) = (dim.key(), dim.attributes());
        let mut columns = vec![key];
        columns.extend(&attributes);
        let before = match self.lake.latest_before(dim.source.id, self.date).await? {
            Some(prev) => {
                tracing::info!(dimension = %dim.target.id, since = %prev.date, "versions changed since");
                Some(LocalPartition::download(self.lake, dim.source, prev.date).await?)
            }
            None => None,
        };
        let today = LocalPartition::download(self.lake, dim.source, self.date).await?;
        // What is held: key → digest of the attributes before, 24 bytes a key plus slack.
        let held = before
            .as_ref()
            .map_or(0, |b| b.manifest.rows * INDEX_BYTES_PER_KEY * 3 / 2);
        let partitions = partitions_for(held, self.lake.memory_limit());
        if partitions > 1 {
            tracing::info!(dimension = %dim.target.id, partitions, "comparing by partitions of keys under the memory limit");
        }
        let valid_from = epoch_days(self.date);
        let mut w = self.writer(dim.target)?;
        let mut rows_in = 0u64;
        for p in 0..partitions {
            let mut digests: HashMap<i64, u128> = HashMap::default();
            if let Some(before) = &before {
                for batch in before.batches(&columns) {
                    let batch = rows_in_partition(&batch?, key, p, partitions)?;
                    let keys = ids(&column(&batch, key)?)?;
                    for (k, d) in keys.iter().zip(row_digests(&batch, &attributes)?) {
                        if let Some(k) = k {
                            digests.insert(k, d);
                        }
                    }
                }
            }
            for batch in today.batches(&columns) {
                let batch = rows_in_partition(&batch?, key, p, partitions)?;
                rows_in += batch.num_rows() as u64;
                let keys = ids(&column(&batch, key)?)?;
                let opened: BooleanArray = keys
                    .iter()
                    .zip(row_digests(&batch, &attributes)?)
                    .map(|(k, d)| Some(k.and_then(|k| digests.get(&k)) != Some(&d)))
                    .collect();
                let changed = arrow_select::filter::filter_record_batch(&batch, &opened)?;
                let n = changed.num_rows();
                if n == 0 {
                    continue;
                }
                let versions = conform(dim.target, |name| match name {
                    "valid_from" => {
                        Ok(Arc::new(Date32Array::from_value(valid_from, n)) as ArrayRef)
                    }
                    "valid_to" => Ok(new_null_array(&DataType::Date32, n)),
                    "is_current" => Ok(Arc::new(BooleanArray::from(vec![true; n])) as ArrayRef),
                    other => column(&changed, dim.source_of(other).unwrap_or(other)),
                })?;
                w.write(&versions).await?;
            }
        }
        let mut counts = self.publish(w, rows_in).await?;
        if partitions > 1 {
            counts.spilled_partitions = partitions as u64;
        }
        Ok(counts)
    }
}

impl<'a> StarSchema<'a> {
    pub fn new(lake: &'a Lake, task: &'static str, date: NaiveDate, run_id: &'a str) -> Self {
        Self {
            lake,
            date,
            run_id,
            task,
        }
    }

    /// The once-per-date part: every dimension (SCD2 ones against the latest earlier cleaned
    /// snapshot), `dim_date` and the open carts' snapshot.
    pub async fn dimensions(&self, summary: &mut Summary) -> Result<()> {
        let (ctx, date) = (self, self.date);
        summary.add(
            c::GOLD_DIM_CATEGORY.id.to_string(),
            ctx.type1(Renames {
                source: c::CLEAN_CATEGORIES,
                target: c::GOLD_DIM_CATEGORY,
                renames: &[("category_id", "id"), ("category_name", "name")],
            })
            .await?,
        );
        summary.add(
            c::GOLD_DIM_VENDOR.id.to_string(),
            ctx.type1(Renames {
                source: c::CLEAN_VENDORS,
                target: c::GOLD_DIM_VENDOR,
                renames: &[
                    ("vendor_id", "id"),
                    ("vendor_name", "vendor_name"),
                    ("region", "region"),
                    ("joined_at", "joined_at"),
                ],
            })
            .await?,
        );
        summary.add(
            c::GOLD_DIM_CUSTOMER.id.to_string(),
            ctx.scd2(Renames {
                source: c::CLEAN_CUSTOMERS,
                target: c::GOLD_DIM_CUSTOMER,
                renames: &[
                    ("customer_id", "id"),
                    ("first_name", "first_name"),
                    ("last_name", "last_name"),
                    ("email", "email"),
                    ("joined_at", "joined_at"),
                ],
            })
            .await?,
        );
        summary.add(
            c::GOLD_DIM_INVENTORY.id.to_string(),
            ctx.scd2(Renames {
                source: c::CLEAN_INVENTORY,
                target: c::GOLD_DIM_INVENTORY,
                renames: &[
                    ("item_id", "id"),
                    ("vendor_id", "vendor_id"),
                    ("category_id", "category_id"),
                    ("item_name", "item_name"),
                    ("price", "price"),
                ],
            })
            .await?,
        );

        c::GOLD_DIM_DATE.check_columns(&[
            "date_id",
            "date",
            "year",
            "quarter",
            "month",
            "day",
            "day_of_week",
            "is_weekend",
        ])?;
        let mut w = ctx.writer(c::GOLD_DIM_DATE)?;
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

        summary.add(
            c::GOLD_FACT_CART_SNAPSHOT.id.to_string(),
            cart_snapshot(ctx).await?,
        );
        Ok(())
    }

    /// `fact_sales` from the enriched lines (one shard's, when the lake is a shard's).
    pub async fn facts(&self, summary: &mut Summary) -> Result<()> {
        summary.add(c::GOLD_FACT_SALES.id.to_string(), fact_sales(self).await?);
        Ok(())
    }
}

/// The enriched lines' columns that make the fact, by name.
async fn fact_sales(ctx: &StarSchema<'_>) -> Result<DatasetCounts> {
    let names = c::GOLD_FACT_SALES.column_names();
    let columns: Vec<&str> = names.iter().map(String::as_str).collect();
    ctx.stream(c::WORK_SALES_LINES, &columns, c::GOLD_FACT_SALES, |batch| {
        conform(c::GOLD_FACT_SALES, |name| column(batch, name)).map(Some)
    })
    .await
}

/// The day's key followed by the cleaned cart line, column for column.
async fn cart_snapshot(ctx: &StarSchema<'_>) -> Result<DatasetCounts> {
    let day = date_id(ctx.date);
    let names = c::CLEAN_CART_LINES.column_names();
    let columns: Vec<&str> = names.iter().map(String::as_str).collect();
    ctx.stream(
        c::CLEAN_CART_LINES,
        &columns,
        c::GOLD_FACT_CART_SNAPSHOT,
        |batch| {
            conform(c::GOLD_FACT_CART_SNAPSHOT, |name| match name {
                "date_id" => {
                    Ok(Arc::new(Int32Array::from_value(day, batch.num_rows())) as ArrayRef)
                }
                other => column(batch, other),
            })
            .map(Some)
        },
    )
    .await
}
