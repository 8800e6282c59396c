"""A date's partitions into their Iceberg tables: one commit per table, replacing the date."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.expressions.parser import parse
from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible, _dataframe_to_data_files
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform
from sqlalchemy.exc import DBAPIError

from .lake import Partition, published, read_verified
from .settings import DATE_COLUMN, on_date

# Parallel dates of a backfill commit to one table at once: pyiceberg reloads and retries a
# commit that lost the race (with backoff), up to this many times.
# A day's commit should cost what the day costs, not what the table's history holds: manifests are
# merged as they accumulate (the manifest list stays short) and only the last metadata files are
# kept (older ones deleted at commit; snapshots themselves go by `expire`).
TABLE_PROPERTIES = {
    "commit.retry.num-retries": "20",
    "commit.retry.min-wait-ms": "50",
    "commit.retry.max-wait-ms": "2000",
    "commit.manifest-merge.enabled": "true",
    "write.metadata.previous-versions-max": "10",
    "write.metadata.delete-after-commit.enabled": "true",
    "format-version": "2",
}


def with_date(data: pa.Table, day: date) -> pa.Table:
    """The rows with the partition column, the lake partition's date."""
    column = pa.array([day] * data.num_rows, type=pa.date32())
    return data.append_column(pa.field(DATE_COLUMN, pa.date32(), nullable=False), column)


def ensure_table(catalog: Catalog, namespace: str, name: str, schema: pa.Schema) -> Table:
    """The table, made on first use (partitioned by the date) or with the schema's new columns
    added (a nullable column added to a contract: older snapshots still read)."""
    ident = f"{namespace}.{name}"
    try:
        table = catalog.load_table(ident)
    except NoSuchTableError:
        try:
            catalog.create_namespace(namespace)
        except (NamespaceAlreadyExistsError, DBAPIError):
            pass  # made already, or by another date of the backfill just now
        try:
            with catalog.create_table_transaction(ident, schema=schema, properties=TABLE_PROPERTIES) as tx:
                with tx.update_spec() as spec:
                    spec.add_field(DATE_COLUMN, IdentityTransform(), DATE_COLUMN)
        except (TableAlreadyExistsError, CommitFailedException):
            pass  # another date of the backfill made it first (the SQL catalog says so either way)
        table = catalog.load_table(ident)
    known = set(table.schema().column_names)
    if any(f.name not in known for f in schema):
        with table.update_schema() as update:
            update.union_by_name(schema)
        table = catalog.load_table(ident)
    return table


def replace_date(table: Table, rows: pa.Table, day: date) -> None:
    """The date's rows replaced in one OVERWRITE snapshot: the date's current files removed and the
    new ones added together, so a re-run is exactly one snapshot more. (pyiceberg's ``overwrite``
    makes two, a DELETE then an APPEND; its file writer and overwrite producer are what it uses
    inside, pinned with pyiceberg in python/iceberg-requirements.txt.)"""
    _check_pyarrow_schema_compatible(table.schema(), provided_schema=rows.schema,
                                     format_version=table.metadata.format_version)
    with table.transaction() as tx:
        commit_uuid = uuid.uuid4()
        new_files = list(_dataframe_to_data_files(table_metadata=tx.table_metadata, write_uuid=commit_uuid,
                                                  df=rows, io=table.io))
        # The files the date's partition holds now: manifests of other dates are skipped by their
        # partition summaries, so this grows with the date, not with the table's history.
        old_files = [task.file for task in table.scan(row_filter=on_date(day)).plan_files()]
        with tx.update_snapshot().overwrite(commit_uuid=commit_uuid) as overwrite:
            # The date is what this commit replaces: a concurrent commit conflicts (and this one
            # is retried on the new metadata) only if it added or removed files of the same date.
            overwrite.delete_by_predicate(parse(on_date(day)))
            for data_file in old_files:
                overwrite.delete_data_file(data_file)
            for data_file in new_files:
                overwrite.append_data_file(data_file)


def commit_partition(catalog: Catalog, s3, bucket: str, partition: Partition) -> dict:
    """Replaces the date's partition of the dataset's table in one commit; its figures."""
    started = time.monotonic()
    data = read_verified(s3, bucket, partition)
    read_s = time.monotonic() - started
    day = partition.day
    if data is None:
        try:
            table = catalog.load_table(f"{partition.zone}.{partition.table}")
        except NoSuchTableError:
            return {"rows": 0, "snapshot_id": None, "read_s": round(read_s, 3), "commit_s": 0.0}
        table.delete(on_date(day))
    else:
        rows = with_date(data, day)
        table = ensure_table(catalog, partition.zone, partition.table, rows.schema)
        replace_date(table, rows, day)
    # The table object holds the metadata its commit made: no reload.
    snapshot = table.current_snapshot()
    return {
        "rows": 0 if data is None else data.num_rows,
        "snapshot_id": snapshot.snapshot_id if snapshot else None,
        "read_s": round(read_s, 3),
        "commit_s": round(time.monotonic() - started - read_s, 3),
    }


# Tables committed at once: each commit is a chain of small S3 requests and one catalog update,
# independent of the other tables'.
PARALLEL_TABLES = 4


def commit_date(catalog: Catalog, s3, bucket: str, zones: tuple[str, ...], day: date) -> dict[str, dict]:
    """Every published dataset of the zones for the date, each into its table (one commit each,
    several tables at once). Any failure fails the step after the others finished; a table already
    committed keeps its new snapshot, and a re-run replaces it again."""
    partitions = [p for zone in zones for p in published(s3, bucket, zone, day)]
    with ThreadPoolExecutor(PARALLEL_TABLES) as pool:
        results = list(pool.map(lambda p: commit_partition(catalog, s3, bucket, p), partitions))
    return {f"{p.zone}.{p.table}": r for p, r in zip(partitions, results, strict=True)}
