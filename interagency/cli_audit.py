"""``interagency audit export | verify | public-key``: evidence files for auditors.

``verify`` needs no database, no settings and no key of ours: it checks a file on its own
(``interagency/evidence.py``). ``export`` and ``public-key`` read the service's settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

audit_cli = typer.Typer(
    help="Tamper evidence: export a range of the log with its hash chain and a signed "
    "checkpoint; verify such a file offline.",
    no_args_is_help=True,
)

MAX_BREAKS_SHOWN = 10


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@audit_cli.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="Where to write the evidence (JSON).")],
    from_position: Annotated[
        int, typer.Option("--from", min=1, help="First position of the range.")
    ] = 1,
    to_position: Annotated[
        int | None,
        typer.Option("--to", min=1, help="Last position of the range; the chain's end if omitted."),
    ] = None,
) -> None:
    """Write a range's events, chain entries and a signed checkpoint covering it to FILE."""
    from domain.errors import DomainError, RuleViolationError
    from interagency.cli import _database, _settings
    from interagency.services import Services, migrate

    settings = _settings()
    with _database(settings) as params:
        migrate(settings, params)
        with Services(settings, params) as services:
            # Bring the chain up to the log's end first (the same tracked process the worker
            # runs; the two serialise on its tracking row), so the range can reach the end.
            services.chain_projector.catch_up()
            try:
                try:
                    found = services.audit_chain.evidence(from_position, to_position)
                except RuleViolationError as exc:
                    if exc.rule != "checkpoint_covers_range":
                        raise
                    # No checkpoint at or after the range's end yet: sign the chain's head.
                    services.chain_projector.checkpoint_head(force=True)
                    found = services.audit_chain.evidence(from_position, to_position)
            except DomainError as exc:
                typer.echo(f"audit export: {exc.detail}", err=True)
                raise typer.Exit(2) from None
    _write_atomically(file, found.canonical_bytes())
    first, last = found.entries[0].position, found.entries[-1].position
    cp = found.checkpoint
    typer.echo(
        f"exported positions {first}..{last}: {len(found.events):,} events, "
        f"{len(found.entries):,} chain entries, then {len(found.link):,} up to the "
        f"checkpoint at position {cp.position} signed at {cp.signed_at} by key {cp.key_id}; "
        f"written to {file}"
    )


@audit_cli.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="An evidence file from 'audit export'.")],
    expect_key_id: Annotated[
        str | None,
        typer.Option(
            "--expect-key-id",
            help="Fail unless the checkpoint is signed by this key (the id the service "
            "published; see 'interagency audit public-key').",
        ),
    ] = None,
) -> None:
    """Check an evidence file with no database: hashes, links, checkpoint, signature."""
    from interagency.evidence import verify_evidence

    try:
        data = file.read_bytes()
    except OSError as exc:
        typer.echo(f"audit verify: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    report = verify_evidence(data, expect_key_id)
    typer.echo(report.summary())
    if not report.ok:
        for b in report.breaks[:MAX_BREAKS_SHOWN]:
            typer.echo(f"  {b.describe()}", err=True)
        if len(report.breaks) > MAX_BREAKS_SHOWN:
            typer.echo(f"  ... and {len(report.breaks) - MAX_BREAKS_SHOWN} more", err=True)
        raise typer.Exit(1)


@audit_cli.command("public-key")
def public_key() -> None:
    """Print the key id and public key (PEM) that sign checkpoints, to publish elsewhere."""
    from interagency import evidence
    from interagency.cli import _settings
    from interagency.signing import SigningKeyError, load_signing_key

    settings = _settings()
    try:
        key = load_signing_key(settings)
    except SigningKeyError as exc:
        typer.echo(f"audit public-key: {exc}", err=True)
        raise typer.Exit(2) from None
    raw = evidence.raw_public_key(key.public_key())
    typer.echo(f"key id: {evidence.key_id(raw)}")
    typer.echo(evidence.public_key_pem(raw), nl=False)
