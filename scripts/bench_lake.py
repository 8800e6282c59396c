"""Lake I/O for the benchmark suite (scripts/bench_suite.sh): bring partitions from the S3 emulator
to local files, and describe a dataset's rows order-free so outputs of different tools compare.

    bench_lake.py fetch  BUCKET DATE DIR DATASET…   each zone/source/name → DIR/name/NNNN.parquet
    bench_lake.py digest PATH…                      -> JSON {rows, columns, digest}
    bench_lake.py clear  BUCKET                     every object of the bucket removed (it stays)

A dataset is a directory of Parquet files (or one file); a missing or empty one has no rows.
"""

import glob
import json
import os
import sys

import polars as pl


def fetch(bucket, date, out, datasets):
    """The files each dataset's manifest lists (exactly those: never a run's leftovers)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    for dataset in datasets:
        manifest = json.loads(
            s3.get_object(Bucket=bucket, Key=f"{dataset}/dt={date}/_manifest.json")["Body"].read()
        )
        target = f"{out}/{dataset.rsplit('/', 1)[1]}"
        os.makedirs(target, exist_ok=True)
        for old in glob.glob(f"{target}/*.parquet"):
            os.remove(old)
        for i, f in enumerate(manifest["files"]):
            s3.download_file(bucket, f["key"], f"{target}/{i:04d}.parquet")


def clear(bucket):
    import boto3

    s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        return  # the first task creates it
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def files(path):
    """A dataset's files: PATH/*.parquet (a fetched partition) or PATH.parquet (a peer's output)."""
    if os.path.isdir(path):
        return sorted(glob.glob(f"{path}/*.parquet"))
    return [p for p in [path, f"{path}.parquet"] if os.path.isfile(p)][:1]


def frame(path):
    """The dataset's rows; None when it has no file at all."""
    paths = files(path)
    return pl.read_parquet(paths) if paths else None


def canonical(df):
    """Every column as a plain value, whatever the tool wrote: money as cents, times as epoch
    microseconds in UTC, dates as epoch days, booleans as 0/1."""
    out = []
    for name, dtype in df.schema.items():
        c = pl.col(name)
        if isinstance(dtype, pl.Decimal):
            c = (c.cast(pl.Decimal(38, 2)) * 100).cast(pl.Int64)
        elif isinstance(dtype, pl.Datetime):
            c = (c.dt.convert_time_zone("UTC") if dtype.time_zone else c).dt.epoch("us")
        elif dtype == pl.Date:
            c = c.cast(pl.Int32).cast(pl.Int64)
        elif dtype == pl.Boolean:
            c = c.cast(pl.Int64)
        elif dtype.is_integer():
            c = c.cast(pl.Int64)
        out.append(c.alias(name))
    return df.select(out)


def digest(path):
    """Row count, column names, and an order-free hash of all columns: the sum (not the XOR, so
    that a row twice is not a row never) of each row's 64-bit hash."""
    df = frame(path)
    if df is None or df.height == 0:
        return {"rows": 0, "columns": None if df is None else df.columns, "digest": "0"}
    h = canonical(df).hash_rows(seed=1)
    total = sum(h.to_list()) % 2**64
    return {"rows": df.height, "columns": df.columns, "digest": f"{total:016x}"}


def main():
    cmd, *args = sys.argv[1:] or ["-h"]
    if cmd == "fetch":
        bucket, date, out, *datasets = args
        fetch(bucket, date, out, datasets)
    elif cmd == "clear":
        clear(*args)
    elif cmd == "digest":
        print(json.dumps({p: digest(p) for p in args}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
