"""Transform benchmark peers (scripts/bench_suite.sh, part 2): Mercado's clean, enrich and gold done
by DuckDB (SQL), by Apache DataFusion (SQL, Python bindings) and by Polars (lazy frames) on the same
raw Parquet files, one stage per process; and the check that every tool's outputs hold the same rows.

    bench_transform.py stage   --tool duckdb|datafusion|polars --stage clean|enrich|gold --raw DIR --out DIR --date D
    bench_transform.py compare --raw DIR --date D TOOL=DIR…      (exit 1 and the differences when they differ)

Layout, the same for every tool (Mercado's outputs are fetched into it from the lake):
    RAW/<raw dataset>/*.parquet           categories vendors customers inventory transactions carts
    OUT/clean/<dataset>.parquet           categories vendors customers inventory transaction_lines cart_lines
    OUT/quarantine/<raw dataset>.parquet  record_key, reason_code, reason, record
    OUT/enrich/sales_lines.parquet
    OUT/gold/<table>.parquet              fact_sales dim_* fact_cart_snapshot

The rules are those of tasks/lake/src/tasks/clean/ (entities.rs, transactions.rs), in its order, for every case the benchmark's
data (synth_raw --bad-share) can hold. Two simplifications, both outside that data: copies of a
transaction with the same created_at are ranked by position in the files, not by the digest of
the record; and a `lines` array whose elements are not objects is not handled (Polars cannot
decode it leniently). Quarantine messages are the reason code: the codes are compared, not the text.
Gold's SCD2 dimensions are built for a lake without earlier gold partitions (the benchmark's day is
the first), where every current row opens a version on the day. Every tool writes DuckDB's column
types (DECIMAL(18,2) money, Int32 line_no/installments/date_id, UTC microsecond times; Polars'
strings are large ones).

enrich and gold are one SQL text (sql_stage) that DuckDB and DataFusion both run. DataFusion 55's
clean is its own SQL, around what it lacks: no JSON functions (`lines` is decoded in Python, one
json.loads per row, and quarantine records are JSON-encoded in Python); no IN (subquery) inside
CASE (LEFT JOIN to the accepted ids); no file name or row number from its Parquet reader (pyarrow
reads the files and numbers the rows); and window functions were slow (per-key minima by GROUP BY,
joined back). It runs with THREADS target partitions.
"""

import argparse
import json
import os
import re
import sys
from datetime import date as Date

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREADS = 2
# How each peer is written, beyond doing the same work (BENCHMARKS.md prints these lines; issue 25
# asks for each peer as an expert of its engine would write it).
PEER_TUNING = {
    "duckdb": "typed JSON parsing of the lines (`from_json` into a list of structs, unnested beside "
              "`generate_subscripts`), `preserve_insertion_order = false`, 2 threads",
    "datafusion": "SQL on 2 target partitions; the lines decoded by Python's json row by row (to review)",
    "polars": "lazy frames, typed JSON parsing (`str.json_decode` with the lines' dtype), 2 threads",
}
# The marketplace's limits, one value each (mercado_core::limits, written out as core/limits.json).
with open(f"{ROOT}/core/limits.json") as f:
    LIMITS = json.load(f)
MAX_QTY = LIMITS["max_qty"]
ENTITIES = ["categories", "vendors", "customers", "inventory"]
RAW = ENTITIES + ["transactions", "carts"]
GOLD = ["dim_category", "dim_vendor", "dim_customer", "dim_inventory", "dim_date", "fact_sales", "fact_cart_snapshot"]

# Text forms clean accepts (see the module docstring for what they leave out).
INT = r"^[+-]?[0-9]+$"  # Rust's i64 parse
MONEY = r"^-?[0-9]+(\.[0-9]{0,2}0*)?$"  # mercado_core::money::parse_cents: at most two decimals that count
RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
EMAIL_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
EMAIL = rf"^{EMAIL_LOCAL}@([A-Za-z0-9]([A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,}}$"  # mercado_core::email


# Each parsed line `p` (item_id, vendor_id, qty, unit_price, total_price, line_no) with the first
# rule it breaks, in clean's order: the SQL DuckDB and DataFusion both run.
# The fields of a cart or transaction line (`lines`, a JSON array of objects).
LINE_FIELDS = ["item_id", "vendor_id", "qty", "unit_price", "total_price", "line_no"]
LINE_REASON = f"""SELECT p.*, CASE
                WHEN p.item_id IS NULL OR p.vendor_id IS NULL THEN 'bad_line'
                WHEN p.qty IS NULL OR p.qty NOT BETWEEN 1 AND {MAX_QTY} THEN 'bad_qty'
                WHEN p.unit_price IS NULL OR p.unit_price <= 0 OR p.total_price IS NULL THEN 'bad_price'
                WHEN p.total_price <> p.unit_price * p.qty THEN 'line_total_mismatch'
                WHEN i.id IS NULL THEN 'unknown_item'
                WHEN i.vendor_id <> p.vendor_id THEN 'vendor_mismatch'
                WHEN p.line_no NOT BETWEEN -2147483648 AND 2147483647 THEN 'bad_line' END AS line_reason
            FROM p LEFT JOIN inventory i ON i.id = p.item_id"""


def regions():
    """ISO 3166-1 alpha-2 codes, from the one list the platform has (core/src/regions.rs)."""
    text = open(f"{ROOT}/core/src/regions.rs").read()
    body = re.search(r'const CODES: &str = "(.*?)";', text, re.S).group(1)
    return sorted(set(re.findall(r"\b[A-Z]{2}\b", body)))


def date_id(day):
    return int(day.strftime("%Y%m%d"))


# ---- enrich and gold in SQL, DuckDB's and DataFusion's --------------------------------------


def sql_stage(stage, out, day, view, copy):
    """enrich or gold in the SQL that DuckDB and DataFusion both run: each engine supplies
    view(name, path), a Parquet file as a table, and copy(sql, path), a query into a zstd Parquet
    file. Literals are cast to INTEGER (Int32) where the output is Int32: DataFusion's are Int64."""
    d = f"CAST({date_id(day)} AS INTEGER)"
    if stage == "enrich":
        for name in ["categories", "vendors", "customers", "inventory", "transaction_lines"]:
            view(name, f"{out}/clean/{name}.parquet")
        copy(f"""
            SELECT l.*, {d} AS date_id, i.category_id, i.item_name, c.name AS category_name,
                   v.vendor_name, v.region AS vendor_region, cu.email AS customer_email,
                   i.price AS inventory_price, i.price <> l.unit_price AS price_differs
            FROM transaction_lines l
            JOIN inventory i ON i.id = l.item_id
            LEFT JOIN categories c ON c.id = i.category_id
            JOIN vendors v ON v.id = l.vendor_id
            JOIN customers cu ON cu.id = l.customer_id""", f"{out}/enrich/sales_lines.parquet")
        return
    for name in ["categories", "vendors", "customers", "inventory", "cart_lines"]:
        view(name, f"{out}/clean/{name}.parquet")
    view("sales_lines", f"{out}/enrich/sales_lines.parquet")
    scd2 = f"DATE '{day}' AS valid_from, CAST(NULL AS DATE) AS valid_to, true AS is_current"
    g = f"{out}/gold"

    def i32(v):
        return f"CAST({v} AS INTEGER)"

    copy("SELECT id AS category_id, name AS category_name FROM categories", f"{g}/dim_category.parquet")
    copy("SELECT id AS vendor_id, vendor_name, region, joined_at FROM vendors", f"{g}/dim_vendor.parquet")
    copy(f"SELECT id AS customer_id, first_name, last_name, email, joined_at, {scd2} FROM customers ORDER BY id",
         f"{g}/dim_customer.parquet")
    copy(f"SELECT id AS item_id, vendor_id, category_id, item_name, price, {scd2} FROM inventory ORDER BY id",
         f"{g}/dim_inventory.parquet")
    copy(f"""SELECT {d} AS date_id, DATE '{day}' AS date, {i32(day.year)} AS year,
                    {i32((day.month - 1) // 3 + 1)} AS quarter, {i32(day.month)} AS month, {i32(day.day)} AS day,
                    {i32(day.isoweekday())} AS day_of_week, {str(day.isoweekday() >= 6).lower()} AS is_weekend""",
         f"{g}/dim_date.parquet")
    copy("""SELECT transaction_id, line_no, item_id, customer_id, vendor_id, category_id, date_id, unit_price,
                   qty, total_price, installments, created_at FROM sales_lines""", f"{g}/fact_sales.parquet")
    copy(f"SELECT {d} AS date_id, * FROM cart_lines", f"{g}/fact_cart_snapshot.parquet")


# ---- DuckDB --------------------------------------------------------------------------------


def duckdb_stage(stage, raw, out, day):
    import duckdb

    # DuckDB's performance guide: without insertion order kept, COPY … TO writes in parallel and
    # spills less (every output here is compared order-free).
    con = duckdb.connect(config={"threads": THREADS, "preserve_insertion_order": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE MACRO int_of(s) AS CASE WHEN regexp_full_match(trim(s), '{INT[1:-1]}') THEN TRY_CAST(trim(s) AS BIGINT) END")
    con.execute(f"CREATE MACRO money_of(s) AS CASE WHEN regexp_full_match(trim(s), '{MONEY[1:-1]}') THEN TRY_CAST(trim(s) AS DECIMAL(18,2)) END")
    con.execute(f"CREATE MACRO ts_of(s) AS CASE WHEN regexp_full_match(trim(s), '{RFC3339[1:-1]}') THEN TRY_CAST(trim(s) AS TIMESTAMPTZ) END")
    con.execute("CREATE MACRO blank(s) AS s IS NULL OR trim(s) = ''")

    def copy(sql, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")

    def view(name, path):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")

    if stage == "clean":
        duckdb_clean(con, copy, raw, out, day)
    else:
        sql_stage(stage, out, day, view, copy)


# A cart or transaction line as DuckDB's from_json reads it: every field as its text.
DUCKDB_LINES_TYPE = "[{" + ", ".join(f'"{k}": "VARCHAR"' for k in LINE_FIELDS) + "}]"


def duckdb_clean(con, copy, raw, out, day):
    def load(name):
        # pos: the row's place in the partition (file, then row), for "first copy" rules.
        con.execute(f"""CREATE TEMP TABLE r_{name} AS
            SELECT * EXCLUDE (filename, file_row_number),
                   (regexp_extract(filename, '(\\d+)\\.parquet$', 1)::BIGINT << 40) + file_row_number AS pos
            FROM read_parquet('{raw}/{name}/*.parquet', filename = true, file_row_number = true)""")
        return [r[0] for r in con.execute(f"DESCRIBE r_{name}").fetchall() if r[0] != "pos"]

    def quarantine(name, key, cols, table):
        record = "to_json(struct_pack(" + ", ".join(f'"{c}" := "{c}"' for c in cols) + "))"
        copy(f"SELECT {key} AS record_key, reason AS reason_code, reason, {record} AS record "
             f"FROM {table} WHERE reason IS NOT NULL", f"{out}/quarantine/{name}.parquet")

    # Dimensions: the rule's verdict, then "an id already accepted" (checked before the rules).
    region_list = ", ".join(f"'{r}'" for r in regions())
    entity = {
        "categories": ("CASE WHEN blank(name) THEN 'missing_name' END", "id, trim(name) AS name, updated_at"),
        "vendors": (f"""CASE WHEN blank(vendor_name) THEN 'missing_name'
                             WHEN upper(trim(coalesce(region, ''))) NOT IN ({region_list}) THEN 'bad_region' END""",
                    "id, trim(vendor_name) AS vendor_name, upper(trim(region)) AS region, joined_at, updated_at"),
        "customers": (f"""CASE WHEN blank(first_name) OR blank(last_name) THEN 'missing_name'
                               WHEN length(coalesce(email, '')) > 254
                                 OR NOT regexp_full_match(trim(coalesce(email, '')), '{EMAIL[1:-1].replace("'", "''")}')
                                 OR length(split_part(trim(email), '@', 1)) > 64 THEN 'bad_email' END""",
                      "id, trim(first_name) AS first_name, trim(last_name) AS last_name, lower(trim(email)) AS email, "
                      "joined_at, updated_at"),
        "inventory": ("""CASE WHEN vendor_id IS NULL OR vendor_id NOT IN (SELECT id FROM vendors) THEN 'unknown_vendor'
                              WHEN category_id IS NULL OR category_id NOT IN (SELECT id FROM categories) THEN 'unknown_category'
                              WHEN blank(item_name) THEN 'missing_name'
                              WHEN price IS NULL OR price <= 0 THEN 'bad_price'
                              WHEN stock < 0 THEN 'bad_stock' END""",
                      "id, vendor_id, category_id, trim(item_name) AS item_name, price, coalesce(stock, 0) AS stock, updated_at"),
    }
    for name in ENTITIES:
        cols = load(name)
        rule, cleaned = entity[name]
        con.execute(f"""CREATE TEMP TABLE v_{name} AS
            WITH t AS (SELECT *, {rule} AS rule FROM r_{name}),
                 f AS (SELECT *, min(pos) FILTER (WHERE rule IS NULL) OVER (PARTITION BY id) AS first_ok FROM t)
            SELECT *, CASE WHEN id IS NULL THEN 'missing_id' WHEN first_ok < pos THEN 'duplicate' ELSE rule END AS reason
            FROM f""")
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT {cleaned} FROM v_{name} WHERE reason IS NULL")
        copy(f"SELECT * FROM {name}", f"{out}/clean/{name}.parquet")
        quarantine(name, "id::VARCHAR", cols, f"v_{name}")

    def lines(table):
        """Each line of the candidate rows of `table`, with the first rule it breaks (clean's order)."""
        # Typed parsing: from_json into a list of structs of strings (each field's own text, as
        # json_extract_string gives it), unnested beside its subscripts.
        con.execute(f"""CREATE TEMP TABLE l_{table} AS
            WITH a AS (SELECT pos, from_json(lines, '{DUCKDB_LINES_TYPE}') AS arr FROM c_{table}),
                 e AS (SELECT pos, generate_subscripts(arr, 1) - 1 AS n, unnest(arr) AS f FROM a),
                 p AS (SELECT pos, n, int_of(f.item_id) AS item_id, int_of(f.vendor_id) AS vendor_id, int_of(f.qty) AS qty,
                              money_of(f.unit_price) AS unit_price, money_of(f.total_price) AS total_price,
                              coalesce(int_of(f.line_no), n + 1) AS line_no FROM e)
            {LINE_REASON}""")
        con.execute(f"""CREATE TEMP TABLE lv_{table} AS
            SELECT pos, arg_min(line_reason, n) FILTER (WHERE line_reason IS NOT NULL) AS line_reason,
                   sum(total_price) AS lines_total
            FROM l_{table} GROUP BY pos""")

    lines_ok = "json_valid(lines) AND json_type(lines) = 'ARRAY' AND json_array_length(lines) > 0"
    customer = """CASE WHEN uid IS NULL OR uid <= 0 THEN 'bad_customer_id'
                       WHEN uid NOT IN (SELECT id FROM customers) THEN 'unknown_customer' END"""

    # Transactions: the copy kept is the earliest created_at (unreadable: last), then the first.
    cols = load("transactions")
    con.execute(f"""CREATE TEMP TABLE t_transactions AS
        WITH t AS (SELECT *, NULLIF(trim(transaction_id), '') AS id, int_of(user_id) AS uid,
                          CASE WHEN installments IS NULL THEN 1 ELSE int_of(installments) END AS inst,
                          ts_of(created_at) AS created, money_of(total_price) AS total
                   FROM r_transactions),
             k AS (SELECT *, row_number() OVER (PARTITION BY id ORDER BY coalesce(epoch_us(created), 9223372036854775807), pos) AS copy
                   FROM t)
        SELECT *, CASE
            WHEN id IS NULL THEN 'missing_id'
            WHEN copy > 1 THEN 'duplicate'
            ELSE coalesce({customer}, CASE
                WHEN inst IS NULL OR inst < 1 OR inst > 2147483647 THEN 'bad_installments'
                WHEN created IS NULL THEN 'bad_timestamp'
                WHEN created::DATE <> DATE '{day}' THEN 'wrong_date'
                WHEN NOT coalesce(CASE WHEN json_valid(lines) THEN {lines_ok} END, false) THEN 'bad_lines' END) END AS pre
        FROM k""")
    con.execute("CREATE TEMP TABLE c_transactions AS SELECT pos, lines FROM t_transactions WHERE pre IS NULL")
    lines("transactions")
    con.execute("""CREATE TEMP TABLE v_transactions AS
        SELECT t.*, coalesce(t.pre, v.line_reason, CASE
            WHEN t.total IS NULL OR t.total <= 0 THEN 'bad_total'
            WHEN v.lines_total <> t.total THEN 'total_mismatch' END) AS reason
        FROM t_transactions t LEFT JOIN lv_transactions v USING (pos)""")
    copy("""SELECT t.id AS transaction_id, l.line_no::INTEGER AS line_no, t.uid AS customer_id, l.item_id, l.vendor_id,
                   l.qty, l.unit_price, l.total_price, t.total AS order_total, t.inst::INTEGER AS installments,
                   t.created AS created_at
            FROM v_transactions t JOIN l_transactions l USING (pos) WHERE t.reason IS NULL""",
         f"{out}/clean/transaction_lines.parquet")
    quarantine("transactions", "id", cols, "v_transactions")

    # Carts: the rules first, then a customer's second valid cart is the duplicate.
    cols = load("carts")
    con.execute(f"""CREATE TEMP TABLE t_carts AS
        WITH t AS (SELECT *, int_of(user_id) AS uid, ts_of(updated_at) AS updated FROM r_carts)
        SELECT *, coalesce({customer}, CASE
            WHEN updated IS NULL THEN 'bad_timestamp'
            WHEN NOT coalesce(CASE WHEN json_valid(lines) THEN {lines_ok} END, false) THEN 'bad_lines' END) AS pre
        FROM t""")
    con.execute("CREATE TEMP TABLE c_carts AS SELECT pos, lines FROM t_carts WHERE pre IS NULL")
    lines("carts")
    con.execute("""CREATE TEMP TABLE v_carts AS
        WITH r AS (SELECT t.*, coalesce(t.pre, v.line_reason) AS rule FROM t_carts t LEFT JOIN lv_carts v USING (pos)),
             f AS (SELECT *, min(pos) FILTER (WHERE rule IS NULL) OVER (PARTITION BY uid) AS first_ok FROM r)
        SELECT *, CASE WHEN rule IS NULL AND first_ok < pos THEN 'duplicate' ELSE rule END AS reason FROM f""")
    copy("""SELECT t.uid AS customer_id, l.item_id, l.vendor_id, l.qty, l.unit_price, l.total_price,
                   t.updated AS cart_updated_at
            FROM v_carts t JOIN l_carts l USING (pos) WHERE t.reason IS NULL""", f"{out}/clean/cart_lines.parquet")
    quarantine("carts", "user_id", cols, "v_carts")


# ---- DataFusion ----------------------------------------------------------------------------


def datafusion_stage(stage, raw, out, day):
    from datafusion import SessionConfig, SessionContext

    # DataFusion's defaults otherwise (Utf8View strings among them: the outputs compare equal).
    config = SessionConfig().with_target_partitions(THREADS)
    ctx = SessionContext(config)

    def copy(sql, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ctx.sql(f"COPY ({sql}) TO '{path}' STORED AS PARQUET OPTIONS ('format.compression' 'zstd(3)')").collect()

    def view(name, path):
        ctx.register_parquet(name, path)

    if stage == "clean":
        datafusion_clean(ctx, copy, raw, out, day)
    else:
        sql_stage(stage, out, day, view, copy)


def decode_lines(pos, texts):
    """DataFusion 55 has no JSON functions, so `lines` is decoded here, in Python, one json.loads
    per row: an overhead DuckDB and Polars do not pay, counted in DataFusion's clean time. Returns
    per row whether `lines` is a non-empty JSON array (DuckDB's json_valid, json_type = 'ARRAY',
    json_array_length > 0), and one row per element: pos, n (its index), and its fields as text,
    as json_extract_string gives them (a number's own text; NULL when absent or not an object)."""
    import pyarrow as pa

    def text(v):
        return v if v is None or v.__class__ is str else json.dumps(v)

    loads = json.JSONDecoder(parse_float=str, parse_int=str).decode
    ok, out_pos, out_n = [], [], []
    fields = [[] for _ in LINE_FIELDS]
    for p, t in zip(pos.to_pylist(), texts.to_pylist()):
        try:
            items = loads(t) if t is not None else None
        except ValueError:
            items = None
        if items.__class__ is not list or not items:
            ok.append(False)
            continue
        ok.append(True)
        for n, e in enumerate(items):
            out_pos.append(p)
            out_n.append(n)
            for f, values in zip(LINE_FIELDS, fields):
                values.append(text(e.get(f)) if e.__class__ is dict else None)
    lines = pa.table({"pos": pa.array(out_pos, pa.int64()), "n": pa.array(out_n, pa.int64()),
                      **{f: pa.array(v, pa.string()) for f, v in zip(LINE_FIELDS, fields)}})
    return pa.array(ok, pa.bool_()), lines


def datafusion_clean(ctx, copy, raw, out, day):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    pa.set_cpu_count(THREADS)
    pa.set_io_thread_count(THREADS)

    def int_of(s):
        return f"CASE WHEN btrim({s}) ~ '{INT}' THEN TRY_CAST(btrim({s}) AS BIGINT) END"

    def money_of(s):
        return f"CASE WHEN btrim({s}) ~ '{MONEY}' THEN TRY_CAST(btrim({s}) AS DECIMAL(18,2)) END"

    def ts_of(s):
        # Parsed to microseconds (TIMESTAMP alone is nanoseconds: years past 2262 would not parse).
        return (f"CASE WHEN btrim({s}) ~ '{RFC3339}' THEN arrow_cast(TRY_CAST(btrim({s}) AS TIMESTAMP(6)), "
                f"'Timestamp(Microsecond, Some(\"UTC\"))') END")

    def blank(s):
        return f"({s} IS NULL OR btrim({s}) = '')"

    def register(name, table):
        """An Arrow table as a table of the session, in THREADS partitions (one when empty)."""
        step = max(1, -(-table.num_rows // THREADS))
        parts = [table.slice(i, step).to_batches() for i in range(0, table.num_rows, step)]
        if parts:
            ctx.register_record_batches(name, parts)
        else:
            ctx.register_view(name, ctx.from_arrow(table))

    def create(name, sql):
        """A query's rows, computed once, kept in memory as a table (DuckDB's TEMP TABLE)."""
        ctx.register_view(name, ctx.sql(sql).cache())

    def load(name):
        """The raw dataset with pos, the row's place in the partition (files by name, then row),
        for "first copy" rules: DataFusion's Parquet reader tells neither file nor row, so pyarrow
        reads each file and numbers its rows."""
        tables, offset = [], 0
        for f in sorted(os.listdir(f"{raw}/{name}")):
            t = pq.read_table(f"{raw}/{name}/{f}")
            tables.append(t.append_column("pos", pa.array(np.arange(offset, offset + t.num_rows, dtype=np.int64))))
            offset += t.num_rows
        return pa.concat_tables(tables)

    def quarantine(name, key, cols, table):
        """DataFusion 55 has no to_json: the refused rows' records (few) are JSON-encoded in Python."""
        bad = ctx.sql(f"SELECT {key} AS record_key, reason AS reason_code, reason, "
                      + ", ".join(f'"{c}"' for c in cols) + f" FROM {table} WHERE reason IS NOT NULL").to_arrow_table()
        records = [json.dumps(r, default=str, separators=(",", ":")) for r in bad.select(cols).to_pylist()]
        result = bad.select(["record_key", "reason_code", "reason"]).append_column(
            "record", pa.array(records, pa.json_(pa.string())))
        os.makedirs(f"{out}/quarantine", exist_ok=True)
        pq.write_table(result, f"{out}/quarantine/{name}.parquet", compression="zstd")

    # Dimensions: the rule's verdict, then "an id already accepted" (checked before the rules).
    # IN (subquery) inside CASE is not supported: the accepted ids come by LEFT JOIN.
    region_list = ", ".join(f"'{r}'" for r in regions())
    entity = {
        "categories": ("", f"CASE WHEN {blank('name')} THEN 'missing_name' END",
                       "id, btrim(name) AS name, updated_at"),
        "vendors": ("", f"""CASE WHEN {blank('vendor_name')} THEN 'missing_name'
                                 WHEN upper(btrim(coalesce(region, ''))) NOT IN ({region_list}) THEN 'bad_region' END""",
                    "id, btrim(vendor_name) AS vendor_name, upper(btrim(region)) AS region, joined_at, updated_at"),
        "customers": ("", f"""CASE WHEN {blank('first_name')} OR {blank('last_name')} THEN 'missing_name'
                                   WHEN length(coalesce(email, '')) > 254
                                     OR NOT btrim(coalesce(email, '')) ~ '{EMAIL.replace("'", "''")}'
                                     OR length(split_part(btrim(email), '@', 1)) > 64 THEN 'bad_email' END""",
                      "id, btrim(first_name) AS first_name, btrim(last_name) AS last_name, lower(btrim(email)) AS email, "
                      "joined_at, updated_at"),
        "inventory": ("LEFT JOIN vendors av ON av.id = r.vendor_id LEFT JOIN categories ac ON ac.id = r.category_id",
                      f"""CASE WHEN r.vendor_id IS NULL OR av.id IS NULL THEN 'unknown_vendor'
                               WHEN r.category_id IS NULL OR ac.id IS NULL THEN 'unknown_category'
                               WHEN {blank('r.item_name')} THEN 'missing_name'
                               WHEN r.price IS NULL OR r.price <= 0 THEN 'bad_price'
                               WHEN r.stock < 0 THEN 'bad_stock' END""",
                      "id, vendor_id, category_id, btrim(item_name) AS item_name, price, coalesce(stock, CAST(0 AS INTEGER)) AS stock, "
                      "updated_at"),
    }
    for name in ENTITIES:
        t = load(name)
        cols = [c for c in t.column_names if c != "pos"]
        register(f"r_{name}", t)
        joins, rule, cleaned = entity[name]
        # The first valid copy of each id by GROUP BY and a join back: a window (min OVER PARTITION
        # BY id) took DataFusion 2.2 s over a million rows.
        create(f"v_{name}", f"""
            WITH t AS (SELECT r.*, {rule} AS rule FROM r_{name} r {joins}),
                 f AS (SELECT id AS first_id, min(pos) AS first_ok FROM t WHERE rule IS NULL GROUP BY id)
            SELECT t.*, CASE WHEN t.id IS NULL THEN 'missing_id' WHEN f.first_ok < t.pos THEN 'duplicate'
                             ELSE t.rule END AS reason
            FROM t LEFT JOIN f ON f.first_id = t.id""")
        create(name, f"SELECT {cleaned} FROM v_{name} WHERE reason IS NULL")
        copy(f"SELECT * FROM {name}", f"{out}/clean/{name}.parquet")
        quarantine(name, "CAST(id AS VARCHAR)", cols, f"v_{name}")

    def load_with_lines(name):
        """The raw dataset with pos and lines_ok, and its lines decoded as e_<name>."""
        t = load(name)
        cols = [c for c in t.column_names if c != "pos"]
        ok, lines = decode_lines(t.column("pos"), t.column("lines"))
        register(f"r_{name}", t.append_column("lines_ok", ok))
        register(f"e_{name}", lines)
        return cols

    def lines(table):
        """Each line of the candidate rows of `table`, with the first rule it breaks (clean's order)."""
        create(f"l_{table}", f"""
            WITH p AS (SELECT pos, n, {int_of('item_id')} AS item_id, {int_of('vendor_id')} AS vendor_id,
                              {int_of('qty')} AS qty, {money_of('unit_price')} AS unit_price,
                              {money_of('total_price')} AS total_price, coalesce({int_of('line_no')}, n + 1) AS line_no
                       FROM e_{table} WHERE pos IN (SELECT pos FROM t_{table} WHERE pre IS NULL))
            {LINE_REASON}""")
        create(f"lv_{table}", f"""
            SELECT pos, first_value(line_reason ORDER BY n) FILTER (WHERE line_reason IS NOT NULL) AS line_reason,
                   sum(total_price) AS lines_total
            FROM l_{table} GROUP BY pos""")

    customer = """CASE WHEN t.uid IS NULL OR t.uid <= 0 THEN 'bad_customer_id'
                       WHEN cu.id IS NULL THEN 'unknown_customer' END"""

    # Transactions: the copy kept is the earliest created_at (unreadable: last), then the first;
    # found per id by GROUP BY (see the dimensions).
    cols = load_with_lines("transactions")
    create("t_transactions", f"""
        WITH t AS (SELECT *, NULLIF(btrim(transaction_id), '') AS id, {int_of('user_id')} AS uid,
                          CASE WHEN installments IS NULL THEN 1 ELSE {int_of('installments')} END AS inst,
                          {ts_of('created_at')} AS created, {money_of('total_price')} AS total
                   FROM r_transactions),
             k AS (SELECT id AS kept_id, first_value(pos ORDER BY created ASC NULLS LAST, pos) AS kept
                   FROM t WHERE id IS NOT NULL GROUP BY id)
        SELECT t.*, CASE
            WHEN t.id IS NULL THEN 'missing_id'
            WHEN k.kept <> t.pos THEN 'duplicate'
            ELSE coalesce({customer}, CASE
                WHEN t.inst IS NULL OR t.inst < 1 OR t.inst > 2147483647 THEN 'bad_installments'
                WHEN t.created IS NULL THEN 'bad_timestamp'
                WHEN CAST(t.created AS DATE) <> DATE '{day}' THEN 'wrong_date'
                WHEN NOT t.lines_ok THEN 'bad_lines' END) END AS pre
        FROM t LEFT JOIN k ON k.kept_id = t.id LEFT JOIN customers cu ON cu.id = t.uid""")
    lines("transactions")
    create("v_transactions", """
        SELECT t.*, coalesce(t.pre, v.line_reason, CASE
            WHEN t.total IS NULL OR t.total <= 0 THEN 'bad_total'
            WHEN v.lines_total <> t.total THEN 'total_mismatch' END) AS reason
        FROM t_transactions t LEFT JOIN lv_transactions v ON v.pos = t.pos""")
    copy("""SELECT t.id AS transaction_id, CAST(l.line_no AS INTEGER) AS line_no, t.uid AS customer_id, l.item_id,
                   l.vendor_id, l.qty, l.unit_price, l.total_price, t.total AS order_total,
                   CAST(t.inst AS INTEGER) AS installments, t.created AS created_at
            FROM v_transactions t JOIN l_transactions l ON l.pos = t.pos WHERE t.reason IS NULL""",
         f"{out}/clean/transaction_lines.parquet")
    quarantine("transactions", "id", cols, "v_transactions")

    # Carts: the rules first, then a customer's second valid cart is the duplicate.
    cols = load_with_lines("carts")
    create("t_carts", f"""
        WITH t AS (SELECT *, {int_of('user_id')} AS uid, {ts_of('updated_at')} AS updated FROM r_carts)
        SELECT t.*, coalesce({customer}, CASE
            WHEN t.updated IS NULL THEN 'bad_timestamp'
            WHEN NOT t.lines_ok THEN 'bad_lines' END) AS pre
        FROM t LEFT JOIN customers cu ON cu.id = t.uid""")
    lines("carts")
    create("v_carts", """
        WITH r AS (SELECT t.*, coalesce(t.pre, v.line_reason) AS rule
                   FROM t_carts t LEFT JOIN lv_carts v ON v.pos = t.pos),
             f AS (SELECT uid AS first_uid, min(pos) AS first_ok FROM r WHERE rule IS NULL GROUP BY uid)
        SELECT r.*, CASE WHEN r.rule IS NULL AND f.first_ok < r.pos THEN 'duplicate' ELSE r.rule END AS reason
        FROM r LEFT JOIN f ON f.first_uid = r.uid""")
    copy("""SELECT t.uid AS customer_id, l.item_id, l.vendor_id, l.qty, l.unit_price, l.total_price,
                   t.updated AS cart_updated_at
            FROM v_carts t JOIN l_carts l ON l.pos = t.pos WHERE t.reason IS NULL""", f"{out}/clean/cart_lines.parquet")
    quarantine("carts", "user_id", cols, "v_carts")


# ---- Polars --------------------------------------------------------------------------------


def polars_stage(stage, raw, out, day):
    os.environ.setdefault("POLARS_MAX_THREADS", str(THREADS))
    import polars as pl

    def sink(lf, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        lf.sink_parquet(path, compression="zstd")

    def scan(path):
        return pl.scan_parquet(path)

    if stage == "clean":
        polars_clean(pl, sink, raw, out, day)
    elif stage == "enrich":
        c = {n: scan(f"{out}/clean/{n}.parquet") for n in ["categories", "vendors", "customers", "inventory", "transaction_lines"]}
        inv = c["inventory"].select(pl.col("id").alias("item_id"), "category_id", "item_name", pl.col("price").alias("inventory_price"))
        sink(c["transaction_lines"]
             .join(inv, on="item_id", how="inner")
             .join(c["categories"].select(pl.col("id").alias("category_id"), pl.col("name").alias("category_name")),
                   on="category_id", how="left")
             .join(c["vendors"].select(pl.col("id").alias("vendor_id"), "vendor_name", pl.col("region").alias("vendor_region")),
                   on="vendor_id", how="inner")
             .join(c["customers"].select(pl.col("id").alias("customer_id"), pl.col("email").alias("customer_email")),
                   on="customer_id", how="inner")
             .with_columns(pl.lit(date_id(day), pl.Int32).alias("date_id"),
                           (pl.col("inventory_price") != pl.col("unit_price")).alias("price_differs"))
             .select(*pl.read_parquet_schema(f"{out}/clean/transaction_lines.parquet").keys(), "date_id", "category_id",
                     "item_name", "category_name", "vendor_name", "vendor_region", "customer_email", "inventory_price",
                     "price_differs"),
             f"{out}/enrich/sales_lines.parquet")
    else:
        c = {n: scan(f"{out}/clean/{n}.parquet") for n in ["categories", "vendors", "customers", "inventory", "cart_lines"]}
        g = f"{out}/gold"
        scd2 = [pl.lit(day, pl.Date).alias("valid_from"), pl.lit(None, pl.Date).alias("valid_to"),
                pl.lit(True).alias("is_current")]
        sink(c["categories"].select(pl.col("id").alias("category_id"), pl.col("name").alias("category_name")),
             f"{g}/dim_category.parquet")
        sink(c["vendors"].select(pl.col("id").alias("vendor_id"), "vendor_name", "region", "joined_at"), f"{g}/dim_vendor.parquet")
        sink(c["customers"].select(pl.col("id").alias("customer_id"), "first_name", "last_name", "email", "joined_at", *scd2)
             .sort("customer_id"), f"{g}/dim_customer.parquet")
        sink(c["inventory"].select(pl.col("id").alias("item_id"), "vendor_id", "category_id", "item_name", "price", *scd2)
             .sort("item_id"), f"{g}/dim_inventory.parquet")
        pl.DataFrame({"date_id": [date_id(day)], "date": [day], "year": [day.year], "quarter": [(day.month - 1) // 3 + 1],
                      "month": [day.month], "day": [day.day], "day_of_week": [day.isoweekday()],
                      "is_weekend": [day.isoweekday() >= 6]},
                     schema_overrides={k: pl.Int32 for k in ["date_id", "year", "quarter", "month", "day", "day_of_week"]}
                     ).write_parquet(f"{g}/dim_date.parquet", compression="zstd")
        sink(scan(f"{out}/enrich/sales_lines.parquet").select(
            "transaction_id", "line_no", "item_id", "customer_id", "vendor_id", "category_id", "date_id", "unit_price",
            "qty", "total_price", "installments", "created_at"), f"{g}/fact_sales.parquet")
        sink(c["cart_lines"].select(pl.lit(date_id(day), pl.Int32).alias("date_id"), pl.all()),
             f"{g}/fact_cart_snapshot.parquet")


def polars_clean(pl, sink, raw, out, day):
    money_t = pl.Decimal(18, 2)

    def int_of(e):
        t = e.str.strip_chars()
        return pl.when(t.str.contains(INT)).then(t.str.strip_prefix("+").cast(pl.Int64, strict=False))

    def money_of(e):
        t = e.str.strip_chars()
        return pl.when(t.str.contains(MONEY)).then(t.cast(money_t, strict=False))

    def ts_of(e):
        t = e.str.strip_chars()
        return pl.when(t.str.contains(RFC3339)).then(
            t.str.to_datetime("%+", time_unit="us", time_zone="UTC", strict=False))

    def blank(name):
        return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")

    def load(name):
        # pos: the row's place in the partition (file, then row), for "first copy" rules.
        files = sorted(f"{raw}/{name}/{f}" for f in os.listdir(f"{raw}/{name}"))
        frames, offset = [], 0
        for f in files:  # consecutive positions across files (Polars' row index is 32-bit)
            frames.append(pl.scan_parquet(f).with_row_index("pos", offset=offset))
            offset += pl.scan_parquet(f).select(pl.len()).collect().item()
        lf = pl.concat(frames)
        return lf, [c for c in lf.collect_schema().names() if c != "pos"]

    def quarantine(name, key, cols, df):
        bad = df.filter(pl.col("reason").is_not_null())
        bad.select(key.alias("record_key"), pl.col("reason").alias("reason_code"), pl.col("reason"),
                   pl.struct(cols).struct.json_encode().alias("record")
                   ).write_parquet(f"{out}/quarantine/{name}.parquet", compression="zstd")

    os.makedirs(f"{out}/clean", exist_ok=True)
    os.makedirs(f"{out}/quarantine", exist_ok=True)
    accepted = {}
    codes = regions()
    email_ok = (pl.col("email").fill_null("").str.len_chars() <= 254) & \
        pl.col("email").fill_null("").str.strip_chars().str.contains(EMAIL) & \
        (pl.col("email").str.strip_chars().str.split("@").list.first().str.len_bytes() <= 64)
    rules = {
        "categories": (pl.when(blank("name")).then(pl.lit("missing_name")),
                       [pl.col("id"), pl.col("name").str.strip_chars(), pl.col("updated_at")]),
        "vendors": (pl.when(blank("vendor_name")).then(pl.lit("missing_name"))
                    .when(~pl.col("region").fill_null("").str.strip_chars().str.to_uppercase().is_in(codes)).then(pl.lit("bad_region")),
                    [pl.col("id"), pl.col("vendor_name").str.strip_chars(), pl.col("region").str.strip_chars().str.to_uppercase(),
                     pl.col("joined_at"), pl.col("updated_at")]),
        "customers": (pl.when(blank("first_name") | blank("last_name")).then(pl.lit("missing_name"))
                      .when(~email_ok).then(pl.lit("bad_email")),
                      [pl.col("id"), pl.col("first_name").str.strip_chars(), pl.col("last_name").str.strip_chars(),
                       pl.col("email").str.strip_chars().str.to_lowercase(), pl.col("joined_at"), pl.col("updated_at")]),
    }
    for name in ENTITIES:
        lf, cols = load(name)
        if name == "inventory":
            vendors = accepted["vendors"].get_column("id")
            categories = accepted["categories"].get_column("id")
            rule = (pl.when(pl.col("vendor_id").is_null() | ~pl.col("vendor_id").is_in(vendors.implode())).then(pl.lit("unknown_vendor"))
                    .when(pl.col("category_id").is_null() | ~pl.col("category_id").is_in(categories.implode())).then(pl.lit("unknown_category"))
                    .when(blank("item_name")).then(pl.lit("missing_name"))
                    .when(pl.col("price").is_null() | (pl.col("price") <= 0)).then(pl.lit("bad_price"))
                    .when(pl.col("stock") < 0).then(pl.lit("bad_stock")))
            cleaned = [pl.col("id"), pl.col("vendor_id"), pl.col("category_id"), pl.col("item_name").str.strip_chars(),
                       pl.col("price"), pl.col("stock").fill_null(0), pl.col("updated_at")]
        else:
            rule, cleaned = rules[name]
        # The rule's verdict, then "an id already accepted" (which clean checks before the rules).
        df = (lf.with_columns(rule.alias("rule"))
              .with_columns(pl.col("pos").filter(pl.col("rule").is_null()).min().over("id").alias("first_ok"))
              .with_columns(pl.when(pl.col("id").is_null()).then(pl.lit("missing_id"))
                            .when(pl.col("first_ok") < pl.col("pos")).then(pl.lit("duplicate"))
                            .otherwise(pl.col("rule")).alias("reason"))
              .collect())
        accepted[name] = df.filter(pl.col("reason").is_null()).select(cleaned)
        accepted[name].write_parquet(f"{out}/clean/{name}.parquet", compression="zstd")
        quarantine(name, pl.col("id").cast(pl.String), cols, df)

    inventory = accepted["inventory"].lazy().select(pl.col("id").alias("item_id"), pl.col("vendor_id").alias("inv_vendor"))
    customers = accepted["customers"].select("id").get_column("id")
    lines_ok = pl.col("lines").str.json_path_match("$[0]").is_not_null()
    customer = (pl.when(pl.col("uid").is_null() | (pl.col("uid") <= 0)).then(pl.lit("bad_customer_id"))
                .when(~pl.col("uid").is_in(customers.implode())).then(pl.lit("unknown_customer")))
    line_t = pl.List(pl.Struct({k: pl.String for k in LINE_FIELDS}))

    def lines(candidates):
        """Each line of the candidate rows, with the first rule it breaks (clean's order), and per
        row the first line's reason and the lines' total."""
        exploded = (candidates.select("pos", pl.col("lines").str.json_decode(line_t).alias("j"))
             .with_columns(pl.int_ranges(0, pl.col("j").list.len(), dtype=pl.Int64).alias("n"))
             .explode("j", "n").unnest("j")
             .with_columns(int_of(pl.col("item_id")).alias("item_id"), int_of(pl.col("vendor_id")).alias("vendor_id"),
                           int_of(pl.col("qty")).alias("qty"), money_of(pl.col("unit_price")).alias("unit_price"),
                           money_of(pl.col("total_price")).alias("total_price"),
                           pl.coalesce(int_of(pl.col("line_no")), pl.col("n") + 1).alias("line_no"))
             .join(inventory, on="item_id", how="left")
             .with_columns(
                 pl.when(pl.col("item_id").is_null() | pl.col("vendor_id").is_null()).then(pl.lit("bad_line"))
                 .when(pl.col("qty").is_null() | ~pl.col("qty").is_between(1, MAX_QTY)).then(pl.lit("bad_qty"))
                 .when(pl.col("unit_price").is_null() | (pl.col("unit_price") <= 0) | pl.col("total_price").is_null())
                 .then(pl.lit("bad_price"))
                 .when(pl.col("total_price") != pl.col("unit_price") * pl.col("qty")).then(pl.lit("line_total_mismatch"))
                 .when(pl.col("inv_vendor").is_null()).then(pl.lit("unknown_item"))
                 .when(pl.col("inv_vendor") != pl.col("vendor_id")).then(pl.lit("vendor_mismatch"))
                 .when(~pl.col("line_no").is_between(-2**31, 2**31 - 1)).then(pl.lit("bad_line"))
                 .alias("line_reason"))
             .collect())
        verdict = (exploded.lazy().group_by("pos").agg(
            pl.col("line_reason").sort_by("n").drop_nulls().first().alias("line_reason"),
            pl.col("total_price").sum().alias("lines_total")))
        return exploded, verdict

    # Transactions: the copy kept is the earliest created_at (unreadable: last), then the first.
    lf, cols = load("transactions")
    t = (lf.with_columns(pl.when(pl.col("transaction_id").str.strip_chars() != "").then(pl.col("transaction_id").str.strip_chars()).alias("id"),
                         int_of(pl.col("user_id")).alias("uid"),
                         pl.when(pl.col("installments").is_null()).then(1).otherwise(int_of(pl.col("installments"))).alias("inst"),
                         ts_of(pl.col("created_at")).alias("created"), money_of(pl.col("total_price")).alias("total"))
         .with_columns(pl.col("created").dt.epoch("us").fill_null(2**63 - 1).alias("rank"))
         .with_columns((pl.col("pos") == pl.col("pos").filter(pl.col("rank") == pl.col("rank").min()).min().over("id"))
                       .alias("kept"))
         .with_columns(pl.when(pl.col("id").is_null()).then(pl.lit("missing_id"))
                       .when(~pl.col("kept")).then(pl.lit("duplicate"))
                       .otherwise(pl.coalesce(customer,
                                              pl.when(pl.col("inst").is_null() | ~pl.col("inst").is_between(1, 2**31 - 1)).then(pl.lit("bad_installments"))
                                              .when(pl.col("created").is_null()).then(pl.lit("bad_timestamp"))
                                              .when(pl.col("created").dt.date() != day).then(pl.lit("wrong_date"))
                                              .when(~lines_ok.fill_null(False)).then(pl.lit("bad_lines"))))
                       .alias("pre"))
         .collect())
    exploded, verdict = lines(t.lazy().filter(pl.col("pre").is_null()))
    v = (t.lazy().join(verdict, on="pos", how="left")
         .with_columns(pl.coalesce("pre", "line_reason",
                                   pl.when(pl.col("total").is_null() | (pl.col("total") <= 0)).then(pl.lit("bad_total"))
                                   .when(pl.col("lines_total") != pl.col("total")).then(pl.lit("total_mismatch"))).alias("reason"))
         .collect())
    sink(v.lazy().filter(pl.col("reason").is_null())
         .select("pos", pl.col("id").alias("transaction_id"), pl.col("uid").alias("customer_id"), pl.col("total").alias("order_total"),
                 pl.col("inst").cast(pl.Int32).alias("installments"), pl.col("created").alias("created_at"))
         .join(exploded.lazy(), on="pos", how="inner")
         .select("transaction_id", pl.col("line_no").cast(pl.Int32), "customer_id", "item_id", "vendor_id", "qty",
                 "unit_price", "total_price", "order_total", "installments", "created_at"),
         f"{out}/clean/transaction_lines.parquet")
    quarantine("transactions", pl.col("id"), cols, v)

    # Carts: the rules first, then a customer's second valid cart is the duplicate.
    lf, cols = load("carts")
    t = (lf.with_columns(int_of(pl.col("user_id")).alias("uid"), ts_of(pl.col("updated_at")).alias("updated"))
         .with_columns(pl.coalesce(customer, pl.when(pl.col("updated").is_null()).then(pl.lit("bad_timestamp"))
                                   .when(~lines_ok.fill_null(False)).then(pl.lit("bad_lines"))).alias("pre"))
         .collect())
    exploded, verdict = lines(t.lazy().filter(pl.col("pre").is_null()))
    v = (t.lazy().join(verdict, on="pos", how="left")
         .with_columns(pl.coalesce("pre", "line_reason").alias("rule"))
         .with_columns(pl.col("pos").filter(pl.col("rule").is_null()).min().over("uid").alias("first_ok"))
         .with_columns(pl.when(pl.col("rule").is_null() & (pl.col("first_ok") < pl.col("pos"))).then(pl.lit("duplicate"))
                       .otherwise(pl.col("rule")).alias("reason"))
         .collect())
    sink(v.lazy().filter(pl.col("reason").is_null())
         .select("pos", pl.col("uid").alias("customer_id"), pl.col("updated").alias("cart_updated_at"))
         .join(exploded.lazy(), on="pos", how="inner")
         .select("customer_id", "item_id", "vendor_id", "qty", "unit_price", "total_price", "cart_updated_at"),
         f"{out}/clean/cart_lines.parquet")
    quarantine("carts", pl.col("user_id"), cols, v)


# ---- equality ------------------------------------------------------------------------------


def describe(out, raw_rows):
    """What a tool's outputs say, to compare with another tool's: per raw dataset the rows
    accepted and refused per reason (rows in must be what the raw partition holds); a digest of
    every cleaned, enriched and gold dataset; and fact_sales' Σ total_price."""
    import polars as pl
    from bench_lake import digest, frame

    result = {"clean": {}, "datasets": {}}
    for name in RAW:
        q = frame(f"{out}/quarantine/{name}")
        reasons = {} if q is None else dict(sorted(q.group_by("reason_code").len().iter_rows()))
        if name == "transactions":
            f = frame(f"{out}/clean/transaction_lines")
            accepted = 0 if f is None else f.get_column("transaction_id").n_unique()
        elif name == "carts":
            f = frame(f"{out}/clean/cart_lines")
            accepted = 0 if f is None else f.get_column("customer_id").n_unique()
        else:
            f = frame(f"{out}/clean/{name}")
            accepted = 0 if f is None else f.height
        refused = sum(reasons.values())
        result["clean"][name] = {"rows_in": accepted + refused, "accepted": accepted,
                                 "quarantined": refused - reasons.get("duplicate", 0),
                                 "duplicates": reasons.get("duplicate", 0), "reasons": reasons}
        if accepted + refused != raw_rows[name]:
            result["clean"][name]["error"] = f"{accepted + refused} rows accounted for, the raw partition has {raw_rows[name]}"
    for path in [f"clean/{n}" for n in ENTITIES + ["transaction_lines", "cart_lines"]] + ["enrich/sales_lines"] + \
            [f"gold/{n}" for n in GOLD]:
        result["datasets"][path] = digest(f"{out}/{path}")
    facts = frame(f"{out}/gold/fact_sales")
    result["fact_sales_total_price"] = "0.00" if facts is None else str(facts.get_column("total_price").cast(pl.Decimal(38, 2)).sum())
    return result


def compare(raw, tools):
    """Exit 1, printing each difference, unless every tool's description equals the first's."""
    from bench_lake import frame

    raw_rows = {n: frame(f"{raw}/{n}").height for n in RAW}
    described = {name: describe(out, raw_rows) for name, out in tools}
    (first, want), *others = described.items()
    problems = []
    for name, got in described.items():
        for ds, c in got["clean"].items():
            if "error" in c:
                problems.append(f"{name} {ds}: {c['error']}")
    for name, got in others:
        for section in ["clean", "datasets"]:
            for key in want[section]:
                if want[section][key] != got[section][key]:
                    problems.append(f"{section} {key}:\n    {first}: {want[section][key]}\n    {name}: {got[section][key]}")
        if want["fact_sales_total_price"] != got["fact_sales_total_price"]:
            problems.append(f"fact_sales Σ total_price: {first} {want['fact_sales_total_price']}, {name} {got['fact_sales_total_price']}")
    for p in problems:
        print(f"  differs: {p}", file=sys.stderr)
    print(json.dumps(want))
    if problems:
        sys.exit(f"outputs differ ({len(problems)} difference(s)): no timing counts")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stage")
    s.add_argument("--tool", choices=["duckdb", "datafusion", "polars"], required=True)
    s.add_argument("--stage", choices=["clean", "enrich", "gold"], required=True)
    s.add_argument("--raw", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--date", type=Date.fromisoformat, required=True)
    c = sub.add_parser("compare")
    c.add_argument("--raw", required=True)
    c.add_argument("tools", nargs="+", help="NAME=DIR")
    a = p.parse_args()
    if a.cmd == "stage":
        stage = {"duckdb": duckdb_stage, "datafusion": datafusion_stage, "polars": polars_stage}[a.tool]
        stage(a.stage, a.raw, a.out, a.date)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        compare(a.raw, [t.split("=", 1) for t in a.tools])


if __name__ == "__main__":
    main()
