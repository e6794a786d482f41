"""JWTs from the municipality's identity provider, verified with PyJWT against local keys.

Keys are generated here with ``cryptography``; nothing is fetched. Every refusal names its
reason, and nothing logged holds the token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from pydantic import ValidationError as SettingsError
from structlog.testing import capture_logs

from domain.values import Agency, Role
from interagency.auth import AuthenticationError, AuthFailure
from interagency.jwt_auth import ClaimMapping, JWTConfigError, JWTVerifier
from interagency.settings import Settings

ISSUER = "https://idp.example.test/realms/municipality"
AUDIENCE = "interagency"
MUNICIPALITY = "Городской округ N"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def pem(private_key: Any) -> bytes:
    data: bytes = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    c: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "a1b2c3",
        "name": "Петрова М. С.",
        "role": "official",
        "agency": "culture",
        "municipality": MUNICIPALITY,
        "iat": now,
        "exp": now + 300,
    }
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not None}


@pytest.fixture
def rsa_verifier(tmp_path: Path) -> JWTVerifier:
    key_file = tmp_path / "idp.pem"
    key_file.write_bytes(pem(RSA_KEY))
    verifier = JWTVerifier.from_settings(settings(jwt_public_key_file=key_file))
    assert verifier is not None
    return verifier


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    keys = [
        {**json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())), "kid": "rsa-1", "use": "sig"},
        {**json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key())), "kid": "ec-1", "alg": "ES256"},
        {**json.loads(OKPAlgorithm.to_jwk(ED_KEY.public_key())), "kid": "ed-1"},
    ]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    return path


@pytest.fixture
def jwks_verifier(jwks_file: Path) -> JWTVerifier:
    verifier = JWTVerifier.from_settings(
        settings(jwt_jwks_file=jwks_file, jwt_algorithms="RS256,ES256,EdDSA")
    )
    assert verifier is not None
    return verifier


def sign(c: dict[str, Any], key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = None) -> str:
    headers = None if kid is None else {"kid": kid}
    return jwt.encode(c, key, algorithm=alg, headers=headers)


def refused(verify: Callable[[str], object], token: str) -> AuthenticationError:
    with capture_logs() as logs, pytest.raises(AuthenticationError) as caught:
        verify(token)
    # failed authentication is logged with the reason, never with the token
    assert logs == [
        {
            "event": "authentication_failed",
            "via": "jwt",
            "reason": caught.value.reason.value,
            "log_level": "warning",
        }
    ]
    if token:
        assert token not in str(caught.value)
    return caught.value


# -- accepted -------------------------------------------------------------------------------


def test_a_valid_rs256_token_maps_its_claims_to_a_principal(rsa_verifier: JWTVerifier) -> None:
    p = rsa_verifier.verify(sign(claims()))
    assert (p.subject, p.name, p.role, p.agency, p.municipality, p.via) == (
        "jwt:a1b2c3",
        "Петрова М. С.",
        Role.OFFICIAL,
        Agency.CULTURE,
        MUNICIPALITY,
        "jwt",
    )
    assert (p.principal_id, p.token_id) == (None, None)
    assert p.meta("req-1").actor_id == "jwt:a1b2c3"


@pytest.mark.parametrize(
    ("key", "alg", "kid"),
    [(RSA_KEY, "RS256", "rsa-1"), (EC_KEY, "ES256", "ec-1"), (ED_KEY, "EdDSA", "ed-1")],
)
def test_a_jwks_file_verifies_rs256_es256_and_eddsa_by_key_id(
    jwks_verifier: JWTVerifier, key: Any, alg: str, kid: str
) -> None:
    p = jwks_verifier.verify(sign(claims(role="auditor", agency=None), key, alg, kid))
    assert (p.role, p.agency) == (Role.AUDITOR, None)


def test_the_claim_mapping_follows_dotted_paths_and_a_list_of_roles(tmp_path: Path) -> None:
    key_file = tmp_path / "idp.pem"
    key_file.write_bytes(pem(RSA_KEY))
    verifier = JWTVerifier.from_settings(
        settings(
            jwt_public_key_file=key_file,
            jwt_subject_claim="preferred_username",
            jwt_role_claim="realm_access.roles",
            jwt_agency_claim="org.agency",
            jwt_municipality_claim="org.municipality",
        )
    )
    assert verifier is not None
    assert verifier.claims == ClaimMapping(
        "preferred_username", "name", "realm_access.roles", "org.agency", "org.municipality"
    )
    token = sign(
        claims(
            preferred_username="petrova",
            realm_access={"roles": ["offline_access", "official", "uma_authorization"]},
            org={"agency": "sport", "municipality": MUNICIPALITY},
            role=None,
            agency=None,
            municipality=None,
        )
    )
    p = verifier.verify(token)
    assert (p.subject, p.role, p.agency) == ("jwt:petrova", Role.OFFICIAL, Agency.SPORT)


def test_a_small_clock_skew_is_tolerated(rsa_verifier: JWTVerifier) -> None:
    now = int(time.time())
    assert rsa_verifier.verify(sign(claims(exp=now - 10))).role is Role.OFFICIAL


# -- refused, with the reason --------------------------------------------------------------


def test_another_issuer_is_refused(rsa_verifier: JWTVerifier) -> None:
    e = refused(rsa_verifier.verify, sign(claims(iss="https://evil.example.test")))
    assert e.reason is AuthFailure.WRONG_ISSUER


def test_another_audience_is_refused(rsa_verifier: JWTVerifier) -> None:
    e = refused(rsa_verifier.verify, sign(claims(aud="another-service")))
    assert e.reason is AuthFailure.WRONG_AUDIENCE


def test_an_expired_token_is_refused(rsa_verifier: JWTVerifier) -> None:
    e = refused(rsa_verifier.verify, sign(claims(exp=int(time.time()) - 120)))
    assert e.reason is AuthFailure.EXPIRED


def test_a_token_not_valid_yet_is_refused(rsa_verifier: JWTVerifier) -> None:
    e = refused(rsa_verifier.verify, sign(claims(nbf=int(time.time()) + 600)))
    assert e.reason is AuthFailure.NOT_YET_VALID


def test_a_token_signed_by_another_key_is_refused(rsa_verifier: JWTVerifier) -> None:
    e = refused(rsa_verifier.verify, sign(claims(), OTHER_RSA_KEY))
    assert e.reason is AuthFailure.BAD_SIGNATURE


def test_a_token_whose_payload_was_changed_is_refused(rsa_verifier: JWTVerifier) -> None:
    header, _payload, signature = sign(claims()).split(".")
    forged_payload = jwt.utils.base64url_encode(
        json.dumps(claims(role="auditor", agency=None)).encode()
    ).decode()
    e = refused(rsa_verifier.verify, f"{header}.{forged_payload}.{signature}")
    assert e.reason is AuthFailure.BAD_SIGNATURE


@pytest.mark.parametrize("claim", ["exp", "iss", "aud"])
def test_a_token_without_exp_iss_or_aud_is_refused(rsa_verifier: JWTVerifier, claim: str) -> None:
    e = refused(rsa_verifier.verify, sign(claims(**{claim: None})))
    assert e.reason is AuthFailure.MISSING_CLAIMS
    assert repr(claim) in e.detail


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"sub": None}, "sub"),
        ({"role": None}, "role"),
        ({"agency": None}, "agency"),
        ({"municipality": None}, "municipality"),
    ],
)
def test_missing_mapped_claims_are_refused_by_name(
    rsa_verifier: JWTVerifier, missing: dict[str, Any], named: str
) -> None:
    e = refused(rsa_verifier.verify, sign(claims(**missing)))
    assert e.reason is AuthFailure.MISSING_CLAIMS
    assert named in e.detail


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "system"},
        {"role": "superuser"},
        {"role": ["official", "admin"]},
        {"role": 7},
        {"agency": "police"},
        {"sub": ""},
        {"sub": "x" * 201},
        {"municipality": ["a", "b"]},
    ],
)
def test_claims_of_the_wrong_value_are_refused(
    rsa_verifier: JWTVerifier, bad: dict[str, Any]
) -> None:
    e = refused(rsa_verifier.verify, sign(claims(**bad)))
    assert e.reason is AuthFailure.INVALID_CLAIMS


def test_an_unsigned_token_is_refused(rsa_verifier: JWTVerifier) -> None:
    token = jwt.encode(claims(), key="", algorithm="none")
    assert refused(rsa_verifier.verify, token).reason is AuthFailure.BAD_ALGORITHM


def test_an_hmac_token_keyed_with_the_public_key_is_refused(rsa_verifier: JWTVerifier) -> None:
    # the classic key-confusion forgery: HS256 with the public key's PEM as the secret
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode())
    signing_input = header + b"." + payload
    mac = hmac.new(pem(RSA_KEY), signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + jwt.utils.base64url_encode(mac)).decode()
    assert refused(rsa_verifier.verify, token).reason is AuthFailure.BAD_ALGORITHM


def test_an_algorithm_the_key_cannot_verify_is_refused(rsa_verifier: JWTVerifier) -> None:
    # ES256 is configured nowhere for an RSA key
    e = refused(rsa_verifier.verify, sign(claims(), EC_KEY, "ES256"))
    assert e.reason is AuthFailure.BAD_ALGORITHM


def test_an_unknown_key_id_is_refused(jwks_verifier: JWTVerifier) -> None:
    e = refused(jwks_verifier.verify, sign(claims(), RSA_KEY, "RS256", "rotated-away"))
    assert e.reason is AuthFailure.UNKNOWN_KEY
    no_kid = refused(jwks_verifier.verify, sign(claims(), RSA_KEY, "RS256"))
    assert no_kid.reason is AuthFailure.UNKNOWN_KEY


def test_a_key_id_used_with_another_algorithm_is_refused(jwks_verifier: JWTVerifier) -> None:
    e = refused(jwks_verifier.verify, sign(claims(), EC_KEY, "ES256", "rsa-1"))
    assert e.reason is AuthFailure.UNKNOWN_KEY


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "iat_notajwt", "x" * 20_000])
def test_malformed_tokens_are_refused(rsa_verifier: JWTVerifier, token: str) -> None:
    assert refused(rsa_verifier.verify, token).reason is AuthFailure.MALFORMED


# -- configuration --------------------------------------------------------------------------


def test_jwts_are_off_without_an_issuer() -> None:
    assert JWTVerifier.from_settings(Settings(_env_file=None)) is None  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_audience": None}, "INTERAGENCY_JWT_AUDIENCE"),
        ({}, "one of INTERAGENCY_JWT_PUBLIC_KEY_FILE"),
        (
            {"jwt_public_key_file": Path("a.pem"), "jwt_jwks_file": Path("j.json")},
            "one of INTERAGENCY_JWT_PUBLIC_KEY_FILE",
        ),
        ({"jwt_public_key_file": Path("a.pem"), "jwt_algorithms": "HS256"}, "HS256"),
        ({"jwt_public_key_file": Path("a.pem"), "jwt_algorithms": "none"}, "none"),
        ({"jwt_public_key_file": Path("a.pem"), "jwt_algorithms": " , "}, "none given"),
        ({"jwt_issuer": None, "jwt_public_key_file": Path("a.pem")}, "no INTERAGENCY_JWT_ISSUER"),
    ],
)
def test_incomplete_or_unsafe_jwt_settings_are_refused_at_start(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        settings(**overrides)


def test_the_settings_are_read_from_the_environment_names() -> None:
    s = Settings.model_validate(
        {
            "INTERAGENCY_JWT_ISSUER": ISSUER,
            "INTERAGENCY_JWT_AUDIENCE": AUDIENCE,
            "INTERAGENCY_JWT_JWKS_FILE": "/etc/interagency/jwks.json",
            "INTERAGENCY_JWT_ALGORITHMS": "ES256, EdDSA",
            "INTERAGENCY_JWT_ROLE_CLAIM": "realm_access.roles",
        }
    )
    assert s.jwt_enabled
    assert s.jwt_algorithm_list == ("ES256", "EdDSA")
    assert s.jwt_role_claim == "realm_access.roles"


def test_unusable_key_files_are_reported_at_start(tmp_path: Path, jwks_file: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(JWTConfigError, match="cannot read"):
        JWTVerifier.from_settings(settings(jwt_public_key_file=missing))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(JWTConfigError, match="no PEM public key"):
        JWTVerifier.from_settings(settings(jwt_public_key_file=garbage))
    rsa_file = tmp_path / "rsa.pem"
    rsa_file.write_bytes(pem(RSA_KEY))
    with pytest.raises(JWTConfigError, match="public key's type"):
        JWTVerifier.from_settings(settings(jwt_public_key_file=rsa_file, jwt_algorithms="ES256"))
    with pytest.raises(JWTConfigError, match="no signing key"):
        JWTVerifier.from_settings(settings(jwt_jwks_file=jwks_file, jwt_algorithms="PS512"))
    not_json = tmp_path / "jwks-bad.json"
    not_json.write_text("{")
    with pytest.raises(JWTConfigError, match="not a usable JWK set"):
        JWTVerifier.from_settings(settings(jwt_jwks_file=not_json))


def test_an_ec_public_key_file_verifies_es256(tmp_path: Path) -> None:
    key_file = tmp_path / "ec.pem"
    key_file.write_bytes(pem(EC_KEY))
    verifier = JWTVerifier.from_settings(
        settings(jwt_public_key_file=key_file, jwt_algorithms="RS256,ES256")
    )
    assert verifier is not None
    assert verifier.algorithms == frozenset({"ES256"})
    assert verifier.verify(sign(claims(), EC_KEY, "ES256")).agency is Agency.CULTURE
