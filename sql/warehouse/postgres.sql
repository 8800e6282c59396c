-- Mercado warehouse on PostgreSQL (local and CI). Idempotent: load_redshift --target postgres
-- applies it before every load. Redshift's version is redshift.sql; the marts are marts.sql.

CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS core.dim_date (
    date_id     integer PRIMARY KEY,          -- YYYYMMDD
    date        date    NOT NULL UNIQUE,
    year        integer NOT NULL,
    quarter     integer NOT NULL,
    month       integer NOT NULL,
    day         integer NOT NULL,
    day_of_week integer NOT NULL,             -- ISO: 1 = Monday
    is_weekend  boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS core.dim_category (
    category_id   integer PRIMARY KEY,
    category_name text    NOT NULL
);

CREATE TABLE IF NOT EXISTS core.dim_vendor (
    vendor_id   bigint      PRIMARY KEY,
    vendor_name text        NOT NULL,
    region      char(2)     NOT NULL,
    joined_at   timestamptz
);

-- SCD type 2: a version holds on valid_from <= day < valid_to; the current one has valid_to NULL.
-- (No unique index on the current version: a merge re-chains versions in one UPDATE, which such an
-- index would refuse midway. Tests check there is one current version per key.)
CREATE TABLE IF NOT EXISTS core.dim_customer (
    customer_id bigint      NOT NULL,
    first_name  text        NOT NULL,
    last_name   text        NOT NULL,
    email       text        NOT NULL,
    joined_at   timestamptz,
    valid_from  date        NOT NULL,
    valid_to    date,
    is_current  boolean     NOT NULL,
    PRIMARY KEY (customer_id, valid_from)
);

CREATE TABLE IF NOT EXISTS core.dim_inventory (
    item_id     bigint        NOT NULL,
    vendor_id   bigint        NOT NULL,
    category_id integer       NOT NULL,
    item_name   text          NOT NULL,
    price       numeric(18,2) NOT NULL,
    valid_from  date          NOT NULL,
    valid_to    date,
    is_current  boolean       NOT NULL,
    PRIMARY KEY (item_id, valid_from)
);

-- Grain: one transaction line.
CREATE TABLE IF NOT EXISTS core.fact_sales (
    transaction_id text          NOT NULL,
    line_no        integer       NOT NULL,
    item_id        bigint        NOT NULL,
    customer_id    bigint        NOT NULL,
    vendor_id      bigint        NOT NULL,
    category_id    integer       NOT NULL,
    date_id        integer       NOT NULL,
    unit_price     numeric(18,2) NOT NULL,
    qty            bigint        NOT NULL,
    total_price    numeric(18,2) NOT NULL,
    installments   integer       NOT NULL,
    created_at     timestamptz   NOT NULL,
    PRIMARY KEY (transaction_id, line_no)
);
CREATE INDEX IF NOT EXISTS fact_sales_date ON core.fact_sales (date_id);
CREATE INDEX IF NOT EXISTS fact_sales_customer ON core.fact_sales (customer_id, date_id);

-- Grain: one line of a cart open at the end of the day.
CREATE TABLE IF NOT EXISTS core.fact_cart_snapshot (
    date_id         integer       NOT NULL,
    customer_id     bigint        NOT NULL,
    item_id         bigint        NOT NULL,
    vendor_id       bigint        NOT NULL,
    qty             bigint        NOT NULL,
    unit_price      numeric(18,2) NOT NULL,
    total_price     numeric(18,2) NOT NULL,
    cart_updated_at timestamptz   NOT NULL,
    PRIMARY KEY (date_id, customer_id, item_id)
);

-- Every task run that touches the warehouse, and every failed data-quality check.
CREATE TABLE IF NOT EXISTS audit.pipeline_runs (
    task        text        NOT NULL,
    date        date        NOT NULL,
    run_id      text        NOT NULL,
    rows        bigint      NOT NULL,
    status      text        NOT NULL,      -- ok | failed
    duration_s  numeric(12,3) NOT NULL,
    detail      text,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task, date, run_id)
);

CREATE TABLE IF NOT EXISTS audit.dq_failures (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    date        date        NOT NULL,
    check_name  text        NOT NULL,
    severity    text        NOT NULL,      -- critical (stops the load) | warning
    detail      text        NOT NULL,
    run_id      text        NOT NULL,
    found_at    timestamptz NOT NULL DEFAULT now()
);
