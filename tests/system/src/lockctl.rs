//! `lockctl` as a person runs it: the real binary as a child process, with a config directory
//! of its own (its key store, and a `lockctl.toml` naming the test broker on plain MQTT), its
//! output and exit code kept for the test to read. `LOCKCTL_*` variables of the test process
//! are not passed on.

use crate::binaries::Binaries;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

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
    /// Stdout as JSON lines (for `--json` commands that print several, like `support`).
    pub fn json_lines(&self) -> Result<Vec<Value>> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).with_context(|| format!("lockctl {:?}: {l:?}", self.args))
            })
            .collect()
    }

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

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .arg("--config-dir")
            .arg(self.dir.path())
            .args(args)
            .stdin(Stdio::null())
            // A Ctrl-C at the terminal is for the program running lockctl, not for lockctl.
            .process_group(0)
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LOCKCTL_") {
                command.env_remove(key);
            }
        }
        command
    }

    /// Runs `lockctl --config-dir <its dir> <args>` and waits for it (at most 90 s).
    pub async fn run(&self, args: &[&str]) -> Result<Run> {
        self.run_with_input(args, None).await
    }

    /// [`Lockctl::run`] with `input` on its stdin (then end of input).
    pub async fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Result<Run> {
        let mut command = self.command(args);
        if input.is_some() {
            command.stdin(Stdio::piped());
        }
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().context("starting lockctl")?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes()).await?;
        }
        let output = tokio::time::timeout(LIMIT, child.wait_with_output())
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

    /// Starts `lockctl <args>` with its stdin held open, to be fed line by line as a person
    /// types (see [`Running`]).
    pub fn spawn(&self, args: &[&str]) -> Result<Running> {
        let mut command = self.command(args);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().context("starting lockctl")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let stderr = child.stderr.take().context("no stderr")?;
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text).await;
            text
        });
        Ok(Running {
            args: args.iter().map(|a| a.to_string()).collect(),
            child,
            stdin: Some(stdin),
            stdout,
            stderr,
        })
    }
}

/// A lockctl that keeps running: lines go to its stdin, its stdout is read line by line.
pub struct Running {
    args: Vec<String>,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: tokio::task::JoinHandle<String>,
}

impl Running {
    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Writes `line` and a newline to its stdin.
    pub async fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin is closed")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        Ok(stdin.flush().await?)
    }

    /// The next line of its stdout, waiting at most `limit`; `None` at its end.
    pub async fn line(&mut self, limit: Duration) -> Result<Option<String>> {
        tokio::time::timeout(limit, self.stdout.next_line())
            .await
            .with_context(|| format!("lockctl {:?} printed nothing for {limit:?}", self.args))?
            .context("reading lockctl's stdout")
    }

    /// The next stdout line as JSON (for `--json`).
    pub async fn json(&mut self, limit: Duration) -> Result<Value> {
        let Some(line) = self.line(limit).await? else {
            bail!("lockctl {:?} ended its output", self.args);
        };
        serde_json::from_str(&line).with_context(|| format!("not JSON: {line:?}"))
    }

    /// Closes its stdin (end of input) and waits for it to end, at most `limit`: the rest
    /// of its output and its exit code.
    pub async fn finish(mut self, limit: Duration) -> Result<Run> {
        drop(self.stdin.take());
        self.finish_after(limit).await
    }

    /// Sends it `signal` (systemd stopping a service) and waits for it to end, at most
    /// `limit`: the rest of its output and its exit code.
    pub async fn stop(self, signal: nix::sys::signal::Signal, limit: Duration) -> Result<Run> {
        let pid = self.child.id().context("lockctl already ended")?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)?;
        self.finish_after(limit).await
    }

    /// Waits for it to end by itself (stdin left open), at most `limit`: the rest of its
    /// output and its exit code.
    pub async fn finish_after(mut self, limit: Duration) -> Result<Run> {
        let started = Instant::now();
        let mut rest = String::new();
        let read_rest = async {
            while let Some(line) = self.stdout.next_line().await? {
                rest.push_str(&line);
                rest.push('\n');
            }
            let status = self.child.wait().await?;
            anyhow::Ok(status)
        };
        let status = tokio::time::timeout(limit, read_rest)
            .await
            .with_context(|| format!("lockctl {:?} did not end within {limit:?}", self.args))??;
        let stderr = self.stderr.await.unwrap_or_default();
        Ok(Run {
            args: self.args,
            code: status.code(),
            stdout: rest,
            stderr,
            took: started.elapsed(),
        })
    }
}
