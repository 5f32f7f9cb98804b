//! The kernel's lock-order checker is on in the integration tests (the `dirtybit`
//! package's dev-dependency on `guestos` with its `lockdep` feature; see
//! `guestos/src/sync.rs`): every guest run by the other tests here runs with it, and a
//! lock-order inversion anywhere in the kernel panics the test that hit it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use guestos::sync::{CondvarMutex, Mutex, RwLock, LOCKDEP};

// Without the feature this file does not build.
const _: () = assert!(LOCKDEP, "guestos was built without its lockdep feature");

#[test]
fn an_inversion_through_the_kernel_lock_panics_here_too() {
    // kernel lock → mmap_lock (a system call), then mmap_lock → kernel lock.
    let kernel = CondvarMutex::new(());
    let mmap_lock = RwLock::new(());
    let pipe = Mutex::new(());
    {
        let _k = kernel.lock();
        let _m = mmap_lock.read();
        let _p = pipe.lock();
    }
    let inverted = catch_unwind(AssertUnwindSafe(|| {
        let _m = mmap_lock.write();
        let _k = kernel.lock();
    }));
    assert!(inverted.is_err(), "mmap_lock → kernel lock must be refused");
    // A transitive inversion too: pipe → kernel closes kernel → mmap_lock → pipe.
    let transitive = catch_unwind(AssertUnwindSafe(|| {
        let _p = pipe.lock();
        let _k = kernel.lock();
    }));
    assert!(transitive.is_err(), "pipe → kernel lock must be refused");
}
