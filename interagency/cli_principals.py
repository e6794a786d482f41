"""``interagency principals add | list | token | revoke | disable``.

The lead registers the sub-app in ``interagency/cli.py`` with :func:`register`. A token is
printed once, when it is issued, and never again: ``list`` shows token ids and labels only.
The command line acts as the ``system`` role, and its events name the operating-system
user who ran it.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated
from uuid import UUID, uuid4

import typer

from domain.errors import DomainError
from domain.values import Agency, EventMeta, Role
from interagency.application import InteragencyApplication
from interagency.principals import IssuedToken, PrincipalSummary

principals_cli = typer.Typer(
    help="Principals (who may call the API) and their bearer tokens.", no_args_is_help=True
)


def register(cli: typer.Typer) -> None:
    """Adds ``principals`` to the main command line."""
    cli.add_typer(principals_cli, name="principals")


def cli_meta(reason: str | None = None) -> EventMeta:
    """The actor of the command line: the system role, named by the operating-system user."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return EventMeta(
        actor_id=f"cli:{user}",
        actor_role=Role.SYSTEM.value,
        correlation_id=f"cli-{uuid4().hex[:12]}",
        reason=reason,
    )


# -- what the commands do, on an application (tested without the command line) ----------


def add_with_token(
    app: InteragencyApplication,
    meta: EventMeta,
    *,
    name: str,
    role: str,
    agency: str | None,
    municipality: str | None,
    label: str | None,
    expires_on: date | None,
    today: date,
) -> IssuedToken:
    """Registers a principal and issues its first token."""
    result = app.add_principal(meta, name=name, role=role, agency=agency, municipality=municipality)
    return app.issue_token(
        meta, result.aggregate_id, label=label, expires_on=expires_on, today=today
    )


def describe_token(issued: IssuedToken) -> list[str]:
    """What is printed once, when a token is issued."""
    return [
        f"principal {issued.principal_id}",
        f"token id  {issued.token_id}",
        f"token     {issued.token}",
        "Keep the token now: it is shown this once and cannot be shown again.",
    ]


def describe_principals(principals: list[PrincipalSummary], today: date) -> list[str]:
    """The listing: principals and their tokens, without any secret or hash."""
    if not principals:
        return ["no principals yet: add one with 'interagency principals add'"]
    lines: list[str] = []
    for p in principals:
        where = ", ".join(x for x in (p.agency, p.municipality) if x) or "all municipalities"
        state = f" DISABLED ({p.disabled_reason})" if p.disabled else ""
        lines.append(f"{p.principal_id}  {p.role:<8}  {p.name}  [{where}]{state}")
        for t in p.tokens:
            if t.revoked_at is not None:
                status = f"revoked {t.revoked_at:%Y-%m-%d} ({t.revoke_reason})"
            elif t.expires_on is not None and today > t.expires_on:
                status = f"expired after {t.expires_on}"
            elif t.expires_on is not None:
                status = f"active until {t.expires_on}"
            else:
                status = "active"
            label = f"  {t.label}" if t.label else ""
            lines.append(
                f"    token {t.token_id}  issued {t.issued_at:%Y-%m-%d %H:%M}Z  {status}{label}"
            )
    return lines


# -- the commands ----------------------------------------------------------------------------


@contextmanager
def _application() -> Iterator[tuple[InteragencyApplication, date]]:
    from interagency.cli import _database, _settings
    from interagency.services import Services, migrate

    settings = _settings()
    with _database(settings) as params:
        migrate(settings, params)
        with Services(settings, params) as services:
            yield services.app, settings.today()


def _run(action: Callable[[], list[str]]) -> None:
    try:
        lines = action()
    except DomainError as exc:
        typer.echo(f"principals: {exc.detail}", err=True)
        raise typer.Exit(2) from None
    for line in lines:
        typer.echo(line)


RoleOpt = Annotated[Role, typer.Option(help="official, auditor, analyst or admin.")]
AgencyOpt = Annotated[
    Agency | None, typer.Option(help="The official's agency (required for officials).")
]
MunicipalityOpt = Annotated[
    str | None,
    typer.Option(help="Required for officials; for others it limits reads to it (omit: all)."),
]
LabelOpt = Annotated[str | None, typer.Option(help="What the token is for (shown in 'list').")]
ExpiresOpt = Annotated[
    str | None, typer.Option(help="Last day the token is valid, YYYY-MM-DD (omit: no expiry).")
]


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            "expected a date as YYYY-MM-DD", param_hint="--expires-on"
        ) from None


@principals_cli.command("add")
def add(
    name: Annotated[str, typer.Option(help="Who the principal is (a person or a system).")],
    role: RoleOpt,
    agency: AgencyOpt = None,
    municipality: MunicipalityOpt = None,
    label: LabelOpt = None,
    expires_on: ExpiresOpt = None,
) -> None:
    """Register a principal and print its first token (once)."""
    until = _date(expires_on)
    with _application() as (app, today):
        _run(
            lambda: describe_token(
                add_with_token(
                    app,
                    cli_meta(),
                    name=name,
                    role=role.value,
                    agency=None if agency is None else agency.value,
                    municipality=municipality,
                    label=label,
                    expires_on=until,
                    today=today,
                )
            )
        )


@principals_cli.command("list")
def list_() -> None:  # not ``list``: that would hide the builtin in this module
    """Every principal with its tokens: ids, labels, issued, expired or revoked; no secrets."""
    with _application() as (app, today):
        _run(lambda: describe_principals(app.list_principals(), today))


@principals_cli.command("token")
def token(
    principal_id: Annotated[UUID, typer.Argument(help="The principal to issue a token to.")],
    label: LabelOpt = None,
    expires_on: ExpiresOpt = None,
) -> None:
    """Issue another token to a principal and print it (once)."""
    until = _date(expires_on)
    with _application() as (app, today):
        _run(
            lambda: describe_token(
                app.issue_token(
                    cli_meta(), principal_id, label=label, expires_on=until, today=today
                )
            )
        )


@principals_cli.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token id (32 hex digits) from 'list'.")],
    reason: Annotated[str, typer.Option(help="Why it is revoked.")] = "revoked by an operator",
) -> None:
    """Revoke a token: it is refused from the next request on."""
    with _application() as (app, _today):

        def act() -> list[str]:
            result = app.revoke_token(cli_meta(reason), token_id, reason=reason)
            return [f"token {token_id} of principal {result.aggregate_id} revoked"]

        _run(act)


@principals_cli.command("disable")
def disable(
    principal_id: Annotated[UUID, typer.Argument(help="The principal to disable.")],
    reason: Annotated[str, typer.Option(help="Why it is disabled.")],
) -> None:
    """Disable a principal: all its tokens are refused from then on."""
    with _application() as (app, _today):

        def act() -> list[str]:
            app.disable_principal(cli_meta(reason), principal_id, reason=reason)
            return [f"principal {principal_id} disabled"]

        _run(act)
