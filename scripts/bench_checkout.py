"""Checkout throughput of the API on the local DynamoDB emulator, by how many items its table holds.

Driven by scripts/bench_checkout.sh, which starts the servers. For each table size it:
  1. fills the API's table with N past transactions (BatchWriteItem, 1,000 items a call, as moto
     allows) shaped as the API writes them (keys, both GSIs);
  2. runs CLIENTS concurrent shoppers, each replacing its cart and checking it out with an
     Idempotency-Key, for CHECKOUTS checkouts in all;
  3. reports checkouts/s, the latency median and p95, and every non-200 answer.

stdlib + boto3 (from moto's venv). Prints one JSON object per run as the last line.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request

import boto3


def call(base, method, path, body=None, key=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    # A service token (every scope) from bench_checkout.sh, through the environment.
    req.add_header("Authorization", "Bearer " + os.environ["MERCADO_API_TOKEN"])
    if key:
        req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def fill(endpoint, table, n):
    """N past transactions in the table, as the API writes them, 1,000 per BatchWriteItem."""
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    written = 0
    while written < n:
        batch = []
        for i in range(written, min(n, written + 1000)):
            tid = f"0190bench{i:023d}"
            day = f"2025-01-{1 + i % 28:02d}"
            at = f"{day}T12:00:00.000Z"
            batch.append({"PutRequest": {"Item": {
                "pk": {"S": f"TXN#{tid}"}, "sk": {"S": "TXN"}, "entity": {"S": "transaction"},
                "transaction_id": {"S": tid}, "user_id": {"N": str(1_000_000 + i)},
                "total_price": {"N": "12.50"}, "installments": {"N": "1"}, "created_at": {"S": at},
                "lines": {"L": [{"M": {"line_no": {"N": "1"}, "item_id": {"N": "1"}, "vendor_id": {"N": "1"},
                                        "qty": {"N": "1"}, "unit_price": {"N": "12.50"}, "total_price": {"N": "12.50"}}}]},
                "gsi1pk": {"S": f"TXNDAY#{day}#{i % 16:02d}"}, "gsi1sk": {"S": f"{at}#{tid}"},
                "gsi2pk": {"S": f"USER#{1_000_000 + i}"}, "gsi2sk": {"S": f"TXN#{at}#{tid}"},
            }}})
        ddb.batch_write_item(RequestItems={table: batch})
        written += len(batch)
    return ddb.describe_table(TableName=table)["Table"].get("ItemCount", written)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api", required=True, help="http://127.0.0.1:PORT of the API")
    p.add_argument("--endpoint", required=True, help="the emulator's URL")
    p.add_argument("--table", required=True)
    p.add_argument("--items", type=int, required=True, help="items to put in the table first")
    p.add_argument("--checkouts", type=int, default=400)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--label", default="")
    a = p.parse_args()

    t0 = time.monotonic()
    count = fill(a.endpoint, a.table, a.items)
    fill_s = time.monotonic() - t0
    print(f"[{a.label}] table filled with {a.items:,} items in {fill_s:.1f} s", file=sys.stderr)

    status, vendor = call(a.api, "POST", "/vendors", {"vendor_name": "Bench", "region": "PT"})
    assert status == 201, vendor
    status, item = call(a.api, "POST", f"/inventory?vendor_id={vendor['id']}",
                        # Checkout takes stock: 2 units per checkout below.
                        {"item_name": "Mug", "category": 1, "price": "12.50", "stock": 2 * a.checkouts})
    assert status == 201, item
    run_tag = f"{int(time.time() * 1000)}"
    users = []
    for i in range(a.checkouts):
        status, c = call(a.api, "POST", "/customers",
                         {"first_name": "B", "last_name": "Ench", "email": f"b{run_tag}-{i}@example.com"})
        assert status == 201, c
        users.append(c["id"])

    def shop(user):
        started = time.monotonic()
        s1, cart = call(a.api, "POST", "/cart", {"user_id": user, "cart": [{"item_id": item["id"], "qty": 2}]})
        if s1 != 200:
            return time.monotonic() - started, f"cart {s1}: {cart}"
        s2, receipt = call(a.api, "POST", "/checkout", {"user_id": user}, key=f"bench-{user}")
        return time.monotonic() - started, None if s2 == 200 else f"checkout {s2}: {receipt}"

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(a.clients) as pool:
        results = list(pool.map(shop, users))
    wall = time.monotonic() - t0
    latencies = sorted(r[0] for r in results)
    errors = [r[1] for r in results if r[1]]
    out = {
        "label": a.label, "items_in_table": a.items, "item_count": count, "checkouts": a.checkouts,
        "clients": a.clients, "seconds": round(wall, 2),
        "checkouts_per_s": round((a.checkouts - len(errors)) / wall, 1),
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
        "latency_ms_p95": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "errors": len(errors), "first_error": errors[0] if errors else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
