//! `lockgate`: the gateway's local admin CLI: `check-config`, and `status`, `locks`,
//! `locks add`, `locks remove`, `pair` and `support`, which ask the running `lockgated` over its control
//! socket.

#[path = "lockgate/pair.rs"]
mod pair;
#[path = "lockgate/support.rs"]
mod support;

use anyhow::{anyhow, Context as _};
use clap::{Args, Parser, Subcommand};
use lockgate::config::{Config, DEFAULT_PATH};
use lockgate::control::{Request, Response};
use lockgate::control_client::{render_locks, render_status, Client, Reply, DEFAULT_SOCKET};
use lockgate::pairing::{Passkey, Seconds};
use lockgate_wire::LockId;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "lockgate",
    version,
    about = "Local administration of lockgated"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration without starting anything.
    CheckConfig {
        /// The file to check.
        #[arg(long, default_value = DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Show the daemon's state.
    Status {
        #[command(flatten)]
        daemon: Daemon,
    },
    /// List the paired locks, or add or remove one.
    Locks {
        #[command(subcommand)]
        change: Option<LocksChange>,
        #[command(flatten)]
        daemon: Daemon,
    },
    /// Open the pairing window and show what happens until it closes: locks in pairing mode
    /// are bonded and served. Exits non-zero if the window could not open, or a lock failed
    /// to pair and none paired.
    Pair {
        /// How long the window stays open (1 to 254 s); default `pairing.seconds`.
        #[arg(long, value_name = "N")]
        seconds: Option<Seconds>,
        /// The 6-digit passkey the lock asks for (printed on its label).
        #[arg(long, value_name = "NNNNNN")]
        passkey: Option<Passkey>,
        /// Close the window instead.
        #[arg(long, conflicts_with_all = ["seconds", "passkey"])]
        stop: bool,
        #[command(flatten)]
        daemon: Daemon,
    },
    /// Remote support with a one-time code: start a code, show the state, stop support.
    Support {
        #[command(subcommand)]
        action: SupportAction,
        #[command(flatten)]
        daemon: Daemon,
    },
}

#[derive(Subcommand)]
enum SupportAction {
    /// Create a one-time code (replacing any other) and print it; give it to the support
    /// operator only.
    Start {
        /// How long the code is valid (1min to 1h); default `support.code_validity`.
        #[arg(long, value_name = "DURATION", value_parser = humantime_serde::re::humantime::parse_duration)]
        valid: Option<std::time::Duration>,
    },
    /// Show the code's validity and attempts left, the throttle and the running session.
    Status,
    /// Cancel the code and end the running session at once.
    Stop,
}

#[derive(Subcommand)]
enum LocksChange {
    /// Pair a lock that is bonded and seen in discovery.
    Add {
        /// The lock id (16 hex digits).
        lock: LockId,
    },
    /// Remove a paired lock, its bond and its retained topics.
    Remove {
        /// The lock id (16 hex digits).
        lock: LockId,
    },
}

/// How to reach the daemon, and how to print its answer.
#[derive(Args)]
struct Daemon {
    /// The control socket; default: `control_socket` of the configuration.
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The configuration naming the control socket.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_PATH)]
    config: PathBuf,
    /// Print the daemon's response as it is (one JSON line).
    #[arg(long, global = true)]
    json: bool,
}

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
