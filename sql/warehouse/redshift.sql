-- Mercado warehouse on Amazon Redshift. Same tables and columns as postgres.sql; distribution and
-- sort keys chosen for the marts' joins and date filters. Primary keys are informational in Redshift
-- (not enforced): load_redshift's merges keep them true.

CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS audit;

-- Small dimensions: a copy on every node.
CREATE TABLE IF NOT EXISTS core.dim_date (
    date_id     INTEGER NOT NULL ENCODE az64,
    date        DATE    NOT NULL ENCODE az64,
    year        INTEGER NOT NULL ENCODE az64,
    quarter     INTEGER NOT NULL ENCODE az64,
    month       INTEGER NOT NULL ENCODE az64,
    day         INTEGER NOT NULL ENCODE az64,
    day_of_week INTEGER NOT NULL ENCODE az64,
    is_weekend  BOOLEAN NOT NULL,
    PRIMARY KEY (date_id)
) DISTSTYLE ALL SORTKEY (date_id);

CREATE TABLE IF NOT EXISTS core.dim_category (
    category_id   INTEGER      NOT NULL ENCODE az64,
    category_name VARCHAR(256) NOT NULL ENCODE zstd,
    PRIMARY KEY (category_id)
) DISTSTYLE ALL;

CREATE TABLE IF NOT EXISTS core.dim_vendor (
    vendor_id   BIGINT       NOT NULL ENCODE az64,
    vendor_name VARCHAR(256) NOT NULL ENCODE zstd,
    region      CHAR(2)      NOT NULL ENCODE zstd,
    joined_at   TIMESTAMPTZ  ENCODE az64,
    PRIMARY KEY (vendor_id)
) DISTSTYLE ALL;

-- Larger dimensions: distributed on their key; SCD type 2 (valid_from <= day < valid_to).
CREATE TABLE IF NOT EXISTS core.dim_customer (
    customer_id BIGINT       NOT NULL ENCODE az64,
    first_name  VARCHAR(256) NOT NULL ENCODE zstd,
    last_name   VARCHAR(256) NOT NULL ENCODE zstd,
    email       VARCHAR(320) NOT NULL ENCODE zstd,
    joined_at   TIMESTAMPTZ  ENCODE az64,
    valid_from  DATE         NOT NULL ENCODE az64,
    valid_to    DATE         ENCODE az64,
    is_current  BOOLEAN      NOT NULL,
    PRIMARY KEY (customer_id, valid_from)
) DISTKEY (customer_id) SORTKEY (customer_id, valid_from);

CREATE TABLE IF NOT EXISTS core.dim_inventory (
    item_id     BIGINT        NOT NULL ENCODE az64,
    vendor_id   BIGINT        NOT NULL ENCODE az64,
    category_id INTEGER       NOT NULL ENCODE az64,
    item_name   VARCHAR(256)  NOT NULL ENCODE zstd,
    price       DECIMAL(18,2) NOT NULL ENCODE az64,
    valid_from  DATE          NOT NULL ENCODE az64,
    valid_to    DATE          ENCODE az64,
    is_current  BOOLEAN       NOT NULL,
    PRIMARY KEY (item_id, valid_from)
) DISTKEY (item_id) SORTKEY (item_id, valid_from);

-- Facts: distributed with the item dimension (the widest join), sorted by date (every mart
-- filters or groups by it).
CREATE TABLE IF NOT EXISTS core.fact_sales (
    transaction_id VARCHAR(64)   NOT NULL ENCODE zstd,
    line_no        INTEGER       NOT NULL ENCODE az64,
    item_id        BIGINT        NOT NULL ENCODE az64,
    customer_id    BIGINT        NOT NULL ENCODE az64,
    vendor_id      BIGINT        NOT NULL ENCODE az64,
    category_id    INTEGER       NOT NULL ENCODE az64,
    date_id        INTEGER       NOT NULL ENCODE raw,
    unit_price     DECIMAL(18,2) NOT NULL ENCODE az64,
    qty            BIGINT        NOT NULL ENCODE az64,
    total_price    DECIMAL(18,2) NOT NULL ENCODE az64,
    installments   INTEGER       NOT NULL ENCODE az64,
    created_at     TIMESTAMPTZ   NOT NULL ENCODE az64,
    PRIMARY KEY (transaction_id, line_no)
) DISTKEY (item_id) COMPOUND SORTKEY (date_id, vendor_id);

CREATE TABLE IF NOT EXISTS core.fact_cart_snapshot (
    date_id         INTEGER       NOT NULL ENCODE raw,
    customer_id     BIGINT        NOT NULL ENCODE az64,
    item_id         BIGINT        NOT NULL ENCODE az64,
    vendor_id       BIGINT        NOT NULL ENCODE az64,
    qty             BIGINT        NOT NULL ENCODE az64,
    unit_price      DECIMAL(18,2) NOT NULL ENCODE az64,
    total_price     DECIMAL(18,2) NOT NULL ENCODE az64,
    cart_updated_at TIMESTAMPTZ   NOT NULL ENCODE az64,
    PRIMARY KEY (date_id, customer_id, item_id)
) DISTKEY (customer_id) SORTKEY (date_id);

CREATE TABLE IF NOT EXISTS audit.pipeline_runs (
    task        VARCHAR(64)   NOT NULL,
    date        DATE          NOT NULL,
    run_id      VARCHAR(64)   NOT NULL,
    rows        BIGINT        NOT NULL,
    status      VARCHAR(16)   NOT NULL,
    duration_s  DECIMAL(12,3) NOT NULL,
    detail      VARCHAR(65535),
    finished_at TIMESTAMPTZ   NOT NULL DEFAULT GETDATE(),
    PRIMARY KEY (task, date, run_id)
) DISTSTYLE EVEN SORTKEY (date);

CREATE TABLE IF NOT EXISTS audit.dq_failures (
    id          BIGINT IDENTITY(1, 1),
    date        DATE           NOT NULL,
    check_name  VARCHAR(64)    NOT NULL,
    severity    VARCHAR(16)    NOT NULL,
    detail      VARCHAR(65535) NOT NULL,
    run_id      VARCHAR(64)    NOT NULL,
    found_at    TIMESTAMPTZ    NOT NULL DEFAULT GETDATE()
) DISTSTYLE EVEN SORTKEY (date);
