"""Replication to a centre with authentication on: only a registered node, only as itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from ehp.bench.federation import central_server, node_server, unsent, wait_for

NDJSON = {"Content-Type": "application/x-ndjson"}
LINE = (
    b'{"seq":1,"type":"Basic","id":"b1","version":1,"lastUpdated":1,"method":"PUT",'
    b'"resource":{"resourceType":"Basic","id":"b1","meta":{"versionId":"1"},"code":{"text":"x"}}}\n'
)


def ehp(*arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ehp.cli", *arguments], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_only_an_authenticated_node_replicates_and_only_as_itself(tmp_path: Path) -> None:
    central_database = f"sqlite:///{tmp_path / 'central.db'}"
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "node.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    jwks_file = tmp_path / "node.jwks.json"
    jwks_file.write_text(json.dumps({"keys": [json.loads(ECAlgorithm.to_jwk(key.public_key()))]}))
    ehp("migrate-db", "--database", central_database)
    ehp(
        "client", "register", "--database", central_database, "--client-id", "node-n1",
        "--subject", "Organization/n1", "--jwks", str(jwks_file), "--scope", "system/*.cruds",
    )  # fmt: skip
    centre = central_server(central_database, tmp_path, auth="required")
    credentials = ["--client-id", "node-n1", "--client-key", str(key_file)]
    node = node_server("n1", tmp_path, centre, ["Organization/n1"], extra=credentials)
    with centre, node:
        with httpx.Client(base_url=node.base + "/", timeout=30) as client:
            created = client.post(
                "Basic",
                json={"resourceType": "Basic", "code": {"text": "kept"}},
                headers={"Content-Type": "application/fhir+json"},
            )
            assert created.status_code == 201, created.text
        wait_for(lambda: unsent(node.database) == 0, 30, "the node shipping through its access token")
        origin = centre.base.removesuffix("/fhir")
        other = ehp("token", "--database", central_database, "--subject", "Organization/n2")
        with httpx.Client(base_url=origin, timeout=30) as client:
            anonymous = client.post("/sync/changes?node=n1", content=LINE, headers=NDJSON)
            assert anonymous.status_code == 401, anonymous.text
            impostor = client.post(
                "/sync/changes?node=n1", content=LINE, headers={**NDJSON, "Authorization": f"Bearer {other}"}
            )
            assert impostor.status_code == 403, impostor.text
            feed = client.get("/sync/feed?node=n1", headers={"Authorization": f"Bearer {other}"})
            assert feed.status_code == 403
            n1 = ["--subject", "Organization/n1", "--scope", "system/*.rs"]
            n1_token = ehp("token", "--database", central_database, *n1)
            as_n1 = {"Authorization": f"Bearer {n1_token}"}
            # the version hashes of a passport, like its pages, are only for the node serving the citizen
            digest = client.get("/sync/digest?node=n1&patient=pat-digest", headers=as_n1)
            assert digest.status_code == 403, digest.text
            unfollowed = client.get("/sync/passport?node=n1&patient=pat-other", headers=as_n1)
            assert unfollowed.status_code == 403, unfollowed.text
        ehp("role", "add", "--database", central_database, "--subject", "admin", "--role", "administrator")
        admin = ehp("token", "--database", central_database, "--subject", "admin")
        with httpx.Client(base_url=centre.base + "/", timeout=30) as client:
            found = client.get(f"Basic/{created.json()['id']}", headers={"Authorization": f"Bearer {admin}"})
            assert found.status_code == 200
            assert found.json()["meta"]["source"] == "urn:ehp:node:n1"
            assert client.get("Basic/b1", headers={"Authorization": f"Bearer {admin}"}).status_code == 404
            # a node's reads of a citizen's record are in that citizen's access log, refusals too
            for patient, subtype, outcome in (
                ("pat-digest", "sync-digest", "4"),
                ("pat-other", "sync-passport", "4"),
            ):
                log = client.get(
                    f"AuditEvent?patient=Patient/{patient}", headers={"Authorization": f"Bearer {admin}"}
                )
                assert log.status_code == 200, log.text
                events = [entry["resource"] for entry in log.json().get("entry", [])]
                assert [
                    (e["subtype"][0]["code"], e["outcome"], e["agent"][0]["who"]["reference"]) for e in events
                ] == [(subtype, outcome, "Organization/n1")]
