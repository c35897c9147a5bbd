//! Running one system test: the binaries under test are made ready first, then the body runs
//! on its own runtime within a time limit. When it fails (an error, a panic, or the limit),
//! the logs the test bed collected as it was torn down are printed after the failure.

use crate::binaries::binaries;
use anyhow::Result;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Log excerpts collected for a failure message: (what, text).
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    entries: Arc<Mutex<Vec<(String, String)>>>,
}

impl Diagnostics {
    /// Keeps `text` under `name`, to print if the test fails.
    pub fn record(&self, name: &str, text: String) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.push((name.to_owned(), text));
    }

    /// Everything recorded, as one text.
    pub fn report(&self) -> String {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .map(|(name, text)| format!("\n===== {name} =====\n{text}"))
            .collect()
    }
}

/// Runs `body` within `limit` and panics with a readable report if it fails.
///
/// The body gets a [`Diagnostics`] to hand to [`crate::TestBed`]; a test bed dropped during
/// the failure (error, panic or timeout) leaves its logs' tails there.
pub fn run<F, Fut>(limit: Duration, body: F)
where
    F: FnOnce(Diagnostics) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    if let Err(e) = binaries() {
        panic!("the binaries under test are not available: {e:#}");
    }
    let diagnostics = Diagnostics::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async { tokio::time::timeout(limit, body(diagnostics.clone())).await })
    }));
    drop(runtime);
    let failure = match outcome {
        Ok(Ok(Ok(()))) => return,
        Ok(Ok(Err(e))) => format!("{e:#}"),
        Ok(Err(_)) => format!("the test took longer than {limit:?}"),
        Err(panic) => {
            eprintln!("{}", diagnostics.report());
            resume_unwind(panic);
        }
    };
    panic!("{failure}\n{}", diagnostics.report());
}
