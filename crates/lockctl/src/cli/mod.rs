//! The `lockctl` command line: parses arguments ([`args`]), runs one command
//! ([`commands`]) on a single-threaded runtime, prints its report (text, or JSON with
//! `--json`) on stdout, progress and errors on stderr, and exits with the error's code
//! (see [`crate::error`]).

pub mod args;
pub mod commands;
pub mod shell;
pub mod support;

use crate::config::{self, Overrides, Settings, Transport};
use crate::error::Error;
use crate::progress::{Progress, Silent, Stderr};
use crate::store::KeyStore;
use args::{Cli, Global};
use clap::Parser;
use serde::Serialize;
use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

/// Runs lockctl with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let ui = Ui::new(&cli.global);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(commands::run(&cli, &ui)),
        Err(e) => Err(Error::Usage(format!("cannot start the I/O runtime: {e}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui.fail(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(log::LevelFilter::Warn)
        .filter_module("lockctl", level)
        .format_timestamp(None)
        .format_target(false);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    let _ = builder.try_init();
}

/// Where results, progress and errors go.
pub struct Ui {
    json: bool,
    quiet: bool,
    stderr: Stderr,
}

impl Ui {
    fn new(global: &Global) -> Self {
        Ui {
            json: global.json,
            quiet: global.quiet,
            stderr: Stderr::new(),
        }
    }

    /// The progress sink for long actions.
    pub fn progress(&self) -> &dyn Progress {
        match self.quiet {
            true => &Silent,
            false => &self.stderr,
        }
    }

    /// A warning on stderr (unless `--quiet`).
    pub fn warn(&self, text: &str) {
        if !self.quiet {
            self.stderr.finish();
            eprintln!("lockctl: warning: {text}");
        }
    }

    /// Prints a command's result.
    pub fn emit<T: Serialize + Display>(&self, report: &T) {
        self.stderr.finish();
        match self.json {
            true => println!("{}", crate::report::to_json(report)),
            false => print!("{report}"),
        }
    }

    /// Whether results are printed as JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Prints `text` as it is on stdout (a shell's answers, as they come).
    pub fn raw(&self, text: &str) {
        self.stderr.finish();
        print!("{text}");
        let _ = std::io::stdout().flush();
    }

    /// One shell line that failed without ending the session: `name` is the stable error name.
    pub fn line_error(&self, line: &str, name: &str, message: &str) {
        self.stderr.finish();
        if self.json {
            let v = serde_json::json!({
                "ok": false,
                "command": line.trim(),
                "error": name,
                "message": message,
            });
            println!("{v}");
        } else {
            eprintln!("lockctl: {}: {message}", line.trim());
        }
    }

    fn fail(&self, e: &Error) {
        self.stderr.finish();
        if self.json {
            println!("{}", e.to_json());
        }
        eprintln!("lockctl: {e}");
    }
}

/// The key store and settings of this invocation.
pub struct Context {
    /// The key store.
    pub store: KeyStore,
    overrides: Overrides,
}

impl Context {
    /// Opens the key store of `global`'s config directory.
    pub fn open(global: &Global) -> Result<Self, Error> {
        let env = |k: &str| std::env::var_os(k);
        let dir = config::config_dir(global.config_dir.as_deref(), env)?;
        Ok(Context {
            store: KeyStore::open(&dir)?,
            overrides: global.broker.overrides(),
        })
    }

    /// The settings (file, environment, flags); warns about plain MQTT.
    pub fn settings(&self, ui: &Ui) -> Result<Settings, Error> {
        let settings = config::load(self.store.dir(), &self.overrides)?;
        let b = &settings.broker;
        if b.transport == Transport::Plain {
            ui.warn(&format!(
                "plain MQTT to {}:{}: frames stay end-to-end encrypted, but broker credentials \
                 and which locks you use are readable on the network",
                b.host, b.port
            ));
        }
        Ok(settings)
    }
}
