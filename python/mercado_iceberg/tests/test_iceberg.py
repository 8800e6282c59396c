"""The lake as Iceberg tables (issue 22), on real PostgreSQL (the catalog), moto (S3) and the
task binaries' own output: read by engines that are not ours, replaced per date in one commit,
committed in parallel, evolved, kept."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from urllib.parse import urlparse

import boto3
import psycopg2
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
import pytest

from conftest import BIN, DATES, ROOT, catalog_url
from mercado_iceberg.catalog import open_catalog
from mercado_iceberg.commit import ensure_table, replace_date
from mercado_iceberg.maintain import referenced
from mercado_iceberg import verify as verify_module
from mercado_iceberg.settings import Settings, on_date
from mercado_iceberg.verify import APPENDED, GOLD, SCD2, TYPE1, rows


def iceberg(env, *args, check=True) -> dict:
    out = subprocess.run([ROOT / "scripts" / "iceberg.sh", *args], env=env, capture_output=True, text=True,
                         timeout=300)
    if check:
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])
    return {"returncode": out.returncode, "stderr": out.stderr}


def catalog_of(env):
    old = dict(os.environ)
    os.environ.update(env)
    try:
        return open_catalog(Settings.from_env(env["MERCADO_LAKE_BUCKET"]))
    finally:
        os.environ.clear()
        os.environ.update(old)


def s3_of(env):
    return boto3.client("s3", endpoint_url=env.get("AWS_ENDPOINT_URL"), region_name=env.get("AWS_REGION", "us-east-1"),
                        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"), aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"))


def warehouse_rows(env, table: str, columns: list[str]) -> Counter:
    conn = psycopg2.connect(env["WAREHOUSE_URL"].replace("postgres://", "postgresql://", 1))
    try:
        return verify_module.warehouse_rows(conn, table, columns)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def committed(lake):
    """Every date committed once, in order."""
    summaries = [iceberg(lake, "commit", "--date", d) for d in DATES]
    return lake, summaries


def test_each_gold_table_read_through_the_catalog_equals_the_warehouse(committed):
    env, summaries = committed
    assert set(summaries[0]["tables"]) >= {f"gold.{t}" for t in GOLD} | {"cleaned.dynamodb_transaction_lines"}
    catalog = catalog_of(env)
    latest = date.fromisoformat(DATES[-1])
    for name in GOLD:
        table = catalog.load_table(f"gold.{name}")
        data = table.scan().to_arrow()
        columns = [c for c in data.column_names if c != "dt" and c not in ("valid_to", "is_current")]
        if name in TYPE1:
            data = data.filter(pa.compute.equal(data["dt"], pa.scalar(latest, pa.date32())))
        expected = warehouse_rows(env, name, columns)
        assert expected, name
        assert rows(data, columns) == expected, name
        # The files are the table's own, written with Iceberg field ids.
        for task in table.scan().plan_files():
            path = urlparse(task.file.file_path)
            body = s3_of(env).get_object(Bucket=path.netloc, Key=path.path.lstrip("/"))["Body"].read()
            schema = pq.read_schema(pa.BufferReader(body))
            assert all(b"PARQUET:field_id" in (f.metadata or {}) for f in schema), name
            break


def test_verify_reads_every_table_by_pyiceberg_and_duckdb_and_names_a_difference(committed):
    env, _ = committed
    out = iceberg(env, "verify")
    assert set(out["tables"]) == set(GOLD)
    assert all(t["rows"] > 0 and t["dates"] == len(DATES) for n, t in out["tables"].items() if n in APPENDED), out
    # One sale less in the warehouse: both engines' reads differ from it, and verify says where.
    conn = psycopg2.connect(env["WAREHOUSE_URL"].replace("postgres://", "postgresql://", 1))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE kept AS SELECT * FROM core.fact_sales "
                        "WHERE (transaction_id, line_no) = (SELECT transaction_id, line_no FROM core.fact_sales LIMIT 1)")
            cur.execute("DELETE FROM core.fact_sales f USING kept k "
                        "WHERE (f.transaction_id, f.line_no) = (k.transaction_id, k.line_no)")
            try:
                failed = iceberg(env, "verify", check=False)
            finally:
                cur.execute("INSERT INTO core.fact_sales SELECT * FROM kept")
        assert failed["returncode"] == 1, failed
        for engine in ("pyiceberg", "duckdb"):
            assert f"gold.fact_sales read by {engine}" in failed["stderr"], failed["stderr"]
        assert "1 not in the warehouse" in failed["stderr"], failed["stderr"]
    finally:
        conn.close()


def test_reconcile_reads_the_published_snapshot(committed):
    """The Rust tasks read the tables too: reconcile checks each gold table's snapshot against its
    manifest and the snapshot's sales (from the snapshot's own files) against the warehouse."""
    env, _ = committed
    day = DATES[1]

    def reconcile():
        return subprocess.run([BIN / "mercado-task", "reconcile", "--date", day], env=env, capture_output=True,
                              text=True, timeout=120)

    out = reconcile()
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["datasets"]["iceberg"]["rows_out"] == summary["datasets"]["warehouse"]["rows_out"] > 0, summary
    # A snapshot that is not what the lake published (half the date's sales committed by hand):
    # reconcile fails and says which table and how many rows.
    table = catalog_of(env).load_table("gold.fact_sales")
    sales = table.scan(row_filter=on_date(day)).to_arrow()
    half = sales.slice(0, sales.num_rows // 2)
    replace_date(table, half, date.fromisoformat(day))
    try:
        out = reconcile()
        assert out.returncode != 0, out.stdout[-2000:]
        assert f"gold.fact_sales holds {half.num_rows} rows for {day}, its manifest lists {sales.num_rows}" in out.stderr, \
            out.stderr[-3000:]
    finally:
        iceberg(env, "commit", "--date", day)
    assert reconcile().returncode == 0


def test_the_load_kinds_are_the_warehouse_loads():
    """verify.py's table of how each gold table is loaded is load_redshift's (warehouse.rs)."""
    source = (ROOT / "tasks" / "lake" / "src" / "warehouse.rs").read_text()
    loads = dict(re.findall(r'name: "(\w+)",\s*merge: Merge::(\w+)', source))
    kinds = {"ByDate": set(APPENDED), "Scd2": set(SCD2), "Type1": set(TYPE1)}
    assert {n: k for k, names in kinds.items() for n in names} == loads


def test_a_rerun_replaces_the_date_in_one_commit_and_time_travel_reads_the_old_rows(committed):
    env, _ = committed
    catalog = catalog_of(env)
    table = catalog.load_table("gold.fact_sales")
    before_rows = table.scan().to_arrow().num_rows
    before_snapshot = table.current_snapshot().snapshot_id
    commits = len(table.metadata.metadata_log)
    snapshots = len(table.metadata.snapshots)
    day = DATES[1]
    files_before = {t.file.file_path for t in table.scan(row_filter=on_date(day)).plan_files()}
    iceberg(env, "commit", "--date", day)
    table = catalog.load_table("gold.fact_sales")
    assert table.scan().to_arrow().num_rows == before_rows, "replaced, never appended twice"
    assert len(table.metadata.metadata_log) == commits + 1, "one commit"
    assert len(table.metadata.snapshots) == snapshots + 1, "one snapshot more"
    current = table.current_snapshot()
    assert current.parent_snapshot_id == before_snapshot and current.summary.operation.value == "overwrite"
    files_now = {t.file.file_path for t in table.scan(row_filter=on_date(day)).plan_files()}
    assert files_now and not files_now & files_before, "the date's old files are no longer in the snapshot"
    # Time travel: the snapshot before the re-run reads the old files (the same rows); the one
    # before the first commit of the date has none of it.
    assert {t.file.file_path for t in table.scan(snapshot_id=before_snapshot, row_filter=on_date(day)).plan_files()} == files_before
    assert table.scan(snapshot_id=before_snapshot).to_arrow().num_rows == before_rows
    history = {s.snapshot_id: s for s in table.metadata.snapshots}
    first = min(history.values(), key=lambda s: s.timestamp_ms)
    old = table.scan(snapshot_id=first.snapshot_id).to_arrow()
    assert set(old["dt"].to_pylist()) == {date.fromisoformat(DATES[0])}


def test_a_commit_killed_leaves_the_table_at_a_snapshot(committed):
    env, _ = committed
    catalog = catalog_of(env)
    table = catalog.load_table("gold.fact_sales")
    rows_before = table.scan().to_arrow().num_rows
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen([ROOT / "scripts" / "iceberg.sh", "commit", "--date", DATES[0]], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        table = catalog.load_table("gold.fact_sales")
        assert table.scan().to_arrow().num_rows == rows_before, f"killed after {delay} s"


def test_parallel_dates_all_land(lake):
    env = dict(lake, ICEBERG_CATALOG_URL=catalog_url(lake["MERCADO_DDB_TABLE"] + "_par"))
    with ThreadPoolExecutor(len(DATES)) as pool:
        list(pool.map(lambda d: iceberg(env, "commit", "--date", d), DATES))
    data = catalog_of(env).load_table("gold.fact_sales").scan().to_arrow()
    assert sorted(set(data["dt"].to_pylist())) == [date.fromisoformat(d) for d in DATES]
    assert rows(data, ["transaction_id", "line_no"]) == warehouse_rows(lake, "fact_sales", ["transaction_id", "line_no"])


def test_a_new_nullable_column_is_added_and_old_snapshots_still_read(committed):
    env, _ = committed
    catalog = catalog_of(env)
    table = catalog.load_table("gold.dim_vendor")
    old_snapshot = table.current_snapshot().snapshot_id
    old = table.scan().to_arrow()
    day = date.fromisoformat(DATES[-1])
    latest = old.filter(pa.compute.equal(old["dt"], pa.scalar(day, pa.date32())))
    evolved = latest.append_column(pa.field("website", pa.string(), nullable=True),
                                   pa.array([f"https://shop{i}.example" for i in range(latest.num_rows)]))
    table = ensure_table(catalog, "gold", "dim_vendor", evolved.schema)
    table.overwrite(evolved, overwrite_filter=on_date(day))
    table = catalog.load_table("gold.dim_vendor")
    assert "website" in table.schema().column_names
    now = table.scan().to_arrow()
    assert now.filter(pa.compute.equal(now["dt"], pa.scalar(day, pa.date32())))["website"].null_count == 0
    assert now.filter(pa.compute.not_equal(now["dt"], pa.scalar(day, pa.date32())))["website"].null_count > 0
    assert table.scan(snapshot_id=old_snapshot).to_arrow().num_rows == old.num_rows


def test_maintenance_keeps_only_the_kept_snapshots_and_their_files(committed):
    env, _ = committed
    iceberg(env, "commit", "--date", DATES[0])  # one more commit: snapshots and files to expire
    catalog = catalog_of(env)
    before = catalog.load_table("gold.fact_sales")
    assert len(before.metadata.snapshots) > 1
    rows_before = before.scan().to_arrow().num_rows
    expired = iceberg(env, "expire", "--older-than-days", "0")
    assert expired["tables"]["fact_sales"] >= 1
    removed = iceberg(env, "remove-orphans", "--older-than-hours", "0")
    assert removed["tables"]["fact_sales"] >= 1
    table = catalog.load_table("gold.fact_sales")
    assert [s.snapshot_id for s in table.metadata.snapshots] == [table.current_snapshot().snapshot_id]
    assert table.scan().to_arrow().num_rows == rows_before
    keep = referenced(table)
    location = urlparse(table.location())
    s3 = s3_of(env)
    listed = {f"s3://{location.netloc}/{o['Key']}" for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=location.netloc, Prefix=location.path.lstrip("/") + "/") for o in page.get("Contents", [])}
    assert listed == keep


def test_compaction_rewrites_a_date_as_fewer_files(committed):
    env, _ = committed
    catalog = catalog_of(env)
    table = catalog.load_table("gold.fact_sales")
    day = DATES[0]
    extra = table.scan(row_filter=on_date(day)).to_arrow()
    # Two appends of halves make the date two files.
    half = extra.num_rows // 2
    table.overwrite(extra.slice(0, half), overwrite_filter=on_date(day))
    table.append(extra.slice(half))
    table = catalog.load_table("gold.fact_sales")
    files = len(list(table.scan(row_filter=on_date(day)).plan_files()))
    assert files >= 2
    out = iceberg(env, "compact", "--date", day)
    assert out["tables"]["fact_sales"] == files
    table = catalog.load_table("gold.fact_sales")
    assert len(list(table.scan(row_filter=on_date(day)).plan_files())) == 1
    assert rows(table.scan(row_filter=on_date(day)).to_arrow(), extra.column_names) == rows(extra, extra.column_names)


def test_a_corrupt_object_is_refused_and_nothing_committed(committed):
    env, _ = committed
    s3 = s3_of(env)
    bucket = env["MERCADO_LAKE_BUCKET"]
    key = f"gold/mercado/fact_sales/dt={DATES[2]}/_manifest.json"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    victim = manifest["files"][0]["key"]
    original = s3.get_object(Bucket=bucket, Key=victim)["Body"].read()
    catalog = catalog_of(env)
    snapshot = catalog.load_table("gold.fact_sales").current_snapshot().snapshot_id
    s3.put_object(Bucket=bucket, Key=victim, Body=original[: len(original) // 2])
    try:
        out = iceberg(env, "commit", "--date", DATES[2], check=False)
        assert out["returncode"] == 1 and victim in out["stderr"], out
        assert catalog.load_table("gold.fact_sales").current_snapshot().snapshot_id == snapshot
    finally:
        s3.put_object(Bucket=bucket, Key=victim, Body=original)


def test_commit_has_help_and_clear_errors(lake):
    out = subprocess.run([ROOT / "scripts" / "iceberg.sh", "commit", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--date" in out.stdout
    bad = iceberg(dict(lake, MERCADO_ICEBERG_CATALOG="nessie"), "commit", "--date", DATES[0], check=False)
    assert bad["returncode"] == 1 and "MERCADO_ICEBERG_CATALOG must be sql, glue, rest or none" in bad["stderr"]
