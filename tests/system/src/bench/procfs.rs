//! What `/proc` says about a process: CPU time consumed (utime + stime), resident memory
//! (`VmRSS`, `VmHWM`), and the bench's own child processes (mosquitto, dbus-daemon, locksim,
//! lockgated) by name, to say where CPU time went.

use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Clock ticks per second of `utime`/`stime`: Linux reports them in USER_HZ, which is 100 on
/// every architecture it exports to user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// The fields of `/proc/<pid>/stat` after the command name: state is [0], ppid [1], utime
/// [11], stime [12].
fn stat_fields(pid: u32) -> Result<(String, Vec<String>)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("/proc/{pid}/stat"))?;
    let open = text
        .find('(')
        .ok_or_else(|| anyhow!("no ( in /proc/{pid}/stat"))?;
    let close = text
        .rfind(')')
        .ok_or_else(|| anyhow!("no ) in /proc/{pid}/stat"))?;
    let comm = text[open + 1..close].to_owned();
    let fields = text[close + 1..]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Ok((comm, fields))
}

/// CPU time (user + system) process `pid` has consumed so far.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let (_, fields) = stat_fields(pid)?;
    let tick = |i: usize| -> Result<f64> {
        let field = fields
            .get(i)
            .ok_or_else(|| anyhow!("short /proc/{pid}/stat"))?;
        Ok(field.parse::<u64>()? as f64)
    };
    let ticks = tick(11)? + tick(12)?;
    Ok(Duration::from_secs_f64(ticks / TICKS_PER_SECOND))
}

/// Time on a CPU of every thread of process `pid` so far, in nanoseconds
/// (`/proc/<pid>/task/*/schedstat`): finer than utime + stime, which count 10 ms ticks.
pub fn run_time(pid: u32) -> Result<Duration> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(Duration::from_nanos(total))
}

/// The `field` (`VmRSS`, `VmHWM`) of `/proc/<pid>/status` in KiB.
pub fn vm_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_number(&status, field).ok_or_else(|| anyhow!("no {field} in /proc/{pid}/status"))
}

/// The number of `field` in a `status` file's text (a unit such as `kB` left out).
fn status_number(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Context switches of every thread of process `pid` so far: how often it went to sleep and
/// woke up again (voluntary) or was preempted.
pub fn context_switches(pid: u32) -> Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for field in ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"] {
            total += status_number(&status, field).unwrap_or(0);
        }
    }
    Ok(total)
}

/// The bench's own children (and itself, as `bench`): pid by command name.
pub fn family() -> BTreeMap<String, u32> {
    let me = std::process::id();
    let mut found = BTreeMap::from([("bench".to_owned(), me)]);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
    {
        if let Ok((comm, fields)) = stat_fields(pid) {
            if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(me) {
                found.insert(comm, pid);
            }
        }
    }
    found
}

/// CPU time of a set of processes between two moments.
#[derive(Debug)]
pub struct CpuMeter {
    start: Instant,
    before: BTreeMap<String, (u32, Duration)>,
}

impl CpuMeter {
    /// Starts measuring every process in `pids` (name → pid).
    pub fn start(pids: &BTreeMap<String, u32>) -> CpuMeter {
        let before = pids
            .iter()
            .filter_map(|(name, &pid)| Some((name.clone(), (pid, cpu_time(pid).ok()?))))
            .collect();
        CpuMeter {
            start: Instant::now(),
            before,
        }
    }

    /// Wall time since the start, and CPU time each process used since.
    pub fn read(&self) -> (Duration, BTreeMap<String, Duration>) {
        let used = self
            .before
            .iter()
            .filter_map(|(name, (pid, before))| {
                let now = cpu_time(*pid).ok()?;
                Some((name.clone(), now.saturating_sub(*before)))
            })
            .collect();
        (self.start.elapsed(), used)
    }
}

/// `lockgated 0.93 CPU, mosquitto 0.41 CPU, ...`: each process's share of one core.
pub fn shares(wall: Duration, used: &BTreeMap<String, Duration>) -> String {
    let wall = wall.as_secs_f64().max(1e-9);
    used.iter()
        .map(|(name, cpu)| format!("{name} {:.2}", cpu.as_secs_f64() / wall))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_size_and_cpu_time() {
        let me = std::process::id();
        assert!(vm_kib(me, "VmRSS").unwrap() > 0);
        assert!(vm_kib(me, "VmHWM").unwrap() >= vm_kib(me, "VmRSS").unwrap() / 2);
        cpu_time(me).unwrap();
        assert!(context_switches(me).unwrap() > 0);
        assert!(run_time(me).unwrap() > Duration::ZERO);
        assert_eq!(family().get("bench"), Some(&me));
    }
}
