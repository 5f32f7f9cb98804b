//! Shared helpers of the integration tests: run a guest image in-process with captured
//! stdio, and find the committed images and their qemu-riscv64 reference outputs.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dirtybit::guestos::{HostStreams, RunReport};
use dirtybit::RunOptions;

/// A `Write` that appends to a shared buffer.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Output of one in-process run.
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: u8,
    pub report: RunReport,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn image(name: &str) -> PathBuf {
    root().join("guest/bin").join(name)
}

/// The argv[1..] the reference output was recorded with (`guest/args/NAME.args`, one
/// argument per line, an empty line being an empty argument), or none.
pub fn args_of(name: &str) -> Vec<String> {
    std::fs::read_to_string(root().join("guest/args").join(format!("{name}.args")))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Runs `path` with `args` under `opts`, stdin empty, stdout/stderr captured.
pub fn run_with(opts: &RunOptions, path: &Path, args: &[String]) -> Outcome {
    let image = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    run_bytes(opts, &image, &path.to_string_lossy(), args)
}

/// The guest environment of every test run that names none: fixed, not the host's, so
/// that a deterministic seed interleaves the same on every machine (the environment's
/// size moves the initial stack: with the host's, a seed that failed on one machine
/// passed on another).
pub fn test_env() -> Vec<String> {
    ["PATH=/usr/bin:/bin", "HOME=/", "LANG=C"]
        .map(String::from)
        .to_vec()
}

pub fn run_bytes(opts: &RunOptions, image: &[u8], argv0: &str, args: &[String]) -> Outcome {
    let fixed;
    let opts = if !opts.env_clear && opts.env.is_empty() {
        fixed = RunOptions {
            env_clear: true,
            env: test_env(),
            ..opts.clone()
        };
        &fixed
    } else {
        opts
    };
    let out = Capture::default();
    let err = Capture::default();
    let stdio = HostStreams::new(
        Box::new(std::io::empty()),
        Box::new(out.clone()),
        Box::new(err.clone()),
    );
    let report = dirtybit::run_image(opts, image, argv0, args, stdio)
        .unwrap_or_else(|e| panic!("{argv0}: {e}"));
    Outcome {
        stdout: out.bytes(),
        stderr: err.bytes(),
        code: report.status.shell_code(),
        report,
    }
}

/// Every image that has a recorded reference output, sorted.
pub fn images_with_expected() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("guest/expected"))
        .expect("guest/expected exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".stdout"))
                .map(str::to_string)
        })
        .filter(|n| image(n).exists())
        .collect();
    names.sort();
    names
}

pub fn expected(name: &str) -> (Vec<u8>, u8) {
    expected_in("guest/expected", name)
}

/// Images whose reference is recorded from dirtybit itself (`guest/expected-kernel/`):
/// programs using what only our kernel provides (gup_test, FOLL_FORCE through
/// /proc/self/mem, pagemap, kernel generations). Sorted, without the `@GEN` variants.
pub fn kernel_images() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("guest/expected-kernel"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".stdout"))
                        .filter(|n| !n.contains('@'))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The reference of kernel image `name` under GUP generation `gen`: `NAME@GEN.*` where
/// that generation behaves differently, else the modern `NAME.*`.
pub fn expected_kernel(name: &str, gen: &str) -> (Vec<u8>, u8) {
    let variant = format!("{name}@{gen}");
    if root()
        .join("guest/expected-kernel")
        .join(format!("{variant}.stdout"))
        .exists()
    {
        expected_in("guest/expected-kernel", &variant)
    } else {
        expected_in("guest/expected-kernel", name)
    }
}

/// `DIR/NAME.stdout` and the exit status in `DIR/NAME.status`.
pub fn expected_in(dir: &str, name: &str) -> (Vec<u8>, u8) {
    let dir = root().join(dir);
    let stdout = std::fs::read(dir.join(format!("{name}.stdout"))).expect("expected stdout");
    let status = std::fs::read_to_string(dir.join(format!("{name}.status")))
        .expect("expected status")
        .trim()
        .parse()
        .expect("status is a number");
    (stdout, status)
}

/// A readable first difference between two outputs.
pub fn first_diff(a: &[u8], b: &[u8]) -> String {
    let a = String::from_utf8_lossy(a);
    let b = String::from_utf8_lossy(b);
    for (i, (la, lb)) in a.lines().zip(b.lines()).enumerate() {
        if la != lb {
            return format!("line {}:\n  dirtybit: {la}\n  expected: {lb}", i + 1);
        }
    }
    format!(
        "lengths differ: dirtybit {} lines, expected {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

/// Runs image `name` with its recorded arguments under `opts` and checks it against
/// `want` (stdout, exit status) and the page audit (no leaked frame, no inconsistent
/// metadata); `what` names the run in failure messages. Returns the outcome for more
/// checks.
pub fn run_against(name: &str, opts: &RunOptions, want: (Vec<u8>, u8), what: &str) -> Outcome {
    let o = run_with(opts, &image(name), &args_of(name));
    let (want_out, want_status) = want;
    assert!(
        o.stdout == want_out,
        "{what}: stdout differs from the reference\n{}\nstderr:\n{}",
        first_diff(&o.stdout, &want_out),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.code, want_status, "{what}: exit status");
    assert_page_audit_clean(&o, what);
    o
}

/// Checks the page audit the run ended with: no leaked frame, no inconsistent page
/// metadata (reference, map or pin counts); `what` names the run in the failure message.
pub fn assert_page_audit_clean(o: &Outcome, what: &str) {
    let k = &o.report.kernel;
    assert!(
        k.frames_leaked == 0 && k.page_audit_errors == 0 && k.swap_slots_leaked == 0,
        "{what}: page audit: {} frames leaked, {} errors, {} swap slots leaked",
        k.frames_leaked,
        k.page_audit_errors,
        k.swap_slots_leaked
    );
}

/// A run of 512 MiB under scheduler `sched` (`parallel` or `deterministic`) with `seed`
/// on `harts` harts: the race tests' machine.
pub fn sched_opts(sched: &str, seed: u64, harts: usize) -> RunOptions {
    RunOptions {
        mem_bytes: 512 << 20,
        sched: sched.into(),
        seed,
        harts,
        ..RunOptions::default()
    }
}
