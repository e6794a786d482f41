"""Principals and bearer tokens on the write side, on a real PostgreSQL.

Two ``Services`` instances stand for two processes (each its own pool and aggregate cache):
a token revoked through one is refused by the other at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg import sql
from structlog.testing import capture_logs

from domain.errors import NotFoundError, RuleViolationError, ValidationError
from domain.principal import Principal, PrincipalDirectory, TokenIndex
from domain.values import Agency, EventMeta, Role
from interagency.auth import AuthenticationError, AuthFailure, format_token, new_secret
from interagency.cli_principals import add_with_token, cli_meta, describe_principals
from interagency.idempotency import IdempotencyContext
from interagency.principals import IssuedToken
from interagency.services import Services
from interagency.settings import ConnectionParams, Settings

ADMIN = EventMeta(actor_id="admin-1", actor_role="admin", correlation_id="req-p")
MUNICIPALITY = "Городской округ N"
TODAY = date(2027, 3, 1)


@pytest.fixture
def other_process(
    settings: Settings, pg: ConnectionParams, services: Services
) -> Iterator[Services]:
    """A second process's services: its own pool and its own aggregate cache."""
    with Services(settings, pg) as other:
        assert other.app.repository.cache is not None
        assert other.app.repository.cache is not services.app.repository.cache
        yield other


def new_official(services: Services, **overrides: Any) -> IssuedToken:
    kwargs: dict[str, Any] = {
        "name": f"Официал {uuid4().hex[:6]}",
        "role": "official",
        "agency": "education",
        "municipality": MUNICIPALITY,
        "label": "рабочий ноутбук",
        "expires_on": None,
        "today": TODAY,
    }
    kwargs.update(overrides)
    return add_with_token(services.app, ADMIN, **kwargs)


def token_of(issued: IssuedToken) -> str:
    assert issued.token is not None
    return issued.token


def refused(services: Services, token: str, today: date = TODAY) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        services.app.authenticate(token, today=today)
    assert token not in str(caught.value)
    return caught.value


def stored_states(services: Services, aggregate_id: UUID) -> list[bytes]:
    rec = services.app.pg_recorder
    stmt = sql.SQL("SELECT state FROM {}.{} WHERE originator_id = %s").format(
        sql.Identifier(rec.datastore.schema), sql.Identifier(rec.events_table_name)
    )
    with rec.datastore.transaction(commit=False) as curs:
        curs.execute(stmt, (aggregate_id,))
        return [bytes(r["state"]) for r in curs.fetchall()]


# -- issuing and authenticating ------------------------------------------------------------


def test_a_new_principals_token_authenticates_as_that_principal(services: Services) -> None:
    issued = new_official(services)
    p = services.app.authenticate(token_of(issued), today=TODAY)
    assert (p.principal_id, p.subject, p.role, p.agency, p.municipality, p.via) == (
        issued.principal_id,
        str(issued.principal_id),
        Role.OFFICIAL,
        Agency.EDUCATION,
        MUNICIPALITY,
        "token",
    )
    assert p.token_id == issued.token_id
    # the events a request of this principal writes name it
    assert p.meta("req-9").actor_id == str(issued.principal_id)


def test_the_token_its_index_and_the_directory_are_stored_and_no_secret_is(
    services: Services,
) -> None:
    issued = new_official(services)
    token = token_of(issued)
    secret = token.rsplit("_", 1)[1]
    index: TokenIndex = services.app.repository.get(TokenIndex.id_for(issued.token_id))
    assert isinstance(index, TokenIndex)
    assert index.principal_id == issued.principal_id
    directory: PrincipalDirectory = services.app.repository.get(PrincipalDirectory.ID)
    assert issued.principal_id in directory.principal_ids
    for aggregate_id in (issued.principal_id, index.id, PrincipalDirectory.ID):
        assert all(secret.encode() not in s for s in stored_states(services, aggregate_id))
    # the principal's history shows who granted what, and when
    history = services.app.history(issued.principal_id)
    assert [type(h.event).__name__ for h in history] == ["PrincipalRegistered", "TokenIssued"]
    assert {h.event.meta.actor_id for h in history} == {"admin-1"}


def test_the_index_is_saved_in_the_same_save_as_the_token(services: Services) -> None:
    principal = services.app.add_principal(ADMIN, name="Аудитор КСП", role="auditor")
    issued = services.app.issue_token(ADMIN, principal.aggregate_id, today=TODAY)
    positions = {
        h.event.originator_id: h.position
        for aggregate in (issued.principal_id, TokenIndex.id_for(issued.token_id))
        for h in services.app.history(aggregate)[-1:]
    }
    # the main aggregate is saved last: the index's event sits just before TokenIssued
    assert positions[issued.principal_id] == issued.result.position
    assert positions[TokenIndex.id_for(issued.token_id)] == issued.result.position - 1


def test_a_token_is_refused_at_once_in_another_process_once_revoked(
    services: Services, other_process: Services
) -> None:
    issued = new_official(services)
    token = token_of(issued)
    # the other process authenticates it, so the principal sits in its cache
    assert other_process.app.authenticate(token, today=TODAY).principal_id == issued.principal_id
    assert issued.principal_id in other_process.app.repository.cache.cache  # type: ignore[union-attr]
    # when this process revokes it
    services.app.revoke_token(ADMIN, issued.token_id, reason="ноутбук утерян")
    # then the other process refuses it on the very next request
    assert refused(other_process, token).reason is AuthFailure.REVOKED
    assert refused(services, token).reason is AuthFailure.REVOKED


def test_a_disabled_principals_tokens_are_all_refused_in_every_process(
    services: Services, other_process: Services
) -> None:
    first = new_official(services)
    second = services.app.issue_token(ADMIN, first.principal_id, today=TODAY)
    for t in (first, second):
        other_process.app.authenticate(token_of(t), today=TODAY)
    services.app.disable_principal(ADMIN, first.principal_id, reason="уволен")
    for t in (first, second):
        assert refused(other_process, token_of(t)).reason is AuthFailure.DISABLED
    with pytest.raises(RuleViolationError) as caught:
        services.app.issue_token(ADMIN, first.principal_id, today=TODAY)
    assert caught.value.rule == "principal_active"


def test_a_token_is_valid_through_its_last_day_and_refused_after(services: Services) -> None:
    issued = new_official(services, expires_on=TODAY + timedelta(days=30))
    token = token_of(issued)
    assert services.app.authenticate(token, today=TODAY + timedelta(days=30))
    assert refused(services, token, TODAY + timedelta(days=31)).reason is AuthFailure.EXPIRED


def test_a_token_expired_before_it_is_issued_is_refused(services: Services) -> None:
    principal = services.app.add_principal(ADMIN, name="Аналитик", role="analyst")
    with pytest.raises(ValidationError) as caught:
        services.app.issue_token(
            ADMIN, principal.aggregate_id, expires_on=TODAY - timedelta(days=1), today=TODAY
        )
    assert caught.value.extra["field"] == "expires_on"
    assert services.app.get_principal(principal.aggregate_id).tokens == {}


def test_malformed_unknown_and_wrong_secret_tokens_are_refused(services: Services) -> None:
    issued = new_official(services)
    assert refused(services, "Bearer nonsense").reason is AuthFailure.MALFORMED
    unknown = format_token(uuid4().hex, new_secret())
    assert refused(services, unknown).reason is AuthFailure.UNKNOWN_TOKEN
    wrong_secret = format_token(issued.token_id, new_secret())
    assert refused(services, wrong_secret).reason is AuthFailure.UNKNOWN_TOKEN


def test_a_wrong_secret_tells_nothing_of_a_revoked_or_disabled_token(services: Services) -> None:
    issued = new_official(services)
    services.app.revoke_token(ADMIN, issued.token_id, reason="утерян")
    services.app.disable_principal(ADMIN, issued.principal_id, reason="уволен")
    guess = format_token(issued.token_id, new_secret())
    assert refused(services, guess).reason is AuthFailure.UNKNOWN_TOKEN


def test_failed_authentication_is_logged_with_its_reason_and_never_the_secret(
    services: Services,
) -> None:
    issued = new_official(services)
    token = token_of(issued)
    secret = token.rsplit("_", 1)[1]
    with capture_logs() as logs:
        services.app.revoke_token(ADMIN, issued.token_id, reason="утерян")
        with pytest.raises(AuthenticationError):
            services.app.authenticate(token, today=TODAY)
        with pytest.raises(AuthenticationError):
            services.app.authenticate(token + "x", today=TODAY)
    failures = [e for e in logs if e["event"] == "authentication_failed"]
    assert [(e["reason"], e.get("token_id")) for e in failures] == [
        ("revoked", issued.token_id),
        ("malformed", None),
    ]
    assert all(secret not in repr(e) for e in logs)


def test_issuing_logs_no_secret(services: Services) -> None:
    with capture_logs() as logs:
        issued = new_official(services)
    assert any(e["event"] == "command" and e["command"] == "issue_token" for e in logs)
    secret = token_of(issued).rsplit("_", 1)[1]
    assert all(secret not in repr(e) for e in logs)
    assert secret not in repr(issued)


# -- commands refused ---------------------------------------------------------------------


def test_unknown_principals_and_tokens_are_not_found(services: Services) -> None:
    with pytest.raises(NotFoundError, match="no principal with id"):
        services.app.issue_token(ADMIN, uuid4(), today=TODAY)
    with pytest.raises(NotFoundError, match="no token with id"):
        services.app.revoke_token(ADMIN, uuid4().hex, reason="r")
    with pytest.raises(ValidationError):
        services.app.revoke_token(ADMIN, "not-a-token-id", reason="r")


def test_a_token_is_revoked_once(services: Services) -> None:
    issued = new_official(services)
    services.app.revoke_token(ADMIN, issued.token_id, reason="утерян")
    with pytest.raises(RuleViolationError) as caught:
        services.app.revoke_token(ADMIN, issued.token_id, reason="ещё раз")
    assert caught.value.rule == "token_active"


def test_an_official_is_registered_only_with_agency_and_municipality(services: Services) -> None:
    before = services.app.list_principals()
    with pytest.raises(ValidationError):
        services.app.add_principal(ADMIN, name="Без ведомства", role="official")
    with pytest.raises(ValidationError):
        services.app.add_principal(ADMIN, name="Система", role="system")
    assert services.app.list_principals() == before


def test_an_idempotent_retry_of_issue_token_names_the_same_token_and_shows_no_secret(
    services: Services,
) -> None:
    principal = services.app.add_principal(ADMIN, name="Аналитик МЦ", role="analyst")
    ctx = IdempotencyContext(key=f"issue-{uuid4().hex}", fingerprint="f1")
    first = services.app.issue_token(ADMIN, principal.aggregate_id, today=TODAY, idempotency=ctx)
    again = services.app.issue_token(ADMIN, principal.aggregate_id, today=TODAY, idempotency=ctx)
    assert first.token is not None
    assert again.token is None
    assert again.result.replayed
    assert again.token_id == first.token_id
    assert len(services.app.get_principal(principal.aggregate_id).tokens) == 1


# -- listing ------------------------------------------------------------------------------


def test_principals_are_listed_with_their_tokens_but_no_secret_or_hash(services: Services) -> None:
    issued = new_official(services)
    services.app.revoke_token(ADMIN, issued.token_id, reason="утерян")
    listed = {p.principal_id: p for p in services.app.list_principals()}
    p = listed[issued.principal_id]
    assert (p.role, p.agency, p.municipality, p.disabled) == (
        "official",
        "education",
        MUNICIPALITY,
        False,
    )
    [t] = p.tokens
    assert (t.token_id, t.label, t.revoke_reason) == (issued.token_id, "рабочий ноутбук", "утерян")
    assert not hasattr(t, "secret_hash")
    lines = describe_principals([p], TODAY)
    assert issued.token_id in lines[1]
    assert "revoked" in lines[1]
    secret_hash = services.app.get_principal(issued.principal_id).tokens[issued.token_id]
    assert secret_hash.secret_hash not in "\n".join(lines)


def test_racing_registrations_are_all_listed(services: Services) -> None:
    barrier = threading.Barrier(4)

    def add(i: int) -> UUID:
        barrier.wait()
        return services.app.add_principal(
            ADMIN, name=f"Параллельный {i}", role="auditor"
        ).aggregate_id

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(add, range(4)))
    listed = [p.principal_id for p in services.app.list_principals()]
    assert set(ids) <= set(listed)
    assert len(listed) == len(set(listed))


def test_the_command_line_acts_as_the_system_role(services: Services) -> None:
    meta = cli_meta("проверка")
    assert meta.actor_role == "system"
    assert meta.actor_id.startswith("cli:")
    result = services.app.add_principal(meta, name="Администратор", role="admin")
    [registered] = services.app.history(result.aggregate_id)
    assert registered.event.meta.actor_id == meta.actor_id
    assert isinstance(services.app.get_principal(result.aggregate_id), Principal)
