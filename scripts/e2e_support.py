"""Helpers the end-to-end tests share (dags/e2e, python/mercado_iceberg/tests): ports, databases,
psql without a password in its arguments, the API's test keys. Standard library only."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "debug"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_db(url: str, name: str) -> str:
    """The same server's URL for another database."""
    return url.rsplit("/", 1)[0] + "/" + name


def psql(url: str, sql: str) -> str:
    """One statement's result as psql prints it unaligned (-tA). The URL's password goes in
    PGPASSWORD, not in psql's arguments (which anyone on the machine can read)."""
    scheme, rest = url.split("://", 1)
    env = dict(os.environ)
    if "@" in rest:
        userinfo, place = rest.split("@", 1)
        user, _, password = userinfo.partition(":")
        url = f"{scheme}://{user}@{place}"
        env["PGPASSWORD"] = password
    out = subprocess.run(["psql", url, "-tAc", sql], check=True, capture_output=True, text=True, env=env)
    return out.stdout.strip()


def with_api_token(env: dict, workdir: Path) -> str:
    """Gives `env` a signing key and JWKS of the test's own, which the API started with `env`
    verifies tokens with, and a service token with every scope in MERCADO_API_TOKEN (read by the
    traffic generator; the environment, never a command line); returns the token."""
    keys = workdir / "jwt"
    env["MERCADO_JWT_SIGNING_KEY_FILE"] = str(keys / "signing.pem")
    env["MERCADO_JWKS_FILE"] = str(keys / "jwks.json")
    out = subprocess.run([BIN / "mercado-api", "token", "--service", "e2e", "--ttl", "7200"], env=env,
                         check=True, capture_output=True, text=True, timeout=60)
    env["MERCADO_API_TOKEN"] = out.stdout.strip()
    return env["MERCADO_API_TOKEN"]


def iceberg_catalog_url(name: str) -> str:
    """A catalog database of the test's own (the Iceberg tables of its bucket), owned by the
    catalog's login as scripts/services.sh makes it; its URL with that login's password."""
    subprocess.run([ROOT / "scripts" / "services.sh", "database", "iceberg", name], check=True,
                   capture_output=True, timeout=60)
    password = (ROOT / ".local" / "secrets" / "pg" / "mercado_iceberg").read_text().strip()
    port = os.environ.get("MERCADO_PG_PORT", "55432")
    return f"postgres://mercado_iceberg:{password}@127.0.0.1:{port}/{name}"


def iceberg_verify(env: dict) -> dict:
    """`scripts/iceberg.sh verify` with the stack's settings: every gold table read through its
    catalog by pyiceberg and by DuckDB equals the warehouse (env's WAREHOUSE_URL) row for row, each
    date one commit's files; its JSON summary (the command fails, naming each difference, if not)."""
    import json

    out = subprocess.run([ROOT / "scripts" / "iceberg.sh", "verify"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_api(env: dict, timeout: float = 30) -> tuple[subprocess.Popen, str]:
    """`mercado-api` with `env` (MERCADO_API_BIND and the keys of `with_api_token`), once it answers
    /readyz; the process and its base URL. Stopped and an error raised if it never does."""
    api = subprocess.Popen([BIN / "mercado-api"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://{env['MERCADO_API_BIND']}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{base}/readyz", timeout=1)
            return api, base
        except OSError:
            if time.monotonic() > deadline or api.poll() is not None:
                api.kill()
                raise RuntimeError(f"the API at {base} did not become ready within {timeout:.0f} s") from None
            time.sleep(0.2)
