/* Minimal freestanding riscv64 Linux program used as an ELF loader test fixture. */
__thread long tls_counter = 7;
long data_word = 42;
char bss_area[8192];
void _start(void)
{
	tls_counter += data_word + bss_area[100];
	register long a0 __asm__("a0") = 0;
	register long a7 __asm__("a7") = 93; /* exit */
	__asm__ volatile("ecall" : : "r"(a0), "r"(a7));
	for (;;)
		;
}
