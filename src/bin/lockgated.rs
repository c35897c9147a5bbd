//! `lockgated`: the gateway daemon. Loads the configuration, sets up logging, and runs the
//! daemon until SIGTERM or SIGINT.

use anyhow::Context;
use clap::Parser;
use lockgate::cli::LockgatedCli as Cli;
use lockgate::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ring = lockgate::support::LogRing::new(lockgate::support::log_ring::RING_LINES);
    lockgate::logging::init_with_ring(lockgate::logging::level_from_env(), Some(&ring));
    match run(&cli, ring) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e:#}");
            eprintln!("lockgated: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli, ring: lockgate::support::LogRing) -> anyhow::Result<()> {
    let config = Config::load(&cli.config, std::env::vars())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let (reload_tx, reload) = tokio::sync::mpsc::channel(1);
        let signals = watch_signals(shutdown.clone(), cli.config.clone(), reload_tx)?;
        let result = lockgate::daemon::run(config, reload, shutdown, ring).await;
        signals.abort();
        Ok(result?)
    })
}

/// SIGTERM and SIGINT stop the daemon; SIGHUP reads the configuration again and hands a
/// valid one to the daemon (an invalid one is reported and changes nothing).
fn watch_signals(
    shutdown: CancellationToken,
    config: PathBuf,
    reload: tokio::sync::mpsc::Sender<Config>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => match Config::load(&config, std::env::vars()) {
                    Ok(new) => {
                        log::info!("SIGHUP: reloading {}", config.display());
                        let _ = reload.send(new).await;
                    }
                    Err(e) => log::error!("SIGHUP: {e}; keeping the running configuration"),
                },
            }
        }
        shutdown.cancel();
    }))
}
