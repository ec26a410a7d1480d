"""securesystemslib, an independent verifier of the DSSE attestations krel writes.

    verify_dsse.py BUNDLE PUBLIC_KEY_PEM [ARTIFACT]

Reads the DSSE envelope out of a Sigstore bundle, verifies its signature over the DSSE
pre-authentication encoding with securesystemslib's Envelope.verify, checks that the payload
is an in-toto v1 statement with a predicate type, and, given ARTIFACT, that the artifact's
SHA-256 is one of its subjects. Prints the predicate type; exit 0 only when all of it holds.
"""
import hashlib
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main() -> int:
    bundle_path, key_path = sys.argv[1], sys.argv[2]
    artifact = sys.argv[3] if len(sys.argv) > 3 else None
    with open(bundle_path, encoding="utf-8") as f:
        bundle = json.load(f)
    raw = bundle["dsseEnvelope"]
    envelope = Envelope.from_dict(
        {
            "payload": raw["payload"],
            "payloadType": raw["payloadType"],
            "signatures": [
                {"keyid": s.get("keyid", ""), "sig": s["sig"]} for s in raw["signatures"]
            ],
        }
    )
    with open(key_path, "rb") as f:
        public = load_pem_public_key(f.read())
    key = SSlibKey.from_crypto(public)
    # securesystemslib only tries keys whose keyid equals the signature's (not DSSE-compliant,
    # its own docstring says); cosign and krel leave the keyid empty.
    key.keyid = next(iter(envelope.signatures.values())).keyid
    envelope.verify([key], 1)
    if envelope.payload_type != "application/vnd.in-toto+json":
        raise SystemExit(f"payload type {envelope.payload_type}")
    statement = json.loads(envelope.payload)
    if statement.get("_type") != "https://in-toto.io/Statement/v1":
        raise SystemExit(f"statement type {statement.get('_type')}")
    if not statement.get("predicateType"):
        raise SystemExit("no predicateType")
    if artifact:
        with open(artifact, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if not any(s.get("digest", {}).get("sha256") == digest for s in statement["subject"]):
            raise SystemExit(f"{artifact} ({digest}) is not a subject")
    print(statement["predicateType"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
