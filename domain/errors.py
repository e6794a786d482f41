"""The one hierarchy of domain errors; the API maps each class to an HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class of every error the domain and the application raise on purpose."""

    code: str = "domain-error"
    title: str = "Domain error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ValidationError(DomainError):
    """Input that can never be valid, whatever the state (maps to 422)."""

    code = "invalid-input"
    title = "Invalid input"


class RuleViolationError(DomainError):
    """A command refused because it breaks a named rule in the current state (409)."""

    code = "rule-violated"
    title = "Rule violated"

    def __init__(self, rule: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, rule=rule, **extra)
        self.rule = rule


class NotFoundError(DomainError):
    code = "not-found"
    title = "Not found"


class ConcurrencyConflictError(DomainError):
    """Another write reached the same aggregate first (409)."""

    code = "concurrency-conflict"
    title = "Concurrent modification"


class StaleVersionError(DomainError):
    """The caller's expected version (If-Match) is not the current one (412)."""

    code = "stale-version"
    title = "Precondition failed"


class IdempotencyKeyReusedError(DomainError):
    """The same Idempotency-Key was sent with a different request (422)."""

    code = "idempotency-key-reused"
    title = "Idempotency key reused"
