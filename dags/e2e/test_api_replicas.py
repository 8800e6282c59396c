"""More API traffic than one process: two API replicas, each on its own node (scripts/cluster.sh
api 2: a network namespace with its own loopback, CPU and memory cap), behind HAProxy on the API's
address, met as API clients meet them.

1. An idempotency key replayed on the other replica: a checkout through replica 1, then the same
   request with the same Idempotency-Key straight to replica 2, answers the same transaction, and
   DynamoDB holds it once. Nothing the first replica held in its memory was needed.
2. The load test through the balancer (the traffic generator's live mode: 64 customers shopping at
   once, carts then checkouts with Idempotency-Keys, every order counted) while replica 1 is
   SIGKILLed and its namespace deleted mid-test: the generator finishes with no error, both replicas
   had answered requests, and DynamoDB holds exactly the orders the generator counted, with their
   total: none lost, none doubled.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import datetime, UTC
from pathlib import Path

import pytest

from conftest import BIN, ROOT, cluster_sh, free_port, psql, with_api_token, with_db

ORDERS = 400
# Every transaction of the table with its total (boto3 from the tools venv, .local/venv).
TRANSACTIONS = """
import json, os, sys, boto3
from decimal import Decimal
table = boto3.resource("dynamodb", region_name=os.environ["AWS_REGION"]).Table(sys.argv[1])
count, total, kwargs = 0, Decimal(0), {}
while True:
    page = table.scan(**kwargs)
    for item in page["Items"]:
        if item["pk"].startswith("TXN#") and item["sk"] == "TXN":
            count += 1
            total += item["total_price"]
    if "LastEvaluatedKey" not in page:
        break
    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
print(json.dumps({"count": count, "total": str(total)}))
"""


@pytest.fixture(scope="module")
def stack():
    name = f"ar_{int(time.time())}_{os.getpid()}"
    cluster = f"a{os.getpid() % 100000}{int(time.time()) % 1000}"
    admin = os.environ["DATABASE_URL"]
    home = Path(tempfile.mkdtemp(prefix="mercado-replicas-"))
    env = dict(os.environ)
    env.update(
        DATABASE_URL=with_db(admin, name),
        MERCADO_DDB_TABLE=name,
        MERCADO_API_BIND=f"127.0.0.1:{free_port()}",
        MERCADO_CLUSTER_NAME=cluster,
        MERCADO_NODE_CPU="0.5",
        # The load test sends from one client as fast as the replicas answer: no rate limit.
        MERCADO_RATE_LIMIT_PER_SECOND="0",
        RUST_LOG="warn",
    )
    env.pop("WAREHOUSE_URL", None)
    psql(with_db(admin, "postgres"), f'CREATE DATABASE "{name}"')
    with_api_token(env, home)
    subprocess.run([BIN / "mercado-api", "migrate"], env=env, check=True, capture_output=True, timeout=120)
    try:
        cluster_sh(env, "api", "2")
        yield env, home
    finally:
        subprocess.run([ROOT / "scripts" / "cluster.sh", "down"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def replica_call(env, replica: int, method: str, path: str, body=None, key=None) -> tuple[int, dict]:
    """A request straight to one replica, through the Unix socket the balancer uses."""
    sock = ROOT / ".local" / "cluster" / env["MERCADO_CLUSTER_NAME"] / f"api{replica}" / "api.sock"
    args = ["curl", "-sS", "--max-time", "20", "--unix-socket", str(sock), "-X", method, "-w", "\n%{http_code}",
            "-H", "Content-Type: application/json", "-H", "@-"]
    headers = f"Authorization: Bearer {env['MERCADO_API_TOKEN']}\n"
    if key:
        headers += f"Idempotency-Key: {key}\n"
    if body is not None:
        args += ["--data", json.dumps(body)]
    # The token goes on stdin (-H @-), never in curl's arguments.
    out = subprocess.run([*args, f"http://replica{path}"], input=headers, capture_output=True, text=True, timeout=30,
                         check=True)
    text, _, code = out.stdout.rpartition("\n")
    return int(code), json.loads(text or "null")


def transactions(env) -> dict:
    out = subprocess.run([ROOT / ".local" / "venv" / "bin" / "python", "-c", TRANSACTIONS, env["MERCADO_DDB_TABLE"]],
                         env=env, check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout)


def test_an_idempotency_key_replayed_on_the_other_replica_gets_the_same_transaction(stack):
    env, _ = stack
    tag = os.urandom(3).hex()
    code, customer = replica_call(env, 1, "POST", "/customers/",
                                  {"first_name": "Rui", "last_name": "Replica", "email": f"rui.{tag}@example.com"})
    assert code == 201, customer
    code, vendor = replica_call(env, 2, "POST", "/vendors/", {"vendor_name": f"Replica shop {tag}", "region": "PT"})
    assert code == 201, vendor
    code, item = replica_call(env, 1, "POST", f"/inventory/?vendor_id={vendor['id']}",
                              {"item_name": "Mug", "category": 3, "price": "12.50", "stock": 10})
    assert code == 201, item
    code, cart = replica_call(env, 2, "POST", "/cart/", {"user_id": customer["id"], "cart": [{"item_id": item["id"], "qty": 2}]})
    assert code in (200, 201), cart
    before = transactions(env)["count"]
    code, first = replica_call(env, 1, "POST", "/checkout/", {"user_id": customer["id"]}, key=f"replay-{tag}")
    assert code in (200, 201), first
    code, again = replica_call(env, 2, "POST", "/checkout/", {"user_id": customer["id"]}, key=f"replay-{tag}")
    assert code in (200, 201), again
    assert again["transaction_id"] == first["transaction_id"] and again["total_price"] == first["total_price"] == 25.0
    assert transactions(env)["count"] == before + 1
    # The stock was taken once.
    code, stocked = replica_call(env, 2, "GET", f"/inventory/{item['id']}")
    assert code == 200 and stocked["stock"] == 8, stocked


def test_the_load_test_through_the_balancer_loses_no_order_when_a_replica_dies(stack):
    env, home = stack
    today = datetime.now(UTC).date().isoformat()
    before = transactions(env)
    args = [BIN / "mercado-traffic", "--date", today, "--api-url", f"http://{env['MERCADO_API_BIND']}", "--live",
            "--concurrency", "64", "--orders", str(ORDERS), "--customers", "96", "--vendors", "4", "--items", "40",
            "--carts", "5", "--seed", "23", "--state", str(home / "state.json"), "--labels", str(home / "labels.jsonl")]
    traffic = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    progress = []

    def read_progress():
        for line in traffic.stderr or []:
            progress.append(line)

    reader = threading.Thread(target=read_progress, daemon=True)
    reader.start()

    def orders_done() -> int:
        for line in reversed(progress):
            if "live: " in line and "/" in line:
                return int(line.split("live: ", 1)[1].split("/", 1)[0])
        return 0

    deadline = time.monotonic() + 300
    while orders_done() < ORDERS // 5:
        assert traffic.poll() is None, f"the generator ended early: {''.join(progress)[-3000:]}"
        assert time.monotonic() < deadline, f"no progress: {''.join(progress)[-3000:]}"
        time.sleep(0.1)
    killed_at = orders_done()
    served = dict(line.split() for line in cluster_sh(env, "api-stats").splitlines())
    cluster_sh(env, "api-kill", "1")
    # Not communicate(): it would read stderr too, racing the reader thread for the progress lines.
    traffic.wait(timeout=600)
    out = traffic.stdout.read() if traffic.stdout else ""
    reader.join(timeout=10)
    log = "".join(progress)
    assert traffic.returncode == 0, log[-4000:]
    summary = json.loads(out.strip().splitlines()[-1])
    # "[traffic D] live: N orders in S s, E errors": every order the day planned was placed.
    finished = [line for line in progress if "orders in" in line]
    failures = [line for line in progress if "order failed" in line]
    assert finished and finished[-1].rstrip().endswith(", 0 errors"), "".join(failures[:10]) or log[-3000:]
    placed = int(finished[-1].split("live: ", 1)[1].split(" ", 1)[0])
    assert summary["orders"] == placed and placed >= ORDERS // 2, (placed, summary)
    assert int(served["api1"]) > 0 and int(served["api2"]) > 0, served
    after = transactions(env)
    # DynamoDB holds exactly what the generator counted: none lost, none doubled.
    assert after["count"] - before["count"] == summary["orders"], (before, after, summary)
    from decimal import Decimal

    assert Decimal(after["total"]) - Decimal(before["total"]) == Decimal(summary["gmv"]), (before, after, summary)
    print(f"replica 1 killed after {killed_at}/{ORDERS} orders; requests served before: {served}")
