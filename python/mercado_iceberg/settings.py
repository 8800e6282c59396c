"""Where the catalog and the lake are: flags with an environment fallback, as the Rust tasks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

# The zones published as Iceberg tables, each an Iceberg namespace.
ZONES = ("gold", "cleaned")
# The column every table is partitioned by: the lake partition's date (``dt=D``).
DATE_COLUMN = "dt"


def on_date(day: date | str) -> str:
    """The row filter of one date's partition, in pyiceberg's filter syntax."""
    text = day if isinstance(day, str) else day.isoformat()
    return f"{DATE_COLUMN} = '{date.fromisoformat(text).isoformat()}'"


@dataclass(frozen=True)
class Settings:
    bucket: str
    catalog_kind: str
    catalog_url: str | None
    endpoint: str | None
    region: str

    @staticmethod
    def from_env(bucket: str | None = None) -> Settings:
        return Settings(
            bucket=bucket or os.environ.get("MERCADO_LAKE_BUCKET", "mercado-lake"),
            catalog_kind=os.environ.get("MERCADO_ICEBERG_CATALOG", "sql"),
            catalog_url=os.environ.get("ICEBERG_CATALOG_URL"),
            endpoint=os.environ.get("AWS_ENDPOINT_URL"),
            region=os.environ.get("AWS_REGION", "us-east-1"),
        )

    @property
    def warehouse(self) -> str:
        """Where the tables' files and metadata live: beside the lake's zones, under ``iceberg/``."""
        return f"s3://{self.bucket}/iceberg"

    def s3_properties(self) -> dict[str, str]:
        """pyiceberg's FileIO settings: the emulator's endpoint locally, the SDK's defaults on AWS."""
        props = {"s3.region": self.region}
        if self.endpoint:
            props["s3.endpoint"] = self.endpoint
        for prop, var in (("s3.access-key-id", "AWS_ACCESS_KEY_ID"), ("s3.secret-access-key", "AWS_SECRET_ACCESS_KEY")):
            if os.environ.get(var):
                props[prop] = os.environ[var]
        return props


def sqlalchemy_url(url: str) -> str:
    """A libpq URL (``postgres://…``) as SQLAlchemy names it with the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url
