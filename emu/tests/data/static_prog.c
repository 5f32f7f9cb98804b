/* A small program for the objdump fixture (gen_disasm.py): integer, FP, atomics and
 * libc code, so a static -O2 build contains real compiler output of every kind. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long counter;

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	double v[64];
	float f = 1.5f;
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 64; i++) {
		v[i] = sin(i * 0.1) * (argc + 1) + sqrt((double)i);
		f = fmaf(f, 1.0001f, (float)i);
		h = (h ^ (uint64_t)i) * 1099511628211ull;
		atomic_fetch_add(&counter, i);
	}
	qsort(v, 64, sizeof v[0], cmp);
	long q = (long)h / (argc + 2) % 1000;
	unsigned r = (unsigned)h >> (argc & 31);
	char buf[64];
	snprintf(buf, sizeof buf, "%s", argc > 1 ? argv[1] : "none");
	printf("%f %f %ld %u %ld %zu %s\n", v[0], (double)f, q, r,
	       atomic_load(&counter), strlen(buf), buf);
	return 0;
}
