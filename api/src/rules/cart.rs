//! A cart's lines: how many, each line's quantity, and lines of one item merged into one.

use std::collections::HashMap;

use super::{validate, FieldError, MAX_CART_LINES, MAX_QTY};
use crate::model::{CartLineRequest, FlexId};

/// One item of a cart and its total quantity over the request's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergedLine {
    pub item_id: FlexId,
    pub qty: i64,
}

/// A cart has 1 to [`MAX_CART_LINES`] lines.
pub fn check_line_count(lines: &[CartLineRequest]) -> Result<(), FieldError> {
    if lines.is_empty() {
        return Err(FieldError::new("cart", "cart must have at least one line"));
    }
    if lines.len() > MAX_CART_LINES {
        return Err(FieldError::new(
            "cart",
            format!("cart must have at most {MAX_CART_LINES} lines"),
        ));
    }
    Ok(())
}

/// Checks each line's qty and sums the lines of one item into one, in order of first appearance.
/// A line whose qty takes its item past [`MAX_QTY`] is refused by its own field name.
pub fn merge_lines(lines: &[CartLineRequest]) -> Result<Vec<MergedLine>, FieldError> {
    let mut merged: Vec<MergedLine> = Vec::with_capacity(lines.len());
    let mut index: HashMap<FlexId, usize> = HashMap::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let field = format!("cart[{i}].qty");
        validate::int_in(&field, line.qty, 1, MAX_QTY)?;
        match index.get(&line.item_id) {
            Some(&at) => {
                let total = merged[at].qty + line.qty;
                if total > MAX_QTY {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "cart[{i}].qty brings item {} to {total} units over the cart's lines; \
                             at most {MAX_QTY} per item",
                            line.item_id
                        ),
                    ));
                }
                merged[at].qty = total;
            }
            None => {
                index.insert(line.item_id, merged.len());
                merged.push(MergedLine {
                    item_id: line.item_id,
                    qty: line.qty,
                });
            }
        }
    }
    Ok(merged)
}
