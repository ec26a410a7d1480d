#!/usr/bin/env python3
"""An independent implementation of cosign's encrypted private key format, for interop tests.

Written from the format's description (sigstore/cosign pkg/cosign/keys.go, go-securesystemslib
encrypted): PEM "ENCRYPTED SIGSTORE PRIVATE KEY" around JSON
{"kdf":{"name":"scrypt","params":{"N","r","p"},"salt"},"cipher":{"name":"nacl/secretbox","nonce"},"ciphertext"}
(standard base64), key = scrypt(password, salt, N, r, p, 32), NaCl secretbox, PKCS#8 DER inside.

  cosign_key.py sign KEY PASSWORD FILE         decrypt KEY, write FILE.sig (base64 DER ECDSA SHA-256)
  cosign_key.py wrap PKCS8_PEM PASSWORD N OUT  encrypt an openssl PKCS#8 key into cosign's format
"""
import base64
import hashlib
import json
import os
import sys

import nacl.secret
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

LABELS = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")


def pem_body(text):
    lines = text.strip().splitlines()
    label = lines[0][len("-----BEGIN "):-len("-----")]
    if label not in LABELS:
        sys.exit(f"unexpected PEM label {label}")
    return base64.b64decode("".join(lines[1:-1]))


def derive(password, salt, n, r, p):
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2**30, dklen=32)


def sign(key_path, password, file_path):
    doc = json.loads(pem_body(open(key_path).read()))
    assert doc["kdf"]["name"] == "scrypt" and doc["cipher"]["name"] == "nacl/secretbox"
    params = doc["kdf"]["params"]
    key = derive(password, base64.b64decode(doc["kdf"]["salt"]), params["N"], params["r"], params["p"])
    box = nacl.secret.SecretBox(key)
    der = box.decrypt(base64.b64decode(doc["ciphertext"]), base64.b64decode(doc["cipher"]["nonce"]))
    private = serialization.load_der_private_key(der, password=None)
    assert isinstance(private.curve, ec.SECP256R1)
    signature = private.sign(open(file_path, "rb").read(), ec.ECDSA(hashes.SHA256()))
    with open(file_path + ".sig", "w") as out:
        out.write(base64.b64encode(signature).decode())


def wrap(pkcs8_path, password, n, out_path):
    private = serialization.load_pem_private_key(open(pkcs8_path, "rb").read(), password=None)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    box = nacl.secret.SecretBox(derive(password, salt, int(n), 8, 1))
    sealed = box.encrypt(der, nonce).ciphertext  # tag first, as NaCl secretbox
    doc = {
        "kdf": {"name": "scrypt", "params": {"N": int(n), "r": 8, "p": 1},
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    body = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    with open(out_path, "w") as out:
        out.write("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (LABELS[0], "\n".join(lines), LABELS[0]))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"sign": sign, "wrap": wrap}[command](*args)
