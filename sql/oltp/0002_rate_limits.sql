-- Each client's rate (GCRA's "theoretical arrival time"), shared by every replica of the API when
-- it runs with MERCADO_RATE_LIMIT_STORE=postgres (api/src/store/pg.rs, `take_rate`). Unlogged: no
-- WAL for a row written on every request; a crash empties it, which only resets the budgets.
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limits (
    client text        PRIMARY KEY,
    tat    timestamptz NOT NULL
);
