"""The published tables against the warehouse, read by engines that are not ours: every gold table
read through the catalog by pyiceberg and by DuckDB's Iceberg extension equals the warehouse's
``core`` table row for row, and each date of each table is the files of one commit (no file of a
replaced or killed run is visible).

The commit publishes a date before ``load_redshift`` loads it, so a date whose load failed (or is
still to run) is in the tables and not in the warehouse: the comparison is over the dates the
warehouse loaded (its last ``load_redshift`` run for the date succeeded, ``audit.pipeline_runs``);
the others are listed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from .settings import DATE_COLUMN, Settings

# How load_redshift makes each warehouse table from the gold partitions (tasks/lake/src/warehouse.rs,
# `TABLES`; a test compares the two): appended per date; SCD2 versions re-chained (valid_to and
# is_current are the load's own); overwritten by the latest date (type 1).
APPENDED = ("dim_date", "fact_cart_snapshot", "fact_sales")
SCD2 = ("dim_customer", "dim_inventory")
TYPE1 = ("dim_category", "dim_vendor")
GOLD = tuple(sorted(APPENDED + SCD2 + TYPE1))
LOAD_OWN_COLUMNS = ("valid_to", "is_current")


def rows(data: pa.Table, columns: list[str]) -> Counter:
    """The rows as a multiset: equal tables hold the same rows as many times, in any order."""
    return Counter(tuple(r[c] for c in columns) for r in data.select(columns).to_pylist())


def as_loaded(name: str, data: pa.Table, loaded: list) -> pa.Table:
    """The table's rows the warehouse should hold: those of the loaded dates, a type-1 dimension
    only as of its latest loaded date."""
    data = data.filter(pc.is_in(data[DATE_COLUMN], pa.array(loaded, pa.date32())))
    if name in TYPE1 and data.num_rows:
        latest = pc.max(data[DATE_COLUMN])
        data = data.filter(pc.equal(data[DATE_COLUMN], latest))
    return data


def compared_columns(data: pa.Table) -> list[str]:
    return [c for c in data.column_names if c != DATE_COLUMN and c not in LOAD_OWN_COLUMNS]


def warehouse_rows(conn, name: str, columns: list[str]) -> Counter:
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(f"SELECT {', '.join(columns)} FROM core.{name}")
        return Counter(tuple(r) for r in cur.fetchall())


def loaded_dates(conn) -> list:
    """The dates whose last warehouse load succeeded."""
    with conn.cursor() as cur:
        cur.execute("""SELECT date FROM (SELECT DISTINCT ON (date) date, status FROM audit.pipeline_runs
                       WHERE task = 'load_redshift' ORDER BY date, finished_at DESC) last
                       WHERE status = 'ok' ORDER BY date""")
        return [r[0] for r in cur.fetchall()]


def commits_per_date(table: Table) -> dict:
    """For each date, the snapshots that added the files the current snapshot holds for it: one per
    date when every re-run replaced the date and no file of another run is visible."""
    entries = table.inspect.entries()
    live = entries.filter(pc.not_equal(entries["status"], 2)).to_pylist()
    out: dict = {}
    for entry in live:
        out.setdefault(entry["data_file"]["partition"][DATE_COLUMN], set()).add(entry["snapshot_id"])
    return out


def duckdb_connection(settings: Settings, extension_dir: Path):
    """DuckDB with its Iceberg extension loaded from the pinned PyPI wheels (nothing downloaded),
    reading the lake's bucket with the same credentials as pyiceberg."""
    import os

    import duckdb
    import duckdb_extensions

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                                 "extension_directory": str(extension_dir)})
    for ext in ("httpfs", "avro", "iceberg"):
        duckdb_extensions.import_extension(ext, con=con)
        con.execute(f"LOAD {ext}")
    secret = [f"TYPE s3, REGION '{settings.region}'"]
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        secret.append(f"KEY_ID '{os.environ['AWS_ACCESS_KEY_ID']}', SECRET '{os.environ.get('AWS_SECRET_ACCESS_KEY', '')}'")
    if settings.endpoint:
        endpoint = urlparse(settings.endpoint)
        secret.append(f"ENDPOINT '{endpoint.netloc}', USE_SSL {str(endpoint.scheme == 'https').lower()}, URL_STYLE 'path'")
    con.execute(f"CREATE SECRET lake ({', '.join(secret)})")
    return con


def verify(catalog: Catalog, settings: Settings, warehouse_conn, extension_dir: Path) -> dict:
    """Each gold table against the warehouse; a dict of what differs (empty when all equal) and the
    figures of each table."""
    duck = duckdb_connection(settings, extension_dir)
    loaded = loaded_dates(warehouse_conn)
    figures: dict = {}
    problems: list[str] = []
    not_loaded: set = set()
    if not loaded:
        problems.append("the warehouse has loaded no date (audit.pipeline_runs): nothing to compare")
    for name in GOLD:
        table = catalog.load_table(f"gold.{name}")
        by_pyiceberg = table.scan().to_arrow()
        by_duckdb = duck.execute(f"SELECT * FROM iceberg_scan('{table.metadata_location}')").fetch_arrow_table()
        columns = compared_columns(by_pyiceberg)
        expected = warehouse_rows(warehouse_conn, name, columns)
        for engine, data in (("pyiceberg", by_pyiceberg), ("duckdb", by_duckdb)):
            got = rows(as_loaded(name, data, loaded), columns)
            if got != expected:
                problems.append(f"gold.{name} read by {engine}: {sum(got.values())} rows, the warehouse "
                                f"{sum(expected.values())}; {sum((got - expected).values())} not in the warehouse, "
                                f"{sum((expected - got).values())} missing")
        commits = commits_per_date(table)
        not_loaded |= set(commits) - set(loaded)
        mixed = {str(d): len(s) for d, s in commits.items() if len(s) != 1}
        if mixed:
            problems.append(f"gold.{name}: dates holding files of more than one commit: {mixed}")
        figures[name] = {"rows": sum(expected.values()), "dates": len(commits),
                         "snapshots": len(table.metadata.snapshots)}
    return {"tables": figures, "problems": problems, "dates_loaded": len(loaded),
            "published_not_loaded": sorted(d.isoformat() for d in not_loaded)}
