"""The lake's published partitions, read as the Rust readers read them: only the files a
``_manifest.json`` lists, each checked against its size and SHA-256 before use."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq


class CorruptObject(Exception):
    """An object is not the file its manifest lists (missing, truncated or replaced): nothing is
    committed. Re-run the task that wrote the partition."""


@dataclass(frozen=True)
class Partition:
    """One published partition: ``zone/source/dataset/dt=D`` and its manifest."""

    zone: str
    source: str
    dataset: str
    day: date
    manifest: dict

    @property
    def table(self) -> str:
        """The Iceberg table's name in the zone's namespace: the dataset, with its source unless
        the source is ``mercado`` (gold's only one)."""
        return self.dataset if self.source == "mercado" else f"{self.source}_{self.dataset}"


def _dirs(s3, bucket: str, prefix: str) -> list[str]:
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names += [p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return names


def published(s3, bucket: str, zone: str, day: date) -> list[Partition]:
    """Every dataset of ``zone`` with a published partition for ``day`` (found by listing the
    zone's folders, so a new dataset needs no list kept here)."""
    found = []
    for source in _dirs(s3, bucket, f"{zone}/"):
        for dataset in _dirs(s3, bucket, f"{zone}/{source}/"):
            key = f"{zone}/{source}/{dataset}/dt={day.isoformat()}/_manifest.json"
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                continue
            found.append(Partition(zone, source, dataset, day, json.loads(body)))
    return sorted(found, key=lambda p: (p.source, p.dataset))


def read_verified(s3, bucket: str, partition: Partition) -> pa.Table:
    """The partition's rows: every listed file, whole and the one written, else CorruptObject."""
    tables = []
    for entry in partition.manifest["files"]:
        key = entry["key"]
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            raise CorruptObject(f"s3://{bucket}/{key} is missing (listed by {partition.zone}/{partition.source}/"
                                f"{partition.dataset}/dt={partition.day})") from None
        if len(body) != entry["bytes"] or hashlib.sha256(body).hexdigest() != entry["sha256"]:
            raise CorruptObject(f"s3://{bucket}/{key} is not the file its manifest lists: "
                                f"{len(body)} bytes, listed {entry['bytes']} with another SHA-256")
        table = pq.read_table(io.BytesIO(body))
        if table.num_rows != entry["rows"]:
            raise CorruptObject(f"s3://{bucket}/{key} has {table.num_rows} rows, listed {entry['rows']}")
        tables.append(table)
    if not tables:
        return None
    return pa.concat_tables(tables)
