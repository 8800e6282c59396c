//! The warehouse DDL of both targets agrees with the gold contracts, column by column: same names,
//! same order (COPY and the merges address columns by the contract's names), compatible types.

use arrow_schema::DataType;
use mercado_lake::warehouse::TABLES;

/// `(column, type)` of `CREATE TABLE IF NOT EXISTS <table> (` … `)` in `sql`.
fn columns(sql: &str, table: &str) -> Vec<(String, String)> {
    let head = format!("CREATE TABLE IF NOT EXISTS {table} (");
    let start = sql.find(&head).unwrap_or_else(|| panic!("no {head}")) + head.len();
    sql[start..]
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with(')'))
        .filter(|l| !l.is_empty() && !l.starts_with("--") && !l.starts_with("PRIMARY KEY"))
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let ty = words
                .next()
                .unwrap_or_default()
                .trim_end_matches(',')
                .to_lowercase();
            (name, ty)
        })
        .collect()
}

/// Whether a warehouse column type holds what a contract's Arrow type carries.
fn compatible(arrow: &DataType, sql: &str) -> bool {
    match arrow {
        DataType::Int64 => sql == "bigint",
        DataType::Int32 => sql == "integer",
        DataType::Utf8 => sql == "text" || sql.starts_with("varchar") || sql.starts_with("char("),
        DataType::Decimal128(p, s) => {
            sql == format!("numeric({p},{s})") || sql == format!("decimal({p},{s})")
        }
        DataType::Date32 => sql == "date",
        DataType::Timestamp(_, Some(_)) => sql == "timestamptz",
        DataType::Boolean => sql == "boolean",
        _ => false,
    }
}

#[test]
fn both_warehouses_have_the_gold_contracts_columns() {
    for (target, sql) in [
        (
            "postgres.sql",
            include_str!("../../../sql/warehouse/postgres.sql"),
        ),
        (
            "redshift.sql",
            include_str!("../../../sql/warehouse/redshift.sql"),
        ),
    ] {
        for t in TABLES {
            let ddl = columns(sql, &t.core());
            let schema = t.contract.schema();
            let contract: Vec<(&str, &DataType)> = schema
                .fields()
                .iter()
                .map(|f| (f.name().as_str(), f.data_type()))
                .collect();
            let names: Vec<&str> = ddl.iter().map(|(n, _)| n.as_str()).collect();
            let want: Vec<&str> = contract.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                names,
                want,
                "{target} {} vs the contract {}",
                t.core(),
                t.contract.id
            );
            for ((name, sql_type), (_, arrow)) in ddl.iter().zip(&contract) {
                assert!(
                    compatible(arrow, sql_type),
                    "{target} {}.{name} is {sql_type}, the contract says {arrow}",
                    t.core()
                );
            }
        }
    }
}
