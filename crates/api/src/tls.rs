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
//! A renewed certificate is taken up without a restart ([`Certificates`]): on `SIGHUP`, or
//! within a minute of the files changing.
//!
//! Must not: read key material anywhere but the configured files, or log it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
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

/// The server's certificate and key from the configured files, replaceable while serving:
/// a renewed certificate is taken up by [`Certificates::reload`] (on `SIGHUP`, and by
/// [`Certificates::watch`] when the files change), for the handshakes that follow; open
/// connections keep the one they agreed on. A reload that fails (a half-written file, a key
/// that is not the certificate's) keeps the certificate in use and says why.
#[derive(Debug)]
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    pair: Arc<CertifiedKey>,
    /// The files as they were when read (modification time and length): a change is worth
    /// a reload.
    seen: Option<[(SystemTime, u64); 2]>,
}

impl Certificates {
    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1). The
    /// error names the file and what is wrong with it.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, String> {
        let seen = stamp(cert, key);
        let pair = read_pair(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Loaded { pair, seen }),
        }))
    }

    /// A TLS acceptor presenting whatever certificate is current at each handshake.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reads the files again and, if they make a usable pair, serves it from the next
    /// handshake on. On error the current pair stays.
    pub fn reload(&self) -> Result<(), String> {
        let seen = stamp(&self.cert, &self.key);
        let pair = read_pair(&self.cert, &self.key)?;
        *self.current.write().expect("certificates") = Loaded { pair, seen };
        Ok(())
    }

    /// Whether the files differ (time or length) from when they were last read.
    fn changed(&self) -> bool {
        let now = stamp(&self.cert, &self.key);
        now.is_some() && now != self.current.read().expect("certificates").seen
    }

    /// Reloads whenever the files change, checked every `every`, until `stop` completes.
    /// A failed reload is logged and tried again at the next change.
    pub async fn watch(self: Arc<Self>, every: Duration, stop: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {}
            }
            if !self.changed() {
                continue;
            }
            match self.reload() {
                Ok(()) => {
                    tracing::info!(cert = %self.cert.display(), "api: TLS certificate reloaded")
                }
                Err(e) => {
                    // Remember this version of the files: retry when they change again.
                    let seen = stamp(&self.cert, &self.key);
                    self.current.write().expect("certificates").seen = seen;
                    tracing::error!(
                        "api: TLS certificate not reloaded, the previous one stays: {e}"
                    );
                }
            }
        }
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificates").pair.clone())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Modification time and length of both files, if both can be read.
fn stamp(cert: &Path, key: &Path) -> Option<[(SystemTime, u64); 2]> {
    let one = |p: &Path| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    Some([one(cert)?, one(key)?])
}

fn read_pair(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
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
    CertifiedKey::from_der(chain, key, &provider())
        .map(Arc::new)
        .map_err(|e| format!("[api] tls_cert and tls_key do not make a usable pair: {e}"))
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
