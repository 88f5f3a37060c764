//! `ssh_tunnel`: a local port forwarded over SSH (key authentication) to the
//! engine's port on the ship, as seen from the ship (`127.0.0.1:docker_port`).
//! Pure Rust (russh); no `ssh` executable is needed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use maestro_config::{Ship, SshTunnel};
use russh::client::{self, Handle};
use russh::keys::PrivateKeyWithHashAlg;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{root_cause, EngineError};

/// An open tunnel: a listener on 127.0.0.1 whose connections are carried to
/// the engine over one SSH session. Closed when dropped.
pub(crate) struct Tunnel {
    pub local: SocketAddr,
    accept_task: JoinHandle<()>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

struct AcceptHostKey;

impl client::Handler for AcceptHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // Like MaestroNG's tunnels, host keys are not pinned.
        Ok(true)
    }
}

/// Opens the tunnel, bounded by `timeout` for the connection and authentication.
pub(crate) async fn open(
    ship: &Ship,
    tunnel: &SshTunnel,
    timeout: Duration,
) -> Result<Tunnel, EngineError> {
    let address = format!("{}@{}:{}", tunnel.user, ship.endpoint, tunnel.port);
    let ssh_error = |reason: String| EngineError::Ssh {
        ship: ship.name.clone(),
        address: address.clone(),
        reason,
    };
    let key = russh::keys::load_secret_key(Path::new(&tunnel.key), None).map_err(|e| {
        EngineError::Config {
            ship: ship.name.clone(),
            message: format!(
                "cannot use ssh_tunnel key {}: {}",
                tunnel.key,
                root_cause(&e)
            ),
        }
    })?;
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 3,
        nodelay: true,
        ..Default::default()
    });
    let connect = async {
        let mut session =
            client::connect(config, (ship.endpoint.as_str(), tunnel.port), AcceptHostKey)
                .await
                .map_err(|e| ssh_error(root_cause(&e)))?;
        let hash = session
            .best_supported_rsa_hash()
            .await
            .map_err(|e| ssh_error(root_cause(&e)))?
            .flatten();
        let auth = session
            .authenticate_publickey(
                tunnel.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await
            .map_err(|e| ssh_error(root_cause(&e)))?;
        if !auth.success() {
            return Err(ssh_error(format!(
                "the server refused key {} for user {}",
                tunnel.key, tunnel.user
            )));
        }
        Ok(session)
    };
    let session = tokio::time::timeout(timeout, connect).await.map_err(|_| {
        ssh_error(format!(
            "no answer within {}",
            crate::error::seconds_text(timeout.as_secs_f64())
        ))
    })??;
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| ssh_error(format!("cannot listen on 127.0.0.1: {}", root_cause(&e))))?;
    let local = listener
        .local_addr()
        .map_err(|e| ssh_error(root_cause(&e)))?;
    let session = Arc::new(session);
    let docker_port = u32::from(ship.docker_port);
    let accept_task = tokio::spawn(accept_loop(listener, session, docker_port));
    Ok(Tunnel { local, accept_task })
}

async fn accept_loop(listener: TcpListener, session: Arc<Handle<AcceptHostKey>>, port: u32) {
    loop {
        let Ok((mut socket, peer)) = listener.accept().await else {
            return;
        };
        let session = session.clone();
        tokio::spawn(async move {
            let channel = session
                .channel_open_direct_tcpip(
                    "127.0.0.1",
                    port,
                    peer.ip().to_string(),
                    u32::from(peer.port()),
                )
                .await;
            // A refused channel closes the local socket: the client sees the
            // connection drop and reports the engine unreachable.
            if let Ok(channel) = channel {
                let mut stream = channel.into_stream();
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut stream).await;
            }
        });
    }
}
