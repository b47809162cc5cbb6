/*
 * stream.c — this machine's memory read bandwidth (a STREAM-like sum over a
 * buffer far larger than the caches), with 1 and N threads. The decode roofline
 * is this figure divided by the bytes of weights and KV cache read per token.
 *   stream [THREADS] [MiB]   -> prints "read_gbs T X" per thread count
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} job;

static void *reader(void *arg)
{
    job *j = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= j->n; i += 4) {
        s0 += j->p[i];
        s1 += j->p[i + 1];
        s2 += j->p[i + 2];
        s3 += j->p[i + 3];
    }
    j->sum = s0 + s1 + s2 + s3;
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int maxt = argc > 1 ? atoi(argv[1]) : 2;
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
    size_t n = mib * 1024 * 1024 / 8;
    uint64_t *buf = malloc(n * 8);
    if (buf == NULL)
        return 1;
    memset(buf, 1, n * 8);
    for (int t = 1; t <= maxt; t++) {
        double best = 0;
        for (int rep = 0; rep < 5; rep++) {
            pthread_t th[64];
            job jobs[64];
            double t0 = now();
            for (int i = 0; i < t; i++) {
                jobs[i].p = buf + n / t * i;
                jobs[i].n = n / t;
                pthread_create(&th[i], NULL, reader, &jobs[i]);
            }
            uint64_t total = 0;
            for (int i = 0; i < t; i++) {
                pthread_join(th[i], NULL);
                total += jobs[i].sum;
            }
            double gbs = (double)(n * 8) / (now() - t0) / 1e9;
            if (gbs > best)
                best = gbs;
            if (total == 42)
                printf("#");
        }
        printf("read_gbs %d %.2f\n", t, best);
    }
    free(buf);
    return 0;
}
