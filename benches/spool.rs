//! Criterion benchmarks of the spool with 64-byte frames on the real filesystem of the temp
//! directory (`TMPDIR`): append alone, the publish path (append, get, ack), flush, and open
//! (recovery) of a full spool.
//!
//! Run: `cargo bench -p lockgate --bench spool`. Appends are timed in runs of 1,000; between
//! runs, untimed, everything is acknowledged and flushed so the files stay small.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use lockgate::spool::{Spool, SpoolLimits};
use lockgate_wire::LockId;

const FRAME: [u8; 64] = [0x5a; 64];
const LOCK: LockId = LockId::from_bytes([7; 8]);
const RUN: u64 = 1_000;
const LIMITS: SpoolLimits = SpoolLimits {
    max_frames: 10_000,
    max_bytes: 16 << 20,
};

/// Times `step` `iters` times, in runs of [`RUN`], acknowledging and flushing between runs.
fn timed_runs(spool: &mut Spool, iters: u64, mut step: impl FnMut(&mut Spool)) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let run = left.min(RUN);
        let start = Instant::now();
        (0..run).for_each(|_| step(spool));
        total += start.elapsed();
        ack_all_and_flush(spool);
        left -= run;
    }
    total
}

/// Acknowledges every live frame and flushes, so that the segments are removed.
fn ack_all_and_flush(spool: &mut Spool) {
    while let Some(seq) = spool.first_unacked() {
        spool.ack(seq);
    }
    spool.flush().unwrap();
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
    let mut group = c.benchmark_group("spool");
    group.bench_function("append_64B", |b| {
        b.iter_custom(|iters| {
            timed_runs(&mut spool, iters, |spool| {
                black_box(spool.append(LOCK, black_box(&FRAME)).unwrap());
            })
        })
    });
    group.bench_function("append_get_ack_64B", |b| {
        b.iter_custom(|iters| {
            timed_runs(&mut spool, iters, |spool| {
                let seq = spool.append(LOCK, black_box(&FRAME)).unwrap();
                black_box(spool.get(seq).unwrap());
                spool.ack(seq);
            })
        })
    });
    group.finish();
}

/// Times one flush after `appends` appends, acknowledging them when `ack`.
fn timed_flushes(spool: &mut Spool, iters: u64, appends: usize, ack: bool) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        for _ in 0..appends {
            let seq = spool.append(LOCK, &FRAME).unwrap();
            if ack {
                spool.ack(seq);
            }
        }
        let start = Instant::now();
        spool.flush().unwrap();
        total += start.elapsed();
        if !ack {
            ack_all_and_flush(spool);
        }
    }
    total
}

fn flush(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
    let mut group = c.benchmark_group("spool_flush");
    group.bench_function("10_appends", |b| {
        b.iter_custom(|iters| timed_flushes(&mut spool, iters, 10, false))
    });
    group.bench_function("10_appends_10_acks", |b| {
        b.iter_custom(|iters| timed_flushes(&mut spool, iters, 10, true))
    });
    group.bench_function("nothing_to_do", |b| {
        b.iter_custom(|iters| timed_flushes(&mut spool, iters, 0, true))
    });
    group.finish();
}

fn open(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), LIMITS).unwrap();
    for _ in 0..LIMITS.max_frames {
        spool.append(LOCK, &FRAME).unwrap();
    }
    spool.flush().unwrap();
    drop(spool);
    let mut group = c.benchmark_group("spool_open");
    group.bench_function("10000_frames_64B", |b| {
        b.iter(|| black_box(Spool::open(dir.path(), LIMITS).unwrap().len()))
    });
    group.finish();
}

criterion_group!(benches, append, flush, open);
criterion_main!(benches);
