//! Criterion benchmarks of the hot path: reassembling and fragmenting a 1 KiB frame at the
//! smallest MTU (23, so 54 fragments), where per-fragment cost dominates.
//!
//! Run: `cargo bench -p lockgate-wire --bench wire`. Target: reassembly under 2 µs.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lockgate_wire::frag::{fragments, Reassembler, MIN_MTU};

const FRAME_LEN: usize = 1024;

fn frame() -> Vec<u8> {
    (0..FRAME_LEN).map(|i| (i * 7 + 3) as u8).collect()
}

fn reassembly(c: &mut Criterion) {
    let frame = frame();
    let prepared: Vec<Vec<u8>> = fragments(&frame, MIN_MTU).unwrap().collect();
    let now = Instant::now();
    let mut reassembler = Reassembler::default();
    let mut group = c.benchmark_group("reassembly");
    group.throughput(Throughput::Bytes(FRAME_LEN as u64));
    group.bench_function("1KiB_frame_mtu23", |b| {
        b.iter(|| {
            let mut out = None;
            for fragment in &prepared {
                out = reassembler.push(black_box(fragment), now).unwrap();
            }
            black_box(out)
        })
    });
    group.finish();
}

fn fragmentation(c: &mut Criterion) {
    let frame = frame();
    let mut group = c.benchmark_group("fragmentation");
    group.throughput(Throughput::Bytes(FRAME_LEN as u64));
    group.bench_function("1KiB_frame_mtu23", |b| {
        b.iter(|| {
            for fragment in fragments(black_box(&frame), MIN_MTU).unwrap() {
                black_box(fragment);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, reassembly, fragmentation);
criterion_main!(benches);
