"""The Iceberg catalog: a SQL catalog in PostgreSQL by default; AWS Glue or a REST catalog by
configuration (``MERCADO_ICEBERG_CATALOG``)."""

from __future__ import annotations

import os
import time

from pyiceberg.catalog import Catalog, load_catalog
from sqlalchemy.exc import DBAPIError

from .settings import Settings, sqlalchemy_url


class CatalogConfigError(Exception):
    """The catalog's settings are missing or contradictory; the message says which to set."""


def open_catalog(settings: Settings) -> Catalog:
    props = {"warehouse": settings.warehouse, **settings.s3_properties()}
    kind = settings.catalog_kind
    if kind == "sql":
        if not settings.catalog_url:
            raise CatalogConfigError("ICEBERG_CATALOG_URL is not set: the PostgreSQL database of the Iceberg "
                                     "catalog (scripts/services.sh makes the local one, `iceberg`)")
        uri = sqlalchemy_url(settings.catalog_url)
        try:
            return load_catalog("mercado", type="sql", uri=uri, **props)
        except DBAPIError:
            # Two processes making the catalog's own tables at once (parallel dates on a new
            # catalog): one made them; open it without making them.
            time.sleep(0.5)
            return load_catalog("mercado", type="sql", uri=uri, init_catalog_tables="false", **props)
    if kind == "glue":
        return load_catalog("mercado", type="glue", **props)
    if kind == "rest":
        rest_uri = os.environ.get("MERCADO_ICEBERG_REST_URI")
        if not rest_uri:
            raise CatalogConfigError("MERCADO_ICEBERG_REST_URI is not set: the REST catalog's address")
        return load_catalog("mercado", type="rest", uri=rest_uri, **props)
    raise CatalogConfigError(f"MERCADO_ICEBERG_CATALOG must be sql, glue, rest or none, not {kind!r}")
