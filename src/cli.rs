//! The command lines of `lockgated` and `lockgate`, as clap definitions: the binaries parse
//! them, and the packaging generates their man pages and shell completions from them.

#![allow(missing_docs)] // Fields are documented by their help texts.

use crate::config::DEFAULT_PATH;
use crate::pairing::{Passkey, Seconds};
use clap::{Args, Parser, Subcommand};
use lockgate_wire::LockId;
use std::path::PathBuf;

/// `lockgated`: the daemon.
#[derive(Parser)]
#[command(
    name = "lockgated",
    version,
    about = "lockgated: the blind BLE-to-MQTT relay for end-to-end-encrypted smart locks"
)]
pub struct LockgatedCli {
    /// Configuration file.
    #[arg(long, default_value = DEFAULT_PATH)]
    pub config: PathBuf,
}

/// `lockgate`: local administration of the daemon.
#[derive(Parser)]
#[command(
    name = "lockgate",
    version,
    about = "Local administration of lockgated"
)]
pub struct LockgateCli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `lockgate`'s commands.
#[derive(Subcommand)]
pub enum Command {
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

/// `lockgate support ...`.
#[derive(Subcommand)]
pub enum SupportAction {
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

/// `lockgate locks add|remove`.
#[derive(Subcommand)]
pub enum LocksChange {
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
pub struct Daemon {
    /// The control socket; default: `control_socket` of the configuration.
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The configuration naming the control socket.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
    /// Print the daemon's response as it is (one JSON line).
    #[arg(long, global = true)]
    pub json: bool,
}
