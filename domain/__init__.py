"""Pure domain model: aggregates, events, value objects and rules. No I/O."""
