//! Pricing: the one place where lines get their totals and an order its total. Cart replace,
//! checkout and the traffic generator all price through [`price`].

use rust_decimal::Decimal;

use crate::model::{CartLine, FlexId, Money, TransactionLine};

/// A line to price: the item, its vendor, the quantity and the unit price (from inventory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineToPrice {
    pub item_id: FlexId,
    pub vendor_id: FlexId,
    pub qty: i64,
    pub unit_price: Money,
}

/// Lines with their totals, in the order given, and the order's total.
#[derive(Debug, Clone)]
pub struct Priced {
    pub lines: Vec<CartLine>,
    pub total: Money,
}

impl Priced {
    /// The lines as a transaction's, numbered from 1.
    pub fn transaction_lines(&self) -> Vec<TransactionLine> {
        self.lines
            .iter()
            .enumerate()
            .map(|(i, l)| TransactionLine {
                line_no: i as i64 + 1,
                item_id: l.item_id,
                vendor_id: l.vendor_id,
                qty: l.qty,
                unit_price: l.unit_price,
                total_price: l.total_price,
            })
            .collect()
    }
}

/// Prices `lines`: each line's total is `unit_price × qty`, exact, and the order's total their
/// sum, at two decimals.
pub fn price(lines: impl IntoIterator<Item = LineToPrice>) -> Priced {
    let lines: Vec<CartLine> = lines
        .into_iter()
        .map(|l| CartLine {
            item_id: l.item_id,
            vendor_id: l.vendor_id,
            qty: l.qty,
            unit_price: l.unit_price,
            total_price: line_total(l.unit_price, l.qty),
        })
        .collect();
    let total = Money::normalized(lines.iter().map(|l| l.total_price.0).sum());
    Priced { lines, total }
}

/// `unit_price × qty`, exact.
fn line_total(unit_price: Money, qty: i64) -> Money {
    Money::normalized(unit_price.0 * Decimal::from(qty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_total_are_exact() {
        let m = |cents| Money(Decimal::new(cents, 2));
        let priced = price([
            LineToPrice {
                item_id: FlexId(1),
                vendor_id: FlexId(9),
                qty: 3,
                unit_price: m(1250),
            },
            LineToPrice {
                item_id: FlexId(2),
                vendor_id: FlexId(9),
                qty: 7,
                unit_price: m(10),
            },
        ]);
        assert_eq!(priced.lines[0].total_price, m(3750));
        assert_eq!(priced.lines[1].total_price, m(70));
        assert_eq!(priced.total, m(3820));
        assert_eq!(priced.total.0.scale(), 2);
        let txn = priced.transaction_lines();
        assert_eq!(txn.iter().map(|l| l.line_no).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(txn[1].total_price, m(70));
    }
}
