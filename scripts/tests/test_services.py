"""The local PostgreSQL cluster (scripts/services.sh) as another user of the machine finds it: its
unix socket, whose `trust` rule asks no password, opens only for the server's own OS user; TCP on
127.0.0.1 asks for the password (scram-sha-256)."""

from __future__ import annotations

import os
import subprocess

PORT = os.environ.get("MERCADO_PG_PORT", "55432")


def socket_directory() -> str:
    """Where the running server keeps its socket (.local/pg of the checkout that started it), asked
    of the server itself over TCP with the URL's password."""
    url = os.environ["DATABASE_URL"]
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    out = subprocess.run(["psql", f"host=127.0.0.1 port={PORT} user=mercado dbname=postgres", "-tAc",
                          "SHOW unix_socket_directories"], capture_output=True, text=True, timeout=30, check=True,
                         env={**os.environ, "PGPASSWORD": password})
    return out.stdout.strip().split(",")[0].strip().strip("'")


def psql_as(user: str, conninfo: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", "psql", conninfo, "-tAc", "SELECT current_user"],
                          capture_output=True, text=True, timeout=30, env=env)


def test_another_local_user_cannot_use_the_socket_or_tcp_without_the_password():
    assert os.geteuid() == 0, "this test switches users with runuser: run the test command as root, as CI does"
    socket = f"host={socket_directory()} port={PORT} user=mercado dbname=postgres"
    # The server's own user may use its socket (scripts/services.sh relies on nothing else).
    assert psql_as("postgres", socket).returncode == 0
    refused = psql_as("nobody", socket)
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused.stderr
    # TCP: a password is asked for, and a wrong one refused.
    env = {"PATH": os.environ["PATH"], "PGPASSWORD": "not-the-password"}
    wrong = psql_as("nobody", f"host=127.0.0.1 port={PORT} user=mercado dbname=postgres", env)
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, wrong.stderr
