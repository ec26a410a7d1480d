// sigstore-js (@sigstore/verify), an independent verifier of the bundles krel writes.
//   node verify.js --bundle B --artifact F (--key PUB | --identity ID --issuer URL) [--trusted-root R]
// Key-signed bundles are verified offline: no transparency-log entry, timestamp or SCT is
// required (krel's key-based bundles carry none). For a DSSE attestation, the artifact's
// SHA-256 must be one of the in-toto statement's subjects. Exit 0 only when it verifies.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
};

function main() {
  const a = args();
  const bundleJSON = JSON.parse(fs.readFileSync(a.bundle, 'utf8'));
  const bundle = bundleFromJSON(bundleJSON);
  const artifact = fs.readFileSync(a.artifact);
  const root = TrustedRoot.fromJSON(
    a['trusted-root'] ? JSON.parse(fs.readFileSync(a['trusted-root'], 'utf8')) : EMPTY_ROOT);
  let verifier, policy;
  if (a.key) {
    const publicKey = crypto.createPublicKey(fs.readFileSync(a.key, 'utf8'));
    const keys = () => ({ publicKey, validFor: () => true });
    verifier = new Verifier(toTrustMaterial(root, keys),
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  } else {
    verifier = new Verifier(toTrustMaterial(root));
    policy = { subjectAlternativeName: a.identity, extensions: { issuer: a.issuer } };
  }
  const isDsse = bundle.content.$case === 'dsseEnvelope';
  const entity = toSignedEntity(bundle, isDsse ? undefined : artifact);
  const signer = verifier.verify(entity, policy);
  if (isDsse) {
    const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8'));
    const digest = crypto.createHash('sha256').update(artifact).digest('hex');
    if (!statement.subject.some((s) => s.digest && s.digest.sha256 === digest)) {
      throw new Error(`${a.artifact} (sha256 ${digest}) is not a subject of the statement`);
    }
  }
  console.log(`verified: ${a.artifact} ${signer.identity ? signer.identity.subjectAlternativeName : 'key'}`);
}

try {
  main();
} catch (err) {
  console.error(`sigstore-js: ${err.message || err}`);
  process.exit(1);
}
