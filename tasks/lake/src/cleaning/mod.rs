//! What `clean` and `clean_dimensions` do: standardize and validate raw rows against the
//! contracts. A row that fails goes to `quarantine/` with a reason code and message; duplicates go
//! there too, marked `duplicate`. Nothing is dropped silently: for every dataset
//! `rows_in = rows_out + quarantined + duplicates`, recorded in the manifest and the summary.
//! Transactions are exploded to one row per line.
//!
//! Two parts: [`Cleaning::dimensions`] (categories, vendors, customers, inventory and open carts:
//! catalogue-sized, done once per date) and [`Cleaning::transactions`] (the day's transactions,
//! or one shard of them, checked against the dimensions' accepted ids).
//!
//! Work is per record batch on Arrow columns: a dataset's rules read typed columns by name and give
//! one verdict per row; accepted rows leave as the batch filtered (with its standardized columns
//! swapped in), so only refused rows are ever turned into values (their quarantine record). The
//! transactions' JSON lines are parsed on both cores.
//!
//! Here: the driver (datasets in order, outputs, quarantine, the counts that must reconcile).
//! `entities.rs`: the entity datasets' rules; `transactions.rs`: parsing of transactions and cart
//! lines; `dedupe.rs`: which copy of a repeated transaction is kept, within the memory limit.

mod dedupe;
mod entities;
mod transactions;

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};

use chrono::NaiveDate;
use serde_json::Value as Json;

use crate::columnar::{column, conform, ids};
use crate::contracts::{self as c, Contract};
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::parquet_io::{LocalPartition, PartitionReader, PartitionWriter};
use crate::reason::Reason;
use crate::rows::{batch_rows, Cell, Val};
use crate::shard::Shard;
use crate::summary::{DatasetCounts, Summary};
use dedupe::{copy_rank, Copies};
use entities::{category_rules, customer_rules, inventory_rules, vendor_rules};
use transactions::{parse_cart, parse_transaction, RawCart, RawTexts, Txn, RAW_TXN_COLUMNS};

/// Why a row was refused: a stable code for grouping, a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub code: Reason,
    pub message: String,
}

fn reject(code: Reason, message: impl Into<String>) -> Reject {
    Reject {
        code,
        message: message.into(),
    }
}

/// Ids accepted so far, for reference checks of later datasets.
#[derive(Default)]
pub struct Known {
    categories: HashSet<i64>,
    vendors: HashSet<i64>,
    customers: HashSet<i64>,
    /// item id → vendor id
    items: HashMap<i64, i64>,
}

/// One date's cleaning, written as `task` (the manifests' and quarantine's writer).
pub struct Cleaning<'a> {
    lake: &'a Lake,
    date: NaiveDate,
    run_id: &'a str,
    task: &'static str,
}

impl<'a> Cleaning<'a> {
    pub fn new(lake: &'a Lake, task: &'static str, date: NaiveDate, run_id: &'a str) -> Self {
        Self {
            lake,
            date,
            run_id,
            task,
        }
    }

    /// The catalogue-sized part, done once per date: categories, vendors, customers, inventory
    /// (each checked against the ones before it) and the open carts, published. Returns the
    /// accepted ids the transactions are checked against.
    pub async fn dimensions(&self, summary: &mut Summary) -> Result<Known> {
        let mut known = Known::default();
        let (counts, accepted) = self
            .entities(
                c::RAW_CATEGORIES,
                c::CLEAN_CATEGORIES,
                &known,
                category_rules,
            )
            .await?;
        known.categories = accepted.keys().copied().collect();
        summary.add(c::RAW_CATEGORIES.id.to_string(), counts);
        let (counts, accepted) = self
            .entities(c::RAW_VENDORS, c::CLEAN_VENDORS, &known, vendor_rules)
            .await?;
        known.vendors = accepted.keys().copied().collect();
        summary.add(c::RAW_VENDORS.id.to_string(), counts);
        let (counts, accepted) = self
            .entities(c::RAW_CUSTOMERS, c::CLEAN_CUSTOMERS, &known, customer_rules)
            .await?;
        known.customers = accepted.keys().copied().collect();
        summary.add(c::RAW_CUSTOMERS.id.to_string(), counts);
        // The inventory's accepted rows carry their vendor: item → vendor without a re-read.
        let (counts, accepted) = self
            .entities(
                c::RAW_INVENTORY,
                c::CLEAN_INVENTORY,
                &known,
                inventory_rules,
            )
            .await?;
        known.items = accepted;
        summary.add(c::RAW_INVENTORY.id.to_string(), counts);
        let counts = self.carts(&known).await?;
        summary.add(c::RAW_CARTS.id.to_string(), counts);
        Ok(known)
    }

    /// The accepted ids of the date's published cleaned dimensions (what [`Self::dimensions`]
    /// returned when it published them): what a shard checks its transactions against.
    pub async fn known(&self) -> Result<Known> {
        let mut known = Known::default();
        for (contract, set) in [
            (c::CLEAN_CATEGORIES, &mut known.categories),
            (c::CLEAN_VENDORS, &mut known.vendors),
            (c::CLEAN_CUSTOMERS, &mut known.customers),
        ] {
            let batches = PartitionReader::open(self.lake, contract, self.date)
                .await?
                .only(&["id"])
                .read_all()
                .await?;
            for b in batches {
                set.extend(ids(&column(&b, "id")?)?.iter().flatten());
            }
        }
        let batches = PartitionReader::open(self.lake, c::CLEAN_INVENTORY, self.date)
            .await?
            .only(&["id", "vendor_id"])
            .read_all()
            .await?;
        for b in batches {
            let (item, vendor) = (ids(&column(&b, "id")?)?, ids(&column(&b, "vendor_id")?)?);
            for (i, v) in item.iter().zip(vendor.iter()) {
                if let (Some(i), Some(v)) = (i, v) {
                    known.items.insert(i, v);
                }
            }
        }
        Ok(known)
    }
}

/// Output and quarantine of one dataset, with the counts that must reconcile.
struct Outputs {
    clean: PartitionWriter,
    quarantine: PartitionWriter,
    counts: DatasetCounts,
}

impl Outputs {
    fn new(ctx: &Cleaning<'_>, raw: Contract, clean: Contract) -> Result<Self> {
        Ok(Self {
            clean: PartitionWriter::new(ctx.lake, ctx.task, clean, ctx.date, ctx.run_id)?,
            quarantine: PartitionWriter::new(
                ctx.lake,
                ctx.task,
                c::quarantine_of(raw.id),
                ctx.date,
                ctx.run_id,
            )?,
            counts: DatasetCounts::default(),
        })
    }

    async fn refuse(&mut self, key: Option<&str>, why: &Reject, record: &Json) -> Result<()> {
        if why.code == Reason::Duplicate {
            self.counts.duplicates += 1;
        } else {
            self.counts.quarantined += 1;
        }
        let record = record.to_string();
        self.quarantine
            .push(&[
                key.map_or(Cell::Null, Cell::Str),
                Cell::Str(why.code.as_str()),
                Cell::Str(&why.message),
                Cell::Str(&record),
            ])
            .await
    }

    async fn publish(mut self, raw: Contract) -> Result<DatasetCounts> {
        let c = &mut self.counts;
        if c.rows_in != c.rows_out + c.quarantined + c.duplicates {
            return Err(LakeError::Invariant(format!(
                "{}: counts do not reconcile: {} in, {} out, {} quarantined, {} duplicates",
                raw.id, c.rows_in, c.rows_out, c.quarantined, c.duplicates
            )));
        }
        let counts = BTreeMap::from([
            ("rows_in".to_string(), c.rows_in),
            ("accepted".to_string(), c.rows_out),
            ("quarantined".to_string(), c.quarantined),
            ("duplicates".to_string(), c.duplicates),
        ]);
        let q = self.quarantine.publish(None, counts.clone()).await?;
        let m = self.clean.publish(None, counts).await?;
        c.rows_written = m.rows;
        c.bytes = m.files.iter().chain(&q.files).map(|f| f.bytes).sum();
        if c.quarantined + c.duplicates > 0 {
            tracing::warn!(dataset = %raw.id, quarantined = c.quarantined, duplicates = c.duplicates, "rows quarantined");
        }
        Ok(self.counts)
    }
}

/// Row `i` of a raw batch as a JSON object by column name: what quarantine keeps of a refused row.
fn row_json(batch: &RecordBatch, i: usize) -> Result<Json> {
    let schema = batch.schema();
    let row = batch_rows(&batch.slice(i, 1))?.pop().unwrap_or_default();
    Ok(Json::Object(
        schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .zip(row.iter().map(Val::to_json))
            .collect(),
    ))
}

/// A dataset's rules applied to one batch: a verdict per row, and the standardized columns that
/// replace the raw ones of the same name in accepted rows.
struct Checked {
    verdicts: Vec<Result<(), Reject>>,
    standardized: Vec<(&'static str, ArrayRef)>,
}

type Rules = fn(&RecordBatch, &Known) -> Result<Checked>;

impl Cleaning<'_> {
    /// A PostgreSQL entity: `rules` on each batch, repeated ids refused as duplicates. Returns the
    /// counts and each accepted id with its `vendor_id` (0 where the entity has none).
    async fn entities(
        &self,
        raw: Contract,
        clean: Contract,
        known: &Known,
        rules: Rules,
    ) -> Result<(DatasetCounts, HashMap<i64, i64>)> {
        let mut reader = PartitionReader::open(self.lake, raw, self.date).await?;
        let mut out = Outputs::new(self, raw, clean)?;
        let mut accepted: HashMap<i64, i64> = HashMap::default();
        while let Some(file) = reader.next_file().await? {
            for batch in file {
                let batch = batch?;
                let n = batch.num_rows();
                out.counts.rows_in += n as u64;
                let id = ids(&column(&batch, "id")?)?;
                let vendor = match batch.column_by_name("vendor_id") {
                    Some(v) => Some(ids(v)?),
                    None => None,
                };
                let checked = rules(&batch, known)?;
                let mut keep = Vec::with_capacity(n);
                for (i, verdict) in checked.verdicts.into_iter().enumerate() {
                    let verdict = match id.is_valid(i).then(|| id.value(i)) {
                        None => Err(reject(Reason::MissingId, "id is null")),
                        Some(k) if accepted.contains_key(&k) => Err(reject(
                            Reason::Duplicate,
                            format!("id {k} appears more than once"),
                        )),
                        Some(_) => verdict,
                    };
                    match verdict {
                        Ok(()) => {
                            let v = vendor.as_ref().map_or(0, |v| v.value(i));
                            accepted.insert(id.value(i), v);
                            keep.push(true);
                        }
                        Err(why) => {
                            keep.push(false);
                            let key = id.is_valid(i).then(|| id.value(i).to_string());
                            out.refuse(key.as_deref(), &why, &row_json(&batch, i)?)
                                .await?;
                        }
                    }
                }
                // Refused rows may not fit the clean contract: filter first, then conform.
                let keep = BooleanArray::from(keep);
                let kept = arrow_select::filter::filter_record_batch(&batch, &keep)?;
                let standardized = checked
                    .standardized
                    .iter()
                    .map(|(n, a)| Ok((*n, arrow_select::filter::filter(a.as_ref(), &keep)?)))
                    .collect::<Result<Vec<_>>>()?;
                let accepted_rows = conform(clean, |name| {
                    match standardized.iter().find(|(n, _)| *n == name) {
                        Some((_, a)) => Ok(a.clone()),
                        None => column(&kept, name),
                    }
                })?;
                out.counts.rows_out += accepted_rows.num_rows() as u64;
                out.clean.write(&accepted_rows).await?;
            }
        }
        Ok((out.publish(raw).await?, accepted))
    }

    /// The day's transactions of `shard` (all of them for [`Shard::WHOLE`]), checked against
    /// `known`, exploded into lines; published, or staged when the lake is a shard's.
    pub async fn transactions(&self, known: &Known, shard: Shard) -> Result<DatasetCounts> {
        let raw = c::RAW_TRANSACTIONS;
        // Read twice (copies first), so copied to local disk once.
        let local = LocalPartition::download(self.lake, raw, self.date).await?;
        let mut out = Outputs::new(self, raw, c::CLEAN_TRANSACTION_LINES)?;
        let copies = Copies::count(&local, self.lake.memory_limit(), shard)?;
        if copies.passes > 1 {
            out.counts.spilled_partitions = copies.passes as u64;
        }
        // Ids of repeated transactions already kept (ids seen once need no record).
        let mut kept: HashSet<u128> = HashSet::default();
        for batch in shard_batches(&local, &RAW_TXN_COLUMNS, shard) {
            let batch = batch?;
            let texts = RawTexts::of(&batch)?;
            let n = batch.num_rows();
            out.counts.rows_in += n as u64;
            // Which rows are refused before parsing (no id, or a copy not kept): in row order,
            // since of exact copies the first is kept.
            let mut early: Vec<Option<Reject>> = Vec::with_capacity(n);
            for i in 0..n {
                early.push(match texts.id(i) {
                    None => Some(reject(Reason::MissingId, "transaction_id is missing")),
                    Some(id) if !copies.is_kept(id, || copy_rank(&texts, i), &mut kept) => {
                        Some(reject(
                            Reason::Duplicate,
                            format!(
                                "transaction {id} appears more than once; the copy with the \
                                 earliest created_at (then a fixed tie-break on its cells) is kept"
                            ),
                        ))
                    }
                    Some(_) => None,
                });
            }
            // The rest are parsed, and their lines built into batches, on both cores.
            let halves = in_halves(n, |rows| {
                let mut lines = LineBatches::new()?;
                let mut refused = Vec::new();
                for i in rows {
                    let Some(id) = texts.id(i).filter(|_| early[i].is_none()) else {
                        continue;
                    };
                    match parse_transaction(id, &texts.transaction(i), self.date, known) {
                        Ok(txn) => lines.add(&txn)?,
                        Err(why) => refused.push((i, why)),
                    }
                }
                lines.finish().map(|l| (l, refused))
            });
            let mut refused: Vec<(usize, Reject)> = early
                .into_iter()
                .enumerate()
                .filter_map(|(i, r)| r.map(|r| (i, r)))
                .collect();
            for half in halves {
                let (lines, mut half_refused) = half?;
                out.counts.rows_out += lines.accepted;
                for b in &lines.batches {
                    out.clean.write(b).await?;
                }
                refused.append(&mut half_refused);
            }
            refused.sort_by_key(|(i, _)| *i);
            for (i, why) in refused {
                out.refuse(texts.id(i), &why, &row_json(&batch, i)?).await?;
            }
        }
        out.publish(raw).await
    }

    async fn carts(&self, known: &Known) -> Result<DatasetCounts> {
        let raw = c::RAW_CARTS;
        let mut reader = PartitionReader::open(self.lake, raw, self.date).await?;
        let mut out = Outputs::new(self, raw, c::CLEAN_CART_LINES)?;
        let mut seen = HashSet::default();
        while let Some(file) = reader.next_file().await? {
            for batch in file {
                let batch = batch?;
                let (user, updated, lines) = (
                    text_column(&batch, "user_id")?,
                    text_column(&batch, "updated_at")?,
                    text_column(&batch, "lines")?,
                );
                for i in 0..batch.num_rows() {
                    out.counts.rows_in += 1;
                    let cart = RawCart {
                        user_id: text(user, i),
                        updated_at: text(updated, i),
                        lines: text(lines, i),
                    };
                    let verdict = parse_cart(&cart, known).and_then(|cart| {
                        if seen.insert(cart.0) {
                            Ok(cart)
                        } else {
                            Err(reject(
                                Reason::Duplicate,
                                format!("cart of customer {} appears more than once", cart.0),
                            ))
                        }
                    });
                    match verdict {
                        Ok((customer, updated_at, lines)) => {
                            out.counts.rows_out += 1;
                            for l in lines {
                                out.clean
                                    .push(&[
                                        Cell::I64(customer),
                                        Cell::I64(l.item_id),
                                        Cell::I64(l.vendor_id),
                                        Cell::I64(l.qty),
                                        Cell::Money(l.unit_price),
                                        Cell::Money(l.total_price),
                                        Cell::Ts(updated_at),
                                    ])
                                    .await?;
                            }
                        }
                        Err(why) => {
                            out.refuse(cart.user_id, &why, &row_json(&batch, i)?)
                                .await?
                        }
                    }
                }
            }
        }
        out.publish(raw).await
    }
}

/// The raw transactions of `shard` as batches of `columns` (every row for [`Shard::WHOLE`]): the
/// rows whose id hashes to the shard, and those without an id in shard 0 (which quarantines them).
/// The ids are decoded first and the other columns only for the shard's rows.
fn shard_batches<'l>(
    local: &'l LocalPartition,
    columns: &[&str],
    shard: Shard,
) -> Box<dyn Iterator<Item = Result<RecordBatch>> + 'l> {
    if shard.count <= 1 {
        return Box::new(local.batches(columns));
    }
    let key = RAW_TXN_COLUMNS[0];
    Box::new(local.batches_where(columns, key, move |batch| {
        let ids = batch
            .column_by_name(key)
            .and_then(|a| a.as_string_opt::<i32>())
            .ok_or_else(|| {
                arrow_schema::ArrowError::SchemaError(format!("{key} missing or not text"))
            })?;
        Ok((0..ids.len())
            .map(|i| {
                Some(transactions::trimmed_id(ids, i).map_or(shard.index == 0, |id| shard.owns(id)))
            })
            .collect())
    }))
}

/// `work` on the first and on the second half of `0..n`, on both cores when `n` is worth
/// splitting; the halves' results in order.
fn in_halves<T: Send>(n: usize, work: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
    if n < 4096 {
        return vec![work(0..n)];
    }
    let half = n / 2;
    std::thread::scope(|s| {
        let first = s.spawn(|| work(0..half));
        let second = work(half..n);
        match first.join() {
            Ok(first) => vec![first, second],
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Accepted transactions' lines as batches of `cleaned/…/transaction_lines`.
struct LineBatches {
    builder: crate::rows::BatchBuilder,
    batches: Vec<RecordBatch>,
    accepted: u64,
}

impl LineBatches {
    fn new() -> Result<Self> {
        c::CLEAN_TRANSACTION_LINES.check_columns(&LINE_COLUMNS)?;
        Ok(Self {
            builder: crate::rows::BatchBuilder::new(c::CLEAN_TRANSACTION_LINES.schema())?,
            batches: Vec::new(),
            accepted: 0,
        })
    }

    /// The transaction's lines, cells in [`LINE_COLUMNS`]' order.
    fn add(&mut self, txn: &Txn) -> Result<()> {
        self.accepted += 1;
        for l in &txn.lines {
            if let Some(b) = self.builder.push(&[
                Cell::Str(&txn.id),
                Cell::I32(l.line_no),
                Cell::I64(txn.customer_id),
                Cell::I64(l.item_id),
                Cell::I64(l.vendor_id),
                Cell::I64(l.qty),
                Cell::Money(l.unit_price),
                Cell::Money(l.total_price),
                Cell::Money(txn.total),
                Cell::I32(txn.installments),
                Cell::Ts(txn.created_at),
            ])? {
                self.batches.push(b);
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Self> {
        if let Some(b) = self.builder.finish()? {
            self.batches.push(b);
        }
        Ok(self)
    }
}

/// The order [`LineBatches::add`] pushes its cells in.
const LINE_COLUMNS: [&str; 11] = [
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
];

fn text_column<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b StringArray> {
    batch
        .column_by_name(name)
        .and_then(|a| a.as_string_opt::<i32>())
        .ok_or_else(|| LakeError::Schema(format!("column {name} missing or not text")))
}

fn text(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

#[cfg(test)]
mod tests {
    //! One test per validation rule: a row that breaks it, and the reason it gets. Rows are built
    //! by column name from the raw contracts.

    use super::*;
    use crate::rows::{cells, BatchBuilder};
    use arrow_array::types::Int32Type;

    /// A one-row raw batch of `contract` with the named values, null elsewhere (the epoch in a
    /// required timestamp).
    fn row(contract: Contract, values: &[(&str, Val)]) -> RecordBatch {
        let schema = contract.schema();
        for (name, _) in values {
            assert!(
                schema.index_of(name).is_ok(),
                "{} has no column {name}",
                contract.id
            );
        }
        let vals: Vec<Val> = schema
            .fields()
            .iter()
            .map(|f| {
                values.iter().find(|(n, _)| n == f.name()).map_or(
                    if f.is_nullable() {
                        Val::Null
                    } else {
                        Val::Ts(0)
                    },
                    |(_, v)| v.clone(),
                )
            })
            .collect();
        let mut b = BatchBuilder::new(schema).expect("builder");
        assert!(b.push(&cells(&vals)).expect("row").is_none());
        b.finish().expect("finish").expect("one row")
    }

    fn s(v: &str) -> Val {
        Val::Str(v.to_string())
    }

    fn known() -> Known {
        Known {
            categories: [1].into_iter().collect(),
            vendors: [1, 2].into_iter().collect(),
            customers: [7].into_iter().collect(),
            items: [(10, 1)].into_iter().collect(),
        }
    }

    fn reason(result: Result<impl Sized, Reject>) -> Option<Reason> {
        result.err().map(|r| r.code)
    }

    /// The verdict of `rules` on a one-row batch.
    fn verdict(rules: Rules, batch: RecordBatch, k: &Known) -> Option<Reason> {
        let checked = rules(&batch, k).expect("rules run");
        reason(checked.verdicts.into_iter().next().expect("one verdict"))
    }

    #[test]
    fn entity_rules() {
        let k = known();
        let vendor = |name: &str, region: &str| {
            row(
                c::RAW_VENDORS,
                &[
                    ("id", Val::I64(1)),
                    ("vendor_name", s(name)),
                    ("region", s(region)),
                ],
            )
        };
        assert_eq!(verdict(vendor_rules, vendor("Loja", "pt"), &k), None);
        assert_eq!(
            verdict(vendor_rules, vendor(" ", "PT"), &k),
            Some(Reason::MissingName)
        );
        assert_eq!(
            verdict(vendor_rules, vendor("Loja", "XX"), &k),
            Some(Reason::BadRegion)
        );

        let customer = |first: &str, email: &str| {
            row(
                c::RAW_CUSTOMERS,
                &[
                    ("id", Val::I64(7)),
                    ("first_name", s(first)),
                    ("last_name", s("Silva")),
                    ("email", s(email)),
                ],
            )
        };
        assert_eq!(verdict(customer_rules, customer("Ana", "a@b.co"), &k), None);
        assert_eq!(
            verdict(customer_rules, customer("", "a@b.co"), &k),
            Some(Reason::MissingName)
        );
        assert_eq!(
            verdict(customer_rules, customer("Ana", "nope"), &k),
            Some(Reason::BadEmail)
        );

        let category = row(c::RAW_CATEGORIES, &[("id", Val::I32(1))]);
        assert_eq!(
            verdict(category_rules, category, &k),
            Some(Reason::MissingName)
        );

        let item = |vendor: i64, category: i32, price: i128, stock: i32| {
            row(
                c::RAW_INVENTORY,
                &[
                    ("id", Val::I64(10)),
                    ("vendor_id", Val::I64(vendor)),
                    ("category_id", Val::I32(category)),
                    ("item_name", s("Mug")),
                    ("price", Val::Money(price)),
                    ("stock", Val::I32(stock)),
                ],
            )
        };
        assert_eq!(verdict(inventory_rules, item(1, 1, 1250, 3), &k), None);
        assert_eq!(
            verdict(inventory_rules, item(9, 1, 1250, 3), &k),
            Some(Reason::UnknownVendor)
        );
        assert_eq!(
            verdict(inventory_rules, item(1, 9, 1250, 3), &k),
            Some(Reason::UnknownCategory)
        );
        assert_eq!(
            verdict(inventory_rules, item(1, 1, 0, 3), &k),
            Some(Reason::BadPrice)
        );
        assert_eq!(
            verdict(inventory_rules, item(1, 1, 1250, -1), &k),
            Some(Reason::BadStock)
        );
    }

    /// Standardized columns replace the raw ones: names trimmed, region and e-mail normalized,
    /// a missing stock is 0.
    #[test]
    fn standardized_columns() {
        let k = known();
        let checked = vendor_rules(
            &row(
                c::RAW_VENDORS,
                &[
                    ("id", Val::I64(1)),
                    ("vendor_name", s("  Loja ")),
                    ("region", s("pt")),
                ],
            ),
            &k,
        )
        .expect("rules");
        let get = |name: &str| {
            checked
                .standardized
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| a.as_string::<i32>().value(0).to_string())
        };
        assert_eq!(get("vendor_name").as_deref(), Some("Loja"));
        assert_eq!(get("region").as_deref(), Some("PT"));
        let checked = inventory_rules(
            &row(
                c::RAW_INVENTORY,
                &[
                    ("id", Val::I64(10)),
                    ("vendor_id", Val::I64(1)),
                    ("category_id", Val::I32(1)),
                    ("item_name", s("Mug")),
                    ("price", Val::Money(100)),
                ],
            ),
            &k,
        )
        .expect("rules");
        let stock = &checked
            .standardized
            .iter()
            .find(|(n, _)| *n == "stock")
            .expect("stock")
            .1;
        assert_eq!(stock.as_primitive::<Int32Type>().value(0), 0);
    }

    /// A raw transaction "t1" of 2025-03-17; `lines` as JSON text.
    fn txn(
        user: &str,
        total: &str,
        installments: &str,
        created_at: &str,
        lines: &str,
    ) -> RecordBatch {
        row(
            c::RAW_TRANSACTIONS,
            &[
                ("transaction_id", s("t1")),
                ("user_id", s(user)),
                ("total_price", s(total)),
                ("installments", s(installments)),
                ("created_at", s(created_at)),
                ("lines", s(lines)),
            ],
        )
    }

    #[test]
    fn transaction_rules() {
        let k = known();
        let d = NaiveDate::from_ymd_opt(2025, 3, 17).expect("date");
        let at = "2025-03-17T10:00:00Z";
        let good = r#"[{"item_id":"10","vendor_id":"1","qty":"2","unit_price":"1.25","total_price":"2.50"}]"#;
        let check = |batch: RecordBatch| {
            let texts = RawTexts::of(&batch).expect("columns");
            reason(parse_transaction("t1", &texts.transaction(0), d, &k))
        };
        assert_eq!(check(txn("7", "2.50", "1", at, good)), None);
        // Numbers instead of text, and a line that is not an object (the general path).
        assert_eq!(
            check(txn(
                "7",
                "2.50",
                "1",
                at,
                r#"[{"item_id":10,"vendor_id":1,"qty":2,"unit_price":1.25,"total_price":"2.50"}]"#
            )),
            None
        );
        assert_eq!(
            check(txn("7", "2.50", "1", at, "[1]")),
            Some(Reason::BadLine)
        );
        assert_eq!(
            check(txn("x", "2.50", "1", at, good)),
            Some(Reason::BadCustomerId)
        );
        assert_eq!(
            check(txn("8", "2.50", "1", at, good)),
            Some(Reason::UnknownCustomer)
        );
        assert_eq!(
            check(txn("7", "2.50", "0", at, good)),
            Some(Reason::BadInstallments)
        );
        assert_eq!(
            check(txn("7", "2.50", "1", "yesterday", good)),
            Some(Reason::BadTimestamp)
        );
        assert_eq!(
            check(txn("7", "2.50", "1", "2025-03-18T00:00:00Z", good)),
            Some(Reason::WrongDate)
        );
        assert_eq!(
            check(txn("7", "2.50", "1", at, "[]")),
            Some(Reason::BadLines)
        );
        assert_eq!(
            check(txn("7", "2.50", "1", at, "not json")),
            Some(Reason::BadLines)
        );
        assert_eq!(
            check(txn("7", "abc", "1", at, good)),
            Some(Reason::BadTotal)
        );
        assert_eq!(
            check(txn("7", "3.00", "1", at, good)),
            Some(Reason::TotalMismatch)
        );
        let line = |fields: &str| format!("[{{{fields}}}]");
        for (fields, want) in [
            (
                r#""vendor_id":"1","qty":"2","unit_price":"1.25","total_price":"2.50""#,
                Reason::BadLine,
            ),
            (
                r#""item_id":"10","vendor_id":"1","qty":"0","unit_price":"1.25","total_price":"0.00""#,
                Reason::BadQty,
            ),
            (
                r#""item_id":"10","vendor_id":"1","qty":"2","unit_price":"-1","total_price":"-2""#,
                Reason::BadPrice,
            ),
            (
                r#""item_id":"10","vendor_id":"1","qty":"2","unit_price":"1.25","total_price":"2.00""#,
                Reason::LineTotalMismatch,
            ),
            (
                r#""item_id":"11","vendor_id":"1","qty":"2","unit_price":"1.25","total_price":"2.50""#,
                Reason::UnknownItem,
            ),
            (
                r#""item_id":"10","vendor_id":"2","qty":"2","unit_price":"1.25","total_price":"2.50""#,
                Reason::VendorMismatch,
            ),
            // A repeated key: the general path reads the last one, as before.
            (
                r#""item_id":"99","item_id":"10","vendor_id":"1","qty":"2","unit_price":"1.25","total_price":"2.50""#,
                Reason::TotalMismatch,
            ),
        ] {
            let total = if want == Reason::TotalMismatch {
                "9.99"
            } else {
                "2.50"
            };
            assert_eq!(
                check(txn("7", total, "1", at, &line(fields))),
                Some(want),
                "{fields}"
            );
        }
    }

    #[test]
    fn cart_rules() {
        let k = known();
        let lines =
            r#"[{"item_id":10,"vendor_id":1,"qty":1,"unit_price":"1.25","total_price":"1.25"}]"#;
        let cart = |user: &'static str, at: &'static str| RawCart {
            user_id: Some(user),
            updated_at: Some(at),
            lines: Some(lines),
        };
        assert_eq!(
            reason(parse_cart(&cart("7", "2025-03-17T10:00:00Z"), &k)),
            None
        );
        assert_eq!(
            reason(parse_cart(&cart("8", "2025-03-17T10:00:00Z"), &k)),
            Some(Reason::UnknownCustomer)
        );
        assert_eq!(
            reason(parse_cart(&cart("7", ""), &k)),
            Some(Reason::BadTimestamp)
        );
        let twice = r#"[{"item_id":10,"vendor_id":1,"qty":1,"unit_price":"1.25","total_price":"1.25"},{"item_id":10,"vendor_id":1,"qty":2,"unit_price":"1.25","total_price":"2.50"}]"#;
        let repeated = RawCart {
            user_id: Some("7"),
            updated_at: Some("2025-03-17T10:00:00Z"),
            lines: Some(twice),
        };
        assert_eq!(
            reason(parse_cart(&repeated, &k)),
            Some(Reason::RepeatedItem)
        );
    }

    /// `duplicate`: of several copies, the one with the earliest `created_at` ranks first; an
    /// unreadable time ranks last; the rank is a function of the copy alone.
    #[test]
    fn the_earliest_copy_is_kept() {
        let rank = |batch: RecordBatch| copy_rank(&RawTexts::of(&batch).expect("columns"), 0);
        let late = txn("7", "2.50", "1", "2025-03-17T12:00:00Z", "[]");
        let early = txn("7", "9.99", "1", "2025-03-17T09:00:00Z", "[]");
        let broken = txn("7", "1.00", "1", "noon", "[]");
        assert!(rank(early) < rank(late.clone()));
        assert!(rank(late.clone()) < rank(broken));
        assert_eq!(rank(late.clone()), rank(late));
    }

    /// Rows are parsed on two threads in big batches; the halves keep row order.
    #[test]
    fn parsing_on_two_cores_keeps_row_order() {
        let halves = in_halves(10_000, |rows| rows.collect::<Vec<_>>());
        assert_eq!(halves.len(), 2);
        assert_eq!(halves.concat(), (0..10_000).collect::<Vec<_>>());
    }

    /// Lines are pushed in the contract's column order.
    #[test]
    fn line_cells_follow_the_contract() {
        c::CLEAN_TRANSACTION_LINES
            .check_columns(&LINE_COLUMNS)
            .expect("same columns, same order");
    }
}
