//! Sigstore on 127.0.0.1, for keyless rehearsals (`krel rehearse --keyless`) and tests: what
//! signing with an OIDC identity meets in the real world, without leaving the machine.
//!
//! One HTTP server serves:
//! - `GET /token?audience=sigstore` (bearer `request-token`): an OIDC identity token, as GitHub
//!   Actions serves `ACTIONS_ID_TOKEN_REQUEST_URL`; its claims are the stand-in's workflow
//!   identity ([`SigstoreStandIn::token`] makes one for any identity);
//! - `POST /api/v2/signingCert`: Fulcio. The token must be one this issuer signed, unexpired,
//!   for the audience `sigstore`, and the proof of possession must verify; the certificate
//!   names the token's identity (`job_workflow_ref` as `https://github.com/…`, else an email,
//!   else the subject) and issuer, is valid ten minutes, and embeds an SCT;
//! - `POST /api/v1/log/entries`: Rekor v1 for `hashedrekord` and `dsse` entries, with inclusion
//!   proofs against signed checkpoints and signed entry timestamps.
//!
//! [`SigstoreStandIn::trusted_root`] describes it all as a `trusted_root.json` that
//! `krel sign verify --trusted-root`, sigstore-js and sigstore-python accept.

mod ca;
mod keys;
mod log;
mod oidc;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The bearer token `GET /token` requires, as `ACTIONS_ID_TOKEN_REQUEST_TOKEN` carries.
pub const REQUEST_TOKEN: &str = "krel-standin-request-token";

/// The identity tokens from `GET /token` name (a GitHub Actions workflow's).
pub const WORKFLOW_REF: &str = "krel-sandbox/widget/.github/workflows/release.yml@refs/heads/main";

pub(crate) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

struct State {
    issuer: oidc::Issuer,
    ca: ca::Ca,
    log: Mutex<log::Log>,
}

/// The running stand-in; stops when dropped.
pub struct SigstoreStandIn {
    /// `http://127.0.0.1:PORT`: Fulcio's and Rekor's URL.
    pub url: String,
    server: Arc<tiny_http::Server>,
    stopped: Arc<AtomicBool>,
    state: Arc<State>,
}

impl SigstoreStandIn {
    /// Starts the stand-in on a free loopback port.
    pub fn start() -> Result<SigstoreStandIn, String> {
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0")
                .map_err(|e| format!("starting the Sigstore stand-in: {e}"))?,
        );
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or("the Sigstore stand-in has no port")?;
        let url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(State {
            issuer: oidc::Issuer::new(format!("{url}/oidc")),
            ca: ca::Ca::new()?,
            log: Mutex::new(log::Log::new(&format!("127.0.0.1:{port}"))),
        });
        let stopped = Arc::new(AtomicBool::new(false));
        let (srv, stop, shared) = (server.clone(), stopped.clone(), state.clone());
        std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let shared = shared.clone();
                std::thread::spawn(move || respond(request, &shared));
            }
        });
        Ok(SigstoreStandIn {
            url,
            server,
            stopped,
            state,
        })
    }

    /// The OIDC issuer's URL (what certificates record as the issuer).
    pub fn issuer(&self) -> String {
        self.state.issuer.url.clone()
    }

    /// The identity of the tokens `GET /token` gives (the certificate's SAN).
    pub fn workflow_identity(&self) -> String {
        format!("https://github.com/{WORKFLOW_REF}")
    }

    /// An identity token with these claims (merged over iss, aud, iat, exp).
    pub fn token(&self, claims: &Value) -> String {
        self.state.issuer.token(claims)
    }

    /// Issues certificates as if the clock were `seconds` ahead (negative: behind), to make
    /// certificates that expired before their signatures were logged.
    pub fn skew_certificates(&self, seconds: i64) {
        self.state
            .ca
            .skew
            .store(seconds, std::sync::atomic::Ordering::Relaxed);
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL` for this stand-in.
    pub fn token_request_url(&self) -> String {
        format!("{}/token", self.url)
    }

    /// The `trusted_root.json` describing this stand-in's CA, log and CT log.
    pub fn trusted_root(&self) -> String {
        let start = rfc3339(self.state.ca.since);
        let log = self
            .state
            .log
            .lock()
            .map(|l| (l.key.spki.clone(), l.key.id()));
        let (rekor_spki, rekor_id) = log.unwrap_or_default();
        let ct = &self.state.ca.ct_log;
        let key = |spki: &[u8]| json!({"rawBytes": STANDARD.encode(spki), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": {"start": start}});
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": self.url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": key(&rekor_spki),
                "logId": {"keyId": STANDARD.encode(rekor_id)},
            }],
            "certificateAuthorities": [{
                "subject": {"organization": "krel", "commonName": "krel-sigstore-standin"},
                "uri": self.url,
                "certChain": {"certificates": [{"rawBytes": STANDARD.encode(&self.state.ca.root)}]},
                "validFor": {"start": start},
            }],
            "ctlogs": [{
                "baseUrl": self.url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": key(&ct.spki),
                "logId": {"keyId": STANDARD.encode(ct.id())},
            }],
            "timestampAuthorities": [],
        })
        .to_string()
    }

    /// A signing config (Sigstore's `SigningConfig` v0.2) naming this stand-in's services.
    pub fn signing_config(&self) -> String {
        let start = rfc3339(self.state.ca.since);
        let service = |url: String, version: u32| json!({"url": url, "majorApiVersion": version, "validFor": {"start": start}, "operator": "krel"});
        json!({
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service(self.url.clone(), 1)],
            "oidcUrls": [service(self.issuer(), 1)],
            "rekorTlogUrls": [service(self.url.clone(), 1)],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaUrls": [],
            "tsaConfig": {"selector": "ANY"},
        })
        .to_string()
    }
}

impl Drop for SigstoreStandIn {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.server.unblock();
    }
}

/// RFC 3339 in UTC, as trusted roots and signing configs write times.
fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map_or_else(|_| "1970-01-01T00:00:00Z".into(), |t| t.to_string())
}

fn respond(mut request: tiny_http::Request, state: &State) {
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    let url = request.url().to_string();
    let path = url.split('?').next().unwrap_or("").to_string();
    let result = match (request.method(), path.as_str()) {
        (tiny_http::Method::Get, "/token") => token(&request, state),
        (tiny_http::Method::Post, "/api/v2/signingCert") => signing_cert(&body, state),
        (tiny_http::Method::Post, "/api/v1/log/entries") => serde_json::from_str(&body)
            .map_err(|e| (400, e.to_string()))
            .and_then(|proposed| {
                state
                    .log
                    .lock()
                    .map_err(|_| (500, "the log is poisoned".to_string()))?
                    .append(&proposed)
                    .map(|entry| (201, entry))
                    .map_err(|e| (400, e))
            }),
        _ => Err((404, format!("no route for {path}"))),
    };
    let (status, value) = match result {
        Ok((status, value)) => (status, value),
        Err((status, message)) => (status, json!({"code": status, "message": message})),
    };
    let mut response = tiny_http::Response::from_string(value.to_string()).with_status_code(status);
    if let Ok(header) = tiny_http::Header::from_bytes("Content-Type", "application/json") {
        response = response.with_header(header);
    }
    let _ = request.respond(response);
}

type Answer = Result<(u16, Value), (u16, String)>;

fn token(request: &tiny_http::Request, state: &State) -> Answer {
    let authorized = request.headers().iter().any(|h| {
        h.field.equiv("Authorization") && h.value.as_str() == format!("Bearer {REQUEST_TOKEN}")
    });
    if !authorized {
        return Err((401, "a bearer request token is required".into()));
    }
    let claims = json!({
        "sub": format!("repo:krel-sandbox/widget:ref:refs/heads/main"),
        "job_workflow_ref": WORKFLOW_REF,
        "repository": "krel-sandbox/widget",
    });
    Ok((
        200,
        json!({"value": state.issuer.token(&claims), "count": 1}),
    ))
}

/// Fulcio's `signingCert`: check the token and the proof of possession, issue a certificate.
fn signing_cert(body: &str, state: &State) -> Answer {
    let request: Value = serde_json::from_str(body).map_err(|e| (400, e.to_string()))?;
    let token = request["credentials"]["oidcIdentityToken"]
        .as_str()
        .ok_or((400, "no token".to_string()))?;
    let claims = state.issuer.check(token).map_err(|e| (401, e))?;
    let pem = request["publicKeyRequest"]["publicKey"]["content"]
        .as_str()
        .ok_or((400, "no public key".to_string()))?;
    let public = sigstore_types::DerPublicKey::from_pem(pem).map_err(|e| (400, e.to_string()))?;
    let proof = request["publicKeyRequest"]["proofOfPossession"]
        .as_str()
        .ok_or((400, "no proof of possession".to_string()))?;
    let signed = claims["email"]
        .as_str()
        .or(claims["sub"].as_str())
        .unwrap_or("");
    let key =
        sigstore_crypto::VerificationKey::from_spki(&public).map_err(|e| (400, e.to_string()))?;
    let proof =
        sigstore_types::SignatureBytes::from_base64(proof).map_err(|e| (400, e.to_string()))?;
    key.verify(signed.as_bytes(), &proof)
        .map_err(|_| (400, "the proof of possession does not verify".to_string()))?;
    let identity = match (
        claims["job_workflow_ref"].as_str(),
        claims["email"].as_str(),
    ) {
        (Some(workflow), _) => format!("https://github.com/{workflow}"),
        (None, Some(email)) => email.to_string(),
        (None, None) => signed.to_string(),
    };
    let issuer = claims["iss"].as_str().unwrap_or("");
    let leaf = state
        .ca
        .issue(public.as_bytes(), &identity, issuer)
        .map_err(|e| (500, e))?;
    let chain: Vec<String> = [leaf.as_slice(), state.ca.root.as_slice()]
        .iter()
        .map(|der| pem_certificate(der))
        .collect();
    Ok((
        201,
        json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}),
    ))
}

fn pem_certificate(der: &[u8]) -> String {
    pem("CERTIFICATE", der)
}

/// PEM as Go's encoding/pem writes it: LF line ends, 64 columns, a final newline.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
