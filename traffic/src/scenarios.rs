//! What a synthetic day looks like, decided before anything is written: a pure function of the
//! seed, the date and the catalogue's size, so the same seed gives the same day and every day
//! differs. `traffic` then carries the plan out through the API and its stores.
//!
//! Scenarios (the week cycles through them, each at least once):
//! - `normal`: a diurnal curve (quiet nights, a lunch and an evening peak), weekday effects,
//!   skewed item popularity, most carts checked out and some abandoned;
//! - `flash_sale`: a 45-minute spike of many carts and checkouts on three hot items;
//! - `promotion`: a category's prices cut by a quarter for the day, and the lift that follows;
//! - `fraud`: bursts of small checkouts from new accounts, new accounts whose first order is of
//!   high value, and an account with many high-value orders within minutes. These are labelled.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Normal,
    FlashSale,
    Promotion,
    Fraud,
}

impl Scenario {
    /// The week's cycle; a seed shifts where it starts.
    const WEEK: [Scenario; 7] = [
        Scenario::Normal,
        Scenario::FlashSale,
        Scenario::Normal,
        Scenario::Promotion,
        Scenario::Normal,
        Scenario::Fraud,
        Scenario::Normal,
    ];

    /// The scenario of `date` for `seed`: any seven consecutive days hold every scenario.
    pub fn of(seed: u64, date: NaiveDate) -> Scenario {
        let day = date.num_days_from_ce() as u64;
        Scenario::WEEK[((day + seed) % 7) as usize]
    }
}

/// Who places an order: a customer of the catalogue, or one of the day's new accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Buyer {
    Existing(usize),
    New(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedOrder {
    /// Milliseconds after midnight UTC.
    pub at_ms: u32,
    pub buyer: Buyer,
    /// `(item index, qty)`, distinct items.
    pub lines: Vec<(usize, i64)>,
    /// Ground truth: placed by the fraud scenario.
    pub fraud: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayPlan {
    pub date: NaiveDate,
    pub scenario: Scenario,
    /// Accounts opened today (ordinary growth and, on a fraud day, the fraudsters').
    pub new_customers: usize,
    /// Items listed today.
    pub new_items: usize,
    /// `(item index, new price in cents)`: everyday repricing, and a promotion's cuts.
    pub price_changes: Vec<(usize, i64)>,
    /// `(item index, new name)`.
    pub renames: Vec<(usize, String)>,
    /// The promoted category, on a promotion day.
    pub promoted_category: Option<i32>,
    pub orders: Vec<PlannedOrder>,
    /// Carts left open at the end of the day: `(buyer, item index, qty, at_ms)`.
    pub open_carts: Vec<(Buyer, usize, i64, u32)>,
}

/// The catalogue as it stands before the day, as the planner needs it.
#[derive(Debug, Clone)]
pub struct CatalogueView {
    pub customers: usize,
    /// Per item: its category and price in cents.
    pub items: Vec<(i32, i64)>,
}

/// The one generator of the synthetic data, seeded per day ([`Rng::for_day`]).
pub use mercado_core::rng::Rng;

/// Relative order volume by hour of day (UTC): quiet nights, lunch and evening peaks.
const HOURLY: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 12, 15, 14, 11, 10, 10, 11, 14, 17, 18, 15, 10, 5,
];

/// Monday … Sunday.
const WEEKDAY_FACTOR: [f64; 7] = [0.9, 0.95, 1.0, 1.0, 1.1, 1.3, 1.2];

fn diurnal_ms(rng: &mut Rng) -> u32 {
    let total: u32 = HOURLY.iter().sum();
    let mut pick = rng.below(total as usize) as u32;
    let mut hour = 0;
    for (h, w) in HOURLY.iter().enumerate() {
        if pick < *w {
            hour = h as u32;
            break;
        }
        pick -= w;
    }
    hour * 3_600_000 + rng.below(3_600_000) as u32
}

fn basket(
    rng: &mut Rng,
    items: usize,
    pick: &mut dyn FnMut(&mut Rng) -> usize,
) -> Vec<(usize, i64)> {
    let mut lines: Vec<(usize, i64)> = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let item = pick(rng) % items.max(1);
        if !lines.iter().any(|(i, _)| *i == item) {
            lines.push((item, 1 + rng.below(3) as i64));
        }
    }
    lines
}

/// Plans `date`: `orders` and `carts` are the size of an ordinary day before weekday effects.
pub fn plan(
    seed: u64,
    date: NaiveDate,
    catalogue: &CatalogueView,
    orders: usize,
    carts: usize,
) -> DayPlan {
    plan_as(
        seed,
        date,
        Scenario::of(seed, date),
        catalogue,
        orders,
        carts,
    )
}

/// Plans `date` as `scenario`.
pub fn plan_as(
    seed: u64,
    date: NaiveDate,
    scenario: Scenario,
    catalogue: &CatalogueView,
    orders: usize,
    carts: usize,
) -> DayPlan {
    let mut rng = Rng::for_day(seed, date);
    let items = catalogue.items.len().max(1);
    let factor = WEEKDAY_FACTOR[date.weekday().num_days_from_monday() as usize];
    let n_orders = ((orders as f64) * factor * (0.9 + 0.2 * rng.unit())).round() as usize;
    let new_customers = 1 + catalogue.customers / 20 + rng.below(3);
    let new_items = rng.below(3);

    // The catalogue lives: a few prices move and an item is renamed most days.
    let mut price_changes = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let item = rng.below(items);
        let (_, cents) = catalogue.items.get(item).copied().unwrap_or((1, 1000));
        let moved = (cents as f64 * (0.85 + 0.3 * rng.unit())).round() as i64;
        price_changes.push((item, moved.max(99)));
    }
    let mut renames = Vec::new();
    if rng.below(3) > 0 {
        let item = rng.below(items);
        renames.push((item, item_name(&mut rng)));
    }

    let buyers = catalogue.customers + new_customers;
    let any_buyer = |rng: &mut Rng| {
        let k = rng.below(buyers);
        if k < catalogue.customers {
            Buyer::Existing(k)
        } else {
            Buyer::New(k - catalogue.customers)
        }
    };
    let mut planned = Vec::new();
    let mut promoted_category = None;
    match scenario {
        Scenario::Normal | Scenario::Fraud => {}
        Scenario::FlashSale => {
            let hot: Vec<usize> = (0..3).map(|_| rng.below(items)).collect();
            let start = 20 * 3_600_000;
            for _ in 0..n_orders * 2 / 3 {
                let at = start + rng.below(45 * 60_000) as u32;
                let buyer = any_buyer(&mut rng);
                let lines = vec![(hot[rng.below(hot.len())], 1 + rng.below(2) as i64)];
                planned.push(PlannedOrder {
                    at_ms: at,
                    buyer,
                    lines,
                    fraud: false,
                });
            }
        }
        Scenario::Promotion => {
            let category = catalogue.items.get(rng.below(items)).map_or(1, |(c, _)| *c);
            promoted_category = Some(category);
            for (i, (c, cents)) in catalogue.items.iter().enumerate() {
                if *c == category {
                    price_changes.push((i, (cents * 3 / 4).max(99)));
                }
            }
            let promoted: Vec<usize> = (0..items)
                .filter(|i| catalogue.items.get(*i).is_some_and(|(c, _)| *c == category))
                .collect();
            for _ in 0..n_orders * 2 / 5 {
                let buyer = any_buyer(&mut rng);
                let at = diurnal_ms(&mut rng);
                let item = promoted
                    .get(rng.below(promoted.len()))
                    .copied()
                    .unwrap_or(0);
                planned.push(PlannedOrder {
                    at_ms: at,
                    buyer,
                    lines: vec![(item, 1 + rng.below(3) as i64)],
                    fraud: false,
                });
            }
        }
    }
    for _ in 0..n_orders {
        let buyer = any_buyer(&mut rng);
        let at = diurnal_ms(&mut rng);
        let lines = basket(&mut rng, items, &mut |r: &mut Rng| r.popular(items));
        planned.push(PlannedOrder {
            at_ms: at,
            buyer,
            lines,
            fraud: false,
        });
    }

    let mut fraud_accounts = 0;
    if scenario == Scenario::Fraud {
        let cheapest = (0..items)
            .min_by_key(|i| catalogue.items.get(*i).map_or(i64::MAX, |(_, c)| *c))
            .unwrap_or(0);
        let priciest = (0..items)
            .max_by_key(|i| catalogue.items.get(*i).map_or(0, |(_, c)| *c))
            .unwrap_or(0);
        let price = |i: usize| catalogue.items.get(i).map_or(1000, |(_, c)| *c).max(1);
        // Bursts of small checkouts from new accounts: four within a minute each.
        for _ in 0..3 {
            let buyer = Buyer::New(new_customers + fraud_accounts);
            fraud_accounts += 1;
            let start = diurnal_ms(&mut rng).min(86_400_000 - 60_000);
            for k in 0..4 {
                planned.push(PlannedOrder {
                    at_ms: start + k * 12_000,
                    buyer,
                    lines: vec![(cheapest, 1)],
                    fraud: true,
                });
            }
        }
        // New accounts whose first order is of high value (at least 3,000.00).
        for _ in 0..2 {
            let buyer = Buyer::New(new_customers + fraud_accounts);
            fraud_accounts += 1;
            let qty = (300_000 / price(priciest) + 1).clamp(1, 10_000);
            planned.push(PlannedOrder {
                at_ms: diurnal_ms(&mut rng),
                buyer,
                lines: vec![(priciest, qty)],
                fraud: true,
            });
        }
        // An existing account with six high-value orders within ten minutes.
        let buyer = Buyer::Existing(rng.below(catalogue.customers.max(1)));
        let start = diurnal_ms(&mut rng).min(86_400_000 - 600_000);
        for k in 0..6 {
            let lines = vec![(priciest, 2 + rng.below(2) as i64)];
            planned.push(PlannedOrder {
                at_ms: start + k * 90_000,
                buyer,
                lines,
                fraud: true,
            });
        }
    }
    planned.sort_by_key(|o| o.at_ms);

    let abandon = match scenario {
        Scenario::FlashSale => 2,
        _ => 1,
    };
    let open_carts = (0..carts * abandon)
        .map(|_| {
            let buyer = any_buyer(&mut rng);
            (
                buyer,
                rng.popular(items),
                1 + rng.below(3) as i64,
                diurnal_ms(&mut rng),
            )
        })
        .collect();
    DayPlan {
        date,
        scenario,
        new_customers: new_customers + fraud_accounts,
        new_items,
        price_changes,
        renames,
        promoted_category,
        orders: planned,
        open_carts,
    }
}

const FIRST: [&str; 24] = [
    "Ana", "Rui", "Marta", "João", "Inês", "Pedro", "Sofia", "Miguel", "Lucía", "Carlos", "Emma",
    "Lukas", "Chloé", "Hugo", "Amara", "Kenji", "Priya", "Mateo", "Olivia", "Noah", "Zara",
    "Tomás", "Lena", "Diego",
];
const LAST: [&str; 24] = [
    "Silva",
    "Santos",
    "Ferreira",
    "Costa",
    "Oliveira",
    "García",
    "Martínez",
    "Dubois",
    "Müller",
    "Schmidt",
    "Rossi",
    "Bianchi",
    "Smith",
    "Johnson",
    "Nakamura",
    "Okafor",
    "Patel",
    "Novak",
    "Kowalski",
    "Andersen",
    "Moreau",
    "Lopes",
    "Almeida",
    "Pereira",
];
const ADJECTIVES: [&str; 16] = [
    "Classic", "Handmade", "Organic", "Vintage", "Compact", "Deluxe", "Everyday", "Rustic",
    "Bright", "Cozy", "Sturdy", "Slim", "Smart", "Woven", "Ceramic", "Linen",
];
const NOUNS: [&str; 20] = [
    "Mug",
    "Lamp",
    "Notebook",
    "Backpack",
    "Teapot",
    "Blanket",
    "Headphones",
    "Candle",
    "Scarf",
    "Kettle",
    "Planter",
    "Wallet",
    "Sneakers",
    "Jacket",
    "Cutting Board",
    "Water Bottle",
    "Desk Chair",
    "Sunglasses",
    "Tote Bag",
    "Coffee Grinder",
];
const SHOPS: [&str; 12] = [
    "Casa",
    "Atelier",
    "Loja",
    "Maison",
    "Haus",
    "Bottega",
    "Studio",
    "Workshop",
    "Mercearia",
    "Boutique",
    "Depot",
    "Corner",
];

/// A person's name: `(first, last)`.
pub fn person(rng: &mut Rng) -> (&'static str, &'static str) {
    (FIRST[rng.below(FIRST.len())], LAST[rng.below(LAST.len())])
}

pub fn item_name(rng: &mut Rng) -> String {
    format!(
        "{} {}",
        ADJECTIVES[rng.below(ADJECTIVES.len())],
        NOUNS[rng.below(NOUNS.len())]
    )
}

pub fn shop_name(rng: &mut Rng) -> String {
    format!(
        "{} {}",
        SHOPS[rng.below(SHOPS.len())],
        LAST[rng.below(LAST.len())]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> CatalogueView {
        CatalogueView {
            customers: 40,
            items: (0..30)
                .map(|i| (1 + i % 9, 299 + 731 * i64::from(i)))
                .collect(),
        }
    }

    fn day(d: &str) -> NaiveDate {
        NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn same_seed_same_day_and_days_differ() {
        let c = catalogue();
        let a = plan(7, day("2025-03-17"), &c, 100, 10);
        assert_eq!(a, plan(7, day("2025-03-17"), &c, 100, 10));
        assert_ne!(a, plan(7, day("2025-03-18"), &c, 100, 10));
        assert_ne!(a, plan(8, day("2025-03-17"), &c, 100, 10));
    }

    #[test]
    fn a_week_holds_every_scenario() {
        let start = day("2025-03-17");
        let week: Vec<Scenario> = (0..7)
            .map(|i| Scenario::of(11, start + chrono::Duration::days(i)))
            .collect();
        for s in [
            Scenario::Normal,
            Scenario::FlashSale,
            Scenario::Promotion,
            Scenario::Fraud,
        ] {
            assert!(week.contains(&s), "{s:?} missing from {week:?}");
        }
    }

    #[test]
    fn scenarios_do_what_they_say() {
        let c = catalogue();
        let d = day("2025-03-19");
        let fraud = plan_as(1, d, Scenario::Fraud, &c, 100, 10);
        assert_eq!(
            fraud.orders.iter().filter(|o| o.fraud).count(),
            3 * 4 + 2 + 6
        );
        let normal = plan_as(1, d, Scenario::Normal, &c, 100, 10);
        assert!(normal.orders.iter().all(|o| !o.fraud));
        let flash = plan_as(1, d, Scenario::FlashSale, &c, 100, 10);
        let spike = flash
            .orders
            .iter()
            .filter(|o| (72_000_000..74_700_000).contains(&o.at_ms))
            .count();
        assert!(
            spike * 3 >= flash.orders.len(),
            "a third or more in the 45-minute window"
        );
        let promo = plan_as(1, d, Scenario::Promotion, &c, 100, 10);
        let category = promo.promoted_category.expect("a promoted category");
        let cuts = promo
            .price_changes
            .iter()
            .filter(|(i, _)| c.items[*i].0 == category)
            .count();
        assert!(cuts >= c.items.iter().filter(|(k, _)| *k == category).count());
        // Nights are quiet.
        let night = normal
            .orders
            .iter()
            .filter(|o| o.at_ms < 5 * 3_600_000)
            .count();
        let evening = normal
            .orders
            .iter()
            .filter(|o| (18..23).contains(&(o.at_ms / 3_600_000)))
            .count();
        assert!(evening > night * 2, "evening {evening}, night {night}");
    }
}
