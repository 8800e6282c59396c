"""A small lake of three days, made the way the pipeline makes it: the API, the traffic generator,
then `mercado-task` extract … load_redshift for each day, with the test's own databases, DynamoDB
table, bucket and Iceberg catalog."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "python"))

from e2e_support import BIN, free_port, psql, start_api, with_api_token, with_db  # noqa: E402
from e2e_support import iceberg_catalog_url as catalog_url  # noqa: E402

DATES = ["2025-06-02", "2025-06-03", "2025-06-04"]
CHAIN = ["extract", "clean", "enrich", "gold", "load_redshift"]


def run_tasks(env: dict, day: str, tasks=CHAIN) -> None:
    for task in tasks:
        out = subprocess.run([BIN / "mercado-task", task, "--date", day], env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, f"{task} {day}: {out.stderr[-2000:]}"


@pytest.fixture(scope="session")
def lake():
    name = f"ice_{int(time.time())}_{os.getpid()}"
    admin = os.environ["DATABASE_URL"]
    for db in (name, f"{name}_wh"):
        psql(with_db(admin, "postgres"), f'CREATE DATABASE "{db}"')
    env = dict(os.environ)
    env.update(
        DATABASE_URL=with_db(admin, name),
        WAREHOUSE_URL=with_db(admin, f"{name}_wh"),
        MERCADO_DDB_TABLE=name,
        MERCADO_LAKE_BUCKET=name.replace("_", "-"),
        MERCADO_API_BIND=f"127.0.0.1:{free_port()}",
        MERCADO_RATE_LIMIT_PER_SECOND="0",
        ICEBERG_CATALOG_URL=catalog_url(name),
        MERCADO_ICEBERG_CATALOG="sql",
        RUST_LOG="warn",
    )
    with_api_token(env, Path(tempfile.mkdtemp(prefix="mercado-iceberg-")))
    api, base = start_api(env)
    try:
        for n, day in enumerate(DATES):
            subprocess.run([BIN / "mercado-traffic", "--date", day, "--api-url", base, "--orders", "30",
                            "--customers", "6", "--vendors", "3", "--items", "8", "--carts", "2", "--seed", str(3 + n)],
                           env=env, check=True, capture_output=True, text=True, timeout=120)
            run_tasks(env, day)
        yield env
    finally:
        api.terminate()
        api.wait(timeout=10)
