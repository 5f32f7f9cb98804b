//! Criterion benches of the interpreter: instructions per host second on the tight integer
//! loop and the CPU workloads, Sv39 on (the throughput line reads as instructions/s, i.e.
//! MIPS × 10⁶). Run: `cargo bench --bench interp`.

use std::path::PathBuf;

use criterion::{criterion_main, Criterion, Throughput};
use dirtybit::guestos::HostStreams;
use dirtybit::RunOptions;

fn sink() -> HostStreams {
    HostStreams::new(
        Box::new(std::io::empty()),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    )
}

/// Instructions per measured run (the program is cut off by `--max-insns`).
const INSNS: u64 = 50_000_000;

fn bench_images(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guest/bin");
    let mut g = c.benchmark_group("interp");
    g.sample_size(10);
    g.throughput(Throughput::Elements(INSNS));
    for name in ["loop", "sort", "hash", "fpmatrix", "strsearch"] {
        let Ok(image) = std::fs::read(dir.join(name)) else {
            continue;
        };
        let opts = RunOptions {
            max_insns: Some(INSNS),
            ..RunOptions::default()
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = dirtybit::run_image(&opts, &image, name, &[], sink()).expect("runs");
                assert_eq!(
                    r.hart.instret, INSNS,
                    "{name} must run at least {INSNS} instructions"
                );
            })
        });
    }
    g.finish();
}

// `criterion_group!` expands to an undocumented `pub fn`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench_images);
}
use group::benches;
criterion_main!(benches);
