# qemu-user 7.2 translates eventfd data itself (linux-user/fd-trans.c target_eventfd_trans:
# swap_data_eventfd() returns -EINVAL unless the length is exactly 8), so a write with a
# 16-byte buffer fails there. Linux's eventfd_write() (fs/eventfd.c) refuses only a count
# under sizeof(ucnt) and moves 8 bytes.
s/^write 6 with a 16-byte buffer: -1 EINVAL$/write 6 with a 16-byte buffer: 8 bytes/
# ... so the next read finds 5 + 6 on Linux.
s/^read 16-byte buffer: 8 bytes, value 5$/read 16-byte buffer: 8 bytes, value 11/
