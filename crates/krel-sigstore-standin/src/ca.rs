//! A Fulcio stand-in: a root CA that issues short-lived code-signing certificates for OIDC
//! identities, with Fulcio's extensions and an SCT from a CT log stand-in embedded (RFC 6962
//! precertificate signing: the SCT signs the certificate's TBS without the SCT extension).

use std::str::FromStr;

use x509_cert::certificate::{TbsCertificateInner, Version};
use x509_cert::der::asn1::{BitString, Ia5String, ObjectIdentifier, OctetString, UtcTime};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::keys::Key;

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const FULCIO_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const FULCIO_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// The CA, its root certificate and the CT log that timestamps what it issues.
pub(crate) struct Ca {
    key: Key,
    /// The root certificate, DER.
    pub(crate) root: Vec<u8>,
    /// The CT log's key.
    pub(crate) ct_log: Key,
    /// When the root's validity starts (seconds).
    pub(crate) since: i64,
    /// Seconds added to "now" for the certificates issued (negative: already expired).
    pub(crate) skew: std::sync::atomic::AtomicI64,
}

fn time(seconds: i64) -> Result<Time, String> {
    let duration =
        std::time::Duration::from_secs(u64::try_from(seconds).map_err(|e| e.to_string())?);
    UtcTime::from_unix_duration(duration)
        .map(Time::UtcTime)
        .map_err(|e| e.to_string())
}

fn extension(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Result<Extension, String> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).map_err(|e| e.to_string())?,
    })
}

fn der(value: &impl Encode) -> Result<Vec<u8>, String> {
    value.to_der().map_err(|e| e.to_string())
}

impl Ca {
    /// A new root, valid from an hour ago for ten years.
    pub(crate) fn new() -> Result<Ca, String> {
        let key = Key::generate();
        let since = crate::now_seconds() - 3600;
        let name = Name::from_str("CN=krel-sigstore-standin,O=krel").map_err(|e| e.to_string())?;
        let ski = key.id()[..20].to_vec();
        let extensions = vec![
            extension(
                ObjectIdentifier::new_unwrap("2.5.29.19"),
                true,
                der(&BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(1),
                })?,
            )?,
            extension(
                ObjectIdentifier::new_unwrap("2.5.29.15"),
                true,
                der(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))?,
            )?,
            extension(
                ObjectIdentifier::new_unwrap("2.5.29.14"),
                false,
                der(&SubjectKeyIdentifier(
                    OctetString::new(ski).map_err(|e| e.to_string())?,
                ))?,
            )?,
        ];
        let tbs = tbs(
            &key,
            name.clone(),
            name,
            &key.spki,
            since,
            since + 10 * 365 * 86400,
            [1; 16],
            extensions,
        )?;
        let root = sign(&key, tbs)?;
        Ok(Ca {
            key,
            root,
            ct_log: Key::generate(),
            since,
            skew: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// A certificate for `public_key` (SPKI DER) naming `identity` (a URI or an email) as
    /// issued through `issuer`, valid for ten minutes, with an embedded SCT.
    pub(crate) fn issue(
        &self,
        public_key: &[u8],
        identity: &str,
        issuer: &str,
    ) -> Result<Vec<u8>, String> {
        let now = crate::now_seconds();
        let mut serial = [0u8; 16];
        serial[..8].copy_from_slice(&now.to_be_bytes());
        serial[8..].copy_from_slice(&crate::sha256(public_key)[..8]);
        serial[0] &= 0x7f;
        let san = if identity.contains('@') && !identity.contains("://") {
            GeneralName::Rfc822Name(Ia5String::new(identity).map_err(|e| e.to_string())?)
        } else {
            GeneralName::UniformResourceIdentifier(
                Ia5String::new(identity).map_err(|e| e.to_string())?,
            )
        };
        let mut extensions = vec![
            extension(
                ObjectIdentifier::new_unwrap("2.5.29.15"),
                true,
                der(&KeyUsage(KeyUsages::DigitalSignature.into()))?,
            )?,
            extension(
                ObjectIdentifier::new_unwrap("2.5.29.37"),
                false,
                der(&ExtendedKeyUsage(vec![CODE_SIGNING]))?,
            )?,
            extension(
                ObjectIdentifier::new_unwrap("2.5.29.14"),
                false,
                der(&SubjectKeyIdentifier(
                    OctetString::new(crate::sha256(public_key)[..20].to_vec())
                        .map_err(|e| e.to_string())?,
                ))?,
            )?,
            extension(
                ObjectIdentifier::new_unwrap("2.5.29.35"),
                false,
                der(&AuthorityKeyIdentifier {
                    key_identifier: Some(
                        OctetString::new(self.key.id()[..20].to_vec())
                            .map_err(|e| e.to_string())?,
                    ),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                })?,
            )?,
            extension(
                ObjectIdentifier::new_unwrap("2.5.29.17"),
                true,
                der(&SubjectAltName(vec![san]))?,
            )?,
            extension(FULCIO_ISSUER_V1, false, issuer.as_bytes().to_vec())?,
            extension(
                FULCIO_ISSUER_V2,
                false,
                der(&x509_cert::der::asn1::Utf8StringRef::new(issuer).map_err(|e| e.to_string())?)?,
            )?,
        ];
        let root = Certificate::from_der(&self.root).map_err(|e| e.to_string())?;
        let issuer_name = root.tbs_certificate.subject.clone();
        let skew = self.skew.load(std::sync::atomic::Ordering::Relaxed);
        let (start, end) = (now + skew - 60, now + skew + 600);
        // The precertificate's TBS: every extension but the SCT list, which is added last.
        let pre = tbs(
            &self.key,
            issuer_name.clone(),
            Name::default(),
            public_key,
            start,
            end,
            serial,
            extensions.clone(),
        )?;
        let sct = self.sct(&der(&pre)?, now * 1000)?;
        extensions.push(extension(
            SCT_LIST,
            false,
            der(&OctetString::new(sct).map_err(|e| e.to_string())?)?,
        )?);
        let tbs = tbs(
            &self.key,
            issuer_name,
            Name::default(),
            public_key,
            start,
            end,
            serial,
            extensions,
        )?;
        sign(&self.key, tbs)
    }

    /// A SignedCertificateTimestampList (RFC 6962 §3.3) with one SCT over the precertificate
    /// `tbs`, made at `millis`.
    fn sct(&self, tbs: &[u8], millis: i64) -> Result<Vec<u8>, String> {
        let issuer_key_hash = crate::sha256(
            &Certificate::from_der(&self.root)
                .map_err(|e| e.to_string())?
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| e.to_string())?,
        );
        let timestamp = u64::try_from(millis)
            .map_err(|e| e.to_string())?
            .to_be_bytes();
        let tbs_len = u32::try_from(tbs.len())
            .map_err(|e| e.to_string())?
            .to_be_bytes();
        let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
        signed.extend_from_slice(&timestamp);
        signed.extend_from_slice(&[0, 1]); // precert_entry
        signed.extend_from_slice(&issuer_key_hash);
        signed.extend_from_slice(&tbs_len[1..]);
        signed.extend_from_slice(tbs);
        signed.extend_from_slice(&[0, 0]); // no extensions
        let signature = self.ct_log.sign(&signed);
        let mut sct = vec![0u8]; // v1
        sct.extend_from_slice(&self.ct_log.id());
        sct.extend_from_slice(&timestamp);
        sct.extend_from_slice(&[0, 0]); // no extensions
        sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
        sct.extend_from_slice(
            &u16::try_from(signature.len())
                .map_err(|e| e.to_string())?
                .to_be_bytes(),
        );
        sct.extend_from_slice(&signature);
        let sct_len = u16::try_from(sct.len())
            .map_err(|e| e.to_string())?
            .to_be_bytes();
        let list_len = u16::try_from(sct.len() + 2)
            .map_err(|e| e.to_string())?
            .to_be_bytes();
        let mut list = list_len.to_vec();
        list.extend_from_slice(&sct_len);
        list.extend_from_slice(&sct);
        Ok(list)
    }
}

#[allow(clippy::too_many_arguments)]
fn tbs(
    signer: &Key,
    issuer: Name,
    subject: Name,
    public_key: &[u8],
    start: i64,
    end: i64,
    serial: [u8; 16],
    extensions: Vec<Extension>,
) -> Result<TbsCertificateInner, String> {
    let _ = signer;
    Ok(TbsCertificateInner {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial).map_err(|e| e.to_string())?,
        signature: AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        },
        issuer,
        validity: Validity {
            not_before: time(start)?,
            not_after: time(end)?,
        },
        subject,
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(public_key)
            .map_err(|e| e.to_string())?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    })
}

fn sign(key: &Key, tbs: TbsCertificateInner) -> Result<Vec<u8>, String> {
    let signature = key.sign(&der(&tbs)?);
    let certificate = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        },
        signature: BitString::from_bytes(&signature).map_err(|e| e.to_string())?,
    };
    der(&certificate)
}
