"""HTTP edge: sync routes over the application, pydantic schemas, problem+json errors."""
