-- Mercado marts: views over core, so they are current the moment a load commits. Portable between
-- PostgreSQL and Redshift. Each states its denominator.

-- Daily GMV, orders and AOV.
--   gmv        = sum of fact_sales.total_price of the day (completed checkouts only)
--   orders     = distinct transactions of the day
--   aov        = gmv / orders  (denominator: the day's completed orders)
CREATE OR REPLACE VIEW marts.daily_sales AS
SELECT d.date_id,
       d.date,
       COALESCE(SUM(f.total_price), 0)                                   AS gmv,
       COUNT(DISTINCT f.transaction_id)                                  AS orders,
       ROUND(SUM(f.total_price) / NULLIF(COUNT(DISTINCT f.transaction_id), 0), 2) AS aov,
       COALESCE(SUM(f.qty), 0)                                           AS items_sold,
       COUNT(DISTINCT f.customer_id)                                     AS customers
FROM core.dim_date d
LEFT JOIN core.fact_sales f ON f.date_id = d.date_id
GROUP BY d.date_id, d.date;

-- Vendor daily sales. orders = distinct transactions with at least one line of the vendor.
CREATE OR REPLACE VIEW marts.vendor_daily_sales AS
SELECT f.date_id,
       f.vendor_id,
       v.vendor_name,
       v.region,
       SUM(f.total_price)               AS gmv,
       COUNT(DISTINCT f.transaction_id) AS orders,
       SUM(f.qty)                       AS items_sold
FROM core.fact_sales f
JOIN core.dim_vendor v ON v.vendor_id = f.vendor_id
GROUP BY f.date_id, f.vendor_id, v.vendor_name, v.region;

-- Vendors as the warehouse knows them (GET /vendors/{id}/sales: whether the vendor exists, its name).
CREATE OR REPLACE VIEW marts.vendors AS
SELECT vendor_id, vendor_name, region FROM core.dim_vendor;

-- Each vendor's sales per item and day, the item named by its current version (else its latest).
--   units = sum of qty, revenue = sum of total_price of the item's lines of the day
CREATE OR REPLACE VIEW marts.vendor_item_daily_sales AS
SELECT f.date_id,
       f.vendor_id,
       f.item_id,
       n.item_name,
       SUM(f.qty)         AS units,
       SUM(f.total_price) AS revenue
FROM core.fact_sales f
LEFT JOIN (
    SELECT item_id, item_name,
           ROW_NUMBER() OVER (PARTITION BY item_id
                              ORDER BY CASE WHEN is_current THEN 0 ELSE 1 END, valid_from DESC) AS version_rank
    FROM core.dim_inventory
) n ON n.item_id = f.item_id AND n.version_rank = 1
GROUP BY f.date_id, f.vendor_id, f.item_id, n.item_name;

-- Category sales. share_of_gmv = category gmv / the day's gmv (denominator: all lines of the day).
CREATE OR REPLACE VIEW marts.category_sales AS
SELECT f.date_id,
       f.category_id,
       c.category_name,
       SUM(f.total_price) AS gmv,
       SUM(f.qty)         AS items_sold,
       ROUND(SUM(f.total_price) / NULLIF(MAX(day.gmv), 0), 4) AS share_of_gmv
FROM core.fact_sales f
JOIN core.dim_category c ON c.category_id = f.category_id
JOIN (SELECT date_id, SUM(total_price) AS gmv FROM core.fact_sales GROUP BY date_id) day
  ON day.date_id = f.date_id
GROUP BY f.date_id, f.category_id, c.category_name;

-- Top 10 items of each day by GMV (ties broken by item id), named as they are now.
CREATE OR REPLACE VIEW marts.top_items AS
SELECT ranked.date_id, ranked.item_rank, ranked.item_id, i.item_name, ranked.qty, ranked.gmv
FROM (
    SELECT date_id, item_id, SUM(qty) AS qty, SUM(total_price) AS gmv,
           ROW_NUMBER() OVER (PARTITION BY date_id ORDER BY SUM(total_price) DESC, item_id) AS item_rank
    FROM core.fact_sales
    GROUP BY date_id, item_id
) ranked
LEFT JOIN core.dim_inventory i ON i.item_id = ranked.item_id AND i.is_current
WHERE ranked.item_rank <= 10;

-- Cart abandonment: carts still open at the end of the day against the day's checkouts.
--   abandonment_rate = open_carts / (open_carts + checkouts)
--   (denominator: carts that ended the day either checked out or open)
CREATE OR REPLACE VIEW marts.cart_abandonment AS
SELECT d.date_id,
       d.date,
       COALESCE(c.open_carts, 0)  AS open_carts,
       COALESCE(s.checkouts, 0)   AS checkouts,
       COALESCE(c.open_value, 0)  AS open_cart_value,
       ROUND(COALESCE(c.open_carts, 0)::numeric
             / NULLIF(COALESCE(c.open_carts, 0) + COALESCE(s.checkouts, 0), 0), 4) AS abandonment_rate
FROM core.dim_date d
LEFT JOIN (SELECT date_id, COUNT(DISTINCT customer_id) AS open_carts, SUM(total_price) AS open_value
           FROM core.fact_cart_snapshot GROUP BY date_id) c ON c.date_id = d.date_id
LEFT JOIN (SELECT date_id, COUNT(DISTINCT transaction_id) AS checkouts
           FROM core.fact_sales GROUP BY date_id) s ON s.date_id = d.date_id;

-- Repeat-customer rate: of the customers who ordered on a day, the share who had ordered on an
-- earlier day loaded into the warehouse.
--   repeat_rate = repeat_customers / customers  (denominator: the day's distinct buyers)
CREATE OR REPLACE VIEW marts.repeat_customer_rate AS
WITH buyers AS (
    SELECT DISTINCT date_id, customer_id FROM core.fact_sales
), first_order AS (
    SELECT customer_id, MIN(date_id) AS first_date_id FROM core.fact_sales GROUP BY customer_id
)
SELECT b.date_id,
       COUNT(*)                                                      AS customers,
       SUM(CASE WHEN f.first_date_id < b.date_id THEN 1 ELSE 0 END)  AS repeat_customers,
       ROUND(SUM(CASE WHEN f.first_date_id < b.date_id THEN 1 ELSE 0 END)::numeric / COUNT(*), 4) AS repeat_rate
FROM buyers b
JOIN first_order f ON f.customer_id = b.customer_id
GROUP BY b.date_id;

-- Fraud signals: one row per (transaction, rule that fired). Rules, on each customer's completed
-- checkouts (created_at, total of the transaction):
--   velocity                5 or more checkouts of the customer within 10 minutes: every checkout
--                           of such a window is flagged
--   new_account_high_value  a checkout of 2,500.00 or more that is the customer's first checkout
--   small_orders_burst      3 or more checkouts under 10.00 of the customer within 1 minute: every
--                           checkout of such a burst is flagged
CREATE OR REPLACE VIEW marts.flagged_transactions AS
WITH txn AS (
    SELECT transaction_id, customer_id, date_id,
           MIN(created_at)  AS created_at,
           SUM(total_price) AS total_price
    FROM core.fact_sales
    GROUP BY transaction_id, customer_id, date_id
), velocity_end AS (
    -- Checkouts that close a 10-minute window holding 5 or more of the customer's checkouts.
    SELECT t.transaction_id, t.customer_id, t.created_at, COUNT(*) AS recent
    FROM txn t
    JOIN txn p ON p.customer_id = t.customer_id
              AND p.created_at <= t.created_at
              AND p.created_at > t.created_at - INTERVAL '10 minutes'
    GROUP BY t.transaction_id, t.customer_id, t.created_at
    HAVING COUNT(*) >= 5
), velocity AS (
    SELECT m.transaction_id, MAX(e.recent) AS recent
    FROM velocity_end e
    JOIN txn m ON m.customer_id = e.customer_id
              AND m.created_at <= e.created_at
              AND m.created_at > e.created_at - INTERVAL '10 minutes'
    GROUP BY m.transaction_id
), burst_end AS (
    SELECT t.transaction_id, t.customer_id, t.created_at, COUNT(*) AS small_recent
    FROM txn t
    JOIN txn p ON p.customer_id = t.customer_id
              AND p.total_price < 10
              AND p.created_at <= t.created_at
              AND p.created_at > t.created_at - INTERVAL '1 minute'
    WHERE t.total_price < 10
    GROUP BY t.transaction_id, t.customer_id, t.created_at
    HAVING COUNT(*) >= 3
), small_burst AS (
    SELECT m.transaction_id, MAX(e.small_recent) AS small_recent
    FROM burst_end e
    JOIN txn m ON m.customer_id = e.customer_id
              AND m.total_price < 10
              AND m.created_at <= e.created_at
              AND m.created_at > e.created_at - INTERVAL '1 minute'
    GROUP BY m.transaction_id
), first_checkout AS (
    SELECT customer_id, MIN(created_at) AS first_at FROM txn GROUP BY customer_id
)
SELECT t.date_id, t.transaction_id, t.customer_id, t.created_at, t.total_price,
       'velocity' AS rule, CAST(v.recent AS VARCHAR(20)) || ' checkouts within 10 minutes' AS detail
FROM txn t JOIN velocity v ON v.transaction_id = t.transaction_id
UNION ALL
SELECT t.date_id, t.transaction_id, t.customer_id, t.created_at, t.total_price,
       'new_account_high_value' AS rule, 'the customer''s first checkout' AS detail
FROM txn t JOIN first_checkout f ON f.customer_id = t.customer_id AND f.first_at = t.created_at
WHERE t.total_price >= 2500
UNION ALL
SELECT t.date_id, t.transaction_id, t.customer_id, t.created_at, t.total_price,
       'small_orders_burst' AS rule, CAST(s.small_recent AS VARCHAR(20)) || ' checkouts under 10.00 within 1 minute' AS detail
FROM txn t JOIN small_burst s ON s.transaction_id = t.transaction_id;
