"""Principals: who may call the service, with which role, and their bearer tokens.

Principals are event-sourced so that auditors can see who was granted what, by whom and
when. A token is stored only as the SHA-256 of its secret (see ``interagency/auth.py`` for
the format); the :class:`TokenIndex` aggregate, whose id is derived from the token id and
which is saved in the same ``save()`` as ``TokenIssued``, finds a token's principal from
the token alone. The :class:`PrincipalDirectory` lists every principal, so listing them
reads one aggregate instead of scanning the event log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.values import Agency, EventMeta, Role, parse_code, require_text

# The roles a principal may be granted; ``system`` is the service's own processes (seeding,
# command-line tools) and is never granted to a caller.
GRANTABLE_ROLES: frozenset[Role] = frozenset(
    {Role.OFFICIAL, Role.AUDITOR, Role.ANALYST, Role.ADMIN}
)

TOKEN_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
SECRET_HASH_PATTERN = re.compile(r"[0-9a-f]{64}")

NAME_MAX = 200
MUNICIPALITY_MAX = 200
LABEL_MAX = 200
REASON_MAX = 500


@dataclass(frozen=True)
class Token:
    """One bearer token of a principal: never its secret, only the secret's SHA-256."""

    token_id: str
    secret_hash: str
    label: str | None
    expires_on: date | None
    issued_at: datetime
    revoked_at: datetime | None = None
    revoke_reason: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired_on(self, day: date) -> bool:
        """True once ``day`` is past the last day the token is valid (``expires_on``)."""
        return self.expires_on is not None and day > self.expires_on


def check_token_id(token_id: str) -> str:
    if not TOKEN_ID_PATTERN.fullmatch(token_id):
        raise ValidationError("token_id must be 32 lowercase hex digits", field="token_id")
    return token_id


def _optional_text(value: str | None, field: str, max_length: int) -> str | None:
    return None if value is None else require_text(value, field, max_length)


class Principal(DomainAggregate):
    """A caller of the service: a person or a system acting in one role."""

    class PrincipalRegistered(DomainAggregate.Created):
        name: str
        role: str
        agency: str | None
        municipality: str | None

        def apply(self, aggregate: Any) -> None:
            p: Principal = aggregate
            p.name = self.name
            p.role = Role(self.role)
            p.agency = None if self.agency is None else Agency(self.agency)
            p.municipality = self.municipality
            p.tokens = {}
            p.disabled = False
            p.disabled_reason = None

    class TokenIssued(DomainAggregate.Event):
        token_id: str
        secret_hash: str
        label: str | None
        expires_on: date | None

        def apply(self, aggregate: Any) -> None:
            p: Principal = aggregate
            p.tokens[self.token_id] = Token(
                token_id=self.token_id,
                secret_hash=self.secret_hash,
                label=self.label,
                expires_on=self.expires_on,
                issued_at=self.timestamp,
            )

    class TokenRevoked(DomainAggregate.Event):
        token_id: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            p: Principal = aggregate
            p.tokens[self.token_id] = replace(
                p.tokens[self.token_id], revoked_at=self.timestamp, revoke_reason=self.reason
            )

    class PrincipalDisabled(DomainAggregate.Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            p: Principal = aggregate
            p.disabled = True
            p.disabled_reason = self.reason

    if TYPE_CHECKING:
        name: str
        role: Role
        agency: Agency | None
        municipality: str | None
        tokens: dict[str, Token]
        disabled: bool
        disabled_reason: str | None

    # -- commands ---------------------------------------------------------------------

    @classmethod
    def register(
        cls,
        meta: EventMeta,
        *,
        principal_id: UUID,
        name: str,
        role: str,
        agency: str | None = None,
        municipality: str | None = None,
    ) -> Principal:
        """Registers a principal; an official acts for one agency in one municipality.

        Other roles may be limited to one municipality (``None``: every municipality) and
        may name an agency, which they need not have.
        """
        role_ = parse_code(Role, role, "role")
        if role_ not in GRANTABLE_ROLES:
            raise ValidationError(
                "role: the system role belongs to the service's own processes and is never "
                "granted to a principal",
                field="role",
            )
        agency_ = None if agency is None else parse_code(Agency, agency, "agency")
        municipality_ = _optional_text(municipality, "municipality", MUNICIPALITY_MAX)
        if role_ is Role.OFFICIAL and agency_ is None:
            raise ValidationError(
                "agency: an official acts for an agency; give the official's agency",
                field="agency",
            )
        if role_ is Role.OFFICIAL and municipality_ is None:
            raise ValidationError(
                "municipality: an official works in one municipality; give it",
                field="municipality",
            )
        return cls._create(
            cls.PrincipalRegistered,
            id=principal_id,
            meta=meta,
            name=require_text(name, "name", NAME_MAX),
            role=role_.value,
            agency=None if agency_ is None else agency_.value,
            municipality=municipality_,
        )

    def issue_token(
        self,
        meta: EventMeta,
        *,
        token_id: str,
        secret_hash: str,
        label: str | None = None,
        expires_on: date | None = None,
    ) -> None:
        check_token_id(token_id)
        if not SECRET_HASH_PATTERN.fullmatch(secret_hash):
            raise ValidationError(
                "secret_hash must be a SHA-256 digest in lowercase hex", field="secret_hash"
            )
        label_ = _optional_text(label, "label", LABEL_MAX)
        self._check_active("gets no new tokens")
        if token_id in self.tokens:
            raise RuleViolationError(
                "token_id_unique",
                f"a token id is issued once; token {token_id} already belongs to this principal",
                token_id=token_id,
            )
        self.trigger_event(
            self.TokenIssued,
            meta=meta,
            token_id=token_id,
            secret_hash=secret_hash,
            label=label_,
            expires_on=expires_on,
        )

    def revoke_token(self, meta: EventMeta, *, token_id: str, reason: str) -> None:
        check_token_id(token_id)
        reason_ = require_text(reason, "reason", REASON_MAX)
        token = self.tokens.get(token_id)
        if token is None:
            raise RuleViolationError(
                "token_of_principal",
                f"a principal revokes only its own tokens; token {token_id} is not one of "
                f"principal {self.id}'s",
                token_id=token_id,
            )
        if token.revoked_at is not None:
            raise RuleViolationError(
                "token_active",
                f"only an active token is revoked; token {token_id} was already revoked at "
                f"{token.revoked_at.isoformat()}",
                token_id=token_id,
            )
        self.trigger_event(
            self.TokenRevoked, meta=meta.because(reason_), token_id=token_id, reason=reason_
        )

    def disable(self, meta: EventMeta, *, reason: str) -> None:
        reason_ = require_text(reason, "reason", REASON_MAX)
        self._check_active("is not disabled again")
        self.trigger_event(self.PrincipalDisabled, meta=meta.because(reason_), reason=reason_)

    def _check_active(self, what: str) -> None:
        if self.disabled:
            raise RuleViolationError(
                "principal_active",
                f"a disabled principal {what}; principal {self.id} was disabled: "
                f"{self.disabled_reason}",
            )

    # -- queries ------------------------------------------------------------------------

    def active_tokens(self, day: date) -> list[Token]:
        """Tokens neither revoked nor expired on ``day``."""
        return [t for t in self.tokens.values() if not t.revoked and not t.expired_on(day)]


class TokenIndex(DomainAggregate):
    """Finds a token's principal from the token id alone.

    Its id is derived from the token id and it is saved in the same ``save()`` as the
    ``TokenIssued`` event, so an index entry exists exactly when its token does.
    """

    class TokenIndexed(DomainAggregate.Created):
        token_id: str
        principal_id: UUID

        def apply(self, aggregate: Any) -> None:
            ix: TokenIndex = aggregate
            ix.token_id = self.token_id
            ix.principal_id = self.principal_id

    if TYPE_CHECKING:
        token_id: str
        principal_id: UUID

    @staticmethod
    def id_for(token_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/interagency/principals/tokens/{token_id}")

    @classmethod
    def index(cls, meta: EventMeta, *, token_id: str, principal_id: UUID) -> TokenIndex:
        return cls._create(
            cls.TokenIndexed,
            id=cls.id_for(check_token_id(token_id)),
            meta=meta,
            token_id=token_id,
            principal_id=principal_id,
        )


class PrincipalDirectory(DomainAggregate):
    """The list of every principal, in the order they were registered.

    One aggregate with a fixed id, changed in the same ``save()`` as each registration:
    listing principals reads it and then each principal, never the whole event log.
    Principals are few (tens, hundreds) and registered rarely, so one aggregate for all of
    them costs nothing; two registrations at the same instant conflict on it and the
    application retries the second.
    """

    class DirectoryOpened(DomainAggregate.Created):
        def apply(self, aggregate: Any) -> None:
            d: PrincipalDirectory = aggregate
            d.principal_ids = []

    class PrincipalListed(DomainAggregate.Event):
        principal_id: UUID

        def apply(self, aggregate: Any) -> None:
            d: PrincipalDirectory = aggregate
            d.principal_ids.append(self.principal_id)

    if TYPE_CHECKING:
        principal_ids: list[UUID]

    ID = uuid5(NAMESPACE_URL, "/interagency/principals/directory")

    @classmethod
    def open(cls, meta: EventMeta) -> PrincipalDirectory:
        return cls._create(cls.DirectoryOpened, id=cls.ID, meta=meta)

    def add(self, meta: EventMeta, *, principal_id: UUID) -> None:
        if principal_id in self.principal_ids:
            raise RuleViolationError(
                "principal_listed_once",
                f"a principal is listed once; principal {principal_id} is already listed",
            )
        self.trigger_event(self.PrincipalListed, meta=meta, principal_id=principal_id)
