//! Criterion benches of the GUP paths `dirtybit bench pin` reports: host time per page of
//! `get_user_pages_fast`, `pin_user_pages_fast`, `pin_user_pages` and `pin_user_pages`
//! with `FOLL_LONGTERM`, through the `/sys/kernel/debug/gup_test` kernel code
//! (`gup_test_run`), on populated 4 KiB folios (`4K`) and 2 MiB transparent huge pages
//! (`2M`, `MADV_HUGEPAGE`, each mapped by a huge PMD): group `gup` times the GUP walk
//! alone at 1/16/512 pages per call, group `gup_test` the whole command (walk, pin check,
//! release) at 512. Benchmark ids read `group/api/folio/batch`; the throughput line reads
//! as pages/s. Run: `cargo bench --bench pin` (one case:
//! `cargo bench --bench pin -- 'gup/pin_user_pages_fast/4K/512$'`).

use std::time::Duration;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use dirtybit::bench::pin::{FolioSize, PinSetup, APIS, BATCHES};
use dirtybit::mmu::SatpMode;

/// Pages per measured run (a whole number of 2 MiB).
const PAGES: u64 = 4096;

fn bench_pin(c: &mut Criterion) {
    let mut setups: Vec<(FolioSize, PinSetup)> = FolioSize::ALL
        .into_iter()
        .map(|f| {
            let s = PinSetup::new(PAGES, f, true, SatpMode::Sv39).expect("address space");
            (f, s)
        })
        .collect();
    // The GUP walk alone (what `get_delta_usec` times): the measured time is the sum of
    // the walks, not of the whole ioctl.
    let mut g = c.benchmark_group("gup");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(PAGES));
    for (api, cmd) in APIS {
        for (folio, setup) in &mut setups {
            for batch in BATCHES {
                let id = BenchmarkId::new(api, format!("{}/{batch}", folio.label()));
                g.bench_with_input(id, &batch, |b, &batch| {
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
    }
    g.finish();
    // The whole command: walk, verify_dma_pinned(), release.
    let mut g = c.benchmark_group("gup_test");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(PAGES));
    for (api, cmd) in APIS {
        for (folio, setup) in &mut setups {
            let id = BenchmarkId::new(api, format!("{}/512", folio.label()));
            g.bench_with_input(id, &512, |b, &batch| {
                b.iter(|| {
                    let r = setup.run(cmd, batch).expect("every page taken");
                    assert_eq!(r.nr_pages as u64, PAGES);
                })
            });
        }
    }
    g.finish();
    // The huge PMDs must have stayed huge PMDs throughout (GUP never splits them).
    for (_, setup) in &setups {
        setup.check_mapping().expect("mapped as set up");
    }
}

// `criterion_group!` expands to an undocumented `pub fn`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench_pin);
}
use group::benches;
criterion_main!(benches);
