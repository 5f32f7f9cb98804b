/* fpmatrix: floating-point workloads with bit-exact checksums.
 * 1. C = A * B for N x N doubles (argv[1], default 200), blocked i-k-j loop; gcc contracts
 *    the multiply-add into fmadd.d, so the emulator's fused multiply-add must be exact.
 * 2. LU factorisation with partial pivoting of an N x N float matrix, then solving Ax = b
 *    for a known x; prints the max error and residual.
 * 3. A few libm calls (sqrt exp log sin cos pow) whose results glibc computes in software.
 * Values are printed with %.6e and all result bits are folded into FNV-1a checksums. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rs = 0x243f6a8885a308d3ULL;
static double urand(void) /* uniform in [-1, 1), 53 random bits */
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) * 0x1p-52 - 1.0;
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    if (n < 4 || n > 2000) {
        printf("bad size\n");
        return 2;
    }
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n),
           *c = calloc((size_t)n * n, sizeof(double));
    for (int i = 0; i < n * n; i++)
        a[i] = urand();
    for (int i = 0; i < n * n; i++)
        b[i] = urand() * 4.0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double aik = a[i * n + k];
            for (int j = 0; j < n; j++)
                c[i * n + j] += aik * b[k * n + j];
        }
    double trace = 0, fro = 0;
    for (int i = 0; i < n; i++)
        trace += c[i * n + i];
    for (int i = 0; i < n * n; i++)
        fro += c[i] * c[i];
    printf("matmul %dx%d: c[0][0] %.6e c[n-1][n-1] %.6e trace %.6e frobenius %.6e\n", n, n, c[0],
           c[n * n - 1], trace, sqrt(fro));
    printf("matmul bits checksum %016lx\n", (unsigned long)fnv_bytes(0xcbf29ce484222325ULL, c, sizeof(double) * n * n));

    /* float LU with partial pivoting */
    float *m = malloc(sizeof(float) * n * n), *x = malloc(sizeof(float) * n), *rhs = malloc(sizeof(float) * n);
    int *piv = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            m[i * n + j] = (float)urand() + (i == j ? 2.0f : 0.0f);
    for (int i = 0; i < n; i++)
        x[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < n; i++) {
        float s = 0;
        for (int j = 0; j < n; j++)
            s += m[i * n + j] * x[j];
        rhs[i] = s;
    }
    float *lu = malloc(sizeof(float) * n * n);
    memcpy(lu, m, sizeof(float) * n * n);
    for (int k = 0; k < n; k++) {
        int p = k;
        for (int i = k + 1; i < n; i++)
            if (fabsf(lu[i * n + k]) > fabsf(lu[p * n + k]))
                p = i;
        piv[k] = p;
        if (p != k)
            for (int j = 0; j < n; j++) {
                float t = lu[k * n + j];
                lu[k * n + j] = lu[p * n + j];
                lu[p * n + j] = t;
            }
        float d = lu[k * n + k];
        for (int i = k + 1; i < n; i++) {
            float l = lu[i * n + k] /= d;
            for (int j = k + 1; j < n; j++)
                lu[i * n + j] -= l * lu[k * n + j];
        }
    }
    float *y = malloc(sizeof(float) * n);
    memcpy(y, rhs, sizeof(float) * n);
    for (int k = 0; k < n; k++)
        if (piv[k] != k) {
            float t = y[k];
            y[k] = y[piv[k]];
            y[piv[k]] = t;
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            y[i] -= lu[i * n + j] * y[j];
    for (int i = n - 1; i >= 0; i--) {
        for (int j = i + 1; j < n; j++)
            y[i] -= lu[i * n + j] * y[j];
        y[i] /= lu[i * n + i];
    }
    float maxerr = 0, maxres = 0;
    for (int i = 0; i < n; i++) {
        maxerr = fmaxf(maxerr, fabsf(y[i] - x[i]));
        float s = 0;
        for (int j = 0; j < n; j++)
            s += m[i * n + j] * y[j];
        maxres = fmaxf(maxres, fabsf(s - rhs[i]));
    }
    printf("float LU solve %dx%d: x[0] %.6e x[n-1] %.6e max error %.6e max residual %.6e\n", n, n, y[0], y[n - 1],
           maxerr, maxres);
    uint64_t h = fnv_bytes(0xcbf29ce484222325ULL, lu, sizeof(float) * n * n);
    h = fnv_bytes(h, y, sizeof(float) * n);
    h = fnv_bytes(h, piv, sizeof(int) * n);
    printf("LU bits checksum %016lx\n", (unsigned long)h);

    /* libm */
    double acc = 0;
    uint64_t lh = 0xcbf29ce484222325ULL;
    for (int i = 1; i <= 2000; i++) {
        double t = i * 0.37;
        double v[6] = { sqrt(t), exp(-t / 50), log(t), sin(t), cos(t * t), pow(t, 0.3) };
        for (int k = 0; k < 6; k++)
            acc += v[k];
        lh = fnv_bytes(lh, v, sizeof v);
        float fv[3] = { sqrtf((float)t), sinf((float)t), expf((float)(-t / 100)) };
        lh = fnv_bytes(lh, fv, sizeof fv);
    }
    printf("libm sum %.6e bits checksum %016lx\n", acc, (unsigned long)lh);
    return 0;
}
