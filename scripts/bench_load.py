"""Load benchmark peer (scripts/bench_suite.sh, part 3): gold fact_sales from Parquet into a
PostgreSQL table of the same shape with pandas to_sql, as a data engineer would without COPY.

    bench_load.py pandas --dsn URL --table SCHEMA.NAME PARQUET…

method='multi' (one INSERT of up to chunksize rows per statement) is pandas' fastest COPY-free
path with psycopg2; the default (executemany, one row per statement) is several times slower.
"""

import argparse
import warnings


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cmd", choices=["pandas"])
    p.add_argument("--dsn", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("paths", nargs="+")
    a = p.parse_args()

    import pyarrow.parquet as pq
    import sqlalchemy

    frame = pq.ParquetDataset(a.paths).read().to_pandas()
    schema, table = a.table.split(".")
    engine = sqlalchemy.create_engine(a.dsn.replace("postgres://", "postgresql+psycopg2://", 1))
    with engine.begin() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame.to_sql(table, conn, schema=schema, if_exists="append", index=False, method="multi", chunksize=1000)


if __name__ == "__main__":
    main()
