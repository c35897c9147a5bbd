//! Where the daemon's log goes: the systemd journal when it runs under systemd (its stderr is
//! the journal stream), else stderr with a timestamp. The level comes from `RUST_LOG`
//! (`error`, `warn`, `info` (default), `debug`, `trace`). Nothing logged anywhere in the
//! gateway contains a frame body, a code or a key.

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;

/// The level asked for in `RUST_LOG`, or `info`.
pub fn level_from_env() -> LevelFilter {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LevelFilter::Info)
}

/// Installs the logger; once per process.
pub fn init(level: LevelFilter) {
    init_with_ring(level, None);
}

/// Installs the logger, also keeping recent lines in `ring` for support sessions
/// (`crate::support::LogRing`); once per process.
pub fn init_with_ring(level: LevelFilter, ring: Option<&crate::support::LogRing>) {
    let journal = systemd_journal_logger::connected_to_journal()
        .then(systemd_journal_logger::JournalLog::new)
        .and_then(Result::ok);
    let logger: Box<dyn Log> = match journal {
        Some(journal) => Box::new(journal.with_syslog_identifier("lockgated".into())),
        None => Box::new(Stderr),
    };
    let logger = match ring {
        Some(ring) => Box::new(ring.tee(logger)),
        None => logger,
    };
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// Lines on stderr: `<unix time> <LEVEL> <target>: <message>`.
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}.{:03} {:<5} {}: {}",
            now.as_secs(),
            now.subsec_millis(),
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}
