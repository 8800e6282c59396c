"""Extract benchmark peers (scripts/bench_suite.sh): the same PostgreSQL query to Parquet by
ConnectorX + pyarrow and by pandas read_sql + to_parquet, each timed around its read and write,
median of several runs; and the check that every output, Mercado's included, holds the same rows.

    bench_extract.py peers  --dsn URL --query SQL --out DIR --runs N      -> JSON {peer: [seconds…]}
    bench_extract.py digest PARQUET…                                       -> JSON digest of the rows
"""

import argparse
import hashlib
import json
import statistics
import sys
import time
import warnings

import pyarrow as pa
import pyarrow.parquet as pq


def connectorx_run(dsn, query, path):
    import connectorx as cx

    table = cx.read_sql(dsn, query, return_type="arrow")
    pq.write_table(table, path, compression="zstd")
    return table.num_rows


def pandas_run(dsn, query, path):
    import pandas as pd
    import psycopg2

    with psycopg2.connect(dsn) as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas prefers SQLAlchemy; a DBAPI connection is what users pass
        frame = pd.read_sql(query, conn)
    frame.to_parquet(path, compression="zstd", index=False)
    return len(frame)


def digest(paths):
    """Rows of the files, order-free: count, and a hash of each row's id and price as text."""
    table = pa.concat_tables([pq.read_table(p) for p in paths])
    ids = table.column("id").to_pylist()
    prices = [None if p is None else f"{float(p):.2f}" for p in table.column("price").to_pylist()]
    names = table.column("item_name").to_pylist()
    h = 0
    for row in zip(ids, prices, names):
        h ^= int.from_bytes(hashlib.sha256(repr(row).encode()).digest()[:8], "big")
    return {"rows": table.num_rows, "rows_hash": f"{h:016x}"}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    peers = sub.add_parser("peers")
    peers.add_argument("--dsn", required=True)
    peers.add_argument("--query", required=True)
    peers.add_argument("--out", required=True)
    peers.add_argument("--runs", type=int, default=3)
    d = sub.add_parser("digest")
    d.add_argument("paths", nargs="+")
    a = p.parse_args()
    if a.cmd == "digest":
        print(json.dumps(digest(a.paths)))
        return
    result = {}
    for name, fn in [("connectorx", connectorx_run), ("pandas", pandas_run)]:
        path = f"{a.out}/{name}.parquet"
        times = []
        for _ in range(a.runs):
            started = time.perf_counter()
            fn(a.dsn, a.query, path)
            times.append(time.perf_counter() - started)
        result[name] = {"seconds": times, "median": statistics.median(times), "digest": digest([path])}
        print(f"  {name}: median {result[name]['median']:.3f} s over {a.runs} runs", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
