//! `clean --date D`: standardize and validate raw rows against the contracts. A row that fails
//! goes to `quarantine/` with a reason code and message; duplicates go there too, marked
//! `duplicate`. Nothing is dropped silently: for every dataset
//! `rows_in = rows_out + quarantined + duplicates`, recorded in the manifest and the summary.
//! Transactions are exploded to one row per line.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value as Json;

use crate::cli::LakeArgs;
use crate::contracts::{self as c, Contract};
use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::parquet_io::{PartitionReader, PartitionWriter};
use crate::rows::{batch_rows, cells, Cell, Layout, Val};
use crate::reason::Reason;
use crate::summary::{DatasetCounts, Summary};

pub const TASK: &str = "clean";

/// This task's flags: the ones every task has.
pub type Args = LakeArgs;

/// Most units of one line, as the API allows.
const MAX_QTY: i64 = 10_000;

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
struct Known {
    categories: HashSet<i64>,
    vendors: HashSet<i64>,
    customers: HashSet<i64>,
    /// item id → vendor id
    items: HashMap<i64, i64>,
}

pub async fn run(args: &LakeArgs) -> Result<Summary> {
    let started = std::time::Instant::now();
    let lake = Lake::connect(args).await?;
    let run_id = args.run_id();
    let date = args.date;
    let mut summary = Summary::new(TASK, date, &run_id);
    tracing::info!(%date, run_id, "clean starting");
    let mut known = Known::default();
    let ctx = Ctx {
        lake: &lake,
        date,
        run_id: &run_id,
    };

    // Dimensions first: their accepted ids are what the facts are checked against.
    let counts = ctx
        .entities(
            c::RAW_CATEGORIES,
            c::CLEAN_CATEGORIES,
            &known,
            category_rules,
        )
        .await?;
    known.categories = counts.1;
    summary.add(c::RAW_CATEGORIES.id.to_string(), counts.0);
    let counts = ctx
        .entities(c::RAW_VENDORS, c::CLEAN_VENDORS, &known, vendor_rules)
        .await?;
    known.vendors = counts.1;
    summary.add(c::RAW_VENDORS.id.to_string(), counts.0);
    let counts = ctx
        .entities(c::RAW_CUSTOMERS, c::CLEAN_CUSTOMERS, &known, customer_rules)
        .await?;
    known.customers = counts.1;
    summary.add(c::RAW_CUSTOMERS.id.to_string(), counts.0);
    let (counts, items) = ctx.inventory(&known).await?;
    known.items = items;
    summary.add(c::RAW_INVENTORY.id.to_string(), counts);

    let counts = ctx.transactions(&known).await?;
    summary.add(c::RAW_TRANSACTIONS.id.to_string(), counts);
    let counts = ctx.carts(&known).await?;
    summary.add(c::RAW_CARTS.id.to_string(), counts);
    Ok(summary.finish(started))
}

struct Ctx<'a> {
    lake: &'a Lake,
    date: NaiveDate,
    run_id: &'a str,
}

/// Output and quarantine of one dataset, with the counts that must reconcile.
struct Outputs {
    clean: PartitionWriter,
    quarantine: PartitionWriter,
    counts: DatasetCounts,
}

impl Outputs {
    fn new(ctx: &Ctx<'_>, raw: Contract, clean: Contract) -> Result<Self> {
        Ok(Self {
            clean: PartitionWriter::new(ctx.lake, TASK, clean, ctx.date, ctx.run_id)?,
            quarantine: PartitionWriter::new(
                ctx.lake,
                TASK,
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

fn row_json(names: &[String], row: &[Val]) -> Json {
    Json::Object(
        names
            .iter()
            .cloned()
            .zip(row.iter().map(Val::to_json))
            .collect(),
    )
}

impl Ctx<'_> {
    /// A PostgreSQL entity: apply `rules` to each row, drop repeated ids as duplicates.
    async fn entities(
        &self,
        raw: Contract,
        clean: Contract,
        known: &Known,
        rules: fn(&mut [Val], &Layout, &Known) -> Result<(), Reject>,
    ) -> Result<(DatasetCounts, HashSet<i64>)> {
        let mut reader = PartitionReader::open(self.lake, raw, self.date).await?;
        let names: Vec<String> = raw
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let layout = Layout::of(raw);
        let mut out = Outputs::new(self, raw, clean)?;
        let mut ids = HashSet::new();
        while let Some(file) = reader.next_file().await? {
            for batch in file {
                for mut row in batch_rows(&batch?)? {
                    out.counts.rows_in += 1;
                    let id = layout.get(&row, "id").as_i64();
                    let key = id.map(|i| i.to_string());
                    let verdict = match id {
                        None => Err(reject(Reason::MissingId, "id is null")),
                        Some(i) if ids.contains(&i) => Err(reject(
                            Reason::Duplicate,
                            format!("id {i} appears more than once"),
                        )),
                        Some(_) => rules(&mut row, &layout, known),
                    };
                    match verdict {
                        Ok(()) => {
                            ids.extend(id);
                            out.counts.rows_out += 1;
                            out.clean.push(&cells(&row)).await?;
                        }
                        Err(why) => {
                            out.refuse(key.as_deref(), &why, &row_json(&names, &row))
                                .await?
                        }
                    }
                }
            }
        }
        Ok((out.publish(raw).await?, ids))
    }

    async fn inventory(&self, known: &Known) -> Result<(DatasetCounts, HashMap<i64, i64>)> {
        let (counts, ids) = self
            .entities(c::RAW_INVENTORY, c::CLEAN_INVENTORY, known, inventory_rules)
            .await?;
        let cleaned = Layout::of(c::CLEAN_INVENTORY);
        // Item → vendor, read back from what was just accepted (a dimension-sized map).
        let mut items = HashMap::with_capacity(ids.len());
        for batch in PartitionReader::open(self.lake, c::CLEAN_INVENTORY, self.date)
            .await?
            .read_all()
            .await?
        {
            for row in batch_rows(&batch)? {
                if let (Some(id), Some(vendor)) = (
                    cleaned.get(&row, "id").as_i64(),
                    cleaned.get(&row, "vendor_id").as_i64(),
                ) {
                    items.insert(id, vendor);
                }
            }
        }
        Ok((counts, items))
    }

    async fn transactions(&self, known: &Known) -> Result<DatasetCounts> {
        let raw = c::RAW_TRANSACTIONS;
        let mut reader = PartitionReader::open(self.lake, raw, self.date).await?;
        let names: Vec<String> = raw
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let layout = Layout::of(raw);
        let mut out = Outputs::new(self, raw, c::CLEAN_TRANSACTION_LINES)?;
        let keep = kept_copies(self.lake, raw, self.date, &names).await?;
        // 128-bit digests, not the ids: memory per transaction stays small.
        let mut seen: HashSet<u128> = HashSet::new();
        while let Some(file) = reader.next_file().await? {
            for batch in file {
                for row in batch_rows(&batch?)? {
                    out.counts.rows_in += 1;
                    let id = layout
                        .get(&row, "transaction_id")
                        .as_str()
                        .map(str::trim)
                        .filter(|s| !s.is_empty());
                    let verdict = match id {
                        None => Err(reject(Reason::MissingId, "transaction_id is missing")),
                        // Exact copies tie on rank: the first of them is kept.
                        Some(id)
                            if keep.get(&crate::rows::digest(id))
                                != Some(&copy_rank(&names, &row))
                                || !seen.insert(crate::rows::digest(id)) =>
                        {
                            Err(reject(
                                Reason::Duplicate,
                                format!(
                                    "transaction {id} appears more than once; the copy with the \
                                     earliest created_at (then the smallest record) is kept"
                                ),
                            ))
                        }
                        Some(id) => parse_transaction(id, &row, &layout, self.date, known),
                    };
                    match verdict {
                        Ok(txn) => {
                            out.counts.rows_out += 1;
                            for l in &txn.lines {
                                out.clean
                                    .push(&[
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
                                    ])
                                    .await?;
                            }
                        }
                        Err(why) => out.refuse(id, &why, &row_json(&names, &row)).await?,
                    }
                }
            }
        }
        out.publish(raw).await
    }

    async fn carts(&self, known: &Known) -> Result<DatasetCounts> {
        let raw = c::RAW_CARTS;
        let mut reader = PartitionReader::open(self.lake, raw, self.date).await?;
        let names: Vec<String> = raw
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let layout = Layout::of(raw);
        let mut out = Outputs::new(self, raw, c::CLEAN_CART_LINES)?;
        let mut seen = HashSet::new();
        while let Some(file) = reader.next_file().await? {
            for batch in file {
                for row in batch_rows(&batch?)? {
                    out.counts.rows_in += 1;
                    let key = layout.get(&row, "user_id").as_str().map(str::to_string);
                    let verdict = parse_cart(&row, &layout, known).and_then(|cart| {
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
                            out.refuse(key.as_deref(), &why, &row_json(&names, &row))
                                .await?
                        }
                    }
                }
            }
        }
        out.publish(raw).await
    }
}

// ---- entity rules (columns by name) -------------------------------------------------------

/// Trims text column `name` in place; `code` when it is null or blank.
fn required_text(row: &mut [Val], layout: &Layout, name: &str, code: Reason) -> Result<(), Reject> {
    match layout.get(row, name).as_str().map(str::trim) {
        Some(t) if !t.is_empty() => {
            let t = t.to_string();
            layout.set(row, name, Val::Str(t));
            Ok(())
        }
        _ => Err(reject(code, format!("{name} is missing"))),
    }
}

fn category_rules(row: &mut [Val], layout: &Layout, _: &Known) -> Result<(), Reject> {
    required_text(row, layout, "name", Reason::MissingName)
}

fn vendor_rules(row: &mut [Val], layout: &Layout, _: &Known) -> Result<(), Reject> {
    required_text(row, layout, "vendor_name", Reason::MissingName)?;
    let region = layout.get(row, "region").as_str().unwrap_or_default().to_string();
    match mercado_core::regions::normalize(&region) {
        Some(code) => {
            layout.set(row, "region", Val::Str(code));
            Ok(())
        }
        None => Err(reject(
            Reason::BadRegion,
            format!("region {region:?} is not an ISO 3166-1 alpha-2 code"),
        )),
    }
}

fn customer_rules(row: &mut [Val], layout: &Layout, _: &Known) -> Result<(), Reject> {
    required_text(row, layout, "first_name", Reason::MissingName)?;
    required_text(row, layout, "last_name", Reason::MissingName)?;
    let email = layout.get(row, "email").as_str().unwrap_or_default().to_string();
    match mercado_core::email::normalize(&email) {
        Ok(e) => {
            layout.set(row, "email", Val::Str(e));
            Ok(())
        }
        Err(_) => Err(reject(
            Reason::BadEmail,
            format!("email {email:?} is not a valid address"),
        )),
    }
}

fn inventory_rules(row: &mut [Val], layout: &Layout, known: &Known) -> Result<(), Reject> {
    match layout.get(row, "vendor_id").as_i64() {
        Some(v) if known.vendors.contains(&v) => {}
        v => {
            return Err(reject(
                Reason::UnknownVendor,
                format!("vendor {v:?} is not a known vendor"),
            ))
        }
    }
    match layout.get(row, "category_id").as_i64() {
        Some(cat) if known.categories.contains(&cat) => {}
        cat => {
            return Err(reject(
                Reason::UnknownCategory,
                format!("category {cat:?} is not a known category"),
            ))
        }
    }
    required_text(row, layout, "item_name", Reason::MissingName)?;
    match layout.get(row, "price").as_money() {
        Some(p) if p > 0 => {}
        p => {
            return Err(reject(
                Reason::BadPrice,
                format!("price {p:?} must be greater than 0"),
            ))
        }
    }
    match layout.get(row, "stock") {
        Val::Null => layout.set(row, "stock", Val::I32(0)),
        Val::I32(s) if *s >= 0 => {}
        s => {
            return Err(reject(
                Reason::BadStock,
                format!("stock {s:?} must not be negative"),
            ))
        }
    }
    Ok(())
}

// ---- transactions and carts ---------------------------------------------------------------

struct Line {
    line_no: i32,
    item_id: i64,
    vendor_id: i64,
    qty: i64,
    unit_price: i128,
    total_price: i128,
}

struct Txn {
    id: String,
    customer_id: i64,
    installments: i32,
    created_at: i64,
    total: i128,
    lines: Vec<Line>,
}

use mercado_core::money::parse_cents as parse_money;

fn json_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn json_int(obj: &Json, field: &str) -> Option<i64> {
    json_text(obj.get(field)?)?.trim().parse().ok()
}

fn positive_id(text: Option<&str>) -> Option<i64> {
    text?.trim().parse::<i64>().ok().filter(|v| *v > 0)
}

fn parse_line(v: &Json, known: &Known, position: usize) -> Result<Line, Reject> {
    let at = format!("line {}", position + 1);
    let item_id = json_int(v, "item_id")
        .ok_or_else(|| reject(Reason::BadLine, format!("{at}: item_id missing")))?;
    let vendor_id = json_int(v, "vendor_id")
        .ok_or_else(|| reject(Reason::BadLine, format!("{at}: vendor_id missing")))?;
    let qty = json_int(v, "qty")
        .ok_or_else(|| reject(Reason::BadQty, format!("{at}: qty missing or not an integer")))?;
    if !(1..=MAX_QTY).contains(&qty) {
        return Err(reject(
            Reason::BadQty,
            format!("{at}: qty {qty} is outside 1..={MAX_QTY}"),
        ));
    }
    let unit_price = v
        .get("unit_price")
        .and_then(json_text)
        .and_then(|t| parse_money(&t))
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            reject(
                Reason::BadPrice,
                format!("{at}: unit_price missing or not a positive amount"),
            )
        })?;
    let total_price = v
        .get("total_price")
        .and_then(json_text)
        .and_then(|t| parse_money(&t))
        .ok_or_else(|| {
            reject(
                Reason::BadPrice,
                format!("{at}: total_price missing or not an amount"),
            )
        })?;
    if total_price != unit_price * i128::from(qty) {
        return Err(reject(
            Reason::LineTotalMismatch,
            format!("{at}: total_price is not unit_price × qty"),
        ));
    }
    match known.items.get(&item_id) {
        None => {
            return Err(reject(
                Reason::UnknownItem,
                format!("{at}: item {item_id} is not in inventory"),
            ))
        }
        Some(v) if *v != vendor_id => {
            return Err(reject(
                Reason::VendorMismatch,
                format!("{at}: item {item_id} is sold by vendor {v}, not {vendor_id}"),
            ))
        }
        Some(_) => {}
    }
    let line_no = json_int(v, "line_no").unwrap_or(position as i64 + 1);
    Ok(Line {
        line_no: i32::try_from(line_no)
            .map_err(|_| reject(Reason::BadLine, format!("{at}: line_no out of range")))?,
        item_id,
        vendor_id,
        qty,
        unit_price,
        total_price,
    })
}

fn parse_lines(text: Option<&str>, known: &Known) -> Result<Vec<Line>, Reject> {
    let lines: Json = text
        .and_then(|t| serde_json::from_str(t).ok())
        .ok_or_else(|| reject(Reason::BadLines, "lines is missing or not JSON"))?;
    let lines = lines
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| reject(Reason::BadLines, "lines is empty"))?;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| parse_line(l, known, i))
        .collect()
}

/// Which copy of a transaction survives when its id appears more than once: the earliest
/// `created_at` (an unreadable one ranks last), then the smallest record as JSON text. The
/// rule depends on the copies only, never on the order the shards' queries returned them,
/// so a re-extract keeps the same copy.
type CopyRank = (i64, u128);

fn copy_rank(names: &[String], row: &[Val]) -> CopyRank {
    let created = names
        .iter()
        .position(|n| n == "created_at")
        .and_then(|i| parse_time(row[i].as_str()))
        .map_or(i64::MAX, |t| t.timestamp_micros());
    (
        created,
        crate::rows::digest(&row_json(names, row).to_string()),
    )
}

/// First pass over the day's raw transactions: the rank of the copy to keep, per id.
async fn kept_copies(
    lake: &Lake,
    raw: Contract,
    date: NaiveDate,
    names: &[String],
) -> Result<HashMap<u128, CopyRank>> {
    let mut keep: HashMap<u128, CopyRank> = HashMap::new();
    let layout = Layout::of(raw);
    let mut reader = PartitionReader::open(lake, raw, date).await?;
    while let Some(file) = reader.next_file().await? {
        for batch in file {
            for row in batch_rows(&batch?)? {
                let id = layout.get(&row, "transaction_id").as_str().map(str::trim);
                let Some(id) = id.filter(|s| !s.is_empty()) else {
                    continue;
                };
                let rank = copy_rank(names, &row);
                keep.entry(crate::rows::digest(id))
                    .and_modify(|r| *r = (*r).min(rank))
                    .or_insert(rank);
            }
        }
    }
    Ok(keep)
}

fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A raw `user_id` that is an id of an accepted customer.
fn known_customer(text: Option<&str>, known: &Known) -> Result<i64, Reject> {
    let id = positive_id(text)
        .ok_or_else(|| reject(Reason::BadCustomerId, format!("user_id {text:?} is not an id")))?;
    if known.customers.contains(&id) {
        Ok(id)
    } else {
        Err(reject(
            Reason::UnknownCustomer,
            format!("customer {id} is not a known customer"),
        ))
    }
}

fn parse_transaction(
    id: &str,
    row: &[Val],
    layout: &Layout,
    date: NaiveDate,
    known: &Known,
) -> Result<Txn, Reject> {
    let text = |name: &str| layout.get(row, name).as_str();
    let customer_id = known_customer(text("user_id"), known)?;
    let installments = match text("installments") {
        None => 1,
        Some(t) => t
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                reject(
                    Reason::BadInstallments,
                    format!("installments {t:?} is not a positive integer"),
                )
            })?,
    };
    let created_at = parse_time(text("created_at")).ok_or_else(|| {
        reject(
            Reason::BadTimestamp,
            format!("created_at {:?} is not RFC 3339", text("created_at")),
        )
    })?;
    if created_at.date_naive() != date {
        return Err(reject(
            Reason::WrongDate,
            format!("created_at {created_at} is not on {date}"),
        ));
    }
    let lines = parse_lines(text("lines"), known)?;
    let total = text("total_price")
        .and_then(parse_money)
        .filter(|t| *t > 0)
        .ok_or_else(|| {
            reject(
                Reason::BadTotal,
                format!("total_price {:?} is not a positive amount", text("total_price")),
            )
        })?;
    let sum: i128 = lines.iter().map(|l| l.total_price).sum();
    if sum != total {
        return Err(reject(
            Reason::TotalMismatch,
            format!("lines add up to {sum} cents, total_price is {total} cents"),
        ));
    }
    Ok(Txn {
        id: id.to_string(),
        customer_id,
        installments,
        created_at: created_at.timestamp_micros(),
        total,
        lines,
    })
}

type Cart = (i64, i64, Vec<Line>);

fn parse_cart(row: &[Val], layout: &Layout, known: &Known) -> Result<Cart, Reject> {
    let text = |name: &str| layout.get(row, name).as_str();
    let customer = known_customer(text("user_id"), known)?;
    let updated_at = parse_time(text("updated_at")).ok_or_else(|| {
        reject(
            Reason::BadTimestamp,
            format!("updated_at {:?} is not RFC 3339", text("updated_at")),
        )
    })?;
    let lines = parse_lines(text("lines"), known)?;
    Ok((customer, updated_at.timestamp_micros(), lines))
}

#[cfg(test)]
mod tests {
    //! One test per validation rule: a row that breaks it, and the reason it gets. Rows are built
    //! by column name from the raw contracts.

    use super::*;

    /// A raw row of `contract` with the named values, null elsewhere.
    fn row(contract: Contract, values: &[(&str, Val)]) -> Vec<Val> {
        let schema = contract.schema();
        for (name, _) in values {
            assert!(schema.index_of(name).is_ok(), "{} has no column {name}", contract.id);
        }
        schema
            .fields()
            .iter()
            .map(|f| {
                values
                    .iter()
                    .find(|(n, _)| n == f.name())
                    .map_or(Val::Null, |(_, v)| v.clone())
            })
            .collect()
    }

    fn s(v: &str) -> Val {
        Val::Str(v.to_string())
    }

    fn known() -> Known {
        Known {
            categories: HashSet::from([1]),
            vendors: HashSet::from([1, 2]),
            customers: HashSet::from([7]),
            items: HashMap::from([(10, 1)]),
        }
    }

    fn reason(result: Result<impl Sized, Reject>) -> Option<Reason> {
        result.err().map(|r| r.code)
    }

    #[test]
    fn entity_rules() {
        let k = known();
        let vendor = |name: &str, region: &str| {
            row(c::RAW_VENDORS, &[("id", Val::I64(1)), ("vendor_name", s(name)), ("region", s(region))])
        };
        assert_eq!(reason(vendor_rules(&mut vendor("Loja", "pt"), &Layout::of(c::RAW_VENDORS), &k)), None);
        assert_eq!(reason(vendor_rules(&mut vendor(" ", "PT"), &Layout::of(c::RAW_VENDORS), &k)), Some(Reason::MissingName));
        assert_eq!(reason(vendor_rules(&mut vendor("Loja", "XX"), &Layout::of(c::RAW_VENDORS), &k)), Some(Reason::BadRegion));

        let customer = |first: &str, email: &str| {
            row(
                c::RAW_CUSTOMERS,
                &[("id", Val::I64(7)), ("first_name", s(first)), ("last_name", s("Silva")), ("email", s(email))],
            )
        };
        assert_eq!(reason(customer_rules(&mut customer("Ana", "a@b.co"), &Layout::of(c::RAW_CUSTOMERS), &k)), None);
        assert_eq!(reason(customer_rules(&mut customer("", "a@b.co"), &Layout::of(c::RAW_CUSTOMERS), &k)), Some(Reason::MissingName));
        assert_eq!(reason(customer_rules(&mut customer("Ana", "nope"), &Layout::of(c::RAW_CUSTOMERS), &k)), Some(Reason::BadEmail));

        let category = row(c::RAW_CATEGORIES, &[("id", Val::I32(1))]);
        assert_eq!(reason(category_rules(&mut category.clone(), &Layout::of(c::RAW_CATEGORIES), &k)), Some(Reason::MissingName));

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
        assert_eq!(reason(inventory_rules(&mut item(1, 1, 1250, 3), &Layout::of(c::RAW_INVENTORY), &k)), None);
        assert_eq!(reason(inventory_rules(&mut item(9, 1, 1250, 3), &Layout::of(c::RAW_INVENTORY), &k)), Some(Reason::UnknownVendor));
        assert_eq!(reason(inventory_rules(&mut item(1, 9, 1250, 3), &Layout::of(c::RAW_INVENTORY), &k)), Some(Reason::UnknownCategory));
        assert_eq!(reason(inventory_rules(&mut item(1, 1, 0, 3), &Layout::of(c::RAW_INVENTORY), &k)), Some(Reason::BadPrice));
        assert_eq!(reason(inventory_rules(&mut item(1, 1, 1250, -1), &Layout::of(c::RAW_INVENTORY), &k)), Some(Reason::BadStock));
    }

    /// A raw transaction of customer 7 on 2025-03-17; `lines` as JSON text.
    fn txn(user: &str, total: &str, installments: &str, created_at: &str, lines: &str) -> Vec<Val> {
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
        let layout = Layout::of(c::RAW_TRANSACTIONS);
        let check = |row: Vec<Val>| reason(parse_transaction("t1", &row, &layout, d, &k));
        assert_eq!(check(txn("7", "2.50", "1", at, good)), None);
        assert_eq!(check(txn("x", "2.50", "1", at, good)), Some(Reason::BadCustomerId));
        assert_eq!(check(txn("8", "2.50", "1", at, good)), Some(Reason::UnknownCustomer));
        assert_eq!(check(txn("7", "2.50", "0", at, good)), Some(Reason::BadInstallments));
        assert_eq!(check(txn("7", "2.50", "1", "yesterday", good)), Some(Reason::BadTimestamp));
        assert_eq!(check(txn("7", "2.50", "1", "2025-03-18T00:00:00Z", good)), Some(Reason::WrongDate));
        assert_eq!(check(txn("7", "2.50", "1", at, "[]")), Some(Reason::BadLines));
        assert_eq!(check(txn("7", "2.50", "1", at, "not json")), Some(Reason::BadLines));
        assert_eq!(check(txn("7", "abc", "1", at, good)), Some(Reason::BadTotal));
        assert_eq!(check(txn("7", "3.00", "1", at, good)), Some(Reason::TotalMismatch));
        let line = |fields: &str| format!("[{{{fields}}}]");
        for (fields, want) in [
            (r#""vendor_id":"1","qty":"2","unit_price":"1.25","total_price":"2.50""#, Reason::BadLine),
            (r#""item_id":"10","vendor_id":"1","qty":"0","unit_price":"1.25","total_price":"0.00""#, Reason::BadQty),
            (r#""item_id":"10","vendor_id":"1","qty":"2","unit_price":"-1","total_price":"-2""#, Reason::BadPrice),
            (r#""item_id":"10","vendor_id":"1","qty":"2","unit_price":"1.25","total_price":"2.00""#, Reason::LineTotalMismatch),
            (r#""item_id":"11","vendor_id":"1","qty":"2","unit_price":"1.25","total_price":"2.50""#, Reason::UnknownItem),
            (r#""item_id":"10","vendor_id":"2","qty":"2","unit_price":"1.25","total_price":"2.50""#, Reason::VendorMismatch),
        ] {
            assert_eq!(check(txn("7", "2.50", "1", at, &line(fields))), Some(want), "{fields}");
        }
    }

    #[test]
    fn cart_rules() {
        let k = known();
        let cart = |user: &str, at: &str| {
            row(
                c::RAW_CARTS,
                &[("user_id", s(user)), ("updated_at", s(at)), ("lines", s(r#"[{"item_id":10,"vendor_id":1,"qty":1,"unit_price":"1.25","total_price":"1.25"}]"#))],
            )
        };
        assert_eq!(reason(parse_cart(&cart("7", "2025-03-17T10:00:00Z"), &Layout::of(c::RAW_CARTS), &k)), None);
        assert_eq!(reason(parse_cart(&cart("8", "2025-03-17T10:00:00Z"), &Layout::of(c::RAW_CARTS), &k)), Some(Reason::UnknownCustomer));
        assert_eq!(reason(parse_cart(&cart("7", ""), &Layout::of(c::RAW_CARTS), &k)), Some(Reason::BadTimestamp));
    }

    /// `duplicate`: of several copies, the one with the earliest `created_at` ranks first, then
    /// the smallest record; an unreadable time ranks last.
    #[test]
    fn the_earliest_copy_is_kept() {
        let names: Vec<String> = c::RAW_TRANSACTIONS
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let late = txn("7", "2.50", "1", "2025-03-17T12:00:00Z", "[]");
        let early = txn("7", "9.99", "1", "2025-03-17T09:00:00Z", "[]");
        let broken = txn("7", "1.00", "1", "noon", "[]");
        assert!(copy_rank(&names, &early) < copy_rank(&names, &late));
        assert!(copy_rank(&names, &late) < copy_rank(&names, &broken));
        assert_eq!(copy_rank(&names, &late), copy_rank(&names, &late.clone()));
    }
}
