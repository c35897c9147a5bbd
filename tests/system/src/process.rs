//! Child processes of the test bed (mosquitto, locksim, lockgated): output appended to a log
//! file, in a process group of their own (a Ctrl-C at the terminal reaches only the parent,
//! which stops them in order), killed when the handle drops and when the test process dies,
//! stopped and awaited within bounds. Also the small waiting and file helpers every part uses.

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// How often a condition that has no event of its own is checked again.
pub const POLL: Duration = Duration::from_millis(50);

/// A running child; SIGKILLed and reaped on drop.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Child,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

/// Puts the child `command` starts in a process group of its own, so that a Ctrl-C at the
/// terminal (SIGINT to the foreground process group) reaches only this process, which stops
/// its children in order; and makes the child die (SIGKILL) when this process dies, even
/// killed hard (a harness timeout, SIGKILL), so that none outlives it.
pub fn detach_from_terminal(command: &mut Command) {
    command.process_group(0);
    // SAFETY: the closure runs between fork and exec and only makes one system call
    // (prctl), which is async-signal-safe; it touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

impl ChildProcess {
    /// Spawns `command`, its stdout and stderr appended to `log` after a marker line.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self> {
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        writeln!(out, "=== lockgate-systest: starting {name}: {command:?}")?;
        let err = out.try_clone()?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        detach_from_terminal(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(ChildProcess {
            name: name.to_owned(),
            child,
            log: log.to_path_buf(),
            exited: None,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Sends `signal` (nothing if it has exited already).
    pub fn signal(&mut self, signal: Signal) -> Result<()> {
        if self.exit_status()?.is_some() {
            return Ok(());
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).with_context(|| format!("{signal} to {}", self.name))
    }

    /// Its exit status once it has exited (reaped), else `None`.
    pub fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait()?;
        }
        Ok(self.exited)
    }

    /// Waits up to `limit` for it to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exit_status()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("{} did not exit within {limit:?}", self.name);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) -> Result<ExitStatus> {
        self.signal(Signal::SIGTERM)?;
        match self.wait_exit(grace).await {
            Ok(status) => Ok(status),
            Err(_) => {
                self.signal(Signal::SIGKILL)?;
                self.wait_exit(Duration::from_secs(5)).await
            }
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it right away).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Calls `check` every [`POLL`] until it returns `Some`, at most for `limit`; for conditions
/// that have no event to await (a file's content, a process's output).
pub async fn poll_until<T>(
    limit: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last `max` bytes of the file at `path` as text (lossy), or a note why there is none.
pub fn tail(path: &Path, max: u64) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(max)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(match len > max {
            true => format!("[... {} bytes before]\n{text}", len - max),
            false => text,
        })
    };
    read().unwrap_or_else(|e| format!("[{}: {e}]", path.display()))
}

/// The whole file at `path` as text (lossy); empty if it cannot be read.
pub fn read_text(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
