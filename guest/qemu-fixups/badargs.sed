# qemu-user 7.2 does not deliver the SIGSEGV that a failed rt_sigreturn forces when a SIGSEGV
# handler is installed: the child runs on past the ecall. Linux (arch/riscv/kernel/signal.c
# sys_rt_sigreturn badframe: force_sig(SIGSEGV)) runs the handler, whose frame cannot be
# written below the bad sp, so signal_setup_done() -> force_sigsegv() kills it by SIGSEGV.
s/^rt_sigreturn with an unreadable frame (SIGSEGV handler): exited 99$/rt_sigreturn with an unreadable frame (SIGSEGV handler): killed by signal 11/
