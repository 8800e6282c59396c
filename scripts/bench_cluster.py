"""Scaling curve of the DAG on CeleryExecutor (BENCHMARKS.md): the same backfill on 1, 2 and 4 worker
nodes (scripts/cluster.sh), each node capped at the same CPU share, and where the time went.

    scripts/airflow.sh python scripts/bench_cluster.py [--nodes 1,2,4] [--dates 28] [--orders 60]
                                                       [--cpu 0.2] [--write]

One marketplace (its own OLTP database and DynamoDB table, traffic for each date through the API),
then for each node count a fresh Airflow (metadata database, AIRFLOW_HOME, port), lake bucket,
Iceberg catalog and warehouse: `airflow backfill create` over the dates, the DAG unpaused (which also
adds the scheduled run for yesterday, whose traffic exists too), every run followed over the REST API
to its end. Reported per node count: wall time from the backfill's creation to the last run's end,
speed-up against the fewest nodes, the tasks' own seconds (sum of each try's run time), Airflow's
overhead per task (the median wait from queued to running), the CPU seconds of the nodes and of the
emulator (moto, one request at a time), and the warehouse's digest, which must be the same for every
node count (the script fails otherwise). Not a test.
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
from datetime import date, datetime, timedelta, UTC
from pathlib import Path

import registry
from airflow_api import Airflow
from e2e_support import BIN, ROOT, free_port, iceberg_catalog_url, psql, start_api, with_api_token, with_db

LOCAL = ROOT / ".local"


def sh(env: dict, *args, timeout: float = 600) -> str:
    out = subprocess.run([str(a) for a in args], env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{out.stdout[-2000:]}{out.stderr[-3000:]}")
    return out.stdout


def cpu_seconds_of(pid: int) -> float:
    """A process's CPU seconds so far, its waited-for children's included (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def host_cpu_seconds() -> float:
    """The whole machine's busy CPU seconds so far, every core (/proc/stat: all but idle and iowait):
    the nodes' and the host side's (scheduler, api-server, PostgreSQL, the broker, the emulator)."""
    ticks = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def nodes_cpu_seconds(cluster: str, nodes: int) -> float:
    total = 0.0
    for k in range(1, nodes + 1):
        usage = Path(f"/sys/fs/cgroup/cpuacct/mercado/{cluster}-node{k}/cpuacct.usage")
        total += int(usage.read_text()) / 1e9 if usage.exists() else 0.0
    return total


def warehouse_digest(url: str) -> str:
    """SHA-256 over every `core` table's rows in a total order."""
    digest = hashlib.sha256()
    tables = psql(url, "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                       "WHERE table_schema = 'core' ORDER BY 1").split()
    for table in tables:
        cols = psql(url, f"SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM "
                         f"information_schema.columns WHERE table_schema || '.' || table_name = '{table}'")
        digest.update(table.encode())
        digest.update(psql(url, f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (SELECT {cols} FROM {table}) t").encode())
    return digest.hexdigest()[:16]


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def node_count_env(base_env: dict, name: str, nodes: int, cpu: float, home: Path) -> tuple[dict, str]:
    """One node count's own Airflow (metadata database, AIRFLOW_HOME, port), CeleryExecutor cluster,
    lake bucket, Iceberg catalog and warehouse, on top of `base_env`; retries off. Also its tag,
    which names the databases it needs created (`<tag>_wh`, `<tag>_af`)."""
    admin = os.environ["DATABASE_URL"]
    env = dict(base_env)
    tag = f"{name}_n{nodes}"
    env.update(
        WAREHOUSE_URL=with_db(admin, f"{tag}_wh"),
        AIRFLOW_DATABASE_URL=with_db(admin, f"{tag}_af"),
        AIRFLOW_HOME=str(home),
        AIRFLOW_PORT=str(free_port()),
        MERCADO_LAKE_BUCKET=tag.replace("_", "-"),
        ICEBERG_CATALOG_URL=iceberg_catalog_url(f"{tag}_ice"),
        MERCADO_EXECUTOR="celery",
        MERCADO_CLUSTER_NAME=f"{name.replace('_', '')[-8:]}{nodes}",
        MERCADO_REDIS_PORT=str(free_port()),
        MERCADO_NODE_CPU=str(cpu),
        MERCADO_NODE_CONCURRENCY="2",
        MERCADO_RETRIES="0",
    )
    return env, tag


def one_count(base_env: dict, name: str, nodes: int, dates: list[str], cpu: float) -> dict:
    admin = os.environ["DATABASE_URL"]
    home = Path(tempfile.mkdtemp(prefix="mercado-bench-cluster-"))
    env, tag = node_count_env(base_env, name, nodes, cpu, home)
    # Sixteen dates at once (2 a slot at four nodes): with every date at once, all of them move
    # stage by stage together and the first finishes late (measured: 4 nodes 340 s with 16, 370 s with 29).
    active = "16"
    env["MERCADO_MAX_ACTIVE_RUNS"] = active
    for db in (f"{tag}_wh", f"{tag}_af"):
        psql(with_db(admin, "postgres"), f'CREATE DATABASE "{db}"')
    try:
        sh(env, ROOT / "scripts" / "airflow.sh", "start")
        sh(env, ROOT / "scripts" / "cluster.sh", "up", str(nodes))
        client = Airflow(f"http://127.0.0.1:{env['AIRFLOW_PORT']}", "admin",
                         json.loads((home / "passwords.json").read_text())["admin"])
        client.wait_for_dag()
        moto_pid = int((LOCAL / "moto.pid").read_text())
        moto0, nodes0 = cpu_seconds_of(moto_pid), nodes_cpu_seconds(env["MERCADO_CLUSTER_NAME"], nodes)
        host0 = host_cpu_seconds()
        started = time.monotonic()
        sh(env, ROOT / "scripts" / "airflow.sh", "backfill", "create", "--dag-id", "mercado_daily", "--from-date", dates[0],
           "--to-date", dates[-1], "--max-active-runs", active, "--reprocess-behavior", "failed")
        client.set_paused(False)
        deadline = started + 5400
        while True:
            runs = client.get("/api/v2/dags/mercado_daily/dagRuns", limit=100)["dag_runs"]
            if len(runs) == len(dates) + 1 and all(r["state"] in ("success", "failed") for r in runs):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{nodes} node(s): the backfill did not finish within 90 minutes")
            done = sum(r["state"] in ("success", "failed") for r in runs)
            print(f"[{nodes} node(s), {time.monotonic() - started:6.0f} s] {done}/{len(dates) + 1} runs finished",
                  file=sys.stderr, flush=True)
            time.sleep(10)
        wall = time.monotonic() - started
        moto_cpu = cpu_seconds_of(moto_pid) - moto0
        node_cpu = nodes_cpu_seconds(env["MERCADO_CLUSTER_NAME"], nodes) - nodes0
        host_cpu = host_cpu_seconds() - host0
        client.set_paused(True)
        failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
        if failed:
            raise SystemExit(f"{nodes} node(s): runs failed: {failed}")
        busy, waits, count, timeline = 0.0, [], 0, []
        for run in runs:
            for ti in client.task_instances(run["dag_run_id"]):
                timeline.append({k: ti.get(k) for k in ("dag_run_id", "task_id", "map_index", "queue", "hostname",
                                                        "queued_when", "start_date", "end_date")})
                start, end, queued = parse_time(ti["start_date"]), parse_time(ti["end_date"]), parse_time(ti.get("queued_when"))
                if start and end:
                    busy += (end - start).total_seconds()
                    count += 1
                if start and queued:
                    waits.append((start - queued).total_seconds())
        return {
            "nodes": nodes, "cpu_per_node": cpu, "runs": len(runs), "tasks": count, "wall_s": round(wall, 1),
            "task_s": round(busy, 1), "queued_to_running_median_s": round(statistics.median(waits), 2) if waits else None,
            "nodes_cpu_s": round(node_cpu, 1), "emulator_cpu_s": round(moto_cpu, 1),
            "machine_cpu_s": round(host_cpu, 1), "machine_cores": os.cpu_count(),
            "warehouse": warehouse_digest(env["WAREHOUSE_URL"]), "timeline": timeline,
        }
    finally:
        subprocess.run([ROOT / "scripts" / "cluster.sh", "down"], env=env, capture_output=True, timeout=120)
        subprocess.run([ROOT / "scripts" / "airflow.sh", "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def seconds(ti: dict, key: str) -> float:
    """A task try's time stamp (queued_when, start_date, end_date) in seconds; callers skip tries without it."""
    return datetime.fromisoformat(ti[key]).timestamp()


def where_time_goes(timeline: list[dict], order: list[str], upstreams: dict[str, set[str]]) -> str:
    """Per task: its try's run time (median, and the sum over the runs), how long after its upstream
    tasks (their last instance) ended it was queued, and how long it then waited for a slot (medians); and
    for the tasks later dates wait on (those the DAG put on a queue other than Airflow's `default`: see
    dags/mercado_daily.py's chain_queue), the pace of their chain: one date's start after the previous
    date's end (median)."""
    runs: dict[str, dict[str, list[dict]]] = {}
    for ti in timeline:
        runs.setdefault(ti["dag_run_id"], {}).setdefault(ti["task_id"], []).append(ti)
    lines = ["| task | run time, median s | run time, sum s | queued after its upstream tasks, median s | "
             "queued → running, median s | chain across dates: next date starts after, median s |",
             "|---|---|---|---|---|---|"]
    for task in order:
        tis = [ti for run in runs.values() for ti in run.get(task, []) if ti.get("start_date") and ti.get("end_date")]
        if not tis:
            continue
        took = [seconds(t, "end_date") - seconds(t, "start_date") for t in tis]
        waited = [seconds(t, "start_date") - seconds(t, "queued_when") for t in tis if t.get("queued_when")]
        after = []
        for run in runs.values():
            before = [seconds(t, "end_date") for up in upstreams[task] for t in run.get(up, []) if t.get("end_date")]
            after += [seconds(t, "queued_when") - max(before) for t in run.get(task, []) if before and t.get("queued_when")]
        chain = ""
        if any(t.get("queue") not in (None, "default") for t in tis):
            links = sorted(tis, key=lambda t: seconds(t, "start_date"))
            gaps = [seconds(b, "start_date") - seconds(a, "end_date") for a, b in zip(links, links[1:])]
            chain = f"{statistics.median(gaps):.2f}" if gaps else ""
        lines.append(f"| `{task}` | {statistics.median(took):.1f} | {sum(took):.0f} | "
                     f"{statistics.median(after) if after else 0:.2f} | {statistics.median(waited) if waited else 0:.2f} | {chain} |")
    return "\n".join(lines)


def machine_cpu(r: dict) -> str:
    if "machine_cpu_s" not in r:
        return ""
    return f"{r['machine_cpu_s']} ({r['machine_cpu_s'] / (r['machine_cores'] * r['wall_s']):.0%})"


def table(results: list[dict]) -> str:
    base = results[0]
    lines = ["| worker nodes | CPU each | runs | tasks | wall s | speed-up | tasks' own s | tasks running, mean of "
             "slots | queued → running, median s | nodes' CPU s (of CPU × wall) | emulator CPU s | machine's CPU s, all of it (of cores × wall) | warehouse |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        slots = 2 * r["nodes"]
        lines.append(f"| {r['nodes']} | {r['cpu_per_node']} | {r['runs']} | {r['tasks']} | {r['wall_s']} | "
                     f"{base['wall_s'] / r['wall_s']:.2f}× | {r['task_s']} | "
                     f"{r['task_s'] / r['wall_s']:.1f} of {slots} | {r['queued_to_running_median_s']} | "
                     f"{r['nodes_cpu_s']} ({r['nodes_cpu_s'] / (r['cpu_per_node'] * r['nodes'] * r['wall_s']):.0%}) | "
                     f"{r['emulator_cpu_s']} | {machine_cpu(r)} | `{r['warehouse']}` |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", default="1,2,4", help="node counts, comma-separated (default 1,2,4)")
    p.add_argument("--dates", type=int, default=28, help="days in the backfill (default 28)")
    p.add_argument("--orders", type=int, default=60, help="orders a day (default 60)")
    # 0.2: four nodes and the host side (scheduler, api-server, PostgreSQL, Redis, the emulator) fit on
    # 2 cores without slowing each task (measured: the tasks' own time at four nodes ≤ one node's; at
    # 0.25 it was 16% more, the machine rather than the cluster being the limit).
    p.add_argument("--cpu", type=float, default=0.2, help="CPUs per node (default 0.2)")
    p.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    p.add_argument("--timeline", type=Path, help="write every task instance's queued/start/end times here (JSON)")
    a = p.parse_args()
    counts = [int(n) for n in a.nodes.split(",")]
    last = date(2025, 6, 1) + timedelta(days=a.dates - 1)
    dates = [(last - timedelta(days=i)).isoformat() for i in reversed(range(a.dates))]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    name = f"bc_{os.getpid()}"
    admin = os.environ["DATABASE_URL"]
    home = Path(tempfile.mkdtemp(prefix="mercado-bench-cluster-"))
    env = dict(os.environ)
    env.update(DATABASE_URL=with_db(admin, name), MERCADO_DDB_TABLE=name, MERCADO_RUNNER="local",
               MERCADO_BIN_DIR=str(BIN), MERCADO_API_BIND=f"127.0.0.1:{free_port()}", MERCADO_RATE_LIMIT_PER_SECOND="0",
               RUST_LOG="warn")
    psql(with_db(admin, "postgres"), f'CREATE DATABASE "{name}"')
    with_api_token(env, home)
    api, base = start_api(env)
    try:
        for n, day in enumerate([*dates, yesterday]):
            sh(env, BIN / "mercado-traffic", "--date", day, "--api-url", base, "--orders", str(a.orders), "--customers", "8",
               "--vendors", "3", "--items", "12", "--carts", "3", "--seed", str(100 + n))
        print(f"traffic for {len(dates) + 1} days written", file=sys.stderr)
        results = [one_count(env, name, n, dates, a.cpu) for n in counts]
    finally:
        api.terminate()
        api.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
    digests = {r["warehouse"] for r in results}
    most = results[-1]
    text = (table(results) + f"\n\nWhere the time goes at {most['nodes']} node(s), per task over the {most['runs']} runs:\n\n"
            + where_time_goes(most["timeline"], registry.dag_task_ids(), registry.dag_upstreams()))
    print(text)
    if a.timeline:
        a.timeline.write_text(json.dumps({r["nodes"]: r["timeline"] for r in results}, indent=1))
    for r in results:
        print(json.dumps({k: v for k, v in r.items() if k != "timeline"}))
    if len(digests) != 1:
        raise SystemExit(f"the warehouses differ between node counts: {digests}")
    if a.write:
        body = LOCAL / "bench-cluster.md"
        goal = ""
        if counts[0] == 1 and 4 in counts:
            four = results[counts.index(4)]["wall_s"]
            speedup = results[0]["wall_s"] / four
            goal = f"\n\nGoal: ≥ 3× at four nodes: **{speedup:.2f}×** ({'met' if speedup >= 3 else 'not met'})."
        body.write_text(text + f"""

A backfill of {a.dates} dates (and the scheduled run for yesterday) of {a.orders} orders a day on CeleryExecutor,
each worker node capped at {a.cpu} CPU with 2 task slots, the tasks' debug build; scheduler, api-server,
PostgreSQL, Redis and the emulator share the machine's {os.cpu_count()} cores. Airflow as the project
sets it up: `parallelism` 32, 16 dates at once, priority by `weight_rule="upstream"`, the chains across
dates (`gold_dimensions`, `load_redshift`) on their own Celery queue, `iceberg_commit` and
`load_redshift` side by side. "tasks' own s" sums each try's run
time as Airflow records it (start to end, Airflow's own start-up in the worker included); "tasks
running" is that sum over the wall time; "queued → running" is how long a task waited in the broker for
a free slot and its worker to start it. "machine's CPU s" is all the machine's cores did in the run (the
nodes and the host side together): near 100%, the one machine standing in for the cluster, not the
cluster, is what limits the run. Every node count's warehouse has the same digest.{goal}
""")
        subprocess.run([str(LOCAL / "venv" / "bin" / "python"), str(ROOT / "scripts" / "bench_report.py"), "write",
                        str(ROOT / "BENCHMARKS.md"), "cluster",
                        "Airflow on CeleryExecutor: a backfill on 1, 2 and 4 worker nodes",
                        f"scripts/airflow.sh python scripts/bench_cluster.py --nodes {a.nodes} --dates {a.dates} "
                        f"--orders {a.orders} --cpu {a.cpu} --write",
                        f"{os.cpu_count()} cores, {datetime.now(UTC).date()}", str(body), "debug build of the tasks"],
                       check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
