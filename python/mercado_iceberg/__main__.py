"""``python -m mercado_iceberg <command>``: the Iceberg step of the pipeline and the tables' upkeep.
Every flag has an environment fallback; the last stdout line is a one-line JSON summary (Airflow
keeps it as XCom), as with ``mercado-task``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import date, timedelta

from .settings import ZONES, Settings


def env_default(name: str, default=None):
    return os.environ.get(name, default)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mercado_iceberg",
        description="Publish the lake's dates as Apache Iceberg tables (one commit per table and date) "
                    "and keep the tables: expire snapshots, remove orphan files, compact a date.")
    p.add_argument("--bucket", default=env_default("MERCADO_LAKE_BUCKET", "mercado-lake"),
                   help="the lake's bucket (MERCADO_LAKE_BUCKET; default mercado-lake)")
    p.add_argument("--zones", default=env_default("MERCADO_ICEBERG_ZONES", ",".join(ZONES)),
                   help="zones published, comma-separated (MERCADO_ICEBERG_ZONES; default gold,cleaned)")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("commit", help="replace each table's partition of the date with the lake's published one")
    c.add_argument("--date", required=True, type=date.fromisoformat, help="the day, YYYY-MM-DD")
    e = sub.add_parser("expire", help="drop snapshots older than the horizon from every table's metadata")
    e.add_argument("--older-than-days", type=float, default=float(env_default("MERCADO_ICEBERG_KEEP_DAYS", "7")),
                   help="horizon in days (MERCADO_ICEBERG_KEEP_DAYS; default 7)")
    e.add_argument("--keep-last", type=int, default=int(env_default("MERCADO_ICEBERG_KEEP_LAST", "1")),
                   help="always keep this many newest snapshots of each table (MERCADO_ICEBERG_KEEP_LAST; default 1)")
    o = sub.add_parser("remove-orphans", help="delete files under the tables that no metadata refers to")
    o.add_argument("--older-than-hours", type=float,
                   default=float(env_default("MERCADO_ICEBERG_ORPHAN_HOURS", "24")),
                   help="only files older than this (a younger one may be a commit under way; "
                        "MERCADO_ICEBERG_ORPHAN_HOURS; default 24)")
    k = sub.add_parser("compact", help="rewrite a date's partition of every table as few files")
    k.add_argument("--date", required=True, type=date.fromisoformat, help="the day, YYYY-MM-DD")
    k.add_argument("--min-files", type=int, default=int(env_default("MERCADO_ICEBERG_COMPACT_MIN_FILES", "2")),
                   help="compact a partition of at least this many files (default 2)")
    v = sub.add_parser("verify", help="every gold table, read through the catalog by pyiceberg and by DuckDB, "
                                      "equals the warehouse's core table row for row; each date one commit's files")
    v.add_argument("--warehouse-url", default=env_default("WAREHOUSE_URL"),
                   help="the warehouse to compare with (WAREHOUSE_URL; libpq URL)")
    return p


class Mismatch(Exception):
    """The tables and the warehouse differ: the message lists each difference."""


def run(args: argparse.Namespace) -> dict:
    import boto3

    from . import commit, maintain
    from .catalog import open_catalog

    settings = Settings.from_env(args.bucket)
    zones = tuple(z for z in args.zones.split(",") if z)
    if settings.catalog_kind == "none":
        # The lake is not published as Iceberg tables (MERCADO_ICEBERG_CATALOG=none): nothing to do.
        return {"task": f"iceberg_{args.command.replace('-', '_')}", "status": "ok", "tables": {},
                "note": "MERCADO_ICEBERG_CATALOG=none: no Iceberg tables"}
    catalog = open_catalog(settings)
    s3 = boto3.client("s3", endpoint_url=settings.endpoint, region_name=settings.region)
    summary: dict = {"task": f"iceberg_{args.command.replace('-', '_')}", "status": "ok"}
    if args.command == "commit":
        summary["date"] = args.date.isoformat()
        summary["tables"] = commit.commit_date(catalog, s3, settings.bucket, zones, args.date)
        summary["rows"] = sum(t["rows"] for t in summary["tables"].values())
    elif args.command == "expire":
        summary["tables"] = {t.name()[-1]: maintain.expire(t, timedelta(days=args.older_than_days), args.keep_last)
                             for t in maintain.tables(catalog, zones)}
    elif args.command == "remove-orphans":
        summary["tables"] = {t.name()[-1]: maintain.remove_orphans(t, s3, timedelta(hours=args.older_than_hours))
                             for t in maintain.tables(catalog, zones)}
    elif args.command == "compact":
        summary["date"] = args.date.isoformat()
        summary["tables"] = {t.name()[-1]: maintain.compact(t, args.date, args.min_files)
                             for t in maintain.tables(catalog, zones)}
    elif args.command == "verify":
        summary.update(verify_warehouse(catalog, settings, args.warehouse_url))
    return summary


def verify_warehouse(catalog, settings: Settings, warehouse_url: str | None) -> dict:
    import tempfile
    from pathlib import Path

    import psycopg2

    from .verify import verify

    if not warehouse_url:
        raise Mismatch("WAREHOUSE_URL is not set: the warehouse to compare the tables with")
    conn = psycopg2.connect(warehouse_url.replace("postgres://", "postgresql://", 1))
    try:
        with tempfile.TemporaryDirectory(prefix="mercado-duckdb-") as extensions:
            result = verify(catalog, settings, conn, Path(extensions))
    finally:
        conn.close()
    if result["problems"]:
        raise Mismatch("; ".join(result["problems"]))
    return {k: v for k, v in result.items() if k != "problems"}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("MERCADO_ICEBERG_LOG", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        summary = run(args)
    except Exception as e:  # noqa: BLE001 (the edge: one line saying what failed)
        print(f"iceberg {args.command} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    summary["seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
