//! `lockgate`: the gateway's local admin CLI. In this version: `check-config`.

use clap::{Parser, Subcommand};
use lockgate::config::{Config, DEFAULT_PATH};
use std::path::PathBuf;
use std::process::ExitCode;

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
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::CheckConfig { config } => match Config::load(&config, std::env::vars()) {
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
        },
    }
}
