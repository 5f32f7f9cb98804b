//! Criterion benches of what `dirtybit bench faults` reports: the host time of the
//! page-fault workload (`guest/bin/faults`, embedded) in its two modes — `procs`: 2
//! processes each mmap, touch 256 pages and munmap per round; `threads`: 2 threads of one
//! process each touch their 256 pages and `MADV_DONTNEED` them per round — on 1 and 2
//! harts in parallel mode, each hart's host thread pinned to a host CPU of its own as
//! `dirtybit bench faults` pins them, through [`dirtybit::bench::faults::run_once`]. Benchmark ids
//! read `faults/MODE/HARTS`; the throughput line reads as page faults/s (the pages the
//! workers write; the run's own start-up faults are not counted). Run:
//! `cargo bench --bench faults` (one case: `cargo bench --bench faults -- 'faults/threads/2$'`).

use std::time::Duration;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use dirtybit::bench::faults::{run_once, Workload, PAGES_PER_ROUND};
use dirtybit::RunOptions;

/// Workers per mode.
const WORKERS: u32 = 2;
/// Rounds per worker: 2 x 8 x 256 = 4096 page faults per run.
const ROUNDS: u32 = 8;

fn bench_faults(c: &mut Criterion) {
    let mut g = c.benchmark_group("faults");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(
        u64::from(WORKERS) * u64::from(ROUNDS) * PAGES_PER_ROUND,
    ));
    for workload in Workload::ALL {
        for harts in [1, 2] {
            let opts = RunOptions {
                harts,
                pin_harts: true,
                ..RunOptions::default()
            };
            let id = BenchmarkId::new(workload.label(), harts);
            g.bench_with_input(id, &opts, |b, opts| {
                b.iter(|| run_once(opts, workload, WORKERS, ROUNDS).expect("the workload passes"))
            });
        }
    }
    g.finish();
}

// `criterion_group!` expands to an undocumented `pub fn`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench_faults);
}
use group::benches;
criterion_main!(benches);
