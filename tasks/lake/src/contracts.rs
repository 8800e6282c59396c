//! Data contracts: the Arrow schema of every dataset in the lake, declared once, next to the
//! rules that `clean` enforces (see `tasks::clean`). Money is DECIMAL(18,2), timestamps are
//! microseconds in UTC, dates are `Date32`.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sha2::{Digest, Sha256};

use crate::partition::{DatasetId, Zone};

pub const MONEY_PRECISION: u8 = 18;
pub const MONEY_SCALE: i8 = 2;

/// The last columns of an SCD2 dimension, in this order (gold writes them, the warehouse merge
/// re-chains them).
pub const SCD2_COLUMNS: [&str; 3] = ["valid_from", "valid_to", "is_current"];

pub fn money() -> DataType {
    DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE)
}

pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A dataset and its schema.
#[derive(Clone, Copy)]
pub struct Contract {
    pub id: DatasetId,
    fields: fn() -> Vec<Field>,
}

impl Contract {
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new((self.fields)()))
    }

    /// Its column names, in order.
    pub fn column_names(&self) -> Vec<String> {
        (self.fields)().iter().map(|f| f.name().clone()).collect()
    }

    /// Checks, once before writing, that a writer's cells (named `names`, in its order) are this
    /// contract's columns in the contract's order; rows are then pushed in that order.
    pub fn check_columns(&self, names: &[&str]) -> crate::error::Result<()> {
        let want = self.column_names();
        if want.iter().map(String::as_str).eq(names.iter().copied()) {
            Ok(())
        } else {
            Err(crate::error::LakeError::Schema(format!(
                "{}: the writer's columns {names:?} are not the contract's {want:?}",
                self.id
            )))
        }
    }
}

/// A stable digest of a schema's column names, types and nullability, recorded in manifests so a
/// reader can tell a partition written under another contract.
pub fn fingerprint(schema: &Schema) -> String {
    let mut h = Sha256::new();
    for f in schema.fields() {
        h.update(format!(
            "{}:{}:{};",
            f.name(),
            f.data_type(),
            f.is_nullable()
        ));
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn req(name: &str, t: DataType) -> Field {
    Field::new(name, t, false)
}

fn opt(name: &str, t: DataType) -> Field {
    Field::new(name, t, true)
}

use DataType::{Boolean, Date32, Int32, Int64, Utf8};

const PG: &str = "postgres";
const DDB: &str = "dynamodb";
const MERCADO: &str = "mercado";

// ---- raw: as the source has it ------------------------------------------------------------

pub const RAW_CUSTOMERS: Contract = Contract {
    id: DatasetId::new(Zone::Raw, PG, "customers"),
    fields: customers,
};
pub const RAW_VENDORS: Contract = Contract {
    id: DatasetId::new(Zone::Raw, PG, "vendors"),
    fields: vendors,
};
pub const RAW_CATEGORIES: Contract = Contract {
    id: DatasetId::new(Zone::Raw, PG, "categories"),
    fields: categories,
};
pub const RAW_INVENTORY: Contract = Contract {
    id: DatasetId::new(Zone::Raw, PG, "inventory"),
    fields: inventory,
};
/// One row per DynamoDB transaction item; every attribute as text (numbers keep DynamoDB's exact
/// decimal text; `lines` is JSON), so that nothing is lost or rejected before `clean` looks at it.
pub const RAW_TRANSACTIONS: Contract = Contract {
    id: DatasetId::new(Zone::Raw, DDB, "transactions"),
    fields: raw_transactions,
};
/// One row per open cart last touched on the date.
pub const RAW_CARTS: Contract = Contract {
    id: DatasetId::new(Zone::Raw, DDB, "carts"),
    fields: raw_carts,
};

fn customers() -> Vec<Field> {
    vec![
        req("id", Int64),
        opt("first_name", Utf8),
        opt("last_name", Utf8),
        opt("email", Utf8),
        opt("joined_at", timestamp()),
        req("updated_at", timestamp()),
    ]
}

fn vendors() -> Vec<Field> {
    vec![
        req("id", Int64),
        opt("vendor_name", Utf8),
        opt("region", Utf8),
        opt("joined_at", timestamp()),
        req("updated_at", timestamp()),
    ]
}

fn categories() -> Vec<Field> {
    vec![
        req("id", Int32),
        opt("name", Utf8),
        req("updated_at", timestamp()),
    ]
}

fn inventory() -> Vec<Field> {
    vec![
        req("id", Int64),
        opt("vendor_id", Int64),
        opt("category_id", Int32),
        opt("item_name", Utf8),
        opt("price", money()),
        opt("stock", Int32),
        req("updated_at", timestamp()),
    ]
}

fn raw_transactions() -> Vec<Field> {
    [
        "transaction_id",
        "user_id",
        "total_price",
        "installments",
        "created_at",
        "lines",
    ]
    .iter()
    .map(|n| opt(n, Utf8))
    .collect()
}

fn raw_carts() -> Vec<Field> {
    ["user_id", "updated_at", "lines"]
        .iter()
        .map(|n| opt(n, Utf8))
        .collect()
}

// ---- cleaned: typed, standardized, validated ----------------------------------------------

pub const CLEAN_CUSTOMERS: Contract = Contract {
    id: DatasetId::new(Zone::Cleaned, PG, "customers"),
    fields: customers,
};
pub const CLEAN_VENDORS: Contract = Contract {
    id: DatasetId::new(Zone::Cleaned, PG, "vendors"),
    fields: vendors,
};
pub const CLEAN_CATEGORIES: Contract = Contract {
    id: DatasetId::new(Zone::Cleaned, PG, "categories"),
    fields: categories,
};
pub const CLEAN_INVENTORY: Contract = Contract {
    id: DatasetId::new(Zone::Cleaned, PG, "inventory"),
    fields: inventory,
};
/// One row per transaction line (transactions exploded).
pub const CLEAN_TRANSACTION_LINES: Contract = Contract {
    id: DatasetId::new(Zone::Cleaned, DDB, "transaction_lines"),
    fields: transaction_lines,
};
pub const CLEAN_CART_LINES: Contract = Contract {
    id: DatasetId::new(Zone::Cleaned, DDB, "cart_lines"),
    fields: cart_lines,
};

fn transaction_lines() -> Vec<Field> {
    vec![
        req("transaction_id", Utf8),
        req("line_no", Int32),
        req("customer_id", Int64),
        req("item_id", Int64),
        req("vendor_id", Int64),
        req("qty", Int64),
        req("unit_price", money()),
        req("total_price", money()),
        req("order_total", money()),
        req("installments", Int32),
        req("created_at", timestamp()),
    ]
}

fn cart_lines() -> Vec<Field> {
    vec![
        req("customer_id", Int64),
        req("item_id", Int64),
        req("vendor_id", Int64),
        req("qty", Int64),
        req("unit_price", money()),
        req("total_price", money()),
        req("cart_updated_at", timestamp()),
    ]
}

// ---- quarantine: rows clean refused, with why ---------------------------------------------

/// The quarantine partition of a raw dataset: same source and name, zone `quarantine`.
pub const fn quarantine_of(raw: DatasetId) -> Contract {
    Contract {
        id: DatasetId::new(Zone::Quarantine, raw.source, raw.name),
        fields: quarantine,
    }
}

fn quarantine() -> Vec<Field> {
    vec![
        opt("record_key", Utf8),
        req("reason_code", Utf8),
        req("reason", Utf8),
        req("record", Utf8),
    ]
}

/// The datasets keyed by transaction, which a day split into shards splits (one shard's rows each;
/// see [`crate::shard`]); every other dataset is written once per date.
pub const SHARDED: [Contract; 4] = [
    CLEAN_TRANSACTION_LINES,
    quarantine_of(RAW_TRANSACTIONS.id),
    WORK_SALES_LINES,
    GOLD_FACT_SALES,
];

// ---- work: lines joined with their dimensions as of the date ------------------------------

pub const WORK_SALES_LINES: Contract = Contract {
    id: DatasetId::new(Zone::Work, MERCADO, "sales_lines"),
    fields: sales_lines,
};

fn sales_lines() -> Vec<Field> {
    let mut f = transaction_lines();
    f.extend([
        req("date_id", Int32),
        req("category_id", Int32),
        opt("item_name", Utf8),
        opt("category_name", Utf8),
        opt("vendor_name", Utf8),
        opt("vendor_region", Utf8),
        opt("customer_email", Utf8),
        req("inventory_price", money()),
        req("price_differs", Boolean),
    ]);
    f
}

// ---- gold: the star schema ----------------------------------------------------------------

pub const GOLD_FACT_SALES: Contract = Contract {
    id: DatasetId::new(Zone::Gold, MERCADO, "fact_sales"),
    fields: fact_sales,
};
pub const GOLD_DIM_CUSTOMER: Contract = Contract {
    id: DatasetId::new(Zone::Gold, MERCADO, "dim_customer"),
    fields: dim_customer,
};
pub const GOLD_DIM_INVENTORY: Contract = Contract {
    id: DatasetId::new(Zone::Gold, MERCADO, "dim_inventory"),
    fields: dim_inventory,
};
pub const GOLD_DIM_VENDOR: Contract = Contract {
    id: DatasetId::new(Zone::Gold, MERCADO, "dim_vendor"),
    fields: dim_vendor,
};
pub const GOLD_DIM_CATEGORY: Contract = Contract {
    id: DatasetId::new(Zone::Gold, MERCADO, "dim_category"),
    fields: dim_category,
};
pub const GOLD_DIM_DATE: Contract = Contract {
    id: DatasetId::new(Zone::Gold, MERCADO, "dim_date"),
    fields: dim_date,
};
pub const GOLD_FACT_CART_SNAPSHOT: Contract = Contract {
    id: DatasetId::new(Zone::Gold, MERCADO, "fact_cart_snapshot"),
    fields: fact_cart_snapshot,
};

fn fact_sales() -> Vec<Field> {
    vec![
        req("transaction_id", Utf8),
        req("line_no", Int32),
        req("item_id", Int64),
        req("customer_id", Int64),
        req("vendor_id", Int64),
        req("category_id", Int32),
        req("date_id", Int32),
        req("unit_price", money()),
        req("qty", Int64),
        req("total_price", money()),
        req("installments", Int32),
        req("created_at", timestamp()),
    ]
}

fn scd2_tail() -> [Field; 3] {
    [
        req("valid_from", Date32),
        opt("valid_to", Date32),
        req("is_current", Boolean),
    ]
}

fn dim_customer() -> Vec<Field> {
    let mut f = vec![
        req("customer_id", Int64),
        req("first_name", Utf8),
        req("last_name", Utf8),
        req("email", Utf8),
        opt("joined_at", timestamp()),
    ];
    f.extend(scd2_tail());
    f
}

fn dim_inventory() -> Vec<Field> {
    let mut f = vec![
        req("item_id", Int64),
        req("vendor_id", Int64),
        req("category_id", Int32),
        req("item_name", Utf8),
        req("price", money()),
    ];
    f.extend(scd2_tail());
    f
}

fn dim_vendor() -> Vec<Field> {
    vec![
        req("vendor_id", Int64),
        req("vendor_name", Utf8),
        req("region", Utf8),
        opt("joined_at", timestamp()),
    ]
}

fn dim_category() -> Vec<Field> {
    vec![req("category_id", Int32), req("category_name", Utf8)]
}

fn dim_date() -> Vec<Field> {
    vec![
        req("date_id", Int32),
        req("date", Date32),
        req("year", Int32),
        req("quarter", Int32),
        req("month", Int32),
        req("day", Int32),
        req("day_of_week", Int32),
        req("is_weekend", Boolean),
    ]
}

fn fact_cart_snapshot() -> Vec<Field> {
    vec![
        req("date_id", Int32),
        req("customer_id", Int64),
        req("item_id", Int64),
        req("vendor_id", Int64),
        req("qty", Int64),
        req("unit_price", money()),
        req("total_price", money()),
        req("cart_updated_at", timestamp()),
    ]
}
