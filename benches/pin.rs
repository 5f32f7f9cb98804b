//! Criterion benches of the GUP paths `dirtybit bench pin` reports: host time per page of
//! `get_user_pages_fast`, `pin_user_pages_fast`, `pin_user_pages` and `pin_user_pages`
//! with `FOLL_LONGTERM`, through the `/sys/kernel/debug/gup_test` kernel code
//! (`gup_test_run`), on populated 4 KiB pages: group `gup` times the GUP walk alone at
//! 1/16/512 pages per call, group `gup_test` the whole command (walk, pin check,
//! release) at 512. The throughput line reads as pages/s. Run: `cargo bench --bench pin`
//! (short: `-- --warm-up-time 1 --measurement-time 2`).

use std::time::Duration;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use dirtybit::bench::pin::{PinSetup, APIS, BATCHES};
use dirtybit::mmu::SatpMode;

/// Pages per measured run.
const PAGES: u64 = 4096;

fn bench_pin(c: &mut Criterion) {
    let mut setup = PinSetup::new(PAGES, true, SatpMode::Sv39).expect("address space");
    // The GUP walk alone (what `get_delta_usec` times): the measured time is the sum of
    // the walks, not of the whole ioctl.
    let mut g = c.benchmark_group("gup");
    g.sample_size(20);
    g.throughput(Throughput::Elements(PAGES));
    for (api, cmd) in APIS {
        for batch in BATCHES {
            g.bench_with_input(BenchmarkId::new(api, batch), &batch, |b, &batch| {
                b.iter_custom(|iters| {
                    let mut walk = Duration::ZERO;
                    for _ in 0..iters {
                        let r = setup.run(cmd, batch).expect("every page taken");
                        walk += r.get_time;
                    }
                    walk
                })
            });
        }
    }
    g.finish();
    // The whole command: walk, verify_dma_pinned(), release.
    let mut g = c.benchmark_group("gup_test");
    g.sample_size(20);
    g.throughput(Throughput::Elements(PAGES));
    for (api, cmd) in APIS {
        g.bench_with_input(BenchmarkId::new(api, 512), &512, |b, &batch| {
            b.iter(|| {
                let r = setup.run(cmd, batch).expect("every page taken");
                assert_eq!(r.nr_pages as u64, PAGES);
            })
        });
    }
    g.finish();
}

// `criterion_group!` expands to an undocumented `pub fn`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench_pin);
}
use group::benches;
criterion_main!(benches);
