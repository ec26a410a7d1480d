#!/usr/bin/env python3
"""Verifies cosign image signatures without krel: skopeo reads the registry, openssl checks
each ECDSA signature, and the payload is held to the rules containers/image's `sigstoreSigned`
policy applies (exact fields; `type`; the manifest digest; with matchRepository, the
docker-reference's repository equal to the image's).

Debian's skopeo is built with sigstore disabled ("Debian-local change"), so its own policy
check cannot be used; this reproduces it from the parts that are not ours.

usage: verify_cosign_image.py PUBLIC_KEY HOST/REPO[:TAG|@DIGEST] [--all]
Exit 0 when the image (and with --all every manifest of its index) carries a valid signature.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def skopeo(*args):
    return subprocess.run(["skopeo", *args], capture_output=True, check=False)


def raw_manifest(reference):
    out = skopeo("inspect", "--raw", "--tls-verify=false", "docker://" + reference)
    if out.returncode != 0:
        raise SystemExit(f"skopeo cannot read {reference}: {out.stderr.decode().strip()}")
    return out.stdout


def exact(obj, keys, what):
    if not isinstance(obj, dict) or set(obj) != set(keys):
        raise ValueError(f"{what} must have exactly the fields {sorted(keys)}: {obj!r}")


def check_payload(payload, digest, repository):
    doc = json.loads(payload)
    exact(doc, ["critical", "optional"], "the payload")
    critical = doc["critical"]
    exact(critical, ["type", "image", "identity"], "critical")
    if critical["type"] != "cosign container image signature":
        raise ValueError(f"critical.type is {critical['type']!r}")
    exact(critical["image"], ["docker-manifest-digest"], "critical.image")
    if critical["image"]["docker-manifest-digest"] != digest:
        raise ValueError(f"signed digest {critical['image']['docker-manifest-digest']} is not {digest}")
    exact(critical["identity"], ["docker-reference"], "critical.identity")
    reference = critical["identity"]["docker-reference"]
    signed_repo = reference.split("@")[0]
    last = signed_repo.rsplit("/", 1)[-1]
    if ":" in last:
        signed_repo = signed_repo[: signed_repo.rfind(":")]
    if signed_repo != repository:
        raise ValueError(f"signed for {reference}, not {repository}")


def verify_one(public_key, repository, digest, work):
    tag = digest.replace(":", "-") + ".sig"
    target = os.path.join(work, tag)
    policy = os.path.join(work, "policy.json")
    with open(policy, "w") as f:
        json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
    out = skopeo("copy", "--src-tls-verify=false", "--policy", policy,
                 f"docker://{repository}:{tag}", "dir:" + target)
    if out.returncode != 0:
        return f"no signature ({tag}): {out.stderr.decode().strip()}"
    with open(os.path.join(target, "manifest.json"), "rb") as f:
        manifest = json.load(f)
    problems = []
    for layer in manifest.get("layers", []):
        if layer.get("mediaType") != "application/vnd.dev.cosign.simplesigning.v1+json":
            continue
        signature = layer.get("annotations", {}).get("dev.cosignproject.cosign/signature")
        if not signature:
            problems.append("a layer without a signature annotation")
            continue
        payload_path = os.path.join(target, layer["digest"].split(":", 1)[1])
        sig_path = payload_path + ".der"
        with open(sig_path, "wb") as f:
            f.write(base64.b64decode(signature))
        check = subprocess.run(["openssl", "dgst", "-sha256", "-verify", public_key,
                                "-signature", sig_path, payload_path], capture_output=True)
        if check.returncode != 0:
            problems.append("openssl: the signature does not verify with this key")
            continue
        try:
            with open(payload_path, "rb") as f:
                check_payload(f.read(), digest, repository)
            return None
        except ValueError as err:
            problems.append(str(err))
    return "; ".join(problems) or "no simple-signing layer"


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    public_key, reference = sys.argv[1], sys.argv[2]
    every = "--all" in sys.argv[3:]
    if "@" in reference:
        repository = reference.split("@")[0]
    else:
        last = reference.rsplit("/", 1)[-1]
        repository = reference[: reference.rfind(":")] if ":" in last else reference
    top = raw_manifest(reference)
    digests = ["sha256:" + hashlib.sha256(top).hexdigest()]
    if every:
        digests += [m["digest"] for m in json.loads(top).get("manifests", [])]
    failures = []
    with tempfile.TemporaryDirectory() as work:
        for digest in digests:
            problem = verify_one(public_key, repository, digest, work)
            if problem:
                failures.append(f"{repository}@{digest}: {problem}")
    for failure in failures:
        print(failure, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
