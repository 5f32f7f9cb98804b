# qemu-user 7.2 (Debian bookworm's qemu-riscv64) runs a handler with only the signal itself
# added to the blocked mask: it leaves out the handler's sa_mask (sigaction reads it back
# correctly, but a SIGUSR2 raised inside a handler whose sa_mask holds SIGUSR2 runs at once).
# kernel/signal.c signal_delivered(): "sigorsets(&blocked, &current->blocked,
# &ksig->ka.sa.sa_mask); if (!(ksig->ka.sa.sa_flags & SA_NODEFER)) sigaddset(&blocked,
# ksig->sig); set_current_blocked(&blocked);" -- sa_mask is blocked with or without
# SA_NODEFER. Confirmed by building src/sigs.c natively and running it on the host's Linux.
s/^mask in handler: SIGUSR1 blocked, SIGUSR2 (sa_mask) open, /mask in handler: SIGUSR1 blocked, SIGUSR2 (sa_mask) blocked, /
s/^mask in SA_NODEFER handler: SIGUSR1 open, SIGUSR2 open$/mask in SA_NODEFER handler: SIGUSR1 open, SIGUSR2 blocked/
# qemu-user 7.2 refuses SS_AUTODISARM (EINVAL from its target_sigaltstack's flag check)
# and so never disarms the stack inside the handler. Linux accepts it since 4.7
# (kernel/signal.c do_sigaltstack(): "ss_mode = ss_flags & ~SS_FLAG_BITS", SS_FLAG_BITS
# being SS_AUTODISARM) and disarms it while the handler runs (__save_altstack(): "if
# (t->sas_ss_flags & SS_AUTODISARM) sas_ss_reset(t);"); the frame's uc_stack arms it
# again at rt_sigreturn (restore_altstack()). Confirmed by building src/sigs.c natively
# and running it on the host's Linux (6.18).
/^sigaltstack(SS_AUTODISARM): EINVAL$/d
s/^SS_AUTODISARM: handler on the alternate stack: yes, disarmed inside: no, /SS_AUTODISARM: handler on the alternate stack: yes, disarmed inside: yes, /
