"""One settings class for every process; read from the environment (and ``.env``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Signature algorithms a JWT may use: asymmetric only, so that a public key can never be
# mistaken for an HMAC secret ("none" and HS* are refused).
JWT_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


@dataclass(frozen=True)
class ConnectionParams:
    host: str
    port: int
    dbname: str
    user: str
    password: str

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=self.user,
            password=self.password,
        )

    def describe(self) -> str:
        """Where we connect, without the password (for logs)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


class Settings(BaseSettings):
    """Configuration; see the table in README.md.

    With neither ``DATABASE_URL`` nor ``POSTGRES_HOST`` set, the service starts its own
    embedded PostgreSQL in ``INTERAGENCY_DATA_DIR``.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    postgres_host: str | None = Field(default=None, validation_alias="POSTGRES_HOST")
    postgres_port: int = Field(default=5432, validation_alias="POSTGRES_PORT")
    postgres_dbname: str = Field(default="interagency", validation_alias="POSTGRES_DBNAME")
    postgres_user: str = Field(default="postgres", validation_alias="POSTGRES_USER")
    postgres_password: str = Field(default="", validation_alias="POSTGRES_PASSWORD")

    data_dir: Path = Field(
        default=Path(".data"),
        validation_alias=AliasChoices("INTERAGENCY_DATA_DIR", "data_dir"),
    )
    pool_size: int = Field(default=8, ge=1, validation_alias="INTERAGENCY_POOL_SIZE")
    pool_max_overflow: int = Field(default=8, ge=0, validation_alias="INTERAGENCY_POOL_OVERFLOW")
    lock_timeout_seconds: int = Field(default=10, ge=0, validation_alias="INTERAGENCY_LOCK_TIMEOUT")
    connect_timeout_seconds: int = Field(
        default=5,
        ge=1,
        le=300,
        validation_alias="INTERAGENCY_DB_CONNECT_TIMEOUT",
        description="Seconds a request waits for a database connection before it fails (503); "
        "eventsourcing retries a failed call several times, so an outage answers after a "
        "few multiples of this",
    )
    read_wait_seconds: float = Field(
        default=5.0, ge=0, le=60, validation_alias="INTERAGENCY_READ_WAIT_SECONDS"
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=1_073_741_824,
        validation_alias="INTERAGENCY_MAX_BODY_BYTES",
        description="The largest request body the API reads; a larger one is answered 413",
    )
    statement_timeout_ms: int = Field(
        default=30_000,
        ge=0,
        le=3_600_000,
        validation_alias="INTERAGENCY_STATEMENT_TIMEOUT_MS",
        description="How long one SQL statement of an API request's reads may run before "
        "PostgreSQL cancels it and the API answers 503 (0: no limit)",
    )
    projection_batch_size: int = Field(
        default=500, ge=1, le=10_000, validation_alias="INTERAGENCY_PROJECTION_BATCH"
    )
    projection_on_poison: Literal["stop", "park"] = Field(
        default="stop",
        validation_alias="INTERAGENCY_PROJECTION_ON_POISON",
        description="What a projection does with an event it raises on: stop (and name it "
        "in status), or park it in the dead-letter table and go on",
    )
    projection_poison_retry_seconds: float = Field(
        default=60.0,
        ge=0.1,
        le=86_400,
        validation_alias="INTERAGENCY_PROJECTION_POISON_RETRY",
        description="A projection stopped by a poison event is tried again this often",
    )
    signing_key_file: Path | None = Field(
        default=None,
        validation_alias="INTERAGENCY_SIGNING_KEY_FILE",
        description="Ed25519 private key (PEM, PKCS#8, unencrypted) that signs the audit "
        "chain's checkpoints; without it one is generated once in INTERAGENCY_DATA_DIR",
    )
    checkpoint_every: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        validation_alias="INTERAGENCY_CHECKPOINT_EVERY",
        description="The chain process signs a checkpoint at every this many events",
    )
    checkpoint_interval_seconds: float = Field(
        default=5.0,
        ge=0,
        le=86_400,
        validation_alias="INTERAGENCY_CHECKPOINT_INTERVAL",
        description="Once caught up, the chain process signs its head if the last checkpoint "
        "is older than this",
    )
    timezone: str = Field(
        default="Europe/Moscow",
        validation_alias="INTERAGENCY_TIMEZONE",
        description="The municipality's time zone: deadlines are its local dates",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", validation_alias="INTERAGENCY_LOG_FORMAT"
    )
    log_level: str = Field(default="info", validation_alias="INTERAGENCY_LOG_LEVEL")

    # JWTs from the municipality's identity provider: off unless INTERAGENCY_JWT_ISSUER is set
    # (see interagency/jwt_auth.py). Claim names may be dotted paths: "realm_access.role".
    jwt_issuer: str | None = Field(default=None, validation_alias="INTERAGENCY_JWT_ISSUER")
    jwt_audience: str | None = Field(default=None, validation_alias="INTERAGENCY_JWT_AUDIENCE")
    jwt_public_key_file: Path | None = Field(
        default=None, validation_alias="INTERAGENCY_JWT_PUBLIC_KEY_FILE"
    )
    jwt_jwks_file: Path | None = Field(default=None, validation_alias="INTERAGENCY_JWT_JWKS_FILE")
    jwt_algorithms: str = Field(
        default="RS256",
        validation_alias="INTERAGENCY_JWT_ALGORITHMS",
        description="Comma-separated; asymmetric only: RS256, ES256, EdDSA and their kin",
    )
    jwt_leeway_seconds: int = Field(
        default=30, ge=0, le=300, validation_alias="INTERAGENCY_JWT_LEEWAY_SECONDS"
    )
    jwt_subject_claim: str = Field(default="sub", validation_alias="INTERAGENCY_JWT_SUBJECT_CLAIM")
    jwt_name_claim: str = Field(default="name", validation_alias="INTERAGENCY_JWT_NAME_CLAIM")
    jwt_role_claim: str = Field(default="role", validation_alias="INTERAGENCY_JWT_ROLE_CLAIM")
    jwt_agency_claim: str = Field(default="agency", validation_alias="INTERAGENCY_JWT_AGENCY_CLAIM")
    jwt_municipality_claim: str = Field(
        default="municipality", validation_alias="INTERAGENCY_JWT_MUNICIPALITY_CLAIM"
    )

    @model_validator(mode="after")
    def _check_url(self) -> Settings:
        if self.database_url is not None:
            parsed = urlparse(self.database_url)
            if parsed.scheme not in ("postgres", "postgresql"):
                msg = "DATABASE_URL must start with postgresql://"
                raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _check_timezone(self) -> Settings:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"INTERAGENCY_TIMEZONE: unknown time zone {self.timezone!r}"
            raise ValueError(msg) from None
        return self

    @model_validator(mode="after")
    def _check_jwt(self) -> Settings:
        if self.jwt_issuer is None:
            if self.jwt_public_key_file or self.jwt_jwks_file or self.jwt_audience:
                msg = "INTERAGENCY_JWT_*: a key or audience is set but no INTERAGENCY_JWT_ISSUER"
                raise ValueError(msg)
            return self
        if not self.jwt_audience:
            msg = "INTERAGENCY_JWT_AUDIENCE: JWTs are accepted only for a configured audience"
            raise ValueError(msg)
        if (self.jwt_public_key_file is None) == (self.jwt_jwks_file is None):
            msg = "give one of INTERAGENCY_JWT_PUBLIC_KEY_FILE and INTERAGENCY_JWT_JWKS_FILE"
            raise ValueError(msg)
        unknown = set(self.jwt_algorithm_list) - JWT_ALGORITHMS
        if unknown or not self.jwt_algorithm_list:
            msg = (
                f"INTERAGENCY_JWT_ALGORITHMS: {', '.join(sorted(unknown)) or 'none given'}; "
                f"allowed (asymmetric only): {', '.join(sorted(JWT_ALGORITHMS))}"
            )
            raise ValueError(msg)
        return self

    @property
    def jwt_algorithm_list(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.jwt_algorithms.split(",") if a.strip())

    @property
    def jwt_enabled(self) -> bool:
        return self.jwt_issuer is not None

    def today(self) -> date:
        """Today's date where the municipality is (deadlines are local dates)."""
        return datetime.now(ZoneInfo(self.timezone)).date()

    @property
    def uses_embedded(self) -> bool:
        return self.database_url is None and self.postgres_host is None

    def external_connection(self) -> ConnectionParams:
        """The configured server; only valid when not embedded."""
        if self.database_url is not None:
            u = urlparse(self.database_url)
            return ConnectionParams(
                host=u.hostname or "localhost",
                port=u.port or 5432,
                dbname=(u.path or "/").lstrip("/") or "postgres",
                user=unquote(u.username or "postgres"),
                password=unquote(u.password or ""),
            )
        if self.postgres_host is None:
            msg = "no external database configured"
            raise RuntimeError(msg)
        return ConnectionParams(
            host=self.postgres_host,
            port=self.postgres_port,
            dbname=self.postgres_dbname,
            user=self.postgres_user,
            password=self.postgres_password,
        )
