//! Keyless signing: an OIDC identity token → a short-lived Fulcio certificate for an ephemeral
//! key → the signature recorded in Rekor → a bundle holding all three. The protocol is the
//! Sigstore project's `sigstore-sign` crate; krel adds where the token comes from and keeps it
//! fresh (a GitHub Actions token lives minutes; a stage signs for longer).

use std::sync::Mutex;

use sigstore_sign::oidc::IdentityToken;
use sigstore_sign::{SigningContext, SigningServices, SigstoreInstance};
use sigstore_types::{ArtifactDigest, Bundle, Sha256Hash};

use crate::{BundleError, BundleSigner};

/// Where identity tokens come from. Its `Debug` shows no token.
#[derive(Clone)]
pub enum TokenSource {
    /// A token given once (`SIGSTORE_ID_TOKEN`); it cannot be renewed.
    Fixed(String),
    /// GitHub Actions' token service (`ACTIONS_ID_TOKEN_REQUEST_URL` with the bearer
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`), asked for the audience `sigstore` when needed.
    Actions {
        /// The request URL.
        url: String,
        /// The request token (a secret: never printed).
        request_token: String,
    },
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl TokenSource {
    /// From the environment: `SIGSTORE_ID_TOKEN`, else GitHub Actions' variables.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<TokenSource> {
        if let Some(token) = var("SIGSTORE_ID_TOKEN").filter(|t| !t.is_empty()) {
            return Some(TokenSource::Fixed(token));
        }
        match (
            var("ACTIONS_ID_TOKEN_REQUEST_URL"),
            var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ) {
            (Some(url), Some(request_token)) if !url.is_empty() => {
                Some(TokenSource::Actions { url, request_token })
            }
            _ => None,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            TokenSource::Fixed(_) => "SIGSTORE_ID_TOKEN",
            TokenSource::Actions { .. } => "the GitHub Actions OIDC token",
        }
    }

    async fn fetch(&self) -> Result<IdentityToken, String> {
        let jwt = match self {
            TokenSource::Fixed(token) => token.clone(),
            TokenSource::Actions { url, request_token } => {
                let separator = if url.contains('?') { '&' } else { '?' };
                let response = reqwest::Client::new()
                    .get(format!("{url}{separator}audience=sigstore"))
                    .bearer_auth(request_token)
                    .send()
                    .await
                    .map_err(|e| format!("asking GitHub Actions for an OIDC token: {e}"))?
                    .error_for_status()
                    .map_err(|e| format!("asking GitHub Actions for an OIDC token: {e} (does the job have `permissions: id-token: write`?)"))?;
                let body: serde_json::Value = response
                    .json()
                    .await
                    .map_err(|e| format!("reading the OIDC token: {e}"))?;
                body["value"]
                    .as_str()
                    .ok_or("the OIDC token response has no `value`")?
                    .to_string()
            }
        };
        IdentityToken::from_jwt(&jwt).map_err(|e| format!("the OIDC token is not a JWT: {e}"))
    }
}

/// The Sigstore services to sign with.
#[derive(Clone, Debug)]
pub enum Services {
    /// Sigstore's public-good instance (its embedded signing config).
    PublicGood,
    /// The services a signing config names (Sigstore's `SigningConfig` JSON, as `cosign
    /// --signing-config` takes): a private instance, or the loopback stand-in.
    Config {
        /// The JSON.
        json: String,
        /// Where it came from, for messages.
        what: String,
    },
}

/// The signing context of a signing config: its Fulcio and its Rekor v1 when it has one (no
/// timestamp authority needed), else what `sigstore-sign` selects (Rekor v2 with a TSA).
fn context_of(json: &str) -> Result<(SigningContext, String), String> {
    let config = sigstore_trust_root::SigningConfig::from_json(json).map_err(|e| e.to_string())?;
    let fulcio = config
        .fulcio_url()
        .map(|e| e.url.clone())
        .ok_or("it names no certificate authority (caUrls)")?;
    let services = match config.rekor_url(Some(1)) {
        Some(rekor) => SigningServices::new(fulcio.clone(), rekor.url.clone()),
        None => SigningServices::from_signing_config(&config).map_err(|e| e.to_string())?,
    };
    Ok((SigningContext::new(services), format!("Fulcio {fulcio}")))
}

/// Signs keylessly: every signature gets its own ephemeral key, certificate and log entry, as
/// `cosign sign-blob` does.
pub struct KeylessSigner {
    context: SigningContext,
    tokens: TokenSource,
    token: Mutex<Option<IdentityToken>>,
    runtime: tokio::runtime::Runtime,
    what: String,
}

impl KeylessSigner {
    /// A signer with `services`, tokens from `tokens`.
    pub fn new(services: &Services, tokens: TokenSource) -> Result<KeylessSigner, BundleError> {
        let failed = |reason: String| BundleError::Keyless { reason };
        let (context, what) = match services {
            Services::PublicGood => (
                SigningContext::from_embedded(SigstoreInstance::PublicGood)
                    .map_err(|e| failed(e.to_string()))?,
                "Sigstore public-good".to_string(),
            ),
            Services::Config { json, what } => context_of(json)
                .map_err(|reason| failed(format!("signing config {what}: {reason}")))?,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| failed(e.to_string()))?;
        Ok(KeylessSigner {
            what: format!("keyless ({}, {what})", tokens.describe()),
            context,
            tokens,
            token: Mutex::new(None),
            runtime,
        })
    }

    /// A token valid for at least another minute, fetched again when needed.
    fn fresh_token(&self) -> Result<IdentityToken, BundleError> {
        let failed = |reason: String| BundleError::Keyless { reason };
        let mut cached = self
            .token
            .lock()
            .map_err(|_| failed("token cache poisoned".into()))?;
        let margin = jiff::SignedDuration::from_secs(60);
        let usable = cached
            .as_ref()
            .is_some_and(|t| t.expiration().duration_since(jiff::Timestamp::now()) > margin);
        if !usable {
            let token = self.runtime.block_on(self.tokens.fetch()).map_err(failed)?;
            if token.is_expired() {
                return Err(failed(format!(
                    "the identity token from {} has expired; get a fresh one",
                    self.tokens.describe()
                )));
            }
            *cached = Some(token);
        }
        cached
            .clone()
            .ok_or_else(|| failed("no identity token".into()))
    }

    /// The identity the certificates will name, for messages: as Fulcio maps a GitHub
    /// Actions token, its workflow (`https://github.com/` + `job_workflow_ref`); else the
    /// token's email or subject.
    pub fn identity(&self) -> Result<String, BundleError> {
        use base64::Engine;
        let token = self.fresh_token()?;
        let workflow = token
            .expose_secret()
            .split('.')
            .nth(1)
            .and_then(|payload| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()
            })
            .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
            .and_then(|claims| claims["job_workflow_ref"].as_str().map(str::to_string));
        Ok(match workflow {
            Some(workflow) => format!("https://github.com/{workflow}"),
            None => token.identity().to_string(),
        })
    }
}

impl BundleSigner for KeylessSigner {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Bundle, BundleError> {
        let signer = self.context.signer(self.fresh_token()?);
        let artifact = ArtifactDigest::sha256(Sha256Hash::from(*digest));
        self.runtime
            .block_on(signer.sign(artifact))
            .map_err(|e| BundleError::Keyless {
                reason: e.to_string(),
            })
    }

    fn sign_statement(&self, statement: &[u8]) -> Result<Bundle, BundleError> {
        let signer = self.context.signer(self.fresh_token()?);
        self.runtime
            .block_on(signer.sign_raw_statement(statement))
            .map_err(|e| BundleError::Keyless {
                reason: e.to_string(),
            })
    }

    fn describe(&self) -> String {
        self.what.clone()
    }

    fn detached(&self) -> Option<&dyn krel_sign::Signer> {
        None
    }
}
