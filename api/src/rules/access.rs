//! Who may do what: the principals a token names and the one place their ownership rules live.
//!
//! A customer acts only on itself, a vendor only on itself, and a service (the traffic generator,
//! a back office) acts for anyone but only with the scope an operation asks for. Reads of the
//! catalogue (inventory, categories) are open to any principal. The HTTP layer maps [`Denied`]:
//! a resource named by its id in the path that belongs to another owner of the same kind is
//! [`Denied::Hidden`] (404: its existence is not revealed); anything else refused is
//! [`Denied::Forbidden`] (403).

use std::collections::BTreeSet;

/// The scopes a service token may carry; each names the operations it opens (README, "Security").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `GET /customers/{id}`, its transactions, `GET /transactions/{id}`.
    CustomersRead,
    /// `POST /customers` (sign-up).
    CustomersWrite,
    /// `GET /cart/{user_id}`.
    CartsRead,
    /// `POST /cart`.
    CartsWrite,
    /// `POST /checkout`.
    Checkout,
    /// `GET /vendors/{id}`.
    VendorsRead,
    /// `POST /vendors` (sign-up).
    VendorsWrite,
    /// `POST /inventory`, `PATCH /inventory/{id}`.
    InventoryWrite,
    /// `GET /vendors/{id}/sales`.
    SalesRead,
    /// `joined_at` on `POST /customers` and `POST /vendors`, `created_at` on `POST /inventory`:
    /// importing a marketplace's history with its original dates (the pipeline's snapshot of a
    /// past day takes only what existed by its end).
    HistoryWrite,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::CustomersRead,
        Scope::CustomersWrite,
        Scope::CartsRead,
        Scope::CartsWrite,
        Scope::Checkout,
        Scope::VendorsRead,
        Scope::VendorsWrite,
        Scope::InventoryWrite,
        Scope::SalesRead,
        Scope::HistoryWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CustomersRead => "customers:read",
            Scope::CustomersWrite => "customers:write",
            Scope::CartsRead => "carts:read",
            Scope::CartsWrite => "carts:write",
            Scope::Checkout => "checkout",
            Scope::VendorsRead => "vendors:read",
            Scope::VendorsWrite => "vendors:write",
            Scope::InventoryWrite => "inventory:write",
            Scope::SalesRead => "sales:read",
            Scope::HistoryWrite => "history:write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Every scope, space-separated (a token's `scope` claim).
    pub fn all_text() -> String {
        Scope::ALL.map(Scope::as_str).join(" ")
    }
}

/// The authenticated caller, from a token's `sub` (`customer:<id>`, `vendor:<id>`,
/// `service:<name>`) and `scope` claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Customer(i64),
    Vendor(i64),
    /// Scopes it does not know are ignored.
    Service {
        name: String,
        scopes: BTreeSet<Scope>,
    },
}

/// Why a principal may not act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Not allowed: 403.
    Forbidden,
    /// Another owner's resource: answered as if it did not exist (404).
    Hidden,
}

impl Principal {
    /// The principal of a `sub` claim with its `scope` claim (services only); `None` if `sub` is
    /// none of the three forms.
    pub fn parse(sub: &str, scope: Option<&str>) -> Option<Principal> {
        let (kind, rest) = sub.split_once(':')?;
        let id = || {
            rest.parse::<i64>()
                .ok()
                .filter(|n| *n > 0 && rest.bytes().all(|b| b.is_ascii_digit()))
        };
        match kind {
            "customer" => id().map(Principal::Customer),
            "vendor" => id().map(Principal::Vendor),
            "service"
                if !rest.is_empty()
                    && rest.len() <= 100
                    && rest.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Some(Principal::Service {
                    name: rest.to_string(),
                    scopes: scope
                        .unwrap_or_default()
                        .split_ascii_whitespace()
                        .filter_map(Scope::parse)
                        .collect(),
                })
            }
            _ => None,
        }
    }

    /// The `sub` claim naming this principal.
    pub fn subject(&self) -> String {
        match self {
            Principal::Customer(id) => format!("customer:{id}"),
            Principal::Vendor(id) => format!("vendor:{id}"),
            Principal::Service { name, .. } => format!("service:{name}"),
        }
    }

    /// A service with this scope.
    pub fn has(&self, scope: Scope) -> bool {
        matches!(self, Principal::Service { scopes, .. } if scopes.contains(&scope))
    }

    /// An operation only services with `scope` may call (sign-up).
    pub fn may(&self, scope: Scope) -> Result<(), Denied> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(Denied::Forbidden)
        }
    }

    /// Acting on customer `id`'s data: that customer, or a service with `scope`.
    pub fn may_act_for_customer(&self, id: i64, scope: Scope) -> Result<(), Denied> {
        match self {
            Principal::Customer(me) if *me == id => Ok(()),
            Principal::Customer(_) => Err(Denied::Hidden),
            _ => self.may(scope),
        }
    }

    /// Before the owner of a resource is known (it is read first): a customer may go on (and is
    /// then held to [`Principal::may_act_for_customer`]), anyone else needs `scope`. So a vendor
    /// learns nothing of whether the resource exists.
    pub fn may_act_for_some_customer(&self, scope: Scope) -> Result<(), Denied> {
        match self {
            Principal::Customer(_) => Ok(()),
            _ => self.may(scope),
        }
    }

    /// As [`Principal::may_act_for_some_customer`], for vendors.
    pub fn may_act_for_some_vendor(&self, scope: Scope) -> Result<(), Denied> {
        match self {
            Principal::Vendor(_) => Ok(()),
            _ => self.may(scope),
        }
    }

    /// Acting on vendor `id`'s data: that vendor, or a service with `scope`.
    pub fn may_act_for_vendor(&self, id: i64, scope: Scope) -> Result<(), Denied> {
        match self {
            Principal::Vendor(me) if *me == id => Ok(()),
            Principal::Vendor(_) => Err(Denied::Hidden),
            _ => self.may(scope),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_parse_and_owners_are_checked() {
        assert_eq!(
            Principal::parse("customer:7", None),
            Some(Principal::Customer(7))
        );
        assert_eq!(
            Principal::parse("vendor:3", Some("x")),
            Some(Principal::Vendor(3))
        );
        for bad in [
            "customer:0",
            "customer:-1",
            "customer:+1",
            "vendor:",
            "user:1",
            "service:",
            "x",
        ] {
            assert_eq!(Principal::parse(bad, None), None, "{bad}");
        }
        let svc = Principal::parse("service:traffic", Some("checkout carts:write bogus"))
            .expect("service");
        assert!(svc.has(Scope::Checkout) && svc.has(Scope::CartsWrite));
        assert!(!svc.has(Scope::CartsRead));
        assert_eq!(svc.may_act_for_customer(9, Scope::Checkout), Ok(()));
        assert_eq!(
            svc.may_act_for_customer(9, Scope::CartsRead),
            Err(Denied::Forbidden)
        );
        let c = Principal::Customer(7);
        assert_eq!(c.may_act_for_customer(7, Scope::Checkout), Ok(()));
        assert_eq!(
            c.may_act_for_customer(8, Scope::Checkout),
            Err(Denied::Hidden)
        );
        assert_eq!(
            c.may_act_for_vendor(7, Scope::VendorsRead),
            Err(Denied::Forbidden)
        );
        assert_eq!(c.may(Scope::CustomersWrite), Err(Denied::Forbidden));
        let v = Principal::Vendor(3);
        assert_eq!(v.may_act_for_vendor(3, Scope::InventoryWrite), Ok(()));
        assert_eq!(
            v.may_act_for_vendor(4, Scope::InventoryWrite),
            Err(Denied::Hidden)
        );
        assert_eq!(Scope::ALL.len(), Scope::all_text().split(' ').count());
    }
}
