//! An OIDC issuer for tests and rehearsals: ES256 JWTs for any subject, checked by the Fulcio
//! stand-in. Served as GitHub Actions serves `ACTIONS_ID_TOKEN_REQUEST_URL`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::keys::Key;

/// Signs and checks identity tokens.
pub(crate) struct Issuer {
    pub(crate) url: String,
    key: Key,
}

impl Issuer {
    pub(crate) fn new(url: String) -> Issuer {
        Issuer {
            url,
            key: Key::generate(),
        }
    }

    /// A token for `claims` (merged over iss, aud `sigstore`, iat, exp in ten minutes).
    pub(crate) fn token(&self, claims: &Value) -> String {
        let now = crate::now_seconds();
        let mut body =
            json!({"iss": self.url, "aud": "sigstore", "iat": now, "nbf": now, "exp": now + 600});
        if let (Some(body), Some(claims)) = (body.as_object_mut(), claims.as_object()) {
            for (k, v) in claims {
                body.insert(k.clone(), v.clone());
            }
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(body.to_string());
        let input = format!("{header}.{payload}");
        let der = self.key.sign(input.as_bytes());
        let raw = p256::ecdsa::Signature::from_der(&der)
            .map(|s| s.to_bytes().to_vec())
            .unwrap_or_default();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// The claims of a token this issuer signed, unexpired, for the audience `sigstore`.
    pub(crate) fn check(&self, token: &str) -> Result<Value, String> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT".into());
        };
        let raw = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "bad signature encoding")?;
        let signature =
            p256::ecdsa::Signature::from_slice(&raw).map_err(|_| "bad signature length")?;
        let key = sigstore_crypto::VerificationKey::from_spki(&sigstore_types::DerPublicKey::new(
            self.key.spki.clone(),
        ))
        .map_err(|e| e.to_string())?;
        key.verify(
            format!("{header}.{payload}").as_bytes(),
            &sigstore_types::SignatureBytes::new(signature.to_der().as_bytes().to_vec()),
        )
        .map_err(|_| "the token is not signed by this issuer".to_string())?;
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(payload)
                .map_err(|_| "bad payload encoding")?,
        )
        .map_err(|e| e.to_string())?;
        if claims["aud"] != "sigstore" {
            return Err("the token's audience is not sigstore".into());
        }
        if claims["exp"].as_i64().unwrap_or(0) < crate::now_seconds() {
            return Err("the token has expired".into());
        }
        Ok(claims)
    }
}
