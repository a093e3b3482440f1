//! vlsd keeps its own view of the chain (it checks funding depth and watches
//! channel outputs); this node feeds it blocks from bitcoind through VLS's
//! frontend, over the same signer connection.

use std::sync::Arc;

use anyhow::{Context, Result};
use vls_proxy::portfront::SignerPortFront;
use vls_proxy::vls_frontend::frontend::DummySourceFactory;
use vls_proxy::vls_frontend::Frontend;
use vls_proxy::vls_protocol_client::{ClientResult, SignerPort, Transport};

use crate::signer::GrpcTransport;

struct TransportPort(Arc<GrpcTransport>);

#[async_trait::async_trait]
impl SignerPort for TransportPort {
    async fn handle_message(&self, message: Vec<u8>) -> ClientResult<Vec<u8>> {
        let t = self.0.clone();
        tokio::task::spawn_blocking(move || t.node_call(message))
            .await
            .map_err(|_| vls_proxy::vls_protocol_client::Error::Transport)?
    }

    fn is_ready(&self) -> bool {
        // Started only after the init handshake completed.
        true
    }
}

pub fn start(
    transport: Arc<GrpcTransport>,
    network: bitcoin::Network,
    datadir: &std::path::Path,
    bitcoind_url_with_credentials: &str,
    shutdown: triggered::Listener,
) -> Result<()> {
    let url = url::Url::parse(bitcoind_url_with_credentials)
        .context("bitcoind url for the signer frontend")?;
    let port = Arc::new(TransportPort(transport));
    let front = Frontend::new(
        Arc::new(SignerPortFront::new(port, network)),
        Arc::new(DummySourceFactory::new(datadir.join("frontend"), network)),
        url,
        shutdown,
    );
    front.start();
    Ok(())
}
