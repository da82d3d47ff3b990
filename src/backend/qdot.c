#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpufeat.h"
#include "f16.h"
#include "qdot.h"
#include "xmalloc.h"

#if defined(__x86_64__) || defined(__i386__)
#define QDOT_X86 1
#endif

void
qdot_act_init(qdot_act *a)
{
    memset(a, 0, sizeof *a);
}

void
qdot_act_free(qdot_act *a)
{
    free(a->q);
    free(a->q4);
    free(a->d);
    free(a->sum);
    free(a->sum128);
    free(a->dsum);
    qdot_act_init(a);
}

/* Room for rows x blocks; contents are not kept. */
static void
qdot_act_reserve(qdot_act *a, int rows, int64_t blocks)
{
    if ((size_t)rows <= a->cap_rows && (size_t)blocks <= a->cap_blocks)
        return;
    size_t r = (size_t)rows > a->cap_rows ? (size_t)rows : a->cap_rows;
    size_t b = (size_t)blocks > a->cap_blocks ? (size_t)blocks : a->cap_blocks;
    qdot_act_free(a);
    a->q = xmalloc_aligned(r * b * QUANT_BLOCK);
    a->q4 = xmalloc_aligned(QDOT_GEMV_MAX_ROWS * b * QUANT_BLOCK);
    a->d = xmalloc_aligned(r * b * sizeof(float));
    a->sum = xmalloc_aligned(r * b * sizeof(int32_t));
    a->sum128 = xmalloc_aligned(r * b * sizeof(int32_t));
    a->dsum = xmalloc_aligned(r * b * sizeof(float));
    a->cap_rows = r;
    a->cap_blocks = b;
}

/* One activation block: scale amax / 127, values rounded to nearest (ties to even). */
static void
qdot_act_block(const float *x, int n, int8_t *q, float *d, int32_t *sum)
{
    float amax = 0;
    for (int i = 0; i < n; i++)
        amax = fmaxf(amax, fabsf(x[i]));
    float dd = amax / 127.0f;
    float id = dd != 0 ? 1.0f / dd : 0.0f;
    int32_t s = 0;
    for (int i = 0; i < QUANT_BLOCK; i++) {
        long v = i < n ? lrintf(x[i] * id) : 0;
        v = v > 127 ? 127 : v < -127 ? -127 : v;
        q[i] = (int8_t)v;
        s += (int32_t)v;
    }
    *d = dd;
    *sum = s;
}

/* Rows [r0, r1) in plain C. */
static void
qdot_act_rows(qdot_act *a, const float *x, int64_t cols, int r0, int r1)
{
    size_t rb = (size_t)a->blocks;
    for (int r = r0; r < r1; r++)
        for (int64_t b = 0; b < a->blocks; b++) {
            int64_t c0 = b * QUANT_BLOCK;
            int n = c0 >= cols ? 0 : cols - c0 < QUANT_BLOCK ? (int)(cols - c0) : QUANT_BLOCK;
            qdot_act_block(x + (size_t)r * (size_t)cols + (size_t)c0, n,
                           a->q + ((size_t)r * rb + (size_t)b) * QUANT_BLOCK,
                           &a->d[(size_t)r * rb + (size_t)b], &a->sum[(size_t)r * rb + (size_t)b]);
        }
}

typedef struct {
    qdot_act *a;
    const float *x;
    int64_t cols;
} qdot_act_job;

static void
qdot_act_range(void *ctx, size_t begin, size_t end, int thread)
{
    qdot_act_job *job = ctx;
#ifdef QDOT_X86
    if (cpufeat_level_get() >= CPUFEAT_AVX2)
        qdot_act_rows_avx2(job->a, job->x, job->cols, (int)begin, (int)end);
    else
#endif
        qdot_act_rows(job->a, job->x, job->cols, (int)begin, (int)end);
    size_t rb = (size_t)job->a->blocks;
    for (size_t i = begin * rb; i < end * rb; i++) {
        job->a->dsum[i] = job->a->d[i] * (float)job->a->sum[i];
        job->a->sum128[i] = -128 * job->a->sum[i];
    }
}

/*
 * The order the q4 matrix-vector kernels read: per group of four blocks (128 values), the first
 * halves of the four blocks, then their second halves. A q4 block keeps element i and i + 16 in
 * one byte, so the low nibbles of four blocks' 64 bytes meet the first 64 values of the group and
 * the high nibbles the last 64, without moving any weight.
 */
static void
qdot_act_q4_order(qdot_act *a)
{
    size_t n = (size_t)a->blocks * QUANT_BLOCK;
    for (int r = 0; r < a->rows; r++) {
        const int8_t *src = a->q + (size_t)r * n;
        int8_t *dst = a->q4 + (size_t)r * n;
        for (size_t g = 0; g < n; g += 4 * QUANT_BLOCK)
            for (int i = 0; i < 4; i++) {
                memcpy(dst + g + 16 * i, src + g + QUANT_BLOCK * i, 16);
                memcpy(dst + g + 64 + 16 * i, src + g + QUANT_BLOCK * i + 16, 16);
            }
    }
}

void
qdot_act_quantize(qdot_act *a, const float *x, int rows, int64_t cols, threadpool *pool)
{
    int64_t blocks = quant_row_blocks(cols);
    qdot_act_reserve(a, rows, blocks);
    a->rows = rows;
    a->blocks = blocks;
    qdot_act_job job = {a, x, cols};
    if (pool != NULL && rows > QDOT_GEMV_MAX_ROWS)
        threadpool_run(pool, (size_t)rows, 8, qdot_act_range, &job);
    else
        qdot_act_range(&job, 0, (size_t)rows, 0);
    if (rows <= QDOT_GEMV_MAX_ROWS)
        qdot_act_q4_order(a);
}

void
qdot_panel_rows(const quant_matrix *m, int n, int lanes, int32_t *idx)
{
    for (int l = 0; l < lanes; l++)
        idx[l] = (int32_t)((size_t)(l < n ? l : n - 1) * m->row_bytes);
}

void
qdot_panel_scales(const quant_matrix *m, int64_t j0, int n, int lanes, float unit, float *scales)
{
    for (int l = 0; l < lanes; l++) {
        const uint16_t *d = m->d + (size_t)(j0 + (l < n ? l : n - 1)) * (size_t)m->blocks;
        for (int64_t b = 0; b < m->blocks; b++)
            scales[b * lanes + l] = f16_to_f32(d[b]) * unit;
    }
}

/* ------------------------------------------------------------------ plain C */

/* sum_i w[i] * a[i] of one block, w the q8 or q4 values of the block's bytes */
static int32_t
qdot_block_portable(weights_dtype dtype, const uint8_t *wq, const int8_t *aq)
{
    int32_t s = 0;
    if (dtype == WEIGHTS_Q8) {
        for (int i = 0; i < QUANT_BLOCK; i++)
            s += (int8_t)wq[i] * aq[i];
    } else {
        for (int i = 0; i < QUANT_BLOCK / 2; i++)
            s += ((wq[i] & 15) - 8) * aq[i] + ((wq[i] >> 4) - 8) * aq[i + QUANT_BLOCK / 2];
    }
    return s;
}

void
qdot_rows_portable(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
                   int64_t ldy, const float *bias)
{
    size_t bb = m->row_bytes / (size_t)m->blocks;
    size_t ab = (size_t)a->blocks;
    assert(a->blocks == m->blocks);
    for (int64_t j = j0; j < j1; j++) {
        const uint8_t *wrow = m->qs + (size_t)j * m->row_bytes;
        const uint16_t *drow = m->d + (size_t)j * (size_t)m->blocks;
        for (int r = 0; r < a->rows; r++) {
            float acc = 0;
            for (int64_t b = 0; b < m->blocks; b++) {
                int32_t s = qdot_block_portable(m->dtype, wrow + (size_t)b * bb,
                                                a->q + ((size_t)r * ab + (size_t)b) * QUANT_BLOCK);
                acc += f16_to_f32(drow[b]) * a->d[(size_t)r * ab + (size_t)b] * (float)s;
            }
            y[(size_t)r * (size_t)ldy + (size_t)j] = acc + (bias != NULL ? bias[j] : 0.0f);
        }
    }
}

void
qdot_rows(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y, int64_t ldy,
          const float *bias)
{
#ifdef QDOT_X86
    switch (cpufeat_level_get()) {
    case CPUFEAT_AVX512:
        if (a->rows <= QDOT_GEMV_MAX_ROWS)
            qdot_gemv_avx512(m, a, j0, j1, y, ldy, bias);
        else
            qdot_gemm_avx512(m, a, j0, j1, y, ldy, bias);
        return;
    case CPUFEAT_AVX2:
        if (a->rows <= QDOT_GEMV_MAX_ROWS)
            qdot_gemv_avx2(m, a, j0, j1, y, ldy, bias);
        else
            qdot_gemm_avx2(m, a, j0, j1, y, ldy, bias);
        return;
    case CPUFEAT_PORTABLE:
        break;
    }
#endif
    qdot_rows_portable(m, a, j0, j1, y, ldy, bias);
}
