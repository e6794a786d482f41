"""The base every aggregate of this system extends: each event carries its EventMeta."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.values import EventMeta


class DomainAggregate(Aggregate):
    """An aggregate whose events all record who, why and which request."""

    class Event(Aggregate.Event):
        meta: EventMeta

    class Created(Event, Aggregate.Created):
        pass


def event_type_name(event: object) -> str:
    """The stable, past-tense name of an event, as shown in histories and the audit log."""
    return type(event).__name__
