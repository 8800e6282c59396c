"""What the end-to-end tests share: the checkout's paths, the task registry's chain, and small
helpers for ports, databases and waits. Imported by the test files (`from conftest import …`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "debug"
# scripts/ holds the registry reader and the Airflow REST client the tests drive.
sys.path.insert(0, str(ROOT / "scripts"))

from registry import tasks  # noqa: E402

# The task registry, in run order (tasks/registry.toml, read as scripts/registry.py reads it).
CHAIN = [t["name"] for t in tasks()]


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


def wait_until(what, timeout, probe, every=2.0):
    """Polls `probe` until it returns something true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
