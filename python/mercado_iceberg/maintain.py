"""Upkeep of the tables: expire old snapshots, remove files nothing refers to, compact a date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlparse

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from .settings import on_date


def tables(catalog: Catalog, zones: tuple[str, ...]) -> list[Table]:
    out = []
    for zone in zones:
        if (zone,) not in catalog.list_namespaces():
            continue
        out += [catalog.load_table(ident) for ident in sorted(catalog.list_tables(zone))]
    return out


def expire(table: Table, older_than: timedelta, keep_last: int = 1) -> int:
    """Removes from the table's metadata the snapshots older than the horizon, except the newest
    ``keep_last`` (the current one always stays); how many. Their files stay until
    ``remove_orphans``."""
    cutoff_ms = (datetime.now(UTC) - older_than).timestamp() * 1000
    newest = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
    kept = {s.snapshot_id for s in newest[:max(keep_last, 1)]}
    current = table.current_snapshot()
    if current is not None:
        kept.add(current.snapshot_id)
    old = [s.snapshot_id for s in newest if s.timestamp_ms < cutoff_ms and s.snapshot_id not in kept]
    if old:
        table.maintenance.expire_snapshots().by_ids(old).commit()
    return len(old)


def referenced(table: Table) -> set[str]:
    """Every file the table's metadata refers to: data and delete files and manifests of every
    kept snapshot, manifest lists, the current and logged metadata files."""
    keep = {table.metadata_location}
    keep.update(entry.metadata_file for entry in table.metadata.metadata_log)
    for snapshot in table.metadata.snapshots:
        keep.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            keep.add(manifest.manifest_path)
            keep.update(entry.data_file.file_path for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False))
    return keep


def remove_orphans(table: Table, s3, older_than: timedelta) -> int:
    """Deletes the objects under the table's location that no metadata refers to and that are
    older than the horizon (a younger one may belong to a commit under way); how many."""
    location = urlparse(table.location())
    bucket, prefix = location.netloc, location.path.lstrip("/").rstrip("/") + "/"
    keep = referenced(table)
    cutoff = datetime.now(UTC) - older_than
    orphans = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if f"s3://{bucket}/{obj['Key']}" not in keep and obj["LastModified"] < cutoff:
                orphans.append(obj["Key"])
    for start in range(0, len(orphans), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in orphans[start:start + 1000]]})
    return len(orphans)


def compact(table: Table, day: date, min_files: int = 2) -> int:
    """Rewrites the date's partition as few files when it has at least ``min_files``; the files
    it replaced (0 when left alone)."""
    plan = list(table.scan(row_filter=on_date(day)).plan_files())
    if len(plan) < min_files:
        return 0
    rows = table.scan(row_filter=on_date(day)).to_arrow()
    table.overwrite(rows, overwrite_filter=on_date(day))
    return len(plan)
