//! The command line: global options (output, config directory, broker) and one variant per
//! command. A new command is a new variant of [`Command`] and an arm in `cli::commands`.

use crate::config::{Overrides, Transport, CONFIG_DIR_VAR};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use lockgate_wire::LockId;
use std::path::PathBuf;
use std::time::Duration;

/// lockctl: pair with lockgate locks and use them, end to end, through a gateway.
#[derive(Debug, Parser)]
#[command(name = "lockctl", version, about, long_about = None)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Print the result as one JSON object on stdout (errors too).
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress messages on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log more on stderr (-v, -vv).
    #[arg(long, short, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// The key store and settings directory [default: $XDG_CONFIG_HOME/lockctl or
    /// ~/.config/lockctl].
    #[arg(long, global = true, env = CONFIG_DIR_VAR, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// The broker (each overrides `[broker]` in lockctl.toml).
    #[command(flatten)]
    pub broker: BrokerArgs,
}

/// Broker options.
#[derive(Debug, Args)]
#[command(next_help_heading = "Broker")]
pub struct BrokerArgs {
    /// Broker host [default: localhost].
    #[arg(long, global = true, env = "LOCKCTL_HOST")]
    pub host: Option<String>,
    /// Broker port [default: 8883 with TLS, 1883 plain].
    #[arg(long, global = true, env = "LOCKCTL_PORT")]
    pub port: Option<u16>,
    /// tls (default) or plain (unencrypted: only on a network you trust).
    #[arg(long, global = true, env = "LOCKCTL_TRANSPORT", value_enum)]
    pub transport: Option<Transport>,
    /// CA certificates (PEM) to verify the broker with [default: the system's].
    #[arg(long, global = true, env = "LOCKCTL_CA_FILE", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), with --client-key.
    #[arg(long, global = true, env = "LOCKCTL_CLIENT_CERT", value_name = "PEM")]
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM), with --client-cert.
    #[arg(long, global = true, env = "LOCKCTL_CLIENT_KEY", value_name = "PEM")]
    pub client_key: Option<PathBuf>,
    /// MQTT user name.
    #[arg(long, global = true, env = "LOCKCTL_USERNAME")]
    pub username: Option<String>,
    /// File whose first line is the MQTT password.
    #[arg(
        long,
        global = true,
        env = "LOCKCTL_PASSWORD_FILE",
        value_name = "FILE"
    )]
    pub password_file: Option<PathBuf>,
    /// How long to wait for each answer of a lock [default: 30s].
    #[arg(long, global = true, env = "LOCKCTL_TIMEOUT", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
}

impl BrokerArgs {
    /// These options as overrides of the settings file.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            host: self.host.clone(),
            port: self.port,
            transport: self.transport,
            ca_file: self.ca_file.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            username: self.username.clone(),
            password_file: self.password_file.clone(),
            timeout: self.timeout,
        }
    }
}

/// Where a lock is reached, for pairing.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The gateway's id (its topics are under lockgate/<id>).
    #[arg(long)]
    pub gateway: String,
    /// The gateway's base topic, if it is not lockgate/<id>.
    #[arg(long, value_name = "TOPIC")]
    pub base_topic: Option<String>,
    /// The lock's id (16 hex digits).
    #[arg(long)]
    pub lock: LockId,
    /// This endpoint's name on the lock [default: `name` in lockctl.toml, else the host
    /// name]. Sent in clear.
    #[arg(long)]
    pub name: Option<String>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pair with a lock in pairing mode (press its button first) using the code on its
    /// label; the lock's first endpoint becomes its admin.
    Pair {
        /// Where the lock is.
        #[command(flatten)]
        target: Target,
        /// The label code (8 to 16 digits); read from stdin when left out.
        #[arg(long)]
        code: Option<String>,
    },
    /// Join a lock with an invite code from one of its admins.
    Join {
        /// Where the lock is (the admin's invite output names both).
        #[command(flatten)]
        target: Target,
        /// The invite code (NNNN-NNNN-NNNN-NNNN); read from stdin when left out.
        #[arg(long)]
        invite: Option<String>,
    },
    /// Show a lock's state.
    Status {
        /// The lock (its id, or the start of it).
        lock: String,
    },
    /// Lock (throw the bolt).
    Lock {
        /// The lock (its id, or the start of it).
        lock: String,
    },
    /// Unlock (retract the bolt).
    Unlock {
        /// The lock (its id, or the start of it).
        lock: String,
    },
    /// Unlock and pull the latch (opens the door).
    Unlatch {
        /// The lock (its id, or the start of it).
        lock: String,
    },
    /// List, invite, revoke or rename the lock's users (admins).
    Users {
        /// What to do.
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Set the lock's clock from this computer's (admins).
    SetTime {
        /// The lock (its id, or the start of it).
        lock: String,
    },
    /// List the locks this endpoint is paired with.
    Locks,
    /// Remote support of a gateway (support staff): open a session with the one-time code
    /// its owner reads out, then run diagnostics (`help` in the session lists them).
    Support(SupportArgs),
    /// The Home Assistant bridge: runs until stopped, exposing every lock paired in this
    /// key store as Home Assistant entities over MQTT discovery (docs/HOMEASSISTANT.md).
    /// Settings: `[ha]` in lockctl.toml. Runs as the `lockctl-ha` systemd service.
    Ha,
}

/// `support ...`.
#[derive(Debug, Clone, Args)]
pub struct SupportArgs {
    /// The gateway's id (its `[gateway] id`).
    #[arg(long)]
    pub gateway: String,
    /// The gateway's base topic, if it is not lockgate/<id>.
    #[arg(long, value_name = "TOPIC")]
    pub base_topic: Option<String>,
    /// The code the owner read out (12 digits, dashes optional); read from the first line of
    /// stdin when left out.
    #[arg(long)]
    pub code: Option<String>,
    /// Who you are, for the gateway's audit trail [default: `name` in lockctl.toml, else
    /// user@host]. Sent in clear.
    #[arg(long)]
    pub name: Option<String>,
    /// Run this command, then the next, then quit (repeatable: -c health -c 'logs 50');
    /// without it, commands are read from stdin: a shell on a terminal, one per line
    /// otherwise.
    #[arg(long = "command", short = 'c', value_name = "COMMAND")]
    pub commands: Vec<String>,
}

/// The role an invite grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Status and actuations; may rename itself.
    User,
    /// Everything, including users.
    Admin,
}

/// `users ...`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List the lock's users and their roles.
    List {
        /// The lock (its id, or the start of it).
        lock: String,
    },
    /// Create a single-use invite code for a new user.
    Invite {
        /// The lock (its id, or the start of it).
        lock: String,
        /// The role it grants.
        #[arg(long, value_enum, default_value = "user")]
        role: RoleArg,
        /// Access ends then: a time (2025-12-31T23:00:00Z) or a duration from now (30d).
        #[arg(long, value_name = "TIME")]
        valid_until: Option<String>,
        /// How long the invite itself can be used (at most 30 days) [default: 48h].
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        expires_in: Option<Duration>,
    },
    /// Revoke a user.
    Revoke {
        /// The lock (its id, or the start of it).
        lock: String,
        /// The user: an id, a name, or `me`.
        user: String,
    },
    /// Rename a user (a user may rename only itself: `me`).
    Rename {
        /// The lock (its id, or the start of it).
        lock: String,
        /// The user: an id, a name, or `me`.
        user: String,
        /// The new name (1 to 32 bytes).
        name: String,
    },
}
