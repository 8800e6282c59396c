"""Scaling curve of one busy day split into shards (BENCHMARKS.md): the same day, the same N shards, on
1, 2 and 4 worker nodes (scripts/cluster.sh) on CeleryExecutor, each node capped at the same CPU share.

    scripts/airflow.sh python scripts/bench_shards.py [--nodes 1,2,4] [--lines 4000000] [--shards 4]
                                                      [--cpu 0.25] [--write]

One marketplace in PostgreSQL (1,000 vendors, 100,000 customers and items); for each node count a
fresh Airflow, cluster, lake bucket and warehouse. The day's raw partitions come from `extract` (the
catalogue) and `synth_raw --as-kept-snapshot` (the day's transactions and open carts, 1% of them bad),
so the DAG's own `extract` reuses them as the day's kept snapshot instead of reading DynamoDB: a
4-million-line day through Airflow without writing it into the emulator first. The run is triggered
with `{"shards": N}` and timed from `extract`'s start to `commit`'s end (the lake's part; the warehouse
load is the same single task at any node count). Reported: wall time, speed-up, each stage's span
(first start to last end over its shards), the tasks' own seconds, the median wait from queued to
running, the CPU seconds of the nodes and of the emulator (moto, one request at a time: its share of
the wall time says whether it limits the curve), and a digest of the committed facts (the files'
SHA-256s and rows of `cleaned/…/transaction_lines` and `gold/…/fact_sales`), which must be the same
for every node count (the script fails otherwise). Uses the release build. Not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from airflow_api import Airflow
from bench_cluster import cpu_seconds_of, node_count_env, nodes_cpu_seconds, parse_time, sh
from e2e_support import ROOT, free_port, psql, start_api, with_api_token, with_db

LOCAL = ROOT / ".local"
RELEASE = ROOT / "target" / "release"
DAY = "2025-06-01"
STAGES = ["extract", "shards", "clean_dimensions", "gold_dimensions", "clean", "enrich", "gold", "commit"]
FACTS = ["cleaned/dynamodb/transaction_lines", "gold/mercado/fact_sales"]


def catalogue(url: str, customers: int, items: int) -> None:
    """The marketplace synth_raw refers to (vendor = item % 1000 + 1, price = 1.00 + item % 500)."""
    psql(url, f"""
INSERT INTO vendors (vendor_name, region, joined_at) SELECT 'Vendor ' || g, 'PT', '2020-01-01Z' FROM generate_series(1, 1000) g;
INSERT INTO customers (first_name, last_name, email, joined_at)
  SELECT 'C' || g, 'Bench', 'c' || g || '@example.com', '2020-01-01Z' FROM generate_series(1, {customers}) g;
INSERT INTO inventory (vendor_id, category_id, item_name, price, stock, created_at)
  SELECT g % 1000 + 1, g % 9 + 1, 'Item number ' || g, 1.00 + (g % 500), g % 100, '2020-01-01Z' FROM generate_series(1, {items}) g;
""")


def manifest(env: dict, dataset: str) -> dict:
    """A published manifest, read with boto3 (the scripts' venv) and the tasks' credentials."""
    read = ("import boto3, sys; sys.stdout.write(boto3.client('s3').get_object(Bucket=sys.argv[1], "
            "Key=sys.argv[2])['Body'].read().decode())")
    return json.loads(sh(env, LOCAL / "venv" / "bin" / "python", "-c", read, env["MERCADO_LAKE_BUCKET"],
                         f"{dataset}/dt={DAY}/_manifest.json", timeout=60))


def facts_digest(env: dict) -> tuple[str, dict]:
    digest, rows = hashlib.sha256(), {}
    for dataset in FACTS:
        m = manifest(env, dataset)
        rows[dataset] = m["rows"]
        digest.update(f"{dataset} {m['rows']} {sorted(f['sha256'] for f in m['files'])}".encode())
    return digest.hexdigest()[:16], rows


def time_of(ti: dict, field: str) -> datetime:
    at = parse_time(ti.get(field))
    if at is None:
        raise SystemExit(f"{ti['task_id']}[{ti['map_index']}] has no {field}")
    return at


def one_count(base: dict, name: str, nodes: int, a: argparse.Namespace) -> dict:
    admin = os.environ["DATABASE_URL"]
    home = Path(tempfile.mkdtemp(prefix="mercado-bench-shards-"))
    env, tag = node_count_env(base, name, nodes, a.cpu, home)
    for db in (f"{tag}_wh", f"{tag}_af"):
        psql(with_db(admin, "postgres"), f'CREATE DATABASE "{db}"')
    try:
        sh(env, RELEASE / "mercado-task", "extract", "--date", DAY)
        sh(env, RELEASE / "examples" / "synth_raw", "--date", DAY, "--lines", str(a.lines), "--items", str(a.items),
           "--customers", str(a.customers), "--bad-share", "0.01", "--carts", str(a.customers // 2),
           "--as-kept-snapshot", timeout=1800)
        print(f"[{nodes} node(s)] the day's raw partitions are in {env['MERCADO_LAKE_BUCKET']}", file=sys.stderr)
        sh(env, ROOT / "scripts" / "airflow.sh", "start")
        sh(env, ROOT / "scripts" / "cluster.sh", "up", str(nodes))
        client = Airflow(f"http://127.0.0.1:{env['AIRFLOW_PORT']}", "admin",
                         json.loads((home / "passwords.json").read_text())["admin"])
        client.wait_for_dag()
        client.set_paused(False)
        moto_pid = int((LOCAL / "moto.pid").read_text())
        moto0, nodes0 = cpu_seconds_of(moto_pid), nodes_cpu_seconds(env["MERCADO_CLUSTER_NAME"], nodes)
        started = time.monotonic()
        run_id = client.run_for_day(date.fromisoformat(DAY), conf={"shards": a.shards})
        while True:
            tis = [t for t in client.task_instances(run_id) if t["task_id"] in STAGES]
            commit = [t for t in tis if t["task_id"] == "commit"]
            failed = [f"{t['task_id']}[{t['map_index']}]" for t in tis if t["state"] in ("failed", "upstream_failed")]
            if failed:
                raise SystemExit(f"{nodes} node(s): {failed} failed (see the run {run_id})")
            if commit and commit[0]["state"] == "success":
                break
            if time.monotonic() - started > a.timeout:
                raise SystemExit(f"{nodes} node(s): the day was not committed within {a.timeout} s")
            done = sum(t["state"] == "success" for t in tis)
            print(f"[{nodes} node(s), {time.monotonic() - started:6.0f} s] {done}/{len(tis)} task instances done",
                  file=sys.stderr, flush=True)
            time.sleep(5)
        moto_cpu = cpu_seconds_of(moto_pid) - moto0
        node_cpu = nodes_cpu_seconds(env["MERCADO_CLUSTER_NAME"], nodes) - nodes0
        client.set_paused(True)
        spans: dict[str, tuple[datetime, datetime, int]] = {}
        busy, waits = 0.0, []
        for stage in STAGES:
            of = [t for t in tis if t["task_id"] == stage]
            starts = [time_of(t, "start_date") for t in of]
            ends = [time_of(t, "end_date") for t in of]
            spans[stage] = (min(starts), max(ends), len(of))
            busy += sum((e - s).total_seconds() for s, e in zip(starts, ends))
            waits += [(time_of(t, "start_date") - time_of(t, "queued_when")).total_seconds()
                      for t in of if t.get("queued_when")]
        wall = (spans["commit"][1] - spans["extract"][0]).total_seconds()
        digest, rows = facts_digest(env)
        return {
            "nodes": nodes, "cpu_per_node": a.cpu, "shards": a.shards, "lines": a.lines, "wall_s": round(wall, 1),
            "stage_s": {s: round((e - b).total_seconds(), 1) for s, (b, e, _) in spans.items()},
            "instances": {s: n for s, (_, _, n) in spans.items()},
            "task_s": round(busy, 1), "queued_to_running_median_s": round(statistics.median(waits), 2),
            "nodes_cpu_s": round(node_cpu, 1), "emulator_cpu_s": round(moto_cpu, 1),
            "rows": rows, "facts": digest,
        }
    finally:
        subprocess.run([ROOT / "scripts" / "cluster.sh", "down"], env=env, capture_output=True, timeout=120)
        subprocess.run([ROOT / "scripts" / "airflow.sh", "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def table(results: list[dict]) -> str:
    base = results[0]
    stages = ["clean_dimensions", "gold_dimensions", "clean", "enrich", "gold", "commit"]
    lines = ["| worker nodes | CPU each | shards | wall s (extract → commit) | speed-up | "
             + " | ".join(f"{s} s" for s in stages)
             + " | tasks' own s | queued → running, median s | nodes' CPU s | emulator CPU s | committed facts |",
             "|---" * (11 + len(stages)) + "|"]
    for r in results:
        lines.append(f"| {r['nodes']} | {r['cpu_per_node']} | {r['shards']} | {r['wall_s']} | {base['wall_s'] / r['wall_s']:.2f}× | "
                     + " | ".join(str(r["stage_s"][s]) for s in stages)
                     + f" | {r['task_s']} | {r['queued_to_running_median_s']} | {r['nodes_cpu_s']} | {r['emulator_cpu_s']} | "
                     f"`{r['facts']}` |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", default="1,2,4", help="node counts, comma-separated (default 1,2,4)")
    p.add_argument("--lines", type=int, default=4_000_000, help="order lines of the day (default 4,000,000)")
    p.add_argument("--shards", type=int, default=4, help="shards of the day, the same for every node count (default 4)")
    p.add_argument("--customers", type=int, default=100_000, help="customers (default 100,000)")
    p.add_argument("--items", type=int, default=100_000, help="items (default 100,000)")
    p.add_argument("--cpu", type=float, default=0.25, help="CPUs per node (default 0.25)")
    p.add_argument("--timeout", type=float, default=3600, help="longest wait for one node count's commit, s")
    p.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    a = p.parse_args()
    for binary in (RELEASE / "mercado-task", RELEASE / "examples" / "synth_raw"):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: cargo build --release --bins --example synth_raw -p mercado-tasks -p mercado-lake")
    name = f"bs_{os.getpid()}"
    admin = os.environ["DATABASE_URL"]
    home = Path(tempfile.mkdtemp(prefix="mercado-bench-shards-"))
    env = dict(os.environ)
    env.update(DATABASE_URL=with_db(admin, name), MERCADO_DDB_TABLE=name, MERCADO_RUNNER="local",
               MERCADO_BIN_DIR=str(RELEASE), MERCADO_API_BIND=f"127.0.0.1:{free_port()}", RUST_LOG="warn")
    psql(with_db(admin, "postgres"), f'CREATE DATABASE "{name}"')
    with_api_token(env, home)
    api, _ = start_api(env)  # migrates the database and makes the DynamoDB table extract queries
    try:
        catalogue(env["DATABASE_URL"], a.customers, a.items)
        results = [one_count(env, name, n, a) for n in (int(n) for n in a.nodes.split(","))]
    finally:
        api.terminate()
        api.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
    text = table(results)
    print(text)
    for r in results:
        print(json.dumps(r))
    if len({r["facts"] for r in results}) != 1:
        raise SystemExit(f"the committed facts differ between node counts: {[r['facts'] for r in results]}")
    if a.write:
        body = LOCAL / "bench-shards.md"
        rows = results[0]["rows"]
        body.write_text(text + f"""

One day of {a.lines:,} order lines ({rows['cleaned/dynamodb/transaction_lines']:,} accepted, 1% of the transactions
bad; {a.customers:,} customers, {a.items:,} items, {a.customers // 2:,} open carts) split into {a.shards} shards, on
CeleryExecutor, each worker node capped at {a.cpu} CPU with 2 task slots, the tasks' release build; scheduler,
api-server, PostgreSQL, Redis and the emulator share the machine's {os.cpu_count()} cores. Wall time runs from
`extract`'s start (it reuses the day's kept snapshot) to `commit`'s end; a stage's seconds run from its first
shard's start to its last shard's end. "committed facts" digests the files and rows `commit` published for
`transaction_lines` and `fact_sales`: the same for every node count.
""")
        subprocess.run([str(LOCAL / "venv" / "bin" / "python"), str(ROOT / "scripts" / "bench_report.py"), "write",
                        str(ROOT / "BENCHMARKS.md"), "shards",
                        f"One {a.lines // 1_000_000}-million-line day in {a.shards} shards on 1, 2 and 4 worker nodes",
                        f"scripts/airflow.sh python scripts/bench_shards.py --nodes {a.nodes} --lines {a.lines} "
                        f"--shards {a.shards} --cpu {a.cpu} --write",
                        f"{os.cpu_count()} cores, {datetime.now(UTC).date()}", str(body)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
