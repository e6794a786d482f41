"""Commands on principals and their tokens, and authentication by bearer token.

A revoked token is refused at once in every process: :meth:`authenticate` gets the
principal through the repository, whose cache (``AGGREGATE_CACHE_MAXSIZE``) fast-forwards
a cached aggregate from the event store on every ``get()`` (eventsourcing 9.5.6,
``Repository.get``: ``event_store.get(originator_id=..., gt=aggregate.version)``, with
``AGGREGATE_CACHE_FASTFORWARD`` on by default). So a ``TokenRevoked`` committed by any
process is applied before the token is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NoReturn
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.errors import ConcurrencyConflictError, NotFoundError, ValidationError
from domain.principal import Principal, PrincipalDirectory, Token, TokenIndex, check_token_id
from domain.values import EventMeta
from interagency.auth import (
    AuthenticatedPrincipal,
    AuthenticationError,
    AuthFailure,
    format_token,
    hash_secret,
    new_secret,
    parse_token,
    secret_matches,
)
from interagency.idempotency import IdempotencyContext, new_id
from interagency.pipeline import CommandPipeline, CommandResult

log = structlog.get_logger("interagency.auth")

# Registrations at the same instant conflict on the directory; the later ones are
# decided again on the new state. Each conflict means another registration was stored, so
# up to five registrations racing each other all succeed.
_DIRECTORY_ATTEMPTS = 5


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is shown once and never again (``None`` on an idempotent
    replay, since only the secret's hash was kept: issue another one if it was lost)."""

    token: str | None
    token_id: str
    principal_id: UUID
    result: CommandResult

    def __repr__(self) -> str:
        return (
            f"IssuedToken(token=<hidden>, token_id={self.token_id!r}, "
            f"principal_id={self.principal_id!r}, result={self.result!r})"
        )


@dataclass(frozen=True)
class TokenSummary:
    """What may be shown of a token: never its secret nor the secret's hash."""

    token_id: str
    label: str | None
    issued_at: datetime
    expires_on: date | None
    revoked_at: datetime | None
    revoke_reason: str | None

    @classmethod
    def of(cls, t: Token) -> TokenSummary:
        return cls(t.token_id, t.label, t.issued_at, t.expires_on, t.revoked_at, t.revoke_reason)


@dataclass(frozen=True)
class PrincipalSummary:
    principal_id: UUID
    name: str
    role: str
    agency: str | None
    municipality: str | None
    disabled: bool
    disabled_reason: str | None
    version: int
    tokens: tuple[TokenSummary, ...]

    @classmethod
    def of(cls, p: Principal) -> PrincipalSummary:
        return cls(
            principal_id=p.id,
            name=p.name,
            role=p.role.value,
            agency=None if p.agency is None else p.agency.value,
            municipality=p.municipality,
            disabled=p.disabled,
            disabled_reason=p.disabled_reason,
            version=p.version,
            tokens=tuple(TokenSummary.of(t) for t in p.tokens.values()),
        )


def utc_today() -> date:
    """The default ``today``; the API and the CLI pass the municipality's own date."""
    return datetime.now(UTC).date()


class PrincipalCommands(CommandPipeline):
    def add_principal(
        self,
        meta: EventMeta,
        *,
        name: str,
        role: str,
        agency: str | None = None,
        municipality: str | None = None,
        principal_id: UUID | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Registers a principal and lists it in the directory, in one ``save()``."""
        pid = principal_id or new_id(idempotency, "principal")

        def decide() -> tuple[Principal, list[Aggregate]]:
            principal = Principal.register(
                meta,
                principal_id=pid,
                name=name,
                role=role,
                agency=agency,
                municipality=municipality,
            )
            try:
                directory: PrincipalDirectory = self.repository.get(PrincipalDirectory.ID)
            except AggregateNotFoundError:
                directory = PrincipalDirectory.open(meta)
            directory.add(meta, principal_id=pid)
            return principal, [directory]

        for attempt in range(1, _DIRECTORY_ATTEMPTS + 1):
            try:
                return self._run("add_principal", meta, None, None, decide, idempotency)
            except ConcurrencyConflictError:
                if attempt == _DIRECTORY_ATTEMPTS:
                    raise
                log.info("principal_directory_conflict", attempt=attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def issue_token(
        self,
        meta: EventMeta,
        principal_id: UUID,
        *,
        label: str | None = None,
        expires_on: date | None = None,
        today: date | None = None,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> IssuedToken:
        """Issues a token and indexes it, in one ``save()``; the clear token is returned once.

        ``expires_on`` is the last day the token is valid (in the municipality's calendar,
        ``today`` being that calendar's date).
        """
        # Derived from the idempotency key when there is one: a replay names the same token.
        token_id = new_id(idempotency, "token").hex
        secret = new_secret()
        day = today or utc_today()

        def decide(p: Principal) -> Sequence[Aggregate]:
            if expires_on is not None and expires_on < day:
                raise ValidationError(
                    f"expires_on: a token valid until {expires_on} would be expired already "
                    f"(today is {day})",
                    field="expires_on",
                )
            p.issue_token(
                meta,
                token_id=token_id,
                secret_hash=hash_secret(secret),
                label=label,
                expires_on=expires_on,
            )
            return [TokenIndex.index(meta, token_id=token_id, principal_id=p.id)]

        result = self._principal(
            "issue_token", meta, principal_id, decide, expected_version, idempotency
        )
        return IssuedToken(
            token=None if result.replayed else format_token(token_id, secret),
            token_id=token_id,
            principal_id=result.aggregate_id,
            result=result,
        )

    def revoke_token(
        self,
        meta: EventMeta,
        token_id: str,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Revokes a token: refused from the next request on, in every process."""
        principal_id = self.token_principal(token_id)

        def decide(p: Principal) -> None:
            p.revoke_token(meta, token_id=token_id, reason=reason)

        return self._principal(
            "revoke_token", meta, principal_id, decide, expected_version, idempotency
        )

    def disable_principal(
        self,
        meta: EventMeta,
        principal_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency: IdempotencyContext | None = None,
    ) -> CommandResult:
        """Disables a principal: every token of theirs is refused from then on."""

        def decide(p: Principal) -> None:
            p.disable(meta, reason=reason)

        return self._principal(
            "disable_principal", meta, principal_id, decide, expected_version, idempotency
        )

    # -- reads ------------------------------------------------------------------------

    def get_principal(self, principal_id: UUID) -> Principal:
        try:
            return self._load(Principal, principal_id)
        except NotFoundError:
            raise NotFoundError(
                f"no principal with id {principal_id}", id=str(principal_id)
            ) from None

    def token_principal(self, token_id: str) -> UUID:
        """The principal a token id was issued to (404 when no such token was issued)."""
        check_token_id(token_id)
        try:
            index: TokenIndex = self.repository.get(TokenIndex.id_for(token_id))
        except AggregateNotFoundError:
            raise NotFoundError(f"no token with id {token_id}", token_id=token_id) from None
        return index.principal_id

    def list_principals(self) -> list[PrincipalSummary]:
        """Every principal, in the order registered, with its tokens (never their secrets)."""
        return self.principals_page(None, 0)[0]

    def principals_page(
        self, limit: int | None, offset: int = 0
    ) -> tuple[list[PrincipalSummary], int]:
        """A page of :meth:`list_principals` and how many there are in all; only the
        page's principals are loaded."""
        try:
            directory: PrincipalDirectory = self.repository.get(PrincipalDirectory.ID)
        except AggregateNotFoundError:
            return [], 0
        ids = directory.principal_ids
        page = ids[offset:] if limit is None else ids[offset : offset + limit]
        return [PrincipalSummary.of(self.get_principal(pid)) for pid in page], len(ids)

    # -- authentication ---------------------------------------------------------------

    def authenticate(self, token: str, *, today: date | None = None) -> AuthenticatedPrincipal:
        """The principal a bearer token proves, or :class:`AuthenticationError` with why.

        The secret is checked before anything about the token is told, so a caller who
        knows only a token id learns nothing of its state. Nothing logged holds the secret.
        """
        try:
            parsed = parse_token(token)
        except AuthenticationError as exc:
            log.warning("authentication_failed", via="token", reason=exc.reason.value)
            raise
        bound = log.bind(via="token", token_id=parsed.token_id)
        principal: Principal | None = None
        try:
            index: TokenIndex = self.repository.get(TokenIndex.id_for(parsed.token_id))
            found: Aggregate = self.repository.get(index.principal_id)
        except AggregateNotFoundError:
            pass
        else:
            principal = found if isinstance(found, Principal) else None
        stored = None if principal is None else principal.tokens.get(parsed.token_id)
        # Hash even when the token is unknown, so both answers take the same time.
        secret_hash = "0" * 64 if stored is None else stored.secret_hash
        if not secret_matches(parsed.secret, secret_hash) or principal is None or stored is None:
            self._refuse(bound, AuthFailure.UNKNOWN_TOKEN, "no such token, or a wrong secret")
        if principal.disabled:
            self._refuse(bound, AuthFailure.DISABLED, "the token's principal has been disabled")
        if stored.revoked:
            self._refuse(bound, AuthFailure.REVOKED, "the token has been revoked")
        day = today or utc_today()
        if stored.expired_on(day):
            self._refuse(bound, AuthFailure.EXPIRED, f"the token expired after {stored.expires_on}")
        return AuthenticatedPrincipal(
            subject=str(principal.id),
            name=principal.name,
            role=principal.role,
            agency=principal.agency,
            municipality=principal.municipality,
            via="token",
            principal_id=principal.id,
            token_id=parsed.token_id,
        )

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _refuse(bound: Any, reason: AuthFailure, detail: str) -> NoReturn:
        bound.warning("authentication_failed", reason=reason.value)
        raise AuthenticationError(reason, detail)

    def _principal(
        self,
        command: str,
        meta: EventMeta,
        principal_id: UUID,
        decide: Callable[[Principal], Sequence[Aggregate] | None],
        expected_version: int | None,
        idempotency: IdempotencyContext | None,
    ) -> CommandResult:
        try:
            return self._update(
                command, meta, Principal, principal_id, decide, expected_version, idempotency
            )
        except NotFoundError as exc:
            if exc.extra.get("id") != str(principal_id):
                raise
            raise NotFoundError(
                f"no principal with id {principal_id}", id=str(principal_id)
            ) from None


__all__ = [
    "IssuedToken",
    "PrincipalCommands",
    "PrincipalSummary",
    "TokenSummary",
]
