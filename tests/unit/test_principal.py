"""The Principal aggregate, its token index and the directory; the token format.

Pure domain and pure functions: no database. Authentication against the event store is in
tests/integration/test_principals_application.py.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import Mapper
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import RuleViolationError, ValidationError
from domain.principal import GRANTABLE_ROLES, Principal, PrincipalDirectory, TokenIndex
from domain.values import Agency, Role
from interagency.auth import (
    AuthenticationError,
    AuthFailure,
    format_token,
    hash_secret,
    new_secret,
    parse_token,
    secret_matches,
)
from tests.unit.conftest import META, event_names

MUNICIPALITY = "Городской округ N"
TOKEN_ID = "0123456789abcdef0123456789abcdef"  # noqa: S105 - an id, not a secret
HASH = hashlib.sha256(b"secret").hexdigest()


def official(**overrides: Any) -> Principal:
    kwargs: dict[str, Any] = {
        "principal_id": uuid4(),
        "name": "Иванова А. П., управление образования",
        "role": "official",
        "agency": "education",
        "municipality": MUNICIPALITY,
    }
    kwargs.update(overrides)
    return Principal.register(META, **kwargs)


def with_token(p: Principal, token_id: str = TOKEN_ID, **kwargs: Any) -> Principal:
    p.issue_token(META, token_id=token_id, secret_hash=HASH, **kwargs)
    return p


# -- registration -------------------------------------------------------------------------


def test_an_official_is_registered_with_agency_and_municipality() -> None:
    p = official()
    assert (p.role, p.agency, p.municipality) == (Role.OFFICIAL, Agency.EDUCATION, MUNICIPALITY)
    assert (p.tokens, p.disabled, p.version) == ({}, False, 1)
    assert event_names(p.collect_events()) == ["PrincipalRegistered"]


@pytest.mark.parametrize("missing", ["agency", "municipality"])
def test_an_official_without_agency_or_municipality_is_refused(missing: str) -> None:
    with pytest.raises(ValidationError) as caught:
        official(**{missing: None})
    assert caught.value.extra["field"] == missing
    assert "official" in caught.value.detail


@pytest.mark.parametrize("role", ["auditor", "analyst", "admin"])
def test_other_roles_need_neither_agency_nor_municipality(role: str) -> None:
    p = official(role=role, agency=None, municipality=None)
    assert (p.role.value, p.agency, p.municipality) == (role, None, None)


def test_an_auditor_may_be_limited_to_one_municipality() -> None:
    p = official(role="auditor", agency=None, municipality=f"  {MUNICIPALITY} ")
    assert p.municipality == MUNICIPALITY


def test_the_system_role_is_never_granted() -> None:
    with pytest.raises(ValidationError, match="never granted") as caught:
        official(role="system")
    assert caught.value.extra["field"] == "role"
    assert Role.SYSTEM not in GRANTABLE_ROLES


@pytest.mark.parametrize(
    ("field", "value"),
    [("role", "superuser"), ("agency", "police"), ("name", "  "), ("name", "x" * 201)],
)
def test_unknown_codes_and_bad_names_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        official(**{field: value})
    assert caught.value.extra["field"] == field


# -- tokens -------------------------------------------------------------------------------


def test_a_token_is_stored_as_its_hash_with_label_and_expiry() -> None:
    p = with_token(official(), label="ноутбук", expires_on=date(2027, 12, 31))
    t = p.tokens[TOKEN_ID]
    assert (t.secret_hash, t.label, t.expires_on, t.revoked) == (
        HASH,
        "ноутбук",
        date(2027, 12, 31),
        False,
    )
    assert t.issued_at.tzinfo is not None
    assert event_names(p.collect_events()) == ["PrincipalRegistered", "TokenIssued"]


@pytest.mark.parametrize(
    ("token_id", "secret_hash", "field"),
    [
        ("0123", HASH, "token_id"),
        (TOKEN_ID + "\n", HASH, "token_id"),
        (TOKEN_ID, HASH + "\n", "secret_hash"),
        (TOKEN_ID.upper(), HASH, "token_id"),
        (TOKEN_ID, "secret", "secret_hash"),
        (TOKEN_ID, HASH.upper(), "secret_hash"),
    ],
)
def test_token_ids_and_hashes_of_another_form_are_refused(
    token_id: str, secret_hash: str, field: str
) -> None:
    p = official()
    with pytest.raises(ValidationError) as caught:
        p.issue_token(META, token_id=token_id, secret_hash=secret_hash)
    assert caught.value.extra["field"] == field
    assert p.tokens == {}


def test_a_token_id_is_issued_once() -> None:
    p = with_token(official())
    with pytest.raises(RuleViolationError) as caught:
        with_token(p)
    assert caught.value.rule == "token_id_unique"
    assert len(p.tokens) == 1


def test_a_revoked_token_records_when_and_why() -> None:
    p = with_token(official())
    p.revoke_token(META, token_id=TOKEN_ID, reason="ноутбук утерян")
    t = p.tokens[TOKEN_ID]
    assert t.revoked
    assert t.revoke_reason == "ноутбук утерян"
    events = p.collect_events()
    assert event_names(events)[-1] == "TokenRevoked"
    assert events[-1].meta.reason == "ноутбук утерян"  # type: ignore[attr-defined]


def test_a_token_is_revoked_once_and_only_by_its_principal() -> None:
    p = with_token(official())
    p.revoke_token(META, token_id=TOKEN_ID, reason="утерян")
    with pytest.raises(RuleViolationError) as again:
        p.revoke_token(META, token_id=TOKEN_ID, reason="ещё раз")
    assert again.value.rule == "token_active"
    with pytest.raises(RuleViolationError) as foreign:
        p.revoke_token(META, token_id="f" * 32, reason="чужой")
    assert foreign.value.rule == "token_of_principal"


def test_a_disabled_principal_gets_no_new_tokens_and_is_disabled_once() -> None:
    p = with_token(official())
    p.disable(META, reason="уволен")
    assert (p.disabled, p.disabled_reason) == (True, "уволен")
    with pytest.raises(RuleViolationError) as token:
        with_token(p, token_id="a" * 32)
    assert token.value.rule == "principal_active"
    with pytest.raises(RuleViolationError) as again:
        p.disable(META, reason="снова")
    assert again.value.rule == "principal_active"
    # revoking the tokens of a disabled principal is still possible (tidying up)
    p.revoke_token(META, token_id=TOKEN_ID, reason="уволен")
    assert p.tokens[TOKEN_ID].revoked


def test_a_reason_is_required_to_revoke_or_disable() -> None:
    p = with_token(official())
    with pytest.raises(ValidationError):
        p.revoke_token(META, token_id=TOKEN_ID, reason=" ")
    with pytest.raises(ValidationError):
        p.disable(META, reason="")
    assert not p.disabled
    assert not p.tokens[TOKEN_ID].revoked


def test_expiry_is_inclusive_of_the_last_day() -> None:
    last = date(2027, 6, 30)
    p = with_token(official(), expires_on=last)
    t = p.tokens[TOKEN_ID]
    assert not t.expired_on(last)
    assert t.expired_on(last + timedelta(days=1))
    assert [x.token_id for x in p.active_tokens(last)] == [TOKEN_ID]
    assert p.active_tokens(last + timedelta(days=1)) == []


def test_principal_events_round_trip_through_the_stored_form_without_any_secret(
    mapper: Mapper[Any],
) -> None:
    secret = new_secret()
    p = official()
    p.issue_token(
        META, token_id=TOKEN_ID, secret_hash=hash_secret(secret), expires_on=date(2028, 1, 1)
    )
    p.revoke_token(META, token_id=TOKEN_ID, reason="r")
    p.disable(META, reason="d")
    events = p.collect_events()
    stored = [mapper.to_stored_event(e) for e in events]
    assert all(secret.encode() not in s.state for s in stored)
    issued = json.loads(stored[1].state)
    assert issued["expires_on"] == {"_type_": "date_iso", "_data_": "2028-01-01"}
    replayed = [mapper.to_domain_event(s) for s in stored]
    copy: Principal = functools.reduce(lambda a, e: e.mutate(a), replayed, None)  # type: ignore[attr-defined]
    assert copy.tokens == p.tokens
    assert (copy.disabled, copy.version) == (True, p.version)


# -- index and directory -----------------------------------------------------------------


def test_the_token_index_is_keyed_by_the_token_id() -> None:
    pid = uuid4()
    ix = TokenIndex.index(META, token_id=TOKEN_ID, principal_id=pid)
    assert ix.id == TokenIndex.id_for(TOKEN_ID)
    assert ix.principal_id == pid
    assert TokenIndex.id_for(TOKEN_ID) != TokenIndex.id_for("f" * 32)
    with pytest.raises(ValidationError):
        TokenIndex.index(META, token_id="nope", principal_id=pid)  # noqa: S106 - an id


def test_the_directory_lists_each_principal_once_in_order() -> None:
    d = PrincipalDirectory.open(META)
    assert d.id == PrincipalDirectory.ID
    a, b = uuid4(), uuid4()
    d.add(META, principal_id=a)
    d.add(META, principal_id=b)
    with pytest.raises(RuleViolationError) as caught:
        d.add(META, principal_id=a)
    assert caught.value.rule == "principal_listed_once"
    assert d.principal_ids == [a, b]


# -- the token format -------------------------------------------------------------------


def test_a_token_has_the_documented_form_and_parses_back() -> None:
    secret = new_secret()
    token = format_token(TOKEN_ID, secret)
    assert token.startswith(f"iat_{TOKEN_ID}_")
    assert len(secret) == 43
    assert len(token) == 80
    parsed = parse_token(token)
    assert (parsed.token_id, parsed.secret) == (TOKEN_ID, secret)
    assert secret not in repr(parsed)


def test_secrets_are_fresh_each_time() -> None:
    assert len({new_secret() for _ in range(100)}) == 100


def test_the_stored_hash_is_the_sha256_of_the_secret_and_matches_only_it() -> None:
    secret = new_secret()
    assert hash_secret(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert secret_matches(secret, hash_secret(secret))
    assert not secret_matches(new_secret(), hash_secret(secret))
    # the hash itself is no credential: presenting it is hashed again
    assert not secret_matches(hash_secret(secret), hash_secret(secret))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "Bearer iat_x",
        f"iat_{TOKEN_ID}",
        f"iat_{TOKEN_ID}_{'a' * 42}",
        f"iat_{TOKEN_ID}_{'a' * 44}",
        f"iat_{TOKEN_ID.upper()}_{'a' * 43}",
        f"iat_{TOKEN_ID}_{'a' * 42}=",
        f"xyz_{TOKEN_ID}_{'a' * 43}",
        "iat_" + "a" * 10_000,
        f"iat_{TOKEN_ID}_{'a' * 43}\n",
    ],
)
def test_anything_else_is_malformed_and_the_message_does_not_echo_it(token: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        parse_token(token)
    assert caught.value.reason is AuthFailure.MALFORMED
    if token:
        assert token not in str(caught.value)


def _parse_or_reason(text: str) -> tuple[str, str] | AuthFailure:
    try:
        parsed = parse_token(text)
    except AuthenticationError as exc:
        return exc.reason
    return parsed.token_id, parsed.secret


@given(st.text(max_size=120))
def test_any_text_is_either_malformed_or_a_token_that_formats_back(text: str) -> None:
    outcome = _parse_or_reason(text)
    if isinstance(outcome, AuthFailure):
        assert outcome is AuthFailure.MALFORMED
    else:
        assert format_token(*outcome) == text


@given(st.from_regex(r"\Aiat_[0-9a-f]{32}_[A-Za-z0-9_-]{43}\Z"))
def test_every_token_of_the_documented_form_parses(token: str) -> None:
    outcome = _parse_or_reason(token)
    assert not isinstance(outcome, AuthFailure)
    assert format_token(*outcome) == token
