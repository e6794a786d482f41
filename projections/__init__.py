"""Read models: rows rebuilt from the event log, each with its tracking position."""
