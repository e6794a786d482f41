"""The ``principals`` sub-commands: how they are registered and what they print.

No database here: tests/integration/test_principals_application.py runs what the commands
do on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import typer
from typer.testing import CliRunner

from interagency.cli_principals import describe_principals, describe_token, register
from interagency.pipeline import CommandResult
from interagency.principals import IssuedToken, PrincipalSummary, TokenSummary

TOKEN_ID = "0123456789abcdef0123456789abcdef"  # noqa: S105 - an id, not a secret


def app_with_principals() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """The main command line, as in interagency/cli.py."""

    register(app)
    return app


def test_the_sub_app_offers_add_list_token_revoke_and_disable() -> None:
    result = CliRunner().invoke(app_with_principals(), ["principals", "--help"])
    assert result.exit_code == 0, result.output
    for command in ("add", "list", "token", "revoke", "disable"):
        assert command in result.output


def test_add_requires_a_name_and_a_known_role() -> None:
    runner = CliRunner()
    result = runner.invoke(app_with_principals(), ["principals", "add", "--role", "official"])
    assert result.exit_code == 2
    result = runner.invoke(
        app_with_principals(), ["principals", "add", "--name", "x", "--role", "root"]
    )
    assert result.exit_code == 2


def test_an_issued_token_is_printed_with_a_warning_that_it_is_shown_once() -> None:
    pid = uuid4()
    issued = IssuedToken(
        token=f"iat_{TOKEN_ID}_{'s' * 43}",
        token_id=TOKEN_ID,
        principal_id=pid,
        result=CommandResult(pid, 2, 10),
    )
    lines = describe_token(issued)
    assert lines[:3] == [
        f"principal {pid}",
        f"token id  {TOKEN_ID}",
        f"token     iat_{TOKEN_ID}_{'s' * 43}",
    ]
    assert "shown this once" in lines[3]
    assert "s" * 43 not in repr(issued)


def test_the_listing_shows_each_tokens_state() -> None:
    issued_at = datetime(2027, 1, 10, 9, 30, tzinfo=UTC)

    def token(n: int, **kw: object) -> TokenSummary:
        values: dict[str, object] = {
            "token_id": f"{n:032x}",
            "label": None,
            "issued_at": issued_at,
            "expires_on": None,
            "revoked_at": None,
            "revoke_reason": None,
        }
        values.update(kw)
        return TokenSummary(**values)  # type: ignore[arg-type]

    p = PrincipalSummary(
        principal_id=uuid4(),
        name="Сидоров",
        role="official",
        agency="sport",
        municipality="Городской округ N",
        disabled=True,
        disabled_reason="уволен",
        version=5,
        tokens=(
            token(1, label="ноутбук"),
            token(2, expires_on=date(2027, 2, 1)),
            token(3, expires_on=date(2027, 6, 1)),
            token(4, revoked_at=issued_at, revoke_reason="утерян"),
        ),
    )
    lines = describe_principals([p], date(2027, 3, 1))
    assert "DISABLED (уволен)" in lines[0]
    assert "[sport, Городской округ N]" in lines[0]
    assert lines[1].endswith("active  ноутбук")
    assert "expired after 2027-02-01" in lines[2]
    assert "active until 2027-06-01" in lines[3]
    assert "revoked 2027-01-10 (утерян)" in lines[4]
    assert describe_principals([], date(2027, 3, 1)) == [
        "no principals yet: add one with 'interagency principals add'"
    ]
