//! `lockctl` as a person runs it: the real binary as a child process, with a config directory
//! of its own (its key store, and a `lockctl.toml` naming the test broker on plain MQTT), its
//! output and exit code kept for the test to read. `LOCKCTL_*` variables of the test process
//! are not passed on.

use crate::binaries::Binaries;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The longest one lockctl command may take (its own answer timeout is shorter).
const LIMIT: Duration = Duration::from_secs(90);

/// One endpoint: the `lockctl` binary with its own config directory.
pub struct Lockctl {
    binary: PathBuf,
    dir: TempDir,
}

/// What one lockctl command did.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command line, for messages.
    pub args: Vec<String>,
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr (progress, warnings, errors).
    pub stderr: String,
    /// How long it ran.
    pub took: Duration,
}

impl Run {
    /// Stdout as JSON (for `--json`).
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("lockctl {:?}: stdout is not JSON: {self:?}", self.args))
    }

    /// The JSON report of a command that must have succeeded.
    pub fn ok(&self) -> Result<Value> {
        if self.code != Some(0) {
            bail!("lockctl {:?} failed: {self:#?}", self.args);
        }
        let json = self.json()?;
        if json["ok"] != true {
            bail!("lockctl {:?} reported {json}", self.args);
        }
        Ok(json)
    }

    /// The JSON error of a command that must have failed with exit code `code` and error
    /// `name`.
    pub fn failed(&self, code: u8, name: &str) -> Result<Value> {
        let json = self.json()?;
        if self.code != Some(i32::from(code)) || json["error"] != name {
            bail!(
                "lockctl {:?}: expected exit code {code} and error {name}, got {self:#?}",
                self.args
            );
        }
        Ok(json)
    }
}

impl Lockctl {
    /// An endpoint named `name` (its default pairing name) using the broker on
    /// 127.0.0.1:`port` without TLS.
    pub fn new(binaries: &Binaries, port: u16, name: &str) -> Result<Lockctl> {
        let dir = tempfile::Builder::new().prefix("lockctl-").tempdir()?;
        let settings = format!(
            "name = \"{name}\"\ntimeout = \"30s\"\n[broker]\nhost = \"127.0.0.1\"\nport = {port}\n\
             transport = \"plain\"\n"
        );
        std::fs::write(dir.path().join("lockctl.toml"), settings)?;
        Ok(Lockctl {
            binary: binaries.lockctl.clone(),
            dir,
        })
    }

    /// Its config directory (key store and settings).
    pub fn config_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `lockctl --config-dir <its dir> <args>` and waits for it (at most 90 s).
    pub async fn run(&self, args: &[&str]) -> Result<Run> {
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .arg("--config-dir")
            .arg(self.dir.path())
            .args(args)
            .stdin(std::process::Stdio::null())
            // A Ctrl-C at the terminal is for the program running lockctl, not for lockctl.
            .process_group(0)
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LOCKCTL_") {
                command.env_remove(key);
            }
        }
        let started = Instant::now();
        let output = tokio::time::timeout(LIMIT, command.output())
            .await
            .with_context(|| format!("lockctl {args:?} took over {LIMIT:?}"))??;
        Ok(Run {
            args: args.iter().map(|a| a.to_string()).collect(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            took: started.elapsed(),
        })
    }
}
