# qemu-user 7.2 (Debian bookworm's qemu-riscv64) runs a handler with only the signal itself
# added to the blocked mask: it leaves out the handler's sa_mask (sigaction reads it back
# correctly, but a SIGUSR2 raised inside a handler whose sa_mask holds SIGUSR2 runs at once).
# kernel/signal.c signal_delivered(): "sigorsets(&blocked, &current->blocked,
# &ksig->ka.sa.sa_mask); if (!(ksig->ka.sa.sa_flags & SA_NODEFER)) sigaddset(&blocked,
# ksig->sig); set_current_blocked(&blocked);" -- sa_mask is blocked with or without
# SA_NODEFER. Confirmed by building src/sigs.c natively and running it on the host's Linux.
s/^mask in handler: SIGUSR1 blocked, SIGUSR2 (sa_mask) open, /mask in handler: SIGUSR1 blocked, SIGUSR2 (sa_mask) blocked, /
s/^mask in SA_NODEFER handler: SIGUSR1 open, SIGUSR2 open$/mask in SA_NODEFER handler: SIGUSR1 open, SIGUSR2 blocked/
