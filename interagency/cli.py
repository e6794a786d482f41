"""The one entry point: ``interagency serve | api | worker | migrate | projections | demo``."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated

import structlog
import typer
import uvicorn

from interagency.cli_analytics import register as register_analytics
from interagency.cli_audit import audit_cli
from interagency.cli_principals import register as register_principals
from interagency.logging import configure_logging
from interagency.services import Services, migrate
from interagency.settings import ConnectionParams, Settings
from interagency.storage import Database
from projections.runtime import PoisonEventError, Projector

cli = typer.Typer(
    help="Interagency coordination of additional education: API, projections, tools.",
    no_args_is_help=True,
    add_completion=False,
)
projections_cli = typer.Typer(help="Projection operations.", no_args_is_help=True)
cli.add_typer(projections_cli, name="projections")
cli.add_typer(audit_cli, name="audit")
register_principals(cli)
register_analytics(cli)

log = structlog.get_logger("interagency.cli")

HostOpt = Annotated[str, typer.Option(help="Interface to listen on.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.")]


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


def _exit_on_sigterm(sig: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM into an ordinary exit, so every ``finally`` (the embedded database's
    # clean stop among them) runs. serve, api and worker install their own handlers.
    raise SystemExit(128 + sig)


@contextmanager
def _database(settings: Settings) -> Iterator[ConnectionParams]:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    database = Database(settings)
    try:
        yield database.start()
    finally:
        database.stop()


def _uvicorn(app: object, host: str, port: int) -> None:
    # uvicorn re-raises the signal it stopped on once it has shut down; a handler of our
    # own then lets the caller's ``finally`` stop the worker and the embedded database.
    stopped: list[int] = []

    def note(sig: int, _frame: FrameType | None) -> None:
        stopped.append(sig)

    previous = {s: signal.signal(s, note) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(
            app,  # type: ignore[arg-type]
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=15,
        )
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if stopped:
        log.info("stopped_by_signal", signal=signal.Signals(stopped[0]).name)


@cli.command()
def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """API and projection worker in one process (embedded PostgreSQL unless configured)."""
    from api.main import create_app

    settings = _settings()
    with _database(settings) as params:
        migrate(settings, params)
        with Services(settings, params) as services:
            app = create_app(settings, services, run_worker=True)
            log.info("serving", url=f"http://{host}:{port}", docs=f"http://{host}:{port}/docs")
            _uvicorn(app, host, port)


@cli.command()
def api(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """The API alone (tables must exist: run 'interagency migrate' first)."""
    from api.main import create_app

    settings = _settings()
    with _database(settings) as params, Services(settings, params) as services:
        _uvicorn(create_app(settings, services), host, port)


@cli.command()
def worker() -> None:
    """The projection worker alone: follows the event log until SIGTERM or Ctrl-C."""
    settings = _settings()
    with _database(settings) as params, Services(settings, params) as services:
        w = services.worker()
        done = threading.Event()

        def stop(sig: int, _frame: FrameType | None) -> None:
            log.info("worker_stopping", signal=signal.Signals(sig).name)
            w.stopping.set()
            done.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        w.run()


@cli.command("migrate")
def migrate_cmd() -> None:
    """Create the event store and projection tables (once, before workers start)."""
    settings = _settings()
    with _database(settings) as params:
        migrate(settings, params)
    typer.echo("tables ready")


@projections_cli.command("rebuild")
def rebuild(
    name: Annotated[str | None, typer.Argument(help="Projection name; all if omitted.")] = None,
) -> None:
    """Rebuild projections blue/green: the live tables serve until the new ones swap in."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    settings = _settings()
    with _database(settings) as params:
        migrate(settings, params)
        with Services(settings, params) as services:
            names = [name] if name else [v.name for v in services.views]
            for n in names:
                try:
                    services.view(n)
                except KeyError as exc:
                    typer.echo(str(exc.args[0]), err=True)
                    raise typer.Exit(2) from None
                if n == services.audit_chain.name:
                    if name:
                        typer.echo(
                            f"{n}: not rebuilt: the audit chain is evidence; it is verified "
                            "('interagency audit verify'), never rebuilt",
                            err=True,
                        )
                        raise typer.Exit(2)
                    # Never rebuilt; brought to the head, chaining what it has not yet.
                    chained = services.chain_projector.catch_up()
                    typer.echo(
                        f"{n}: kept (evidence is never rebuilt); chained {chained:,} new "
                        f"events, at position {services.audit_chain.position():,}"
                    )
                    continue
                head = services.app.head_position()
                with Progress(
                    TextColumn(f"[bold]{n}"),
                    BarColumn(),
                    TextColumn("{task.completed:,}/{task.total:,} events"),
                    TimeRemainingColumn(),
                ) as progress:
                    task = progress.add_task(n, total=max(head, 1))

                    def show(pos: int, h: int, t: TaskID = task) -> None:
                        progress.update(t, completed=pos, total=max(h, 1))

                    try:
                        result = services.rebuild(n, show)
                    except PoisonEventError as exc:
                        typer.echo(f"{n}: not rebuilt, the live tables are untouched: {exc}")
                        raise typer.Exit(1) from None
                typer.echo(
                    f"{n}: rebuilt from {result.events:,} events in {result.seconds:.1f} s, "
                    f"at position {result.position:,} (switched without downtime)"
                )


@projections_cli.command("status")
def status() -> None:
    """Each projection's position, lag (events and seconds), worker and last error."""
    settings = _settings()
    with _database(settings) as params, Services(settings, params) as services:
        for r in services.statuses():
            worker_state = "active worker" if r.active else "no active worker"
            typer.echo(
                f"{r.name}: position {r.position:,}, head {r.head:,}, lag {r.lag_events:,} "
                f"events / {r.lag_seconds:.1f} s, {r.state}, {worker_state}"
                + (f", {r.dead_letters} parked" if r.dead_letters else "")
            )
            if r.last_error:
                typer.echo(
                    f"  last error at position {r.error_position} ({r.error_at:%Y-%m-%d %H:%M:%S}"
                    f" UTC, {r.error_count} in all): {r.last_error}"
                )


@projections_cli.command("dead-letters")
def dead_letters(name: Annotated[str, typer.Argument(help="Projection name.")]) -> None:
    """Events parked out of a projection's way (INTERAGENCY_PROJECTION_ON_POISON=park)."""
    settings = _settings()
    with _database(settings) as params, Services(settings, params) as services:
        letters = _projector(services, name).dead_letters()
        if not letters:
            typer.echo(f"{name}: no parked events")
        for letter in letters:
            typer.echo(f"{letter['position']}  {letter['topic']}  {letter['error']}")


@projections_cli.command("replay-dead-letters")
def replay_dead_letters(name: Annotated[str, typer.Argument(help="Projection name.")]) -> None:
    """Applies a projection's parked events again (after a fix); failures stay parked."""
    settings = _settings()
    with _database(settings) as params, Services(settings, params) as services:
        replayed, failing = _projector(services, name).replay_dead_letters()
    typer.echo(f"{name}: {replayed} replayed, {failing} still failing")
    if failing:
        raise typer.Exit(1)


def _projector(services: Services, name: str) -> Projector:
    try:
        return services.projector(name)
    except KeyError as exc:
        typer.echo(str(exc.args[0]), err=True)
        raise typer.Exit(2) from None


@cli.command()
def demo(
    projects: Annotated[int, typer.Option(help="How many projects to seed.")] = 8,
    institutions: Annotated[
        int, typer.Option(help="How many institutions get a municipal assignment.")
    ] = 120,
    organizations: Annotated[int, typer.Option(help="Organisations in the register.")] = 150,
    programs: Annotated[int, typer.Option(help="Additional education programs.")] = 300,
    agreements: Annotated[int, typer.Option(help="Network agreements.")] = 40,
    enrolments: Annotated[int, typer.Option(help="Enrolments of children.")] = 20_000,
) -> None:
    """Seed a realistic municipality: its network, projects, a working group, assignments.

    Also registers one principal per role and prints their tokens (shown this once).
    """
    from interagency.demo import DemoAlreadySeededError, demo_principals, seed
    from interagency.demo_network import NetworkSize

    settings = _settings()
    size = NetworkSize(organizations, programs, agreements, enrolments)
    with _database(settings) as params:
        migrate(settings, params)
        with Services(settings, params) as services:
            try:
                summary = seed(
                    services.app,
                    projects=projects,
                    institutions=institutions,
                    network=size,
                    progress=lambda msg: typer.echo(f"... {msg}", err=True),
                )
            except DemoAlreadySeededError as exc:
                typer.echo(f"demo: {exc}", err=True)
                typer.echo(
                    "demo: tokens are shown once; issue new ones with 'interagency principals "
                    "add' (or 'principals token PRINCIPAL_ID')",
                    err=True,
                )
                raise typer.Exit(1) from None
            tokens = demo_principals(services.app, today=settings.today())
    typer.echo(summary)
    typer.echo("")
    typer.echo("Tokens (shown this once; send as 'Authorization: Bearer <token>'):")
    for line in tokens:
        typer.echo(line)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
