/* hash: SHA-256 (FIPS 180-4), CRC-32 (IEEE 802.3, reflected, table driven), FNV-1a 64
 * and a 64-bit multiply/rotate mix over generated data (argv[1] MiB, default 8).
 * Known-answer tests first (SHA-256 of "abc" and of the empty string, CRC-32 of
 * "123456789" = cbf43926), so a wrong emulator cannot produce plausible output. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

static void sha256(const unsigned char *p, size_t n, char out[65])
{
    uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        sha256_block(h, p + i);
    unsigned char tail[128] = { 0 };
    size_t r = n - i;
    memcpy(tail, p + i, r);
    tail[r] = 0x80;
    size_t tl = r + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++)
        tail[tl - 1 - k] = (unsigned char)(bits >> (8 * k));
    sha256_block(h, tail);
    if (tl == 128)
        sha256_block(h, tail + 64);
    for (int k = 0; k < 8; k++)
        sprintf(out + 8 * k, "%08x", h[k]);
}

static uint32_t crc_table[256];
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
static uint32_t crc32(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t mix64(const unsigned char *p, size_t n)
{
    /* word-at-a-time multiply/rotate hash in the style of xxhash64 (not xxhash itself) */
    const uint64_t P1 = 0x9e3779b185ebca87ULL, P2 = 0xc2b2ae3d27d4eb4fULL;
    uint64_t acc[4] = { P1 + P2, P2, 0, -P1 };
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 4; l++) {
            uint64_t v;
            memcpy(&v, p + i + 8 * l, 8);
            acc[l] += v * P2;
            acc[l] = (acc[l] << 31) | (acc[l] >> 33);
            acc[l] *= P1;
        }
    uint64_t h = ((acc[0] << 1) | (acc[0] >> 63)) + ((acc[1] << 7) | (acc[1] >> 57)) +
                 ((acc[2] << 12) | (acc[2] >> 52)) + ((acc[3] << 18) | (acc[3] >> 46));
    for (; i < n; i++)
        h = (h ^ p[i]) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    return h + n;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 8;
    char hex[65];
    crc_init();
    sha256((const unsigned char *)"abc", 3, hex);
    printf("sha256(\"abc\") %s\n", hex);
    sha256((const unsigned char *)"", 0, hex);
    printf("sha256(\"\")    %s\n", hex);
    printf("crc32(\"123456789\") %08x\n", crc32((const unsigned char *)"123456789", 9));
    size_t n = mib << 20;
    unsigned char *d = malloc(n + 7);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d[i] = (unsigned char)(x >> 24);
    }
    printf("data: %zu MiB of xorshift64 bytes\n", mib);
    sha256(d, n, hex);
    printf("sha256 %s\n", hex);
    sha256(d + 1, n - 3, hex); /* unaligned start, odd length */
    printf("sha256 [1, n-2) %s\n", hex);
    printf("crc32 %08x\n", crc32(d, n));
    printf("fnv1a64 %016lx\n", (unsigned long)fnv1a(d, n));
    printf("mix64 %016lx mix64(+3, n-5) %016lx\n", (unsigned long)mix64(d, n), (unsigned long)mix64(d + 3, n - 5));
    free(d);
    return 0;
}
