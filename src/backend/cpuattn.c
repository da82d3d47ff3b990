#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPUATTN_X86 1
#endif

#include "backend_cpu.h"
#include "cpuattn.h"
#include "f16.h"
#include "xmalloc.h"

/* Query rows a task takes, and keys a block holds (the SIMD kernels are written for 64). */
#define CPUATTN_ROWS 64
#define CPUATTN_KEYS 64
/* Largest head dimension (SigLIP 72, Phi-2 80). */
#define CPUATTN_MAX_HD 256

/* One thread's scratch. */
typedef struct {
    float *kt;  /* (hd, CPUATTN_KEYS) the block's keys, transposed */
    float *vb;  /* (CPUATTN_KEYS, hd) the block's values */
    float *s;   /* (CPUATTN_KEYS) one row's scores, then their exponentials */
    float *max; /* (CPUATTN_ROWS) largest score so far */
    float *sum; /* (CPUATTN_ROWS) sum of exp(score - max) */
    float *acc; /* (CPUATTN_ROWS, hd) values weighted by exp(score - max) */
} cpuattn_scratch;

typedef struct {
    const cpuattn_args *a;
    float *scratch; /* per thread: cpuattn_floats(hd) floats */
    int blocks;     /* query blocks */
} cpuattn_job;

static size_t
cpuattn_floats(int hd)
{
    return (size_t)hd * CPUATTN_KEYS * 2 + CPUATTN_KEYS + 2 * CPUATTN_ROWS +
           (size_t)CPUATTN_ROWS * hd;
}

static cpuattn_scratch
cpuattn_scratch_of(const cpuattn_job *job, int thread)
{
    int hd = job->a->hd;
    cpuattn_scratch w;
    w.kt = job->scratch + (size_t)thread * cpuattn_floats(hd);
    w.vb = w.kt + (size_t)hd * CPUATTN_KEYS;
    w.s = w.vb + (size_t)hd * CPUATTN_KEYS;
    w.max = w.s + CPUATTN_KEYS;
    w.sum = w.max + CPUATTN_ROWS;
    w.acc = w.sum + CPUATTN_ROWS;
    return w;
}

#ifdef CPUATTN_X86
/* s (CPUATTN_KEYS) = q (hd) . kt (hd, CPUATTN_KEYS) * scale: eight keys a register. */
__attribute__((target("avx2,fma"))) static void
cpuattn_scores_avx2(float *s, const float *q, const float *kt, int hd, float scale)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int d = 0; d < hd; d++) {
        __m256 b = _mm256_set1_ps(q[d]);
        const float *r = kt + (size_t)d * CPUATTN_KEYS;
        a0 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r), a0);
        a1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 8), a1);
        a2 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 16), a2);
        a3 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 24), a3);
        a4 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 32), a4);
        a5 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 40), a5);
        a6 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 48), a6);
        a7 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 56), a7);
    }
    __m256 sv = _mm256_set1_ps(scale);
    _mm256_storeu_ps(s, _mm256_mul_ps(a0, sv));
    _mm256_storeu_ps(s + 8, _mm256_mul_ps(a1, sv));
    _mm256_storeu_ps(s + 16, _mm256_mul_ps(a2, sv));
    _mm256_storeu_ps(s + 24, _mm256_mul_ps(a3, sv));
    _mm256_storeu_ps(s + 32, _mm256_mul_ps(a4, sv));
    _mm256_storeu_ps(s + 40, _mm256_mul_ps(a5, sv));
    _mm256_storeu_ps(s + 48, _mm256_mul_ps(a6, sv));
    _mm256_storeu_ps(s + 56, _mm256_mul_ps(a7, sv));
}

/*
 * acc (hd) += sum over j < n of p[j] * vb[j] (hd each): 64 values of acc at a time in eight
 * registers, so eight chains of multiply-adds run side by side over the keys.
 */
__attribute__((target("avx2,fma"))) static void
cpuattn_weigh_avx2(float *acc, const float *p, const float *vb, int n, int hd)
{
    int d = 0;
    for (; d + 64 <= hd; d += 64) {
        __m256 a0 = _mm256_loadu_ps(acc + d), a1 = _mm256_loadu_ps(acc + d + 8);
        __m256 a2 = _mm256_loadu_ps(acc + d + 16), a3 = _mm256_loadu_ps(acc + d + 24);
        __m256 a4 = _mm256_loadu_ps(acc + d + 32), a5 = _mm256_loadu_ps(acc + d + 40);
        __m256 a6 = _mm256_loadu_ps(acc + d + 48), a7 = _mm256_loadu_ps(acc + d + 56);
        for (int j = 0; j < n; j++) {
            __m256 pj = _mm256_set1_ps(p[j]);
            const float *r = vb + (size_t)j * hd + d;
            a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(r), a0);
            a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(r + 8), a1);
            a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(r + 16), a2);
            a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(r + 24), a3);
            a4 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(r + 32), a4);
            a5 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(r + 40), a5);
            a6 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(r + 48), a6);
            a7 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(r + 56), a7);
        }
        _mm256_storeu_ps(acc + d, a0);
        _mm256_storeu_ps(acc + d + 8, a1);
        _mm256_storeu_ps(acc + d + 16, a2);
        _mm256_storeu_ps(acc + d + 24, a3);
        _mm256_storeu_ps(acc + d + 32, a4);
        _mm256_storeu_ps(acc + d + 40, a5);
        _mm256_storeu_ps(acc + d + 48, a6);
        _mm256_storeu_ps(acc + d + 56, a7);
    }
    for (; d + 8 <= hd; d += 8) {
        /* two chains over the keys, even and odd, summed at the end */
        __m256 a0 = _mm256_loadu_ps(acc + d), a1 = _mm256_setzero_ps();
        int j = 0;
        for (; j + 2 <= n; j += 2) {
            a0 =
                _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(vb + (size_t)j * hd + d), a0);
            a1 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 1]),
                                 _mm256_loadu_ps(vb + (size_t)(j + 1) * hd + d), a1);
        }
        if (j < n)
            a0 =
                _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(vb + (size_t)j * hd + d), a0);
        _mm256_storeu_ps(acc + d, _mm256_add_ps(a0, a1));
    }
    for (; d < hd; d++)
        for (int j = 0; j < n; j++)
            acc[d] += p[j] * vb[(size_t)j * hd + d];
}
#endif

static void
cpuattn_scores(float *s, const float *q, const float *kt, int hd, float scale)
{
#ifdef CPUATTN_X86
    if (backend_cpu_has_simd()) {
        cpuattn_scores_avx2(s, q, kt, hd, scale);
        return;
    }
#endif
    for (int j = 0; j < CPUATTN_KEYS; j++) {
        float acc = 0;
        for (int d = 0; d < hd; d++)
            acc += q[d] * kt[(size_t)d * CPUATTN_KEYS + j];
        s[j] = acc * scale;
    }
}

static void
cpuattn_weigh(float *acc, const float *p, const float *vb, int n, int hd)
{
#ifdef CPUATTN_X86
    if (backend_cpu_has_simd()) {
        cpuattn_weigh_avx2(acc, p, vb, n, hd);
        return;
    }
#endif
    for (int j = 0; j < n; j++)
        for (int d = 0; d < hd; d++)
            acc[d] += p[j] * vb[(size_t)j * hd + d];
}

/* Keys and values [j0, j0 + nk) of head h into the scratch, as fp32 (keys transposed, zeros after
 * nk). */
static void
cpuattn_load(const cpuattn_args *a, int h, int j0, int nk, cpuattn_scratch *w)
{
    size_t dim = (size_t)a->heads * a->hd;
    int hd = a->hd;
    float krow[CPUATTN_MAX_HD];
    for (int j = 0; j < CPUATTN_KEYS; j++) {
        if (j >= nk) {
            for (int d = 0; d < hd; d++)
                w->kt[(size_t)d * CPUATTN_KEYS + j] = 0;
            continue;
        }
        size_t off = (size_t)(j0 + j) * dim + (size_t)h * hd;
        if (a->half) {
            backend_cpu_f16_to_f32(krow, (const uint16_t *)a->k + off, (size_t)hd);
            backend_cpu_f16_to_f32(w->vb + (size_t)j * hd, (const uint16_t *)a->v + off,
                                   (size_t)hd);
        } else {
            memcpy(krow, (const float *)a->k + off, (size_t)hd * sizeof(float));
            memcpy(w->vb + (size_t)j * hd, (const float *)a->v + off, (size_t)hd * sizeof(float));
        }
        for (int d = 0; d < hd; d++)
            w->kt[(size_t)d * CPUATTN_KEYS + j] = krow[d];
    }
}

/* One task: query rows [r0, r0 + nr) of head h over every key they see. */
static void
cpuattn_task(const cpuattn_args *a, int h, int r0, int nr, cpuattn_scratch *w)
{
    size_t dim = (size_t)a->heads * a->hd;
    int hd = a->hd;
    int keys = a->pos0 >= 0 ? a->pos0 + r0 + nr : a->nkeys; /* the last row's */
    for (int i = 0; i < nr; i++) {
        w->max[i] = -INFINITY;
        w->sum[i] = 0;
    }
    memset(w->acc, 0, (size_t)nr * hd * sizeof(float));
    for (int j0 = 0; j0 < keys; j0 += CPUATTN_KEYS) {
        int nk = keys - j0 < CPUATTN_KEYS ? keys - j0 : CPUATTN_KEYS;
        cpuattn_load(a, h, j0, nk, w);
        for (int i = 0; i < nr; i++) {
            /* a causal row sees keys up to its own position */
            int n = a->pos0 >= 0 ? a->pos0 + r0 + i + 1 - j0 : nk;
            if (n > nk)
                n = nk;
            if (n <= 0)
                continue;
            float *acc = w->acc + (size_t)i * hd;
            cpuattn_scores(w->s, a->q + (size_t)(r0 + i) * dim + (size_t)h * hd, w->kt, hd,
                           a->scale);
            float top = w->s[0];
            for (int j = 1; j < n; j++)
                top = w->s[j] > top ? w->s[j] : top;
            if (top > w->max[i]) {
                /* exp(-inf) is 0: the first block clears the empty state */
                float shrink = expf(w->max[i] - top);
                w->sum[i] *= shrink;
                for (int d = 0; d < hd; d++)
                    acc[d] *= shrink;
                w->max[i] = top;
            }
            w->sum[i] += backend_cpu_exp_shifted(w->s, n, w->max[i]);
            cpuattn_weigh(acc, w->s, w->vb, n, hd);
        }
    }
    for (int i = 0; i < nr; i++) {
        float inv = 1.0f / w->sum[i];
        float *o = a->out + (size_t)(r0 + i) * dim + (size_t)h * hd;
        for (int d = 0; d < hd; d++)
            o[d] = w->acc[(size_t)i * hd + d] * inv;
    }
}

static void
cpuattn_range(void *ctx, size_t begin, size_t end, int thread)
{
    cpuattn_job *job = ctx;
    const cpuattn_args *a = job->a;
    cpuattn_scratch w = cpuattn_scratch_of(job, thread);
    for (size_t t = begin; t < end; t++) {
        int h = (int)(t % (size_t)a->heads);
        int r0 = (int)(t / (size_t)a->heads) * CPUATTN_ROWS;
        int nr = a->rows - r0 < CPUATTN_ROWS ? a->rows - r0 : CPUATTN_ROWS;
        cpuattn_task(a, h, r0, nr, &w);
    }
}

void
cpuattn_run(threadpool *pool, const cpuattn_args *a)
{
    assert(a->hd <= CPUATTN_MAX_HD);
    int nt = threadpool_size(pool);
    cpuattn_job job = {a, NULL, (a->rows + CPUATTN_ROWS - 1) / CPUATTN_ROWS};
    job.scratch = xmalloc_aligned((size_t)nt * cpuattn_floats(a->hd) * sizeof(float));
    /* the tasks of a causal prefill grow with the rows: whole heads of late rows come last */
    threadpool_run(pool, (size_t)job.blocks * (size_t)a->heads, 1, cpuattn_range, &job);
    free(job.scratch);
}
