//! `lockgate`: the gateway's local admin CLI: `check-config`, and `status`, `locks`,
//! `locks add`, `locks remove`, `pair` and `support`, which ask the running `lockgated` over its control
//! socket.

#[path = "lockgate/pair.rs"]
mod pair;
#[path = "lockgate/support.rs"]
mod support;

use anyhow::{anyhow, Context as _};
use clap::Parser;
use lockgate::cli::{Command, Daemon, LockgateCli as Cli, LocksChange, SupportAction};
use lockgate::config::Config;
use lockgate::control::{Request, Response};
use lockgate::control_client::{render_locks, render_status, Client, Reply, DEFAULT_SOCKET};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let (daemon, request) = match Cli::parse().command {
        Command::CheckConfig { config } => return check_config(config),
        Command::Status { daemon } => (daemon, Request::Status),
        Command::Locks { change, daemon } => {
            let request = match change {
                None => Request::Locks,
                Some(LocksChange::Add { lock }) => Request::LocksAdd { lock },
                Some(LocksChange::Remove { lock }) => Request::LocksRemove { lock },
            };
            (daemon, request)
        }
        Command::Pair {
            seconds,
            passkey,
            stop,
            daemon,
        } => {
            let request = Request::Pair {
                seconds,
                passkey,
                stop,
            };
            return report(pair::run(&daemon, request));
        }
        Command::Support { action, daemon } => {
            let request = match action {
                SupportAction::Start { valid } => support::start(valid),
                SupportAction::Status => Request::SupportStatus,
                SupportAction::Stop => Request::SupportStop,
            };
            (daemon, request)
        }
    };
    report(ask(&daemon, request))
}

fn report(outcome: anyhow::Result<ExitCode>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lockgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(config: PathBuf) -> ExitCode {
    match Config::load(&config, std::env::vars()) {
        Ok(c) => {
            let base = c.topics().map(|t| t.base().to_owned()).unwrap_or_default();
            println!(
                "{}: ok (gateway {}, topics under {base}, broker {}:{})",
                config.display(),
                c.gateway.id,
                c.mqtt.host,
                c.mqtt.port()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lockgate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sends `request` to the daemon and prints the answer; exit code 1 for an error answer.
fn ask(daemon: &Daemon, request: Request) -> anyhow::Result<ExitCode> {
    let (runtime, socket) = connection(daemon)?;
    let reply = runtime
        .block_on(async {
            let mut client = Client::connect(&socket.path).await?;
            client.request(request.clone()).await
        })
        .map_err(|e| socket.explain(e))?;
    Ok(print_reply(daemon.json, &request, &reply))
}

/// The socket to use, and why the configuration did not name it if it did not.
struct Socket {
    path: PathBuf,
    fallback: Option<String>,
}

impl Socket {
    /// `e`, with the reason the default socket was used.
    fn explain(&self, e: lockgate::control_client::ClientError) -> anyhow::Error {
        match &self.fallback {
            Some(why) => anyhow!(
                "{e}\n(tried the default socket: no --socket was given and the configuration \
                 could not be read: {why})"
            ),
            None => e.into(),
        }
    }
}

/// A runtime for talking to the daemon, and its socket.
fn connection(daemon: &Daemon) -> anyhow::Result<(tokio::runtime::Runtime, Socket)> {
    let (path, fallback) = socket_of(daemon);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?;
    Ok((runtime, Socket { path, fallback }))
}

/// The socket to use and, if it is the fallback, why the configuration did not say.
fn socket_of(daemon: &Daemon) -> (PathBuf, Option<String>) {
    if let Some(socket) = &daemon.socket {
        return (socket.clone(), None);
    }
    match Config::load(&daemon.config, std::env::vars()) {
        Ok(config) => (config.control_socket, None),
        Err(e) => (PathBuf::from(DEFAULT_SOCKET), Some(e.to_string())),
    }
}

fn print_reply(json: bool, request: &Request, reply: &Reply) -> ExitCode {
    let failed = matches!(reply.response(), Response::Error { .. });
    if json {
        println!("{}", reply.line);
    } else {
        if let Some(text) = support::render(reply.response(), request) {
            print!("{text}");
            return if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
        match (reply.response(), request) {
            (Response::Status { status }, _) => print!("{}", render_status(status)),
            (Response::Locks { locks }, _) => print!("{}", render_locks(locks, unix_now())),
            (Response::Ok, Request::LocksAdd { lock }) => println!("lock {lock} added"),
            (Response::Ok, Request::LocksRemove { lock }) => println!("lock {lock} removed"),
            (Response::Ok, _) => println!("ok"),
            (Response::Error { error }, _) => eprintln!("lockgate: {error}"),
            (Response::Pairing { pairing }, _) => {
                println!("{}", lockgate::pairing::report::describe_state(pairing))
            }
            (Response::PairingEvent { event, .. }, _) => {
                println!("{}", lockgate::pairing::report::describe(event))
            }
            (Response::SupportCode { .. } | Response::SupportStatus { .. }, _) => {}
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
