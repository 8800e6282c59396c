"""What the end-to-end tests share: the checkout's paths, the task registry's chain and the DAG's
task instances, and small helpers for ports, databases and waits. Imported by the test files
(`from conftest import …`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "debug"
# scripts/ holds the registry reader and the Airflow REST client the tests drive.
sys.path.insert(0, str(ROOT / "scripts"))

from airflow_api import ti_key, ti_label  # noqa: E402,F401  (re-exported)
from e2e_support import free_port, iceberg_catalog_url, iceberg_verify, psql, start_api, with_api_token, with_db  # noqa: E402,F401  (re-exported)
from registry import dag_task_ids, tasks  # noqa: E402

# The task registry, in run order (tasks/registry.toml, read as scripts/registry.py reads it).
CHAIN = [t["name"] for t in tasks()]
# The tasks `mercado-task` runs (the Iceberg commit runs as scripts/iceberg.sh, a local process).
BINARY_CHAIN = [t["name"] for t in tasks() if t.get("program", "mercado-task") == "mercado-task"]
# The tasks run once per shard: mapped tasks, one task instance per map index (0 … N-1), all with
# the task's id.
SHARDED = [t["name"] for t in tasks() if t.get("sharded")]
# The DAG's task ids in order: the chain with the shard plan (`shards`, a Python task of the DAG
# file, not of the registry) after extract (dags/mercado_daily.py's DAG_TASK_IDS; its tests check
# the two agree).
DAG_TASK_IDS = dag_task_ids()


def expected_instances(shards: int = 1) -> list[tuple[str, int]]:
    """The task instances of a run split into `shards`, as (task id, map index): each task of the
    DAG once (map index -1), each sharded task once per shard. A run left to choose splits the
    tests' small days into one shard (one per MERCADO_SHARD_TRANSACTIONS, a million)."""
    return [(t, i) for t in DAG_TASK_IDS for i in (range(shards) if t in SHARDED else [-1])]


def instances(tis: list[dict]) -> dict[tuple[str, int], dict]:
    """A run's task instances by (task id, map index); fails on a duplicate."""
    out = {ti_key(ti): ti for ti in tis}
    assert len(out) == len(tis), [ti_key(ti) for ti in tis]
    return out


def task_command(name: str, day: str) -> list:
    """The command the DAG runs for a task of the registry, by its program: `mercado-task <task>`
    or `scripts/iceberg.sh <command>` (the Iceberg steps)."""
    program = next(t.get("program", "mercado-task") for t in tasks() if t["name"] == name)
    if program == "iceberg":
        return [ROOT / "scripts" / "iceberg.sh", name.removeprefix("iceberg_"), "--date", day]
    return [BIN / "mercado-task", name, "--date", day]


def wait_until(what, timeout, probe, every=2.0):
    """Polls `probe` until it returns something true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def http(method: str, url: str, token: str, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode() or "null")


def cluster_sh(env, *args, timeout=300):
    """scripts/cluster.sh with the stack's settings; its stdout (the test fails with its output)."""
    out = subprocess.run([ROOT / "scripts" / "cluster.sh", *args], env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, f"cluster.sh {args}: {out.stdout[-3000:]}{out.stderr[-3000:]}"
    return out.stdout


def airflow_sh(env, *args, timeout=300):
    out = subprocess.run([ROOT / "scripts" / "airflow.sh", *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"airflow.sh {args}: {out.stdout[-3000:]}{out.stderr[-3000:]}"
    return out.stdout


def make_traffic(env, base, days):
    """Traffic for each day (25 orders; bad records on the third); after each, two items get a new
    price and name and two customers a new name (there is no customer PATCH in the API, so through
    PostgreSQL)."""
    for n, day in enumerate(days):
        args = [BIN / "mercado-traffic", "--date", day, "--api-url", base, "--orders", "25", "--customers", "8",
                "--vendors", "3", "--items", "10", "--carts", "3", "--seed", str(11 + n)]
        if n == 2:
            args.append("--bad-records")
        subprocess.run(args, env=env, check=True, capture_output=True, text=True)
        token = env["MERCADO_API_TOKEN"]
        items = http("GET", f"{base}/inventory/?limit=2", token)["items"]
        for item in items:
            http("PATCH", f"{base}/inventory/{item['id']}", token,
                 {"price": round(float(item["price"]) * 1.1 + 1, 2), "item_name": f"{item['item_name']} v{n + 2}"})
        psql(env["DATABASE_URL"], f"UPDATE customers SET last_name = last_name || ' {n + 2}' WHERE id IN "
                                  f"(SELECT id FROM customers ORDER BY id LIMIT 2)")


def warehouse_tables(url):
    rows = psql(url, "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                     "WHERE table_schema IN ('core', 'marts') ORDER BY 1")
    return rows.splitlines()


def dump(url, table):
    """Every row of a table or view, in a total order, as text."""
    cols = psql(url, f"SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM "
                     f"information_schema.columns WHERE table_schema || '.' || table_name = '{table}'")
    out = subprocess.run(["psql", url, "-tAc", f"COPY (SELECT {cols} FROM {table} ORDER BY {cols}) TO STDOUT"],
                         check=True, capture_output=True, text=True)
    return out.stdout


MANIFESTS = """
import json, sys, boto3
s3 = boto3.client("s3")
out = {}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1], Prefix=sys.argv[2]):
    for obj in page.get("Contents", []):
        if obj["Key"].endswith("/_manifest.json"):
            out[obj["Key"]] = json.load(s3.get_object(Bucket=sys.argv[1], Key=obj["Key"])["Body"])
print(json.dumps(out))
"""


def manifests(env, zone: str) -> dict:
    """Every published manifest of the zone in the env's bucket, by key (boto3 from the project's
    tools venv, .local/venv)."""
    out = subprocess.run([ROOT / ".local" / "venv" / "bin" / "python", "-c", MANIFESTS, env["MERCADO_LAKE_BUCKET"],
                          f"{zone}/"], env=env, check=True, capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def gold_counts(env, bucket):
    """Row counts of every gold manifest."""
    return {key: m["rows"] for key, m in manifests(dict(env, MERCADO_LAKE_BUCKET=bucket), "gold").items()}


@contextmanager
def airflow_stack(name: str, days: list, **settings):
    """A stack of the test's own (databases, DynamoDB table, bucket, Iceberg catalog, AIRFLOW_HOME,
    ports) with `settings` over the defaults: the API serving it, `days` of traffic through it
    (`make_traffic`), Airflow started by scripts/airflow.sh and the DAG parsed. Yields the
    environment and a REST client; stops Airflow and the API after."""
    from airflow_api import Airflow

    admin = os.environ["DATABASE_URL"]
    home = Path(tempfile.mkdtemp(prefix="mercado-airflow-"))
    env = dict(os.environ)
    env.update(
        DATABASE_URL=with_db(admin, name),
        WAREHOUSE_URL=with_db(admin, f"{name}_wh"),
        AIRFLOW_DATABASE_URL=with_db(admin, f"{name}_af"),
        AIRFLOW_HOME=str(home),
        AIRFLOW_PORT=str(free_port()),
        MERCADO_DDB_TABLE=name,
        MERCADO_LAKE_BUCKET=name.replace("_", "-"),
        ICEBERG_CATALOG_URL=iceberg_catalog_url(f"{name}_ice"),
        MERCADO_RUNNER="local",
        MERCADO_RETRIES="0",
        MERCADO_BIN_DIR=str(BIN),
        MERCADO_API_BIND=f"127.0.0.1:{free_port()}",
        # The traffic generator sends from 127.0.0.1 as fast as the API answers: no rate limit.
        MERCADO_RATE_LIMIT_PER_SECOND="0",
        RUST_LOG="warn",
    )
    env.update(settings)
    for db in (name, f"{name}_wh", f"{name}_wh_seq", f"{name}_af"):
        psql(with_db(admin, "postgres"), f'CREATE DATABASE "{db}"')
    with_api_token(env, home)
    api, base = start_api(env)
    try:
        make_traffic(env, base, days)
        airflow_sh(env, "start")
        env["AIRFLOW_URL"] = f"http://127.0.0.1:{env['AIRFLOW_PORT']}"
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(home / "passwords.json")
        client = Airflow(env["AIRFLOW_URL"], "admin", json.loads((home / "passwords.json").read_text())["admin"])
        client.wait_for_dag()
        yield env, client
    finally:
        subprocess.run([ROOT / "scripts" / "airflow.sh", "stop"], env=env, capture_output=True, timeout=60)
        api.terminate()
        api.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def one_by_one(env: dict, days: list) -> dict:
    """The reference for a run through Airflow: the same dates one by one, in order, every task of
    the registry (the Iceberg commit too, into a catalog of its own) run by the task binaries into a
    fresh lake and warehouse (the stack's `_wh_seq` database). Unsharded: no task gets --shard (clean
    and gold then do the whole date, their *_dimensions work again included), and `commit` without
    flags has one shard to check. Returns that reference's environment."""
    seq = dict(env, WAREHOUSE_URL=env["WAREHOUSE_URL"] + "_seq", MERCADO_LAKE_BUCKET=env["MERCADO_LAKE_BUCKET"] + "-seq",
               ICEBERG_CATALOG_URL=iceberg_catalog_url(f"{env['MERCADO_DDB_TABLE']}_seq_ice"))
    for day in days:
        for task in CHAIN:
            out = subprocess.run(task_command(task, day), env=seq, capture_output=True, text=True, timeout=300)
            assert out.returncode == 0, f"{task} {day}: {out.stderr[-2000:]}"
    return seq


def assert_same_warehouse_and_gold(env: dict, seq: dict, days: int) -> None:
    """Every `core` table and mart equal row for row, and every gold manifest's row count, between
    the stack (`env`) and its reference (`seq`); `days` dates of facts in each."""
    tables = warehouse_tables(env["WAREHOUSE_URL"])
    assert len(tables) >= 13 and tables == warehouse_tables(seq["WAREHOUSE_URL"])
    for table in tables:
        assert dump(env["WAREHOUSE_URL"], table) == dump(seq["WAREHOUSE_URL"], table), table
    facts = psql(env["WAREHOUSE_URL"], "SELECT COUNT(DISTINCT date_id) FROM core.fact_sales")
    assert facts == str(days)
    ours, reference = gold_counts(env, env["MERCADO_LAKE_BUCKET"]), gold_counts(seq, seq["MERCADO_LAKE_BUCKET"])
    assert len(ours) == days * 7 and ours == reference
