"""Tables of the benchmark suite (scripts/bench_suite.sh) and the one writer of BENCHMARKS.md.

Timings come from TIMES, a file of lines `KEY SECONDS PEAK_MIB` (one per measured process or
step; a key measured several times counts by its median). Parameters come as NAME=VALUE.

    bench_report.py extract   TIMES rows=N runs=R digest=JSON
    bench_report.py transform TIMES lines=N items=N customers=N runs=R bad_share=F checked=JSON
    bench_report.py load      TIMES rows=N runs=R total=AMOUNT
    bench_report.py history   TIMES days=N items=N customers=N lines=N runs=R
    bench_report.py lines     TIMES sizes=N,N… items=N runs=R
    bench_report.py write     BENCHMARKS.md PART TITLE COMMAND MACHINE MARKDOWN_FILE
"""

import json
import os
import statistics
import sys
from collections import defaultdict
from importlib.metadata import version

STAGES = ["clean", "enrich", "gold"]


def load_times(path):
    runs = defaultdict(list)
    for line in open(path):
        key, secs, mib = line.split()
        runs[key].append((float(secs), int(mib)))
    return runs


class Times:
    def __init__(self, path):
        self.runs = load_times(path)

    def secs(self, key):
        return statistics.median(s for s, _ in self.runs[key])

    def mib(self, key):
        """Peak memory: the largest of the runs (what a machine must have)."""
        return max(m for _, m in self.runs[key])

    def has(self, key):
        return key in self.runs


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def ratio(a, b):
    return f"{a / b:.2f}"


def extract(t, p):
    rows, runs, digest = int(p["rows"]), int(p["runs"]), json.loads(p["digest"])
    floor = t.secs("extract.floor")
    tools = [("psql \\copy binary to /dev/null (floor, reads only)", floor),
             ("**mercado-task extract** (→ Parquet zstd → S3)", t.secs("extract.mercado")),
             (f"ConnectorX {version('connectorx')} + pyarrow {version('pyarrow')} (→ Parquet zstd, local)",
              t.secs("extract.connectorx")),
             (f"pandas {version('pandas')} read_sql + to_parquet (→ Parquet zstd, local)", t.secs("extract.pandas"))]
    body = table([f"tool ({rows:,} rows, median of {runs})", "seconds", "rows/s", "speed ÷ floor"],
                 [(name, f"{s:.3f}", f"{rows / s:,.0f}", ratio(floor, s)) for name, s in tools])
    return (f"{body}\n\nEvery output holds the same {rows:,} rows (count and an order-free hash of id, price, "
            f"item_name: {digest['rows_hash']}).")


def transform(t, p):
    lines, runs = int(p["lines"]), int(p["runs"])
    checked = json.loads(p["checked"])
    tools = [("mercado", "**Mercado** (`mercado-task`, lake on the S3 emulator)"),
             ("duckdb", f"DuckDB {version('duckdb')} SQL, 2 threads (local files)"),
             ("datafusion", f"DataFusion {version('datafusion')} SQL, 2 partitions (local files)"),
             ("polars", f"Polars {version('polars')} lazy, 2 threads (local files)")]
    total = {k: sum(t.secs(f"transform.{k}.{s}") for s in STAGES) for k, _ in tools}
    rows = []
    for key, name in tools:
        secs = [t.secs(f"transform.{key}.{s}") for s in STAGES]
        mib = " / ".join(str(t.mib(f"transform.{key}.{s}")) for s in STAGES)
        rows.append((name, *(f"{s:.2f}" for s in secs), f"{total[key]:.2f}", ratio(total[key], total["mercado"]), mib))
    body = table([f"tool ({lines:,} lines, median of {runs})", "clean s", "enrich s", "gold s", "total s",
                  "speed ÷ Mercado (>1: Mercado is faster)", "peak MiB clean / enrich / gold"], rows)
    tx, facts = checked["clean"]["transactions"], checked["datasets"]["gold/fact_sales"]
    reasons = ", ".join(f"{k} {v}" for k, v in tx["reasons"].items())
    carts = checked["clean"]["carts"]
    vs_duck, vs_polars = total["duckdb"] / total["mercado"], total["polars"] / total["mercado"]
    vs_datafusion = total["datafusion"] / total["mercado"]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_transform import PEER_TUNING
    tuning = "\n".join(f"- {name.split(' SQL')[0].split(' lazy')[0]}: {PEER_TUNING[key]}"
                        for key, name in tools if key in PEER_TUNING)
    return f"""{body}

Mercado's tasks read and write the lake on the local S3 emulator (moto, one request at a time), as in
production; the peers read and write local files, which favours them. Each stage is its own process
(interpreter start and imports included for the peers), timed with its peak memory by GNU time.

Input: {tx['rows_in']:,} raw transactions ({lines:,} lines, {float(p['bad_share']):.0%} made bad by `synth_raw --bad-share`),
{carts['rows_in']:,} raw carts, {int(p['items']):,} items, {int(p['customers']):,} customers, 1,000 vendors.
Before any time counted, the four tools' outputs were checked equal: per raw dataset the rows accepted,
quarantined and duplicated and the count per reason (transactions: {tx['accepted']:,} accepted; {reasons}; carts:
{carts['accepted']:,} accepted, {carts['duplicates']} duplicates, {carts['quarantined']} quarantined), an order-free
digest of all columns of each of the {len(checked['datasets'])} cleaned, enriched and gold datasets, and `fact_sales`
({facts['rows']:,} rows, Σ total_price {checked['fact_sales_total_price']}).

Goals (reported, not asserted): Mercado ≥ 1.2× DuckDB's speed: **{vs_duck:.2f}×** ({'met' if vs_duck >= 1.2 else 'not met'});
≥ 1.0× Polars': **{vs_polars:.2f}×** ({'met' if vs_polars >= 1.0 else 'not met'}).
DataFusion's: **{vs_datafusion:.2f}×** (no goal set).

How each peer is written (`PEER_TUNING` in scripts/bench_transform.py):
{tuning}"""


def load(t, p):
    rows, runs = int(p["rows"]), int(p["runs"])
    whole, fact = t.secs("load.floor"), t.secs("load.floor_fact")
    # (what, its key, the floor it is compared with)
    items = [("psql `\\copy … FROM … CSV` of the 7 tables the task loads into plain tables (**the task's floor**)",
              "load.floor", whole),
             ("**mercado-task load_redshift**, whole task (DDL, DQ rules, 7 datasets, one transaction, audit)",
              "load.mercado", whole),
             ("**mercado-task load_redshift**, reload of the same date (dimensions staged and merged, the date's "
              "facts replaced; indexes kept up)", "load.mercado_reload", whole),
             ("psql `\\copy … FROM … CSV` of fact_sales alone (fact_sales' floor)", "load.floor_fact", fact),
             ("**mercado-task load_redshift**: its fact_sales alone (a first load: binary COPY straight into `core`, "
              "its indexes built once after it, in the task's transaction)", "load.mercado_copy", fact),
             (f"pandas {version('pandas')} `to_sql(method='multi', chunksize=1000)` + SQLAlchemy "
              f"{version('sqlalchemy')} + psycopg2: fact_sales (read Parquet, insert; one run)", "load.pandas", fact)]
    body = table([f"gold → PostgreSQL ({rows:,} fact rows, median of {runs}; first loads unless marked)", "seconds",
                  "fact rows/s", "speed ÷ its floor", "peak MiB"],
                 [(name, f"{t.secs(k):.3f}", f"{rows / t.secs(k):,.0f}", ratio(floor, t.secs(k)),
                   "–" if k == "load.mercado_copy" else t.mib(k)) for name, k, floor in items])
    task_ratio = whole / t.secs("load.mercado")
    return (f"{body}\n\nEach run loads a fresh warehouse database. Every load ends with the same {rows:,} fact rows and "
            f"Σ total_price {p['total']} (checked in the database after each run); each floor table holds as many rows "
            f"as the table the task loaded. Goal: the whole task ≥ 0.5× its floor: **{task_ratio:.2f}×** "
            f"({'met' if task_ratio >= 0.5 else 'not met'}).")


def history(t, p):
    days, runs = int(p["days"]), int(p["runs"])
    marks = sorted({h for h in (1, 7, 30) if h <= days} | {days})
    rows = []
    first = None
    for h in marks:
        secs = [t.secs(f"history.{h}.{s}") for s in STAGES]
        mib = [t.mib(f"history.{h}.{s}") for s in STAGES]
        first = first or sum(secs)
        rows.append((f"day {h + 1} ({h} day{'s' if h > 1 else ''} of history)", *(f"{s:.2f}" for s in secs),
                     f"{sum(secs):.2f}", ratio(sum(secs), first), " / ".join(map(str, mib))))
    body = table([f"day (median of {runs})", "clean s", "enrich s", "gold s", "total s", "÷ day 2",
                  "peak MiB clean / enrich / gold"], rows)
    last = sum(t.secs(f"history.{days}.{s}") for s in STAGES)
    return (f"{body}\n\n{days + 1} consecutive days, each: 0.5% of the {int(p['items']):,} items change price and 0.5% of the "
            f"{int(p['customers']):,} customers change name in PostgreSQL, then extract, `synth_raw` ({int(p['lines']):,} lines), "
            f"clean, enrich, gold. Goal (reported, not asserted): day {days + 1} within 1.1× of day 2: "
            f"**{last / first:.2f}×** ({'met' if last / first <= 1.1 else 'not met'}). The marked days are timed once all "
            f"{days + 1} days exist, their runs interleaved: a re-run of a day reads what its first run read (its own "
            f"partitions and the cleaned snapshot of the day before), while the emulator's bucket (moto lists a prefix by scanning every "
            f"key of the bucket) and the machine's drift are the same for each.")


def lines(t, p):
    sizes, runs = [int(s) for s in p["sizes"].split(",")], int(p["runs"])
    rows = []
    for n in sizes:
        secs = [t.secs(f"lines.{n}.{s}") for s in STAGES]
        mib = [t.mib(f"lines.{n}.{s}") for s in STAGES]
        rows.append((f"{n:,}", *(f"{s:.2f}" for s in secs), f"{sum(secs):.2f}", f"{n / sum(secs):,.0f}",
                     " / ".join(map(str, mib))))
    body = table([f"lines (median of {runs})", "clean s", "enrich s", "gold s", "total s", "lines/s",
                  "peak MiB clean / enrich / gold"], rows)
    return (f"{body}\n\nSame day, same {int(p['items']):,} items and {int(p['customers']):,} customers; only the day's lines grow "
            f"(with 1% bad transactions, as in part 2).")


def write(path, part, title, command, machine, md, build="release build"):
    """Replaces (or appends) the part's section between its markers."""
    doc = open(path).read()
    start, end = f"<!-- bench_suite:{part} -->", f"<!-- /bench_suite:{part} -->"
    section = (f"{start}\n## {title}\n\n`{command}` on this machine ({machine}), {build}, local services.\n\n"
               f"{open(md).read().strip()}\n{end}")
    if start in doc:
        doc = doc[:doc.index(start)] + section + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + "\n\n" + section + "\n"
    open(path, "w").write(doc)


def main():
    cmd, *args = sys.argv[1:] or ["-h"]
    if cmd == "write":
        write(*args)
        return
    reports = {"extract": extract, "transform": transform, "load": load, "history": history, "lines": lines}
    if cmd not in reports:
        sys.exit(__doc__)
    params = dict(a.split("=", 1) for a in args[1:])
    print(reports[cmd](Times(args[0]), params))


if __name__ == "__main__":
    main()
