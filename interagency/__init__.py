"""Process wiring: settings, storage, the write application, logging, worker and CLI."""
