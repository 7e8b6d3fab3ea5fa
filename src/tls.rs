//! TLS for every client suite makes (the engine's HTTP and gRPC requests, the planner's
//! reflection client): one rustls configuration per process (with the `ring` provider), the
//! system's roots through rustls-platform-verifier, and `tls-verify: false` accepting any
//! certificate. ALPN offers `h2` first, so HTTPS servers that speak HTTP/2 get it, unless the
//! request's `http-version` allows only one of them.

use std::future::Future;
use std::io;
use std::sync::{Arc, OnceLock};

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::plan::scenario::HttpVersion;

/// The rustls configuration shared by every client of the process (one per verification and
/// HTTP version): building it loads the system's root certificates, which must not happen once
/// per virtual user.
pub fn config(verify: bool, version: HttpVersion) -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIGS: [OnceLock<Result<Arc<rustls::ClientConfig>, String>>; 6] = [const { OnceLock::new() }; 6];
    let alpn = match version {
        HttpVersion::Auto => 0,
        HttpVersion::Http1 => 1,
        HttpVersion::Http2 => 2,
    };
    CONFIGS[usize::from(verify) * 3 + alpn].get_or_init(|| build(verify, version).map(Arc::new)).clone()
}

/// Opens TCP then TLS (ALPN offers `h2`) to the host and port of the channel's URI.
pub fn connector(
    config: Arc<rustls::ClientConfig>,
) -> impl tower::Service<
    http::Uri,
    Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
    Error = io::Error,
    Future = impl Future<Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>> + Send,
> + Send
       + 'static {
    tower::service_fn(move |uri: http::Uri| {
        let config = config.clone();
        async move {
            let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from(host).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
            Ok(TokioIo::new(tls))
        }
    })
}

fn build(verify: bool, version: HttpVersion) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Code that asks rustls for the process default gets the same provider (already set is fine).
    let _ = CryptoProvider::install_default(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        false => Arc::new(Unverified { provider, refuse: None }),
        // Without system roots plain HTTP must still work: HTTPS samples then fail with the reason.
        true => match rustls_platform_verifier::Verifier::new(provider.clone()) {
            Ok(v) => Arc::new(v),
            Err(e) => Arc::new(Unverified { provider, refuse: Some(format!("cannot verify certificates: {e}")) }),
        },
    };
    let mut config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    config.alpn_protocols = match version {
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    };
    Ok(config)
}

/// The verifier when the platform's is not used: `tls-verify: false` accepts any certificate
/// (signatures are still checked, so the handshake is real; only the chain of trust and the
/// host name are not), and without system roots every certificate is refused with the reason.
#[derive(Debug)]
struct Unverified {
    provider: Arc<CryptoProvider>,
    /// Why certificates are refused; None accepts them.
    refuse: Option<String>,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.refuse {
            None => Ok(ServerCertVerified::assertion()),
            Some(reason) => {
                Err(rustls::Error::General(format!("{reason} (set `tls-verify: false` to skip verification)")))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
