"""Shared helpers of the bench scripts: a throw-away database, service processes, statistics.

A bench never touches a database it did not create: it makes ``interagency_bench_*`` on the
configured server (``POSTGRES_*`` / ``DATABASE_URL``), or starts an embedded server in a
temporary folder, and drops (or stops and deletes) it at the end.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Runnable as ``python bench/x.py`` even without the editable install.
    sys.path.insert(0, str(REPO_ROOT))

# platformdirs warns when XDG_RUNTIME_DIR is unset (embedded PostgreSQL in a container).
warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from interagency.settings import ConnectionParams, Settings  # noqa: E402
from interagency.storage import EmbeddedPostgres, ensure_database  # noqa: E402


@dataclass(frozen=True)
class BenchDatabase:
    """A database made for one bench run."""

    params: ConnectionParams
    embedded: bool

    def settings(self, **overrides: object) -> Settings:
        """Settings that point at this database, whatever the environment says."""
        values: dict[str, object] = {
            "postgres_host": self.params.host,
            "postgres_port": self.params.port,
            "postgres_dbname": self.params.dbname,
            "postgres_user": self.params.user,
            "postgres_password": self.params.password,
            "database_url": None,
            "log_format": "json",
            "log_level": "warning",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]

    def describe(self) -> str:
        kind = "embedded PostgreSQL" if self.embedded else "PostgreSQL"
        return f"{kind} {self.params.describe()}"


def server_version(params: ConnectionParams) -> str:
    with psycopg.connect(params.conninfo(), autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
        sync_commit = conn.execute("SHOW synchronous_commit").fetchone()
    version = "?" if row is None else str(row[0]).split()[0]
    return (
        f"PostgreSQL {version}, fsync={None if fsync is None else fsync[0]}, "
        f"synchronous_commit={None if sync_commit is None else sync_commit[0]}"
    )


@contextlib.contextmanager
def throwaway_database(label: str) -> Iterator[BenchDatabase]:
    """A fresh database on the configured server, or on an embedded one; gone afterwards."""
    base = Settings()
    dbname = f"interagency_bench_{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    embedded: EmbeddedPostgres | None = None
    tmp: Path | None = None
    if base.uses_embedded:
        tmp = Path(tempfile.mkdtemp(prefix="interagency-bench-pg-"))
        embedded = EmbeddedPostgres(tmp, dbname="postgres")
        server = embedded.start()
    else:
        ext = base.external_connection()
        server = ConnectionParams(ext.host, ext.port, "postgres", ext.user, ext.password)
    try:
        ensure_database(server, dbname)
        params = ConnectionParams(server.host, server.port, dbname, server.user, server.password)
        try:
            yield BenchDatabase(params, embedded is not None)
        finally:
            with psycopg.connect(server.conninfo(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )
    finally:
        if embedded is not None:
            embedded.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def service_env(params: ConnectionParams, log_level: str = "warning") -> dict[str, str]:
    """The environment of an ``interagency`` subprocess that uses ``params`` and nothing else."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "INTERAGENCY_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "POSTGRES_HOST": params.host,
            "POSTGRES_PORT": str(params.port),
            "POSTGRES_DBNAME": params.dbname,
            "POSTGRES_USER": params.user,
            "POSTGRES_PASSWORD": params.password,
            "INTERAGENCY_LOG_FORMAT": "json",
            "INTERAGENCY_LOG_LEVEL": log_level,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    return env


def interagency_cmd(*args: str) -> list[str]:
    """``interagency <args>`` with this interpreter (the venv's), whatever PATH says."""
    return [sys.executable, "-m", "interagency.cli", *args]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """An ``interagency`` subprocess with its output in a log file; SIGTERM on exit."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.args = list(args)
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServiceProcess:
        # The work folder is the cwd, so no stray .env in the repository is read.
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} ignored SIGTERM for {timeout:.0f}s: killing it")
                proc.kill()
                proc.wait(10)
        self.returncode = proc.returncode
        return self.returncode

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_cli(args: Sequence[str], env: dict[str, str], workdir: Path, timeout: float = 180) -> None:
    """Runs an ``interagency`` command to completion; raises with its output if it fails."""
    done = subprocess.run(
        interagency_cmd(*args),
        env=env,
        cwd=workdir,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        out = (done.stdout + done.stderr).decode(errors="replace")
        msg = f"interagency {' '.join(args)} failed ({done.returncode}):\n{out}"
        raise RuntimeError(msg)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 if there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return (
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def backend_pids(params: ConnectionParams) -> list[int]:
    """The server processes serving connections to this database (but ours, asking)."""
    with psycopg.connect(params.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def cpu_seconds(pids: dict[str, int], backends: Sequence[int] = ()) -> dict[str, float]:
    """CPU seconds (user + system) used so far: by each named process, by this process
    ("bench"), by each PostgreSQL backend in ``backends`` (see :func:`backend_pids`), and by
    the whole machine ("busy").

    Compare two snapshots with :func:`cpu_used`. Empty without ``psutil`` (then the CPU
    breakdown is simply not printed).
    """
    try:
        import psutil
    except ImportError:
        return {}
    out: dict[str, float] = {}
    named = {**pids, "bench": os.getpid()}
    named.update({f"{_PG}{pid}": pid for pid in backends})
    for name, pid in named.items():
        try:
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
        except psutil.Error:
            continue
    machine_times = psutil.cpu_times()
    out["busy"] = sum(machine_times) - machine_times.idle - getattr(machine_times, "iowait", 0.0)
    return out


_PG = "postgres pid "


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used between two snapshots: each named process, "postgres" (the backends
    of the bench database that lived through the window or started in it), "other processes"
    (the rest of the machine's busy time, other databases' backends included) and "machine
    busy"."""
    if not before or not after:
        return {}
    used = {k: after[k] - before[k] for k in after if k in before and not k.startswith(_PG)}
    busy = used.pop("busy", 0.0)
    used["postgres"] = sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith(_PG))
    used["other processes"] = max(busy - sum(used.values()), 0.0)
    used["machine busy"] = busy
    return used


def start_watchdog(seconds: float) -> threading.Timer:
    """Interrupts this process (as Ctrl-C would) if it still runs after ``seconds``.

    A bench must stop by itself, even if a call never returns: the KeyboardInterrupt makes
    psycopg cancel the query or close the connection, and the ``finally`` blocks then stop
    the service processes and drop the database.
    """

    def interrupt() -> None:
        print(f"\nwatchdog: still running after {seconds:.0f} s, interrupting", flush=True)
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    return timer


class Stopwatch:
    """Wall time with ``time.perf_counter`` and this process's CPU time."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Stopwatch:
        self._w = time.perf_counter()
        self._c = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c
