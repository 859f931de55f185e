//! TLS to PostgreSQL as libpq sets it up, from the connection string's `sslmode` and
//! `sslrootcert`. tokio-postgres reads `sslmode` `disable`, `prefer` and `require` only,
//! and checks no certificate itself; here:
//!
//! - `disable`: no TLS.
//! - `prefer` (the default) and `require`: TLS where the server offers it, or always.
//!   The server's certificate is not checked, unless `sslrootcert` is given, which makes
//!   them `verify-ca`, as in libpq.
//! - `verify-ca`: TLS, with a certificate signed by a CA of `sslrootcert`.
//! - `verify-full`: the same, and the certificate issued for the host connected to.
//!
//! `sslrootcert` is a file of PEM certificates, or `system` for the system's CAs;
//! the `verify-` modes without it read `~/.postgresql/root.crt`, as libpq does.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::Config;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::compile::store::StoreError;

/// The settings read here rather than by tokio-postgres.
const MODE: &str = "sslmode";
const ROOTS: &str = "sslrootcert";

/// The client's settings and TLS connector for a libpq connection string (a
/// `postgres://` URL or `key=value` words).
pub(super) fn connection(text: &str) -> Result<(Config, MakeRustlsConnect), StoreError> {
    let (rest, settings) = take_settings(text);
    let setting = |name: &str| settings.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    let mode = setting(MODE).unwrap_or("prefer");
    // As libpq: a CA given makes `prefer` and `require` check the certificate's signer.
    let signer_if_given = if setting(ROOTS).is_some() { Check::Signer } else { Check::Nothing };
    let (ssl_mode, check) = match mode {
        "disable" => (SslMode::Disable, Check::Nothing),
        "prefer" => (SslMode::Prefer, signer_if_given),
        "require" => (SslMode::Require, signer_if_given),
        "verify-ca" => (SslMode::Require, Check::Signer),
        "verify-full" => (SslMode::Require, Check::SignerAndHost),
        other => {
            return Err(StoreError::Tls(format!(
                "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    let mut config: Config = rest.parse().map_err(StoreError::Url)?;
    config.ssl_mode(ssl_mode);
    let roots = match check {
        Check::Nothing => None,
        Check::Signer | Check::SignerAndHost => Some(roots(setting(ROOTS))?),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier { provider: provider.clone(), roots, host: check == Check::SignerAndHost };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((config, MakeRustlsConnect::new(tls)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Signer,
    SignerAndHost,
}

/// The CAs `sslrootcert` names.
fn roots(setting: Option<&str>) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    if setting == Some("system") {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        if roots.is_empty() {
            return Err(StoreError::Tls("sslrootcert=system: this system has no CA certificates".into()));
        }
        return Ok(roots);
    }
    let file = match setting {
        Some(file) => PathBuf::from(file),
        None => std::env::home_dir().unwrap_or_default().join(".postgresql/root.crt"),
    };
    let unreadable = |reason: String| StoreError::Tls(format!("sslrootcert {}: {reason}", file.display()));
    let bytes = std::fs::read(&file).map_err(|e| unreadable(e.to_string()))?;
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        let certificate = certificate.map_err(|e| unreadable(format!("not PEM certificates: {e}")))?;
        roots.add(certificate).map_err(|e| unreadable(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(unreadable("holds no certificate".into()));
    }
    Ok(roots)
}

/// Checks the server's certificate as the mode asks; the handshake's signatures are
/// always checked.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    /// The CAs the certificate must be signed by; `None`: it is not checked.
    roots: Option<RootCertStore>,
    /// Whether the certificate must be issued for the host connected to.
    host: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let certificate = ParsedCertificate::try_from(end_entity)?;
            let algorithms = self.provider.signature_verification_algorithms.all;
            verify_server_cert_signed_by_trust_anchor(&certificate, roots, intermediates, now, algorithms)?;
            if self.host {
                verify_server_name(&certificate, server_name)?;
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, certificate, signature, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, certificate, signature, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// `text` without its `sslmode` and `sslrootcert` settings, and those settings (name
/// and value) in order. Text tokio-postgres cannot read either is left as it is, for
/// tokio-postgres to say why.
fn take_settings(text: &str) -> (String, Vec<(String, String)>) {
    let is_ours = |key: &str| key == MODE || key == ROOTS;
    if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
        let (mut rest, mut taken, mut from) = (String::new(), Vec::new(), 0);
        for (span, key, value) in keyword_pairs(text).unwrap_or_default() {
            if is_ours(&key) {
                rest.push_str(&text[from..span.start]);
                from = span.end;
                taken.push((key, value));
            }
        }
        rest.push_str(&text[from..]);
        return (rest, taken);
    }
    let Some((base, query)) = text.split_once('?') else { return (text.to_owned(), Vec::new()) };
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let (mut kept, mut taken) = (Vec::new(), Vec::new());
    for parameter in query.split('&') {
        match parameter.split_once('=') {
            Some((key, value)) if is_ours(&decode(key)) => taken.push((decode(key), decode(value))),
            _ => kept.push(parameter),
        }
    }
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (rest, taken)
}

/// The `key = value` words of a libpq connection string, with their spans: values
/// bare or single-quoted, `\` escaping the next character. `None` where the text is
/// not such words.
fn keyword_pairs(text: &str) -> Option<Vec<(Range<usize>, String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = text.char_indices().peekable();
    let skip_spaces = |chars: &mut std::iter::Peekable<std::str::CharIndices>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_spaces(&mut chars);
        let Some(&(start, _)) = chars.peek() else { return Some(pairs) };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|&(_, c)| !c.is_whitespace() && c != '=') {
            key.push(c);
        }
        skip_spaces(&mut chars);
        chars.next_if(|&(_, c)| c == '=')?;
        skip_spaces(&mut chars);
        let quoted = chars.next_if(|&(_, c)| c == '\'').is_some();
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                Some((at, '\'')) if quoted => break at + 1,
                Some((_, '\\')) => value.push(chars.next()?.1),
                Some((at, c)) if !quoted && c.is_whitespace() => break at,
                Some((_, c)) => value.push(c),
                None if quoted => return None,
                None => break text.len(),
            }
        };
        pairs.push((start..end, key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(text: &str) -> (String, Vec<(String, String)>) {
        take_settings(text)
    }

    fn pair(key: &str, value: &str) -> (String, String) {
        (key.to_owned(), value.to_owned())
    }

    #[test]
    fn a_url_loses_only_the_tls_settings() {
        assert_eq!(
            taken("postgres://u:p%26w@h:5/db?sslmode=verify-full&application_name=a&sslrootcert=%2Fetc%2Fca.pem"),
            (
                "postgres://u:p%26w@h:5/db?application_name=a".to_owned(),
                vec![pair("sslmode", "verify-full"), pair("sslrootcert", "/etc/ca.pem")]
            )
        );
        assert_eq!(taken("postgresql://h/db?sslmode=require").0, "postgresql://h/db");
        assert_eq!(taken("postgres://h/db?a=1&sslmode=require&b=2").0, "postgres://h/db?a=1&b=2");
        assert_eq!(taken("postgres://h/db").0, "postgres://h/db");
    }

    #[test]
    fn key_value_words_lose_only_the_tls_settings() {
        let (rest, settings) = taken("host=h  sslrootcert = '/my ca\\'s.pem' dbname=x sslmode=verify-ca");
        assert_eq!(rest, "host=h   dbname=x ");
        assert_eq!(settings, [pair("sslrootcert", "/my ca's.pem"), pair("sslmode", "verify-ca")]);
        assert_eq!(taken("host='unterminated sslmode=disable"), ("host='unterminated sslmode=disable".into(), vec![]));
    }

    #[test]
    fn modes_are_libpqs() {
        let mode = |text: &str| connection(text).map(|(config, _)| config.get_ssl_mode());
        assert_eq!(mode("postgres://h/db").unwrap(), SslMode::Prefer);
        assert_eq!(mode("host=h sslmode=disable").unwrap(), SslMode::Disable);
        assert_eq!(mode("postgres://h/db?sslmode=require").unwrap(), SslMode::Require);
        let error = mode("postgres://h/db?sslmode=allow").unwrap_err().to_string();
        assert!(
            error.contains("sslmode `allow` is not one of disable, prefer, require, verify-ca, verify-full"),
            "{error}"
        );
        let error = mode("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem").unwrap_err().to_string();
        assert!(error.contains("sslrootcert /nonexistent/ca.pem: No such file"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let error = mode(&format!("host=h sslmode=verify-full sslrootcert={}", empty.display())).unwrap_err();
        assert!(error.to_string().ends_with("ca.pem: holds no certificate"), "{error}");
    }
}
