#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! lnnode: parse the configuration, connect the signer, start the node and
//! its admin API, and exit cleanly on SIGTERM. A request vlsd refuses is
//! that request's error; the node stays up (see `signer::link`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::Writeable;
use lnnode::bitcoind::Bitcoind;
use lnnode::config::{Config, SignerKind};
use lnnode::signer::link::SignerLink;
use lnnode::signer::{GrpcTransport, Keys, VlsKeys};
use lnnode::{admin, frontend, node, startup};
use triggered::{Listener, Trigger};
use vls_proxy::grpc::incoming::TcpIncoming;
use vls_proxy::vls_protocol_signer::vls_protocol::msgs::{HsmdInit2, SerBolt};
use vls_proxy::vls_protocol_signer::vls_protocol::serde_bolt::{Array, WireString};

fn main() -> ExitCode {
    let config = Config::parse();
    let ansi = std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,ldk=info,h2=warn,hyper=warn,tower=warn")
            }),
        )
        .with_ansi(ansi)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .thread_name("lnnode")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lnnode: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // The signer connection lives on its own runtime: LDK blocks runtime
    // threads while it waits for signatures, and the replies must still flow.
    let signer_runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("signer")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lnnode: cannot start the signer runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(run(config, signer_runtime.handle().clone()));
    runtime.shutdown_timeout(Duration::from_secs(2));
    signer_runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn run(config: Config, signer_rt: tokio::runtime::Handle) -> ExitCode {
    match start(config, signer_rt).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "lnnode failed");
            ExitCode::from(1)
        }
    }
}

async fn start(config: Config, signer_rt: tokio::runtime::Handle) -> Result<ExitCode> {
    let password = std::fs::read_to_string(&config.bitcoind_rpc_password_file)
        .with_context(|| format!("reading {}", config.bitcoind_rpc_password_file.display()))?
        .trim()
        .to_string();
    let network = bitcoin::Network::Regtest;
    std::fs::create_dir_all(&config.datadir)
        .with_context(|| format!("creating {}", config.datadir.display()))?;
    let bitcoind = Bitcoind::new(
        &config.bitcoind_rpc,
        &config.bitcoind_rpc_user,
        &password,
        &config.bitcoind_wallet,
        network,
    )?;
    wait_for_bitcoind(&bitcoind).await?;
    bitcoind.ensure_wallet().await?;

    let (trigger, shutdown) = triggered::trigger();
    let keys = match config.signer {
        SignerKind::Local if config.control_listen.is_some() => {
            anyhow::bail!("--control-listen holds vlsd requests; it needs --signer vlsd")
        }
        SignerKind::Local => Keys::local(&config.datadir)?,
        SignerKind::Vlsd => {
            Keys::Vls(connect_vlsd(&config, &bitcoind, &signer_rt, &trigger, &shutdown).await?)
        }
    };
    let keys = Arc::new(keys);
    let admin_addr = config.admin_listen;
    let node = startup::start(config, keys, bitcoind).await?;
    let admin_node = node.clone();
    tokio::spawn(async move {
        if let Err(e) = admin::serve(admin_node, admin_addr).await {
            tracing::error!(error = %e, "admin API stopped");
            std::process::exit(2);
        }
    });

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let code = tokio::select! {
        _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); ExitCode::SUCCESS }
        _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted: shutting down"); ExitCode::SUCCESS }
        _ = shutdown.clone() => {
            tracing::error!("the signer service stopped; stopping");
            ExitCode::from(5)
        }
    };
    // A request held at a signer breakpoint would keep the shutdown waiting.
    if let Some(vls) = node.keys.vls() {
        vls.transport.breakpoints.release_all();
    }
    node.shutdown().await;
    persist_manager(&node);
    node.monitor_writer.flush_and_stop();
    trigger.trigger();
    Ok(code)
}

/// Serves vlsd's connection on the signer runtime, waits for vlsd to dial
/// in, and starts what rides on the signer: the control port and the VLS
/// frontend (it follows the chain for the signer).
async fn connect_vlsd(
    config: &Config,
    bitcoind: &Bitcoind,
    signer_rt: &tokio::runtime::Handle,
    trigger: &Trigger,
    shutdown: &Listener,
) -> Result<VlsKeys> {
    let network = bitcoind.network();
    let (link, queue) = SignerLink::new(shutdown.clone());
    let addr = config.signer_listen;
    let incoming = signer_rt
        .spawn(async move { TcpIncoming::new(addr, false).await })
        .await?
        .with_context(|| format!("binding the signer port {addr}"))?;
    let serving = link.clone();
    let stop = trigger.clone();
    signer_rt.spawn(async move {
        if let Err(e) = serving.serve(incoming).await {
            tracing::error!(error = %e, "signer service stopped");
        }
        stop.trigger();
    });
    let transport = Arc::new(GrpcTransport::new(
        queue,
        signer_rt.clone(),
        shutdown.clone(),
    ));
    tracing::info!(%addr, "waiting for vlsd to connect");
    let t = transport.clone();
    let datadir = config.datadir.clone();
    let defer = config.defer_restored_validation;
    let vls = tokio::task::spawn_blocking(move || VlsKeys::connect(t, network, &datadir, defer))
        .await??;
    // A reconnecting vlsd must see the init handshake again before
    // the requests that were waiting; the link sends this first.
    let init = HsmdInit2 {
        derivation_style: vls_proxy::lightning_signer::signer::derive::KeyDerivationStyle::Native
            as u8,
        network_name: WireString(network.to_string().into_bytes()),
        dev_seed: None,
        dev_allowlist: Array::new(),
    };
    link.set_init_message(init.as_vec());
    tracing::info!("vlsd connected");
    if let Some(addr) = config.control_listen {
        lnnode::control::spawn(vls.transport.breakpoints.clone(), addr)
            .with_context(|| format!("binding the control port {addr}"))?;
    }
    let (host, port, creds) = bitcoind.endpoint_parts();
    // The frontend feeds vlsd the blocks it checks funding depth against.
    // It runs beside the signer link, not on the node's runtime: a signer
    // call that vlsd answers "not yet" (its view lags) blocks the LDK task
    // that made it, and with the node's workers so held the frontend never
    // fed the block vlsd waited for, and the node stalled for minutes.
    let _on_signer_rt = signer_rt.enter();
    frontend::start(
        transport,
        network,
        &config.datadir,
        &format!("http://{creds}@{host}:{port}"),
        shutdown.clone(),
    )?;
    Ok(vls)
}

fn persist_manager(node: &node::Node) {
    let bytes = node.channel_manager.encode();
    if let Err(e) = node.store.write(
        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_KEY,
        bytes,
    ) {
        tracing::error!(error = %e, "persisting the channel manager at shutdown failed");
    }
}

async fn wait_for_bitcoind(b: &Bitcoind) -> Result<()> {
    let mut last = None;
    for _ in 0..240 {
        match b.tip().await {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last
        .unwrap_or_else(|| anyhow::anyhow!("no answer"))
        .context("bitcoind not ready after 120s"))
}
