"""Prism mock servers for contract tests: a provider's official OpenAPI spec served on
127.0.0.1, so the real SDK (twilio, python-intercom) talks HTTP to something that answers in
the provider's shapes.

Prism (`@stoplight/prism-cli`, pinned in PRISM_VERSION) is installed under `<repo>/.tools` by
`make tools`; `.ci/run` does that. Without it, tests that need Prism are skipped on a
developer's machine, but fail loudly in CI (`CI=true`), where a skip would hide a broken set-up.

    from tests.fakes.prism import require_prism, spec_path, start_prism

    @pytest.fixture(scope="session")
    def twilio_api():
        require_prism()
        with start_prism(spec_path("twilio_api_v2010.json")) as server:
            yield server  # server.url == "http://127.0.0.1:<port>"

Prism ignores the spec's base path and answers with the spec's examples. It checks that an
Authorization header is present (401 otherwise) but not what it holds, and can only return
status codes the spec documents (`Prefer: code=…`): error answers the spec does not describe
need a local fake of their own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

PRISM_VERSION = "5.14.2"
REPO_DIR = Path(__file__).resolve().parents[2]
PRISM_BIN = REPO_DIR / ".tools" / "node_modules" / ".bin" / "prism"


def specs_dir() -> Path:
    """Where the provider specs live: $SPECS_DIR, else the copies in tests/fakes/specs."""
    return Path(os.environ.get("SPECS_DIR") or Path(__file__).resolve().parent / "specs")


def spec_path(name: str) -> Path:
    """The path of one spec file, e.g. `spec_path("twilio_api_v2010.json")`."""
    return specs_dir() / name


def prism_available() -> bool:
    """True when the Prism CLI is installed where `make tools` puts it."""
    return PRISM_BIN.exists() and os.access(PRISM_BIN, os.X_OK)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_prism(*specs: Path) -> None:
    """Skip the calling test (or fixture) when Prism or a spec is missing, except in CI,
    where the test fails with what to do instead."""
    missing = []
    if not prism_available():
        missing.append(f"Prism is not installed at {PRISM_BIN} (run `make tools`)")
    missing += [f"spec {spec} not found (set SPECS_DIR)" for spec in specs if not spec.exists()]
    if not missing:
        return
    message = "; ".join(missing)
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrismServer:
    """A running `prism mock`. Use as a context manager, or call `stop()`."""

    url: str
    port: int
    spec: Path
    process: subprocess.Popen
    log_file: IO[bytes] = field(repr=False)

    def log(self) -> str:
        """Everything Prism printed so far (requests it saw, validation messages)."""
        self.log_file.flush()
        return Path(self.log_file.name).read_text(errors="replace")

    def stop(self) -> None:
        """Kill the whole process group (the node process and anything it started)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if not self.log_file.closed:
            self.log_file.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.log_file.name)

    def __enter__(self) -> PrismServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_prism(
    spec_path: Path | str,
    *,
    errors: bool = False,
    dynamic: bool = False,
    startup_timeout: float = 60.0,
) -> PrismServer:
    """Start `prism mock <spec> -p <free port> -h 127.0.0.1` and wait until it accepts
    connections.

    - `errors=True` passes `--errors`: a request or response that violates the spec becomes an
      error answer instead of a logged warning (strict contract checking).
    - `dynamic=True` passes `--dynamic`: bodies generated from the schemas instead of the
      spec's examples (random values; the examples are stable, so that is the default).
    """
    spec = Path(spec_path)
    if not prism_available():
        raise RuntimeError(f"Prism is not installed at {PRISM_BIN}: run `make tools`.")
    if not spec.exists():
        raise FileNotFoundError(f"OpenAPI spec not found: {spec}")
    port = free_port()
    command = [str(PRISM_BIN), "mock", str(spec), "-p", str(port), "-h", "127.0.0.1"]
    if errors:
        command.append("--errors")
    if dynamic:
        command.append("--dynamic")
    # A file, not a pipe: Prism logs every request, and a full pipe nobody reads would block it.
    log_file = tempfile.NamedTemporaryFile(prefix="prism-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603 - a fixed local binary and arguments we built
        command,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stop() can kill all of it
        cwd=REPO_DIR,
    )
    server = PrismServer(
        url=f"http://127.0.0.1:{port}", port=port, spec=spec, process=process, log_file=log_file
    )
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = server.log()
            server.stop()
            raise RuntimeError(f"Prism exited with {process.returncode}:\n{output[-3000:]}")
        if _answers(port):
            return server
        time.sleep(0.1)
    output = server.log()
    server.stop()
    raise RuntimeError(f"Prism did not answer within {startup_timeout:.0f} s:\n{output[-3000:]}")
