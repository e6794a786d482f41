"""Who is calling and what they may do: bearer tokens and the authorisation rules.

Authentication is not a domain error: :class:`AuthenticationError` (401) and
:class:`PermissionDeniedError` (403) live here, and the API maps them.

Tokens look like ``iat_<token id: 32 hex>_<secret: 43 characters of URL-safe base64>``.
The secret holds 256 random bits; only its SHA-256 is stored. A slow password hash
(bcrypt, argon2) protects low-entropy secrets from guessing; a 256-bit random secret cannot
be guessed however fast the hash, so one SHA-256 per request is the right cost.

The rules (:func:`can_write`, :func:`can_read`, :func:`can_administer`) are pure functions
of the principal and what is asked; each answers a :class:`Decision` naming its rule.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal
from uuid import UUID

from domain.values import Agency, EventMeta, Role

TOKEN_PREFIX = "iat"  # noqa: S105 - the tokens' fixed prefix, not a password
# 32 random bytes: 256 bits, 43 characters of unpadded URL-safe base64.
SECRET_BYTES = 32
_TOKEN = re.compile(r"iat_([0-9a-f]{32})_([A-Za-z0-9_-]{43})")
# Longer input is refused before the pattern even looks at it.
TOKEN_MAX_LENGTH = 128


class AuthFailure(StrEnum):
    """Why a credential was refused; logged, and answered to the caller."""

    MISSING = "missing"
    MALFORMED = "malformed"
    UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 - a reason code, not a password
    REVOKED = "revoked"
    DISABLED = "disabled"
    EXPIRED = "expired"
    # JWTs only:
    BAD_SIGNATURE = "bad_signature"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    NOT_YET_VALID = "not_yet_valid"
    BAD_ALGORITHM = "bad_algorithm"
    UNKNOWN_KEY = "unknown_key"
    MISSING_CLAIMS = "missing_claims"
    INVALID_CLAIMS = "invalid_claims"


class AuthenticationError(Exception):
    """The credential is missing or refused (401). The message never holds the secret."""

    def __init__(self, reason: AuthFailure, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class PermissionDeniedError(Exception):
    """The principal is known but may not do this (403); names the rule."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail


# -- tokens -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedToken:
    token_id: str
    secret: str

    def __repr__(self) -> str:
        # Never the secret, even in a traceback's locals.
        return f"ParsedToken(token_id={self.token_id!r}, secret=<hidden>)"


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def format_token(token_id: str, secret: str) -> str:
    token = f"{TOKEN_PREFIX}_{token_id}_{secret}"
    if not _TOKEN.fullmatch(token):
        msg = "token id must be 32 lowercase hex digits and the secret 43 base64url characters"
        raise ValueError(msg)
    return token


def parse_token(token: str) -> ParsedToken:
    """Splits a presented token; refuses anything not of the format, without echoing it."""
    m = _TOKEN.fullmatch(token) if len(token) <= TOKEN_MAX_LENGTH else None
    if m is None:
        raise AuthenticationError(
            AuthFailure.MALFORMED,
            "the bearer token is not of the form iat_<32 hex digits>_<43 base64url characters>",
        )
    return ParsedToken(token_id=m.group(1), secret=m.group(2))


def hash_secret(secret: str) -> str:
    """The stored form of a secret: its SHA-256 in hex (see the module's note on why)."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    """Compares in constant time, so the response time tells nothing of the stored hash."""
    return hmac.compare_digest(hash_secret(secret), secret_hash)


# -- the authenticated principal -------------------------------------------------------


@dataclass(frozen=True)
class AuthenticatedPrincipal:
    """The caller, as the credential proved it.

    ``subject`` is the actor id written on events: a token principal's id, or
    ``jwt:<subject claim>`` for a JWT (so the two can never be mistaken for each other).
    """

    subject: str
    name: str
    role: Role
    agency: Agency | None
    municipality: str | None
    via: Literal["token", "jwt"]
    principal_id: UUID | None = None
    token_id: str | None = None

    def meta(self, correlation_id: str | None) -> EventMeta:
        """The actor of every event this principal's request writes."""
        return EventMeta(
            actor_id=self.subject,
            actor_role=self.role.value,
            actor_agency=None if self.agency is None else self.agency.value,
            correlation_id=correlation_id,
        )


# -- the rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """An answer of the rules: allowed or not, the rule that decided, in plain words."""

    allowed: bool
    rule: str
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def _allow(rule: str, reason: str) -> Decision:
    return Decision(True, rule, reason)


def _deny(rule: str, reason: str) -> Decision:
    return Decision(False, rule, reason)


def require(decision: Decision) -> None:
    """Raises :class:`PermissionDeniedError` unless the decision allows."""
    if not decision.allowed:
        raise PermissionDeniedError(decision.rule, decision.reason)


@dataclass(frozen=True)
class WriteScope:
    """Where a write lands: the municipality of the target and the agencies taking part.

    Taking part means lead or participant of a project, member agency of a working group,
    the agency (founder's side) of an assignment or an organisation, a party's agency of an
    agreement: the caller of :func:`can_write` collects them from the target (or, for a
    creation, from the request).
    """

    municipality: str
    agencies: frozenset[Agency]

    @classmethod
    def of(cls, municipality: str, agencies: Iterable[Agency | str]) -> WriteScope:
        return cls(municipality, frozenset(Agency(a) for a in agencies))


class ReadKind(StrEnum):
    """What a read shows; each route declares one."""

    PUBLIC = "public"  # the program catalogue: open to anyone, no credential needed
    AGGREGATE = "aggregate"  # an aggregate's state or history from its events
    PROJECTION = "projection"  # lists and registers from projections
    ANALYTICS = "analytics"  # aggregated figures: coverage, summaries, durations
    AUDIT = "audit"  # the audit log, hash chain, checkpoints, replay, evidence
    PERSONAL = "personal"  # children's ids, group members' names


class AdminAction(StrEnum):
    MANAGE_PRINCIPALS = "manage_principals"
    OPERATE_PROJECTIONS = "operate_projections"


# Which kinds each role reads, before the municipality is looked at.
READS: dict[Role, frozenset[ReadKind]] = {
    Role.OFFICIAL: frozenset(
        {
            ReadKind.PUBLIC,
            ReadKind.AGGREGATE,
            ReadKind.PROJECTION,
            ReadKind.ANALYTICS,
            ReadKind.PERSONAL,
        }
    ),
    Role.AUDITOR: frozenset(ReadKind),
    Role.ANALYST: frozenset({ReadKind.PUBLIC, ReadKind.PROJECTION, ReadKind.ANALYTICS}),
    Role.ADMIN: frozenset({ReadKind.PUBLIC, ReadKind.PROJECTION, ReadKind.AUDIT}),
    Role.SYSTEM: frozenset({ReadKind.PUBLIC}),
}

_READ_REFUSALS: dict[Role, tuple[str, str]] = {
    Role.OFFICIAL: (
        "audit_for_auditors_and_admins",
        "officials do not read the audit internals; auditors and admins do",
    ),
    Role.ANALYST: (
        "analysts_read_projections_and_analytics",
        (
            "analysts read projections and analytics only: no aggregate internals, audit "
            "internals or personal data"
        ),
    ),
    Role.ADMIN: (
        "admins_read_operations",
        (
            "admins read projections and the audit internals for operations, not the "
            "registers' contents or personal data"
        ),
    ),
    Role.SYSTEM: (
        "system_not_a_caller",
        "the system role is the service's own processes and is never a caller",
    ),
}


def can_write(principal: AuthenticatedPrincipal, scope: WriteScope) -> Decision:
    """Writes to projects, groups, assignments and the network registers.

    Officials write only in their municipality and only where their agency takes part;
    auditors and analysts never write; admins manage principals and projections only.
    """
    role_decision = can_write_at_all(principal)
    if not role_decision:
        return role_decision
    if principal.municipality is None or principal.municipality != scope.municipality:
        return _deny(
            "official_own_municipality",
            f"an official writes only in their own municipality ({principal.municipality}); "
            f"this belongs to {scope.municipality}",
        )
    if principal.agency is None or principal.agency not in scope.agencies:
        taking_part = ", ".join(sorted(a.value for a in scope.agencies)) or "none"
        return _deny(
            "official_agency_takes_part",
            f"an official writes only where their agency takes part; "
            f"{principal.agency} is not among the agencies taking part ({taking_part})",
        )
    return _allow(
        "official_agency_takes_part",
        f"the official's agency {principal.agency.value} takes part, in their municipality",
    )


def can_write_at_all(principal: AuthenticatedPrincipal) -> Decision:
    """The role part of :func:`can_write`, checked before a request's body is even read."""
    role = principal.role
    if role in (Role.AUDITOR, Role.ANALYST):
        return _deny("read_only_role", f"{role.value}s read and never write")
    if role is Role.ADMIN:
        return _deny(
            "admins_manage_principals_and_projections",
            "admins manage principals and projection operations, not the registers' contents",
        )
    if role is not Role.OFFICIAL:
        return _deny(*_READ_REFUSALS[Role.SYSTEM])
    return _allow("officials_write", "officials write where their agency takes part")


def can_read_kind(principal: AuthenticatedPrincipal, kind: ReadKind) -> Decision:
    """The role part of :func:`can_read`: may this role read ``kind`` at all."""
    return can_read(principal, kind, principal.municipality)


def can_read(
    principal: AuthenticatedPrincipal, kind: ReadKind, municipality: str | None = None
) -> Decision:
    """Reads of ``kind``, of data of ``municipality`` (``None``: across municipalities).

    A principal limited to a municipality (every official; others when registered so) reads
    only that municipality's data, so a read across municipalities is refused to them:
    narrow lists first with :func:`read_municipality`.
    """
    if kind is ReadKind.PUBLIC:
        return _allow("catalogue_public", "the public catalogue is open to everyone")
    if kind not in READS[principal.role]:
        if kind is ReadKind.AUDIT:
            return _deny(
                "audit_for_auditors_and_admins",
                "the audit internals are read by auditors and admins only",
            )
        if kind is ReadKind.PERSONAL:
            return _deny(
                "personal_data_for_officials_and_auditors",
                "children's ids and group members' names are shown to officials of the "
                "municipality and to auditors only",
            )
        return _deny(*_READ_REFUSALS[principal.role])
    bound = principal.municipality
    if bound is not None and municipality != bound:
        where = "across municipalities" if municipality is None else f"of {municipality}"
        return _deny(
            "own_municipality",
            f"this principal reads only the data of {bound}; this read is {where}",
        )
    return _allow(f"{principal.role.value}_reads_{kind.value}", f"{kind.value} reads allowed")


def read_municipality(principal: AuthenticatedPrincipal, requested: str | None) -> str | None:
    """The municipality filter a list read must use for this principal.

    A principal limited to a municipality gets its own (asking for another one is refused);
    an unlimited one gets what it asked for.
    """
    bound = principal.municipality
    if bound is None:
        return requested
    if requested is not None and requested != bound:
        raise PermissionDeniedError(
            "own_municipality",
            f"this principal reads only the data of {bound}, not of {requested}",
        )
    return bound


def can_administer(principal: AuthenticatedPrincipal, action: AdminAction) -> Decision:
    """Principal management and projection operations: admins only."""
    if principal.role is Role.ADMIN:
        return _allow("admins_administer", f"admins may {action.value.replace('_', ' ')}")
    return _deny(
        "admins_administer",
        f"only admins may {action.value.replace('_', ' ')}; this principal is "
        f"{principal.role.value}",
    )
