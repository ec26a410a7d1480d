//! Sigstore bundles (`<file>.sigstore.json`, media type v0.3), written and verified with the
//! Sigstore project's own crates (`sigstore-bundle`, `sigstore-types`, `sigstore-verify`,
//! `sigstore-trust-root`, which carries the public-good trusted root).
//!
//! - [`BundleSigner`]: what makes bundles. [`KeyBundleSigner`] wraps a key-based
//!   [`krel_sign::Signer`]: its bundles carry a public-key hint and no transparency-log entry,
//!   as `cosign sign-blob --key --tlog-upload=false` writes them.
//! - [`sign_files`] writes `<file>.sigstore.json` and, for existing verifiers, `<file>.sig`
//!   (and `<file>.cert` for a certificate), from one signature.
//! - [`attest`] signs an in-toto statement into a DSSE envelope inside a bundle:
//!   `<file>.intoto.sigstore.json` beside the file the statement is about (`provenance.json`,
//!   an SBOM).
//! - [`verify`] checks one bundle against an artifact (its bytes, path or `sha256:` digest), an
//!   expected signer ([`Expected`]: a key, or a certificate identity and OIDC issuer, exact or
//!   by regular expression) and a [`Trust`] (a trusted root). It passes the Sigstore
//!   conformance suite's verification cases (tests/conformance.rs).

mod error;
mod files;
mod keyless;
mod sign;
mod verify;

pub use error::BundleError;
pub use files::{attestation_path, bundle_path, sign_files, write_attestation, Outputs};
pub use keyless::{KeylessSigner, Services, TokenSource};
pub use sign::{attest, BundleSigner, KeyBundleSigner, IN_TOTO_PAYLOAD_TYPE};
pub use sigstore_types::Bundle;
pub use verify::{
    parse, parse_sha256, verify, verify_statement, Expected, Matcher, Subject, Trust, Verified,
};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use krel_sign::{generate_key_pair, load_signing_key, Secret};

    fn signer() -> (krel_sign::KeySigner, Expected) {
        let pair = generate_key_pair(&Secret::new("")).unwrap();
        let key = load_signing_key(pair.private_pem.expose(), &|| Ok(Secret::new(""))).unwrap();
        let expected = Expected::key_pem(&pair.public_pem, "test key").unwrap();
        (key, expected)
    }

    fn statement(digest: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "kubectl", "digest": {"sha256": digest}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {},
        }))
        .unwrap()
    }

    #[test]
    fn key_bundles_round_trip_and_bind_to_their_artifact() {
        use sha2::Digest;
        let (key, expected) = signer();
        let bundles = KeyBundleSigner::new(key).unwrap();
        let trust = Trust::public_good().unwrap();
        let digest: [u8; 32] = sha2::Sha256::digest(b"kubectl").into();
        let json = bundles.sign_digest(&digest).unwrap().to_json().unwrap();
        verify(Subject::Bytes(b"kubectl"), &json, "b", &expected, &trust).unwrap();
        verify(Subject::Digest(digest), &json, "b", &expected, &trust).unwrap();
        let err = verify(Subject::Bytes(b"kubeadm"), &json, "b", &expected, &trust).unwrap_err();
        assert!(err.to_string().contains("artifact mismatch"), "{err}");

        let attestation = attest(&bundles, &statement(&hex::encode(digest))).unwrap();
        let json = attestation.to_json().unwrap();
        let verified = verify(Subject::Bytes(b"kubectl"), &json, "a", &expected, &trust).unwrap();
        assert_eq!(verified.statement.unwrap(), statement(&hex::encode(digest)));
        let err = verify(Subject::Bytes(b"kubeadm"), &json, "a", &expected, &trust).unwrap_err();
        assert!(err.to_string().contains("not a subject"), "{err}");
        let (_, other) = signer();
        let err = verify(Subject::Bytes(b"kubectl"), &json, "a", &other, &trust).unwrap_err();
        assert!(err.to_string().contains("invalid signature"), "{err}");
    }

    #[test]
    fn statements_without_subjects_are_not_attested() {
        let (key, _) = signer();
        let bundles = KeyBundleSigner::new(key).unwrap();
        let err = attest(&bundles, br#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}"#).unwrap_err();
        assert!(err.to_string().contains("no subjects"), "{err}");
        assert!(attest(&bundles, b"not json").is_err());
    }

    #[test]
    fn regular_expressions_match_whole_values() {
        let matcher = Matcher::regex("https://github.com/kubernetes/.*").unwrap();
        assert!(matcher.to_string().contains("kubernetes"));
        let Matcher::Regex(re) = matcher else {
            panic!()
        };
        assert!(re.is_match("https://github.com/kubernetes/release/x"));
        assert!(!re.is_match("evil https://github.com/kubernetes/release"));
        assert!(Matcher::regex("(").is_err());
    }
}
