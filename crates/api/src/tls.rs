//! TLS for the API from configured certificate files (`[api] tls_cert`, `tls_key`: PEM), so
//! camwatch can serve HTTPS itself on a private network with no reverse proxy.
//!
//! Job: a listener for `axum::serve` that hands out connections only once their TLS handshake
//! is done. Handshakes run in their own tasks, each bounded by [`HANDSHAKE_TIMEOUT`], at most
//! [`MAX_HANDSHAKES`] at once: a client that connects and says nothing (or speaks slowly)
//! holds one slot for ten seconds, never the accept loop, so it stalls no other client. The
//! TLS itself is rustls (through `tokio-rustls`, on the aws-lc-rs provider the HTTP client
//! already uses); only this glue is ours, because axum's own `serve` takes any listener and
//! keeps one server loop (graceful shutdown, the event streams' end) for plain and TLS alike.
//!
//! Invariants: the client's address reaches handlers as [`Peer`] for both listeners (the
//! audit log records it at login); a failed handshake is logged at debug level and dropped.
//!
//! Must not: read key material anywhere but the configured files, or log it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at most; beyond, new connections wait in the kernel's backlog.
pub const MAX_HANDSHAKES: usize = 1024;

/// The client's address, as handlers see it (`ConnectInfo<Peer>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, TcpListener>) -> Self {
        Self(*s.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, TlsListener>) -> Self {
        Self(*s.remote_addr())
    }
}

/// A TLS acceptor from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or
/// SEC1). The error names the file and what is wrong with it.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("[api] tls_cert = {:?}: {e}", cert.display().to_string()))?;
    if chain.is_empty() {
        return Err(format!(
            "[api] tls_cert = {:?}: no certificate in the file",
            cert.display().to_string()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("[api] tls_key = {:?}: {e}", key.display().to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("[api] tls_cert and tls_key do not make a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Connections whose handshake is done.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl TlsListener {
    /// Accepts on `listener`, handshaking each connection in its own bounded task.
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: pause, as axum does.
                        tracing::warn!("api: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "api: TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "api: TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            accepting,
        })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task ended (it only does when dropped): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
