"""``interagency audit export / verify / public-key`` and the chain under ``projections
rebuild``, as real processes on a database of their own."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.values import EventMeta
from interagency import evidence
from interagency.services import Services, migrate
from interagency.settings import ConnectionParams
from tests.conftest import generated_signing_key, settings_for
from tests.e2e.test_processes import cli_env, database_env, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

META = EventMeta(actor_id="cli-auditor", actor_role="official", actor_agency="education")


def seed(params: ConnectionParams, n: int) -> list[int]:
    settings = settings_for(params)
    migrate(settings, params)
    with Services(settings, params) as services:
        return [
            services.app.initiate_project(
                META,
                title=f"Project {i}",
                goal="Evidence for the auditors",
                municipality="CLI town",
                lead_agency="education",
                agencies=["education", "sport"],
            ).position
            for i in range(n)
        ]


def test_an_exported_file_verifies_offline_and_fails_once_one_byte_changes(
    tmp_path: Path, fresh_database: Callable[[], ConnectionParams]
) -> None:
    params = fresh_database()
    positions = seed(params, 8)
    env = database_env(params, INTERAGENCY_SIGNING_KEY_FILE=str(generated_signing_key()))
    file = tmp_path / "evidence.json"

    # Nothing chained yet: export runs the chain process and signs the range's end itself.
    exported = run_cli(
        ["audit", "export", "--from", str(positions[1]), "--to", str(positions[5]), str(file)],
        env,
        tmp_path,
    )
    assert exported.returncode == 0, exported.stderr
    assert f"exported positions {positions[1]}..{positions[5]}: 5 events" in exported.stdout

    key = run_cli(["audit", "public-key"], env, tmp_path)
    assert key.returncode == 0, key.stderr
    key_id = key.stdout.split("key id: ")[1].split()[0]
    assert "BEGIN PUBLIC KEY" in key.stdout

    # Offline: no database settings at all.
    offline = cli_env()
    ok = run_cli(["audit", "verify", str(file), "--expect-key-id", key_id], offline, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK: 5 events")
    assert key_id in ok.stdout
    wrong_key = run_cli(
        ["audit", "verify", str(file), "--expect-key-id", "0" * 32], offline, tmp_path
    )
    assert wrong_key.returncode == 1
    assert "not by the expected key" in wrong_key.stderr

    original = file.read_bytes()
    doc = json.loads(original)

    def broken(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        result = run_cli(["audit", "verify", str(path)], offline, tmp_path)
        assert result.returncode == 1, result.stdout
        assert result.stdout.startswith("BROKEN")
        return result.stdout

    # One byte of one event's state.
    state = bytearray(base64.b64decode(doc["events"][2]["state_base64"]))
    state[7] ^= 0x01
    edited = json.loads(original)
    edited["events"][2]["state_base64"] = base64.b64encode(bytes(state)).decode()
    out = broken("state.json", evidence.canonical_bytes(edited))
    assert f"position {positions[3]}: altered" in out

    # One hex digit of a hash, edited in the file's bytes.
    h = doc["chain"][0]["event_hash"]
    at = original.index(h.encode())
    data = bytearray(original)
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    out = broken("hash.json", bytes(data))
    assert f"position {positions[1]}: altered" in out

    # One byte of the signature.
    sig = base64.b64decode(doc["checkpoint"]["signature_base64"])
    edited = json.loads(original)
    edited["checkpoint"]["signature_base64"] = base64.b64encode(
        bytes([sig[0] ^ 0x01]) + sig[1:]
    ).decode()
    out = broken("signature.json", evidence.canonical_bytes(edited))
    assert f"position {doc['checkpoint']['position']}: checkpoint" in out

    # One space more: the file is no longer the one exported.
    broken("spaced.json", original.replace(b"{\n", b"{ \n", 1))

    missing = run_cli(["audit", "verify", str(tmp_path / "nope.json")], offline, tmp_path)
    assert missing.returncode == 2


def test_a_rebuild_of_everything_keeps_the_chain_and_a_rebuild_of_the_chain_is_refused(
    tmp_path: Path, fresh_database: Callable[[], ConnectionParams]
) -> None:
    params = fresh_database()
    positions = seed(params, 3)
    env = database_env(params, INTERAGENCY_SIGNING_KEY_FILE=str(generated_signing_key()))

    first = run_cli(["projections", "rebuild"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    # The chain is never rebuilt, only brought to the head.
    assert (
        f"audit_chain: kept (evidence is never rebuilt); chained 3 new events, at position "
        f"{positions[-1]}" in first.stdout
    )

    more = seed(params, 2)
    again = run_cli(["projections", "rebuild"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "projects: rebuilt from 5 events in " in again.stdout
    assert f"at position {more[-1]} (switched without downtime)" in again.stdout
    assert (
        f"audit_chain: kept (evidence is never rebuilt); chained 2 new events, at position "
        f"{more[-1]}" in again.stdout
    )

    refused = run_cli(["projections", "rebuild", "audit_chain"], env, tmp_path)
    assert refused.returncode == 2
    assert "never rebuilt" in refused.stderr

    status = run_cli(["projections", "status"], env, tmp_path)
    assert f"audit_chain: position {more[-1]}, head {more[-1]}, lag 0 events" in status.stdout
    with Services(settings_for(params), params) as services:
        assert services.audit_chain.verify(1, None).report.ok
        assert services.audit_chain.verify(1, None).report.entries_checked == 5
