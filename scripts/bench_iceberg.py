"""The Iceberg commit's cost (BENCHMARKS.md, issue 22), on the pipeline's own output.

For each of N days of a growing marketplace (the traffic generator through the API), the task
binaries run extract … gold, then `scripts/iceberg.sh commit` publishes the day: its wall time and
its S3 requests (counted in the S3 emulator's request log, for the benchmark's own bucket) next to
the gold task's own time, per day; and how the commit scales with history (the tables hold every
earlier day: day 2 against the last day). Run by scripts/iceberg.sh python (its venv):

    scripts/iceberg.sh python scripts/bench_iceberg.py [--days 31] [--orders 400] [--smoke] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_support import BIN, ROOT, free_port, iceberg_catalog_url, psql, start_api, with_api_token, with_db  # noqa: E402

MOTO_LOG = ROOT / ".local" / "moto.log"


def requests_for(bucket: str, since: int) -> int:
    """S3 requests for the bucket logged by the emulator after byte offset `since`."""
    with open(MOTO_LOG, "rb") as f:
        f.seek(since)
        return sum(1 for line in f if f"/{bucket}/".encode() in line or f"/{bucket}?".encode() in line)


def task(env, name: str, day: str) -> dict:
    out = subprocess.run([BIN / "mercado-task", name, "--date", day], env=env, capture_output=True, text=True,
                         timeout=600)
    if out.returncode:
        sys.exit(f"{name} {day} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def commit(env, day: str) -> tuple[dict, float, int]:
    since = MOTO_LOG.stat().st_size
    started = time.monotonic()
    out = subprocess.run([ROOT / "scripts" / "iceberg.sh", "commit", "--date", day], env=env, capture_output=True,
                         text=True, timeout=600)
    wall = time.monotonic() - started
    if out.returncode:
        sys.exit(f"iceberg commit {day} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall, requests_for(env["MERCADO_LAKE_BUCKET"], since)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=31)
    p.add_argument("--orders", type=int, default=400, help="orders a day")
    p.add_argument("--keep-days", type=int, default=7, help="days of snapshots the daily upkeep keeps")
    p.add_argument("--smoke", action="store_true", help="3 days of 20 orders: it runs; no timing counts")
    p.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = p.parse_args()
    if args.smoke:
        args.days, args.orders = 3, 20
    name = f"bice_{int(time.time())}_{os.getpid()}"
    admin = os.environ["DATABASE_URL"]
    psql(with_db(admin, "postgres"), f'CREATE DATABASE "{name}"')
    env = dict(os.environ, DATABASE_URL=with_db(admin, name), MERCADO_DDB_TABLE=name,
               MERCADO_LAKE_BUCKET=name.replace("_", "-"), MERCADO_API_BIND=f"127.0.0.1:{free_port()}",
               MERCADO_RATE_LIMIT_PER_SECOND="0", ICEBERG_CATALOG_URL=iceberg_catalog_url(name), RUST_LOG="warn")
    env.pop("WAREHOUSE_URL", None)
    with_api_token(env, Path(tempfile.mkdtemp(prefix="mercado-bench-iceberg-")))
    api, base = start_api(env)
    state = Path(tempfile.mkdtemp(prefix="mercado-bench-traffic-")) / "state.json"
    rows = []
    try:
        first = date(2025, 7, 1)
        for n in range(args.days):
            day = (first + timedelta(days=n)).isoformat()
            subprocess.run([BIN / "mercado-traffic", "--date", day, "--api-url", base, "--orders", str(args.orders),
                            "--customers", "40", "--vendors", "8", "--items", "60", "--carts", "10",
                            "--state", str(state)], env=env, check=True, capture_output=True, timeout=300)
            for t in ("extract", "clean", "enrich"):
                task(env, t, day)
            gold = task(env, "gold", day)
            summary, wall, requests = commit(env, day)
            # The maintenance DAG's daily upkeep, as deployed: a week of snapshots (one a commit)
            # kept, the files nothing refers to removed.
            for step in (["expire", "--older-than-days", "0", "--keep-last", str(args.keep_days)],
                         ["remove-orphans", "--older-than-hours", "0"]):
                subprocess.run([ROOT / "scripts" / "iceberg.sh", *step], env=env, check=True, capture_output=True,
                               timeout=600)
            rows.append({"day": n + 1, "date": day, "lines": gold["datasets"]["gold/mercado/fact_sales"]["rows_written"],
                         "gold_s": gold["seconds"], "commit_s": round(wall, 2), "commit_inner_s": summary["seconds"],
                         "tables": len(summary["tables"]), "requests": requests})
            print(json.dumps(rows[-1]), file=sys.stderr)
    finally:
        api.terminate()
        api.wait(timeout=10)
    table = report(rows, args)
    print(table)
    if args.write and not args.smoke:
        sys.path.insert(0, str(ROOT / "scripts"))
        import bench_report
        md = Path(tempfile.mkdtemp()) / "iceberg.md"
        md.write_text(table)
        bench_report.write(str(ROOT / "BENCHMARKS.md"), "iceberg", "The Iceberg commit: per day and with history",
                           f"scripts/iceberg.sh python scripts/bench_iceberg.py --days {args.days} --orders {args.orders} --write",
                           f"{os.cpu_count()} cores, {date.today()}", str(md), build="debug build of the tasks")


def report(rows: list[dict], args) -> str:
    out = ["| day | fact lines | gold task (s) | commit (s, wall) | commit (s, in Python) | tables | S3 requests |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["day"] in (1, 2, 7, 15, len(rows)) or len(rows) <= 7:
            out.append(f"| {r['day']} | {r['lines']} | {r['gold_s']:.2f} | {r['commit_s']:.2f} | {r['commit_inner_s']:.2f} "
                       f"| {r['tables']} | {r['requests']} |")
    if len(rows) >= 3:
        early = statistics.median(r["commit_inner_s"] for r in rows[1:4])
        late = statistics.median(r["commit_inner_s"] for r in rows[-3:])
        gold_early = statistics.median(r["gold_s"] for r in rows[1:4])
        gold_late = statistics.median(r["gold_s"] for r in rows[-3:])
        out.append("")
        out.append(f"Commit time with history: days 2–4 {early:.2f} s, the last three days {late:.2f} s "
                   f"(ratio {late / early:.2f}; median of three days each; the gold task in the same run: "
                   f"{gold_early:.2f} s → {gold_late:.2f} s, ratio {gold_late / gold_early:.2f}). With the daily upkeep after each day (a week of snapshots "
                   f"kept, unreferenced files removed). Per commit: one overwrite per table "
                   f"({rows[-1]['tables']} tables: gold and cleaned), each reading the day's files the manifest lists "
                   f"and writing the table's data, manifest, manifest list and metadata files.")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
