"""docker-compose.yml holds no secret: every password and key is a variable that scripts/compose.sh
generates once (into a file only its owner reads) and hands to compose; the emulator's dummy AWS keys
are the one exception, as in .env.example."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\$\{(\w+)(?::?[?-][^}]*)?\}")
EMULATOR_DUMMIES = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def environments(doc: dict):
    for name, service in doc["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            yield name, key, str(value)
    for key, value in (doc.get("x-airflow", {}).get("environment") or {}).items():
        yield "x-airflow", key, str(value)


def test_no_secret_is_written_in_the_compose_file():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    checked = 0
    for service, key, value in environments(doc):
        if EMULATOR_DUMMIES.get(key) == value:
            continue
        if re.search(r"SECRET|PASSWORD|KEY$", key):
            assert VARIABLE.fullmatch(value), f"{service}: {key} is written in the file: {value!r}"
            checked += 1
        for password in re.findall(r"://[^:/@]+:([^@]+)@", value):
            assert VARIABLE.fullmatch(password), f"{service}: {key} has a password written in it"
            checked += 1
    assert checked >= 6, "the compose file's secrets were not found where expected"


def test_compose_sh_generates_every_variable_once_and_privately():
    text = (ROOT / "docker-compose.yml").read_text()
    wanted = set(VARIABLE.findall(text))
    assert {"MERCADO_PG_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_SECRET_KEY"} <= wanted
    with tempfile.TemporaryDirectory() as checkout:
        # A copy of the checkout's scripts, so .local/ is the temporary one.
        (Path(checkout) / "scripts").mkdir()
        for name in ("compose.sh", "lib.sh"):
            (Path(checkout) / "scripts" / name).write_bytes((ROOT / "scripts" / name).read_bytes())
            os.chmod(Path(checkout) / "scripts" / name, 0o755)
        run = lambda: subprocess.run([Path(checkout) / "scripts" / "compose.sh", "secrets"], check=True,  # noqa: E731
                                     capture_output=True, text=True, timeout=30)
        run()
        path = Path(checkout) / ".local" / "compose.env"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        first = path.read_text()
        values = dict(line.split("=", 1) for line in first.splitlines())
        assert set(values) == wanted
        assert all(len(v) >= 32 for v in values.values())
        run()
        assert path.read_text() == first, "generated once, then kept"
