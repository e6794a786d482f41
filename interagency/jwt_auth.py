"""Optional JWTs from the municipality's identity provider, verified with PyJWT.

Off unless ``INTERAGENCY_JWT_ISSUER`` is set. The key is a local file: a PEM public key (or
certificate), or a JWKS document; nothing is fetched over the network at run time. Only
asymmetric algorithms are accepted, each key only with the algorithms of its own type, and
a token must carry ``exp``, ``iss`` and ``aud``. A claim mapping turns the verified claims
into an :class:`~interagency.auth.AuthenticatedPrincipal`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import structlog
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from domain.principal import GRANTABLE_ROLES, MUNICIPALITY_MAX, NAME_MAX
from domain.values import Agency, Role
from interagency.auth import AuthenticatedPrincipal, AuthenticationError, AuthFailure
from interagency.settings import JWT_ALGORITHMS, Settings

log = structlog.get_logger("interagency.auth")

# A bearer JWT longer than this is refused before it is parsed.
JWT_MAX_LENGTH = 16_384
SUBJECT_MAX = 200

_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class JWTConfigError(Exception):
    """The JWT settings or key file cannot be used (raised at start-up, never per request)."""


@dataclass(frozen=True)
class ClaimMapping:
    """Which claims hold the subject, name, role, agency and municipality (dotted paths)."""

    subject: str = "sub"
    name: str = "name"
    role: str = "role"
    agency: str = "agency"
    municipality: str = "municipality"

    @classmethod
    def from_settings(cls, settings: Settings) -> ClaimMapping:
        return cls(
            subject=settings.jwt_subject_claim,
            name=settings.jwt_name_claim,
            role=settings.jwt_role_claim,
            agency=settings.jwt_agency_claim,
            municipality=settings.jwt_municipality_claim,
        )


PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)
_KEY_TYPES = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


def algorithms_for(key: object) -> frozenset[str]:
    """The signature algorithms a public key of this type can verify."""
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = _EC_ALGORITHMS.get(key.curve.name)
        return frozenset() if alg is None else frozenset({alg})
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return frozenset({"EdDSA"})
    return frozenset()


def load_pem_key(path: Path) -> PublicKey:
    """A PEM public key, or the public key of a PEM certificate."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"INTERAGENCY_JWT_PUBLIC_KEY_FILE: cannot read {path}: {exc.strerror}"
        raise JWTConfigError(msg) from None
    try:
        if b"BEGIN CERTIFICATE" in data:
            key: object = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = load_pem_public_key(data)
    except ValueError:
        msg = f"INTERAGENCY_JWT_PUBLIC_KEY_FILE: {path} holds no PEM public key or certificate"
        raise JWTConfigError(msg) from None
    if not isinstance(key, _KEY_TYPES) or not algorithms_for(key):
        msg = f"INTERAGENCY_JWT_PUBLIC_KEY_FILE: {path}: keys of this type are not supported"
        raise JWTConfigError(msg)
    return key


def load_jwks(path: Path, allowed: frozenset[str]) -> dict[str | None, jwt.PyJWK]:
    """The signing keys of a JWKS file usable with ``allowed`` algorithms, by key id."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        keyset = jwt.PyJWKSet.from_dict(document)
    except OSError as exc:
        msg = f"INTERAGENCY_JWT_JWKS_FILE: cannot read {path}: {exc.strerror}"
        raise JWTConfigError(msg) from None
    except (ValueError, AttributeError, jwt.PyJWKSetError) as exc:
        msg = f"INTERAGENCY_JWT_JWKS_FILE: {path} is not a usable JWK set: {exc}"
        raise JWTConfigError(msg) from None
    keys: dict[str | None, jwt.PyJWK] = {}
    for k in keyset:
        if k.public_key_use not in (None, "sig") or k.algorithm_name not in allowed:
            continue
        if k.key_id in keys:
            msg = f"INTERAGENCY_JWT_JWKS_FILE: two signing keys share the key id {k.key_id!r}"
            raise JWTConfigError(msg)
        keys[k.key_id] = k
    if not keys:
        msg = (
            f"INTERAGENCY_JWT_JWKS_FILE: {path} has no signing key for the algorithms "
            f"{', '.join(sorted(allowed))}"
        )
        raise JWTConfigError(msg)
    return keys


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _refuse(reason: AuthFailure, detail: str) -> AuthenticationError:
    log.warning("authentication_failed", via="jwt", reason=reason.value)
    return AuthenticationError(reason, detail)


class JWTVerifier:
    """Verifies bearer JWTs against one issuer, audience and key source."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str],
        public_key: PublicKey | None = None,
        jwks: Mapping[str | None, jwt.PyJWK] | None = None,
        claims: ClaimMapping | None = None,
        leeway_seconds: int = 30,
    ) -> None:
        allowed = frozenset(algorithms)
        if not allowed or not allowed <= JWT_ALGORITHMS:
            msg = f"JWT algorithms must be among {', '.join(sorted(JWT_ALGORITHMS))}"
            raise JWTConfigError(msg)
        if (public_key is None) == (jwks is None):
            msg = "a JWT verifier needs exactly one of a public key and a JWK set"
            raise JWTConfigError(msg)
        if public_key is not None:
            allowed = allowed & algorithms_for(public_key)
            if not allowed:
                msg = (
                    "INTERAGENCY_JWT_ALGORITHMS: none of the configured algorithms can be "
                    "verified with the configured public key's type"
                )
                raise JWTConfigError(msg)
        self.issuer = issuer
        self.audience = audience
        self.algorithms = allowed
        self.public_key = public_key
        self.jwks = None if jwks is None else dict(jwks)
        self.claims = claims or ClaimMapping()
        self.leeway_seconds = leeway_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> JWTVerifier | None:
        """The verifier the settings describe, or ``None`` when JWTs are off."""
        if settings.jwt_issuer is None or settings.jwt_audience is None:
            return None
        allowed = frozenset(settings.jwt_algorithm_list)
        public_key = (
            None
            if settings.jwt_public_key_file is None
            else load_pem_key(settings.jwt_public_key_file)
        )
        jwks = (
            None if settings.jwt_jwks_file is None else load_jwks(settings.jwt_jwks_file, allowed)
        )
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=allowed,
            public_key=public_key,
            jwks=jwks,
            claims=ClaimMapping.from_settings(settings),
            leeway_seconds=settings.jwt_leeway_seconds,
        )

    def verify(self, token: str) -> AuthenticatedPrincipal:
        """The principal a JWT proves, or :class:`AuthenticationError` naming why not."""
        if len(token) > JWT_MAX_LENGTH:
            raise _refuse(AuthFailure.MALFORMED, "the bearer JWT is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _refuse(AuthFailure.MALFORMED, "the bearer token is not a JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _refuse(
                AuthFailure.BAD_ALGORITHM,
                "the JWT's algorithm is not accepted; accepted: "
                f"{', '.join(sorted(self.algorithms))}",
            )
        key: Any = self.public_key if self.jwks is None else self._jwk(header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _refuse(AuthFailure.EXPIRED, "the JWT has expired") from None
        except jwt.ImmatureSignatureError:
            raise _refuse(AuthFailure.NOT_YET_VALID, "the JWT is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise _refuse(
                AuthFailure.WRONG_ISSUER, "the JWT was not issued by the configured issuer"
            ) from None
        except jwt.InvalidAudienceError:
            raise _refuse(
                AuthFailure.WRONG_AUDIENCE, "the JWT is not meant for this service's audience"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise _refuse(
                AuthFailure.MISSING_CLAIMS, f"the JWT lacks the {exc.claim!r} claim"
            ) from None
        except jwt.InvalidSignatureError:
            raise _refuse(AuthFailure.BAD_SIGNATURE, "the JWT's signature is not valid") from None
        except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError):
            raise _refuse(
                AuthFailure.BAD_ALGORITHM, "the JWT's algorithm does not fit the key"
            ) from None
        except jwt.DecodeError:
            raise _refuse(AuthFailure.MALFORMED, "the bearer token is not a valid JWT") from None
        except jwt.PyJWTError:
            raise _refuse(AuthFailure.INVALID_CLAIMS, "the JWT's claims are not valid") from None
        return self._principal(claims)

    def _jwk(self, header: Mapping[str, Any]) -> jwt.PyJWK:
        assert self.jwks is not None
        kid = header.get("kid")
        if kid is None and len(self.jwks) == 1:
            return next(iter(self.jwks.values()))
        key = self.jwks.get(kid) if isinstance(kid, str) else None
        if key is None or key.algorithm_name != header.get("alg"):
            raise _refuse(
                AuthFailure.UNKNOWN_KEY,
                "the JWT names no signing key of the configured key set (kid)",
            )
        return key

    def _principal(self, claims: Mapping[str, Any]) -> AuthenticatedPrincipal:
        c = self.claims
        subject = _claim(claims, c.subject)
        role_value = _claim(claims, c.role)
        missing = [
            name for name, value in ((c.subject, subject), (c.role, role_value)) if value is None
        ]
        if missing:
            raise _refuse(
                AuthFailure.MISSING_CLAIMS, f"the JWT lacks the claims {', '.join(missing)}"
            )
        if not isinstance(subject, str) or not subject.strip() or len(subject) > SUBJECT_MAX:
            raise _refuse(
                AuthFailure.INVALID_CLAIMS,
                f"the {c.subject!r} claim must be a text of 1-{SUBJECT_MAX} characters",
            )
        role = self._role(role_value)
        agency = self._agency(_claim(claims, c.agency))
        municipality = self._text(_claim(claims, c.municipality), c.municipality, MUNICIPALITY_MAX)
        if role is Role.OFFICIAL:
            lacking = [
                name
                for name, value in ((c.agency, agency), (c.municipality, municipality))
                if value is None
            ]
            if lacking:
                raise _refuse(
                    AuthFailure.MISSING_CLAIMS,
                    f"an official's JWT names their agency and municipality; it lacks "
                    f"{', '.join(lacking)}",
                )
        name = self._text(_claim(claims, c.name), c.name, NAME_MAX) or subject.strip()
        return AuthenticatedPrincipal(
            subject=f"jwt:{subject.strip()}",
            name=name,
            role=role,
            agency=agency,
            municipality=municipality,
            via="jwt",
        )

    def _role(self, value: Any) -> Role:
        grantable = {r.value for r in GRANTABLE_ROLES}
        values = value if isinstance(value, list) else [value]
        roles = {v for v in values if isinstance(v, str) and v in grantable}
        if len(roles) != 1:
            detail = "names none of" if not roles else "names more than one of"
            raise _refuse(
                AuthFailure.INVALID_CLAIMS,
                f"the {self.claims.role!r} claim {detail} the roles {', '.join(sorted(grantable))}",
            )
        return Role(roles.pop())

    def _agency(self, value: Any) -> Agency | None:
        if value is None:
            return None
        try:
            return Agency(value)
        except ValueError:
            raise _refuse(
                AuthFailure.INVALID_CLAIMS,
                f"the {self.claims.agency!r} claim names no known agency; known: "
                f"{', '.join(a.value for a in Agency)}",
            ) from None

    def _text(self, value: Any, claim: str, max_length: int) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            raise _refuse(
                AuthFailure.INVALID_CLAIMS,
                f"the {claim!r} claim must be a text of 1-{max_length} characters",
            )
        return value.strip()
