//! TLS to an engine (`tls`, `tls_verify`, `tls_ca_cert`, `tls_cert`,
//! `tls_key`): a rustls client configuration and an HTTPS transport for bollard.

use std::path::Path;
use std::sync::Arc;

use bollard::Docker;
use hyper_util::client::legacy::connect::HttpConnector;
use maestro_config::Ship;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::EngineError;

/// An HTTPS connection to `host:port` with the ship's TLS settings.
pub(crate) fn connect(
    ship: &Ship,
    host: &str,
    port: u16,
    version: &bollard::ClientVersion,
) -> Result<Docker, EngineError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    over(ship, http, host, port, version)
}

/// HTTPS with the ship's TLS settings over another connector (the
/// channels of an SSH tunnel), naming the engine `host:port`.
pub(crate) fn over(
    ship: &Ship,
    inner: impl crate::Connects,
    host: &str,
    port: u16,
    version: &bollard::ClientVersion,
) -> Result<Docker, EngineError> {
    let config = client_config(ship)?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.as_ref().clone())
        .https_only()
        .enable_http1()
        .wrap_connector(inner);
    let base = format!("https://{}", host_port(host, port));
    crate::pooled(ship, https, &base, &base, version)
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn client_config(ship: &Ship) -> Result<Arc<rustls::ClientConfig>, EngineError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(ship, format!("cannot set up TLS: {e}")))?;
    let builder = if ship.tls_verify {
        let mut roots = rustls::RootCertStore::empty();
        match &ship.tls_ca_cert {
            Some(ca) => {
                for cert in read_certs(ship, "tls_ca_cert", ca)? {
                    roots.add(cert).map_err(|e| {
                        config_error(ship, format!("tls_ca_cert {ca} is not a usable CA certificate: {e}"))
                    })?;
                }
            }
            None => {
                return Err(config_error(
                    ship,
                    "tls_verify is set but no tls_ca_cert is given; name the CA certificate that signed the engine's certificate".into(),
                ))
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    };
    let config = match (&ship.tls_cert, &ship.tls_key) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(ship, "tls_cert", cert)?;
            let key = read_key(ship, key)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                config_error(
                    ship,
                    format!("tls_cert {cert} and tls_key do not make a client identity: {e}"),
                )
            })?
        }
        (Some(_), None) => {
            return Err(config_error(
                ship,
                "tls_cert is set without tls_key; give both or neither".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(config_error(
                ship,
                "tls_key is set without tls_cert; give both or neither".into(),
            ))
        }
        (None, None) => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn config_error(ship: &Ship, message: String) -> EngineError {
    EngineError::Config {
        ship: ship.name.clone(),
        message,
    }
}

fn read_file(ship: &Ship, key: &str, path: &str) -> Result<Vec<u8>, EngineError> {
    std::fs::read(Path::new(path)).map_err(|e| {
        config_error(
            ship,
            format!("cannot read {key} {path}: {}", crate::error::root_cause(&e)),
        )
    })
}

fn read_certs(
    ship: &Ship,
    key: &str,
    path: &str,
) -> Result<Vec<CertificateDer<'static>>, EngineError> {
    let bytes = read_file(ship, key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(ship, format!("{key} {path} is not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(
            ship,
            format!("{key} {path} holds no PEM certificate"),
        ));
    }
    Ok(certs)
}

fn read_key(ship: &Ship, path: &str) -> Result<PrivateKeyDer<'static>, EngineError> {
    let bytes = read_file(ship, "tls_key", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        config_error(
            ship,
            format!("tls_key {path} is not a PEM private key: {e}"),
        )
    })
}

/// `tls_verify: false`: encrypt, but accept whatever certificate the engine shows
/// (signatures are still checked, so the handshake itself stays sound).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
