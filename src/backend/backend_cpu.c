#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_X86 1
#endif

#include "backend_cpu.h"
#include "cpuattn.h"
#include "cpufeat.h"
#include "f16.h"
#include "log.h"
#include "qdot.h"
#include "threadpool.h"
#include "xmalloc.h"

/*
 * Weights stay where they are mapped when they are F16 or F32 matrices, or where they were
 * quantized (Q8, Q4); BF16 and every vector (biases, norms, small tables) are converted to F32
 * once, which costs little and keeps the kernels to four weight types.
 */
struct backend_weight {
    weights_dtype dtype; /* WEIGHTS_F16, WEIGHTS_F32, WEIGHTS_Q8 or WEIGHTS_Q4 */
    int64_t rows;        /* shape[0] */
    int64_t cols;        /* elements per row */
    const void *data;
    void *owned;
    quant_matrix q;      /* Q8 and Q4: the parts of data */
};

/* The cache in fp16: half the memory and half the reads of attention over a long context. */
struct backend_kv {
    int layers, ctx, dim;
    size_t layer_stride; /* ctx * dim */
    uint16_t *k;         /* (layer, pos, dim) fp16 */
    uint16_t *v;         /* (layer, pos, dim) fp16 */
};

/* Several matrix-vector products as one job: output rows are numbered across the matrices. */
#define CPU_BATCH_MAX 8

typedef struct {
    backend base;
    threadpool *pool;
    qdot_act acts[CPU_BATCH_MAX]; /* activations of quantized products, one per distinct input */
    float *scratch; /* fp32 copy of a block of weight rows for the matrix products */
    size_t scratch_len;
    float *attn;    /* single-query attention: scores (heads, keys), then partial outputs */
    size_t attn_len;
} backend_cpu;


/* Rows at or below which a product is done as matrix-vector products straight from fp16. */
#define CPU_GEMV_MAX_ROWS 8
/* Weight rows a matrix-vector product asks to be fetched ahead of the one it reads. */
#define CPU_PREFETCH_ROWS 2
/* Largest block of weights converted to fp32 at once for a matrix product (floats). */
#define CPU_SCRATCH_FLOATS ((size_t)16 << 20)

int
backend_cpu_has_simd(void)
{
    return cpufeat_level_get() >= CPUFEAT_AVX2;
}

void
backend_cpu_force_portable(int portable)
{
    cpufeat_cap(portable ? CPUFEAT_PORTABLE : CPUFEAT_AVX512);
}

/* ------------------------------------------------------------------ kernels */

static float
cpu_dot_f32_portable(const float *a, const float *b, int n)
{
    /* four partial sums: the same order the SIMD path approximates, and faster than one chain */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static float
cpu_dot_f16_portable(const uint16_t *w, const float *x, int n, const uint16_t *ahead)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        if (i % 32 == 0)
            __builtin_prefetch(ahead + i);
        s0 += f16_to_f32(w[i]) * x[i];
        s1 += f16_to_f32(w[i + 1]) * x[i + 1];
        s2 += f16_to_f32(w[i + 2]) * x[i + 2];
        s3 += f16_to_f32(w[i + 3]) * x[i + 3];
    }
    for (; i < n; i++)
        s0 += f16_to_f32(w[i]) * x[i];
    return (s0 + s1) + (s2 + s3);
}

static void
cpu_f16_to_f32_portable(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f16_to_f32(src[i]);
}

#ifdef CPU_X86
__attribute__((target("avx2,fma"))) static inline float
cpu_hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) static float
cpu_dot_f32_avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = cpu_hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma,f16c"))) static float
cpu_dot_f16_avx2(const uint16_t *w, const float *x, int n, const uint16_t *ahead)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch((const char *)(ahead + i), _MM_HINT_T0);
        _mm_prefetch((const char *)(ahead + i + 16), _MM_HINT_T0);
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        __m256 w2 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 16)));
        __m256 w3 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 24)));
        s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), s1);
        s2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x + i + 16), s2);
        s3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), s0);
    }
    float s = cpu_hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        s += f16_to_f32(w[i]) * x[i];
    return s;
}

__attribute__((target("avx2,f16c"))) static void
cpu_f16_to_f32_avx2(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = f16_to_f32(src[i]);
}

#ifndef HAVE_OPENBLAS
/* y[0..4) x[0..4) block: 4 rows of x against 4 rows of w, dot products along k. */
__attribute__((target("avx2,fma"))) static void
cpu_gemm_4x4_avx2(float *y, size_t ldy, const float *x, size_t ldx, const float *w, size_t ldw,
                  int k)
{
    __m256 acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            acc[i][j] = _mm256_setzero_ps();
    int p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 xv[4], wv[4];
        for (int i = 0; i < 4; i++)
            xv[i] = _mm256_loadu_ps(x + i * ldx + p);
        for (int j = 0; j < 4; j++)
            wv[j] = _mm256_loadu_ps(w + j * ldw + p);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                acc[i][j] = _mm256_fmadd_ps(xv[i], wv[j], acc[i][j]);
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            float s = cpu_hsum256(acc[i][j]);
            for (int q = p; q < k; q++)
                s += x[i * ldx + q] * w[j * ldw + q];
            y[i * ldy + j] = s;
        }
}
#endif
#endif

#ifdef CPU_X86
__attribute__((target("avx2,fma"))) static void
cpu_axpy_avx2(float *y, float a, const float *x, int n)
{
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

__attribute__((target("avx2,fma,f16c"))) static void
cpu_axpy_f16_avx2(float *y, float a, const uint16_t *x, int n)
{
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, xv, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++)
        y[i] += a * f16_to_f32(x[i]);
}

__attribute__((target("avx2,f16c"))) static void
cpu_f32_to_f16_avx2(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = f32_to_f16(src[i]);
}

/*
 * exp(x) within about 2 ulp, x clamped to [-87, 88] (below, exp is under FLT_MIN and 0 is fine;
 * above, it is past FLT_MAX's neighbourhood): x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6
 * polynomial (Cephes' expf coefficients), 2^n put in the exponent bits.
 */
__attribute__((target("avx2,fma"))) static inline __m256
cpu_exp_avx2(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma"))) static float
cpu_exp_shifted_avx2(float *s, int n, float max)
{
    __m256 m = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = cpu_exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(s + i), m));
        _mm256_storeu_ps(s + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    float total = cpu_hsum256(sum);
    for (; i < n; i++) {
        s[i] = expf(s[i] - max);
        total += s[i];
    }
    return total;
}
#endif

/*
 * gelu with the tanh approximation, 0.5 u (1 + tanh(z)) with z = sqrt(2/pi) (u + 0.044715 u^3),
 * written as u / (1 + exp(-2z)): one exponential, no cancellation.
 */
__attribute__((target("avx2,fma"))) static void
cpu_gelu_tanh_avx2(float *x, size_t n)
{
    const __m256 k = _mm256_set1_ps(-2 * 0.7978845608028654f), c = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 u = _mm256_loadu_ps(x + i);
        __m256 z = _mm256_mul_ps(k, _mm256_fmadd_ps(_mm256_mul_ps(c, u), _mm256_mul_ps(u, u), u));
        _mm256_storeu_ps(x + i, _mm256_div_ps(u, _mm256_add_ps(one, cpu_exp_avx2(z))));
    }
    for (; i < n; i++) {
        float u = x[i];
        x[i] = 0.5f * u * (1.0f + tanhf(0.7978845608028654f * (u + 0.044715f * u * u * u)));
    }
}

float
backend_cpu_exp_shifted(float *s, int n, float max)
{
#ifdef CPU_X86
    if (backend_cpu_has_simd())
        return cpu_exp_shifted_avx2(s, n, max);
#endif
    float total = 0;
    for (int i = 0; i < n; i++) {
        s[i] = expf(s[i] - max);
        total += s[i];
    }
    return total;
}

/* y (n) += a * x (n) */
static void
cpu_axpy(float *y, float a, const float *x, int n)
{
#ifdef CPU_X86
    if (backend_cpu_has_simd()) {
        cpu_axpy_avx2(y, a, x, n);
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* y (n) += a * x (n) with x in fp16 (the KV cache's values) */
static void
cpu_axpy_f16(float *y, float a, const uint16_t *x, int n)
{
#ifdef CPU_X86
    if (backend_cpu_has_simd()) {
        cpu_axpy_f16_avx2(y, a, x, n);
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        y[i] += a * f16_to_f32(x[i]);
}

/* dst (n) = src rounded to fp16 (nearest, ties to even) */
static void
cpu_f32_to_f16(uint16_t *dst, const float *src, size_t n)
{
#ifdef CPU_X86
    if (backend_cpu_has_simd()) {
        cpu_f32_to_f16_avx2(dst, src, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        dst[i] = f32_to_f16(src[i]);
}

static float
cpu_dot_f32(const float *a, const float *b, int n)
{
#ifdef CPU_X86
    if (backend_cpu_has_simd())
        return cpu_dot_f32_avx2(a, b, n);
#endif
    return cpu_dot_f32_portable(a, b, n);
}

/*
 * The dot product of fp16 weights w with x, n elements, asking for the n weights at ahead to be
 * fetched meanwhile: a matrix-vector product passes the row it reads next, so one core keeps
 * enough reads in flight to come near the memory's speed (the hardware prefetchers alone left
 * about a sixth of it unused).
 */
static float
cpu_dot_f16(const uint16_t *w, const float *x, int n, const uint16_t *ahead)
{
#ifdef CPU_X86
    if (backend_cpu_has_simd())
        return cpu_dot_f16_avx2(w, x, n, ahead);
#endif
    return cpu_dot_f16_portable(w, x, n, ahead);
}

void
backend_cpu_f16_to_f32(float *dst, const uint16_t *src, size_t n)
{
#ifdef CPU_X86
    if (backend_cpu_has_simd()) {
        cpu_f16_to_f32_avx2(dst, src, n);
        return;
    }
#endif
    cpu_f16_to_f32_portable(dst, src, n);
}

/* ------------------------------------------------------------------ weights and buffers */

static backend_weight *
cpu_weight_new(backend *be, const weights_tensor *t)
{
    backend_weight *w = xcalloc(1, sizeof *w);
    w->rows = t->ndim > 0 ? t->shape[0] : 1;
    w->cols = w->rows > 0 ? t->nelem / w->rows : 0;
    if (t->dtype == WEIGHTS_Q8 || t->dtype == WEIGHTS_Q4) {
        w->dtype = t->dtype;
        w->data = t->data;
        w->q = quant_matrix_of(t);
    } else if (t->dtype == WEIGHTS_F32 && t->ndim >= 2 && ((uintptr_t)t->data & 3) == 0) {
        w->dtype = WEIGHTS_F32;
        w->data = t->data;
    } else if (t->dtype == WEIGHTS_F16 && t->ndim >= 2 && ((uintptr_t)t->data & 1) == 0) {
        w->dtype = WEIGHTS_F16;
        w->data = t->data;
    } else {
        /* vectors, BF16 and unaligned data: an fp32 copy, read with memcpy-safe loads */
        float *f = xmalloc_aligned((size_t)t->nelem * sizeof(float));
        for (int64_t i = 0; i < t->nelem; i++)
            f[i] = weights_tensor_value(t, i);
        w->dtype = WEIGHTS_F32;
        w->data = f;
        w->owned = f;
    }
    return w;
}

static void
cpu_weight_free(backend *be, backend_weight *w)
{
    if (w == NULL)
        return;
    free(w->owned);
    free(w);
}

static const float *
cpu_weight_f32(const backend_weight *w)
{
    assert(w->dtype == WEIGHTS_F32);
    return w->data;
}

static float *
cpu_buf_new(backend *be, size_t n)
{
    /* calloc of large sizes maps zero pages lazily, so an unused tail costs no memory */
    return xcalloc(n ? n : 1, sizeof(float));
}

static void
cpu_buf_free(backend *be, float *buf)
{
    free(buf);
}

static void
cpu_buf_copy(backend *be, float *dst, const float *src, size_t n)
{
    memmove(dst, src, n * sizeof(float));
}

/* ------------------------------------------------------------------ linear */

typedef struct {
    float *y;
    const float *x;
    int rows;
    int in;
    int out;
    const backend_weight *w;
    const float *bias;
    const qdot_act *act; /* a quantized product's activations */
    /* for the blocked product */
    const float *wblock; /* (nblock, in) fp32 */
    int j0;              /* first output column of the block */
    int nblock;
    int col_tiles;
} cpu_linear_job;

static void
cpu_linear_gemv_range(void *ctx, size_t begin, size_t end, int thread)
{
    cpu_linear_job *job = ctx;
    int in = job->in;
    if (job->act != NULL) {
        qdot_rows(&job->w->q, job->act, (int64_t)begin, (int64_t)end, job->y, job->out, job->bias);
        return;
    }
    for (size_t j = begin; j < end; j++) {
        float b = job->bias != NULL ? job->bias[j] : 0.0f;
        for (int r = 0; r < job->rows; r++) {
            const float *xr = job->x + (size_t)r * in;
            float s;
            if (job->w->dtype == WEIGHTS_F16) {
                const uint16_t *w = (const uint16_t *)job->w->data + j * (size_t)in;
                /* two rows ahead while there are rows; the last ones ask for their own */
                const uint16_t *ahead = j + CPU_PREFETCH_ROWS < (size_t)job->out
                                            ? w + CPU_PREFETCH_ROWS * (size_t)in
                                            : w;
                s = cpu_dot_f16(w, xr, in, ahead);
            } else {
                s = cpu_dot_f32((const float *)job->w->data + j * (size_t)in, xr, in);
            }
            job->y[(size_t)r * job->out + j] = s + b;
        }
    }
}

typedef struct {
    int n;
    cpu_linear_job jobs[CPU_BATCH_MAX];
    size_t first[CPU_BATCH_MAX + 1]; /* first global row of each product */
} cpu_batch_job;

static void
cpu_linear_batch_range(void *ctx, size_t begin, size_t end, int thread)
{
    cpu_batch_job *batch = ctx;
    for (int i = 0; i < batch->n && begin < end; i++) {
        size_t lo = begin > batch->first[i] ? begin : batch->first[i];
        size_t hi = end < batch->first[i + 1] ? end : batch->first[i + 1];
        if (lo < hi)
            cpu_linear_gemv_range(&batch->jobs[i], lo - batch->first[i], hi - batch->first[i],
                                  thread);
    }
}

static void
cpu_linear(backend *be, float *y, const float *x, int rows, const backend_weight *w,
           const backend_weight *b);

/* A quantized matrix product over panels [begin, end) of QDOT_PANEL weight rows. */
static void
cpu_linear_panel_range(void *ctx, size_t begin, size_t end, int thread)
{
    cpu_linear_job *job = ctx;
    size_t j1 = end * QDOT_PANEL < (size_t)job->out ? end * QDOT_PANEL : (size_t)job->out;
    qdot_rows(&job->w->q, job->act, (int64_t)(begin * QDOT_PANEL), (int64_t)j1, job->y, job->out,
              job->bias);
}

static int
cpu_weight_quantized(const backend_weight *w)
{
    return w->dtype == WEIGHTS_Q8 || w->dtype == WEIGHTS_Q4;
}

static void
cpu_linear_batch(backend *be, int n, float *const *y, const float *const *x, int rows,
                 const backend_weight *const *w, const backend_weight *const *b)
{
    backend_cpu *cpu = (backend_cpu *)be;
    if (rows > CPU_GEMV_MAX_ROWS || n > CPU_BATCH_MAX) {
        /* matrix products are one job each already */
        for (int i = 0; i < n; i++)
            cpu_linear(be, y[i], x[i], rows, w[i], b[i]);
        return;
    }
    cpu_batch_job batch = {.n = n};
    int nacts = 0;
    for (int i = 0; i < n; i++) {
        batch.jobs[i] = (cpu_linear_job){
            .y = y[i], .x = x[i], .rows = rows, .in = (int)w[i]->cols, .out = (int)w[i]->rows,
            .w = w[i], .bias = b[i] != NULL ? cpu_weight_f32(b[i]) : NULL,
        };
        batch.first[i + 1] = batch.first[i] + (size_t)w[i]->rows;
        if (!cpu_weight_quantized(w[i]))
            continue;
        /* products that read the same input share its quantized activations */
        for (int k = 0; k < i && batch.jobs[i].act == NULL; k++)
            if (batch.jobs[k].act != NULL && x[k] == x[i] && w[k]->cols == w[i]->cols)
                batch.jobs[i].act = batch.jobs[k].act;
        if (batch.jobs[i].act == NULL) {
            qdot_act_quantize(&cpu->acts[nacts], x[i], rows, w[i]->cols, NULL);
            batch.jobs[i].act = &cpu->acts[nacts++];
        }
    }
    threadpool_run(cpu->pool, batch.first[n], 16, cpu_linear_batch_range, &batch);
}

static void
cpu_convert_range(void *ctx, size_t begin, size_t end, int thread)
{
    cpu_linear_job *job = ctx;
    size_t in = (size_t)job->in;
    const uint16_t *src = (const uint16_t *)job->w->data + (size_t)job->j0 * in;
    backend_cpu_f16_to_f32((float *)job->wblock + begin * in, src + begin * in, (end - begin) * in);
}

#ifndef HAVE_OPENBLAS
/* One task = a tile of 64 x rows by 64 weight rows of the current block. */
static void
cpu_gemm_tiles(void *ctx, size_t begin, size_t end, int thread)
{
    cpu_linear_job *job = ctx;
    const int T = 64;
    for (size_t t = begin; t < end; t++) {
        int r0 = (int)(t / (size_t)job->col_tiles) * T;
        int c0 = (int)(t % (size_t)job->col_tiles) * T;
        int r1 = r0 + T < job->rows ? r0 + T : job->rows;
        int c1 = c0 + T < job->nblock ? c0 + T : job->nblock;
        for (int r = r0; r < r1; r += 4) {
            for (int c = c0; c < c1; c += 4) {
                float *yb = job->y + (size_t)r * job->out + job->j0 + c;
                const float *xb = job->x + (size_t)r * job->in;
                const float *wb = job->wblock + (size_t)c * job->in;
#ifdef CPU_X86
                if (backend_cpu_has_simd() && r + 4 <= r1 && c + 4 <= c1) {
                    cpu_gemm_4x4_avx2(yb, (size_t)job->out, xb, (size_t)job->in, wb,
                                      (size_t)job->in, job->in);
                    continue;
                }
#endif
                for (int i = 0; i < 4 && r + i < r1; i++)
                    for (int jj = 0; jj < 4 && c + jj < c1; jj++)
                        yb[(size_t)i * job->out + jj] =
                            cpu_dot_f32(xb + (size_t)i * job->in, wb + (size_t)jj * job->in, job->in);
            }
        }
    }
}
#endif

static void
cpu_add_bias_range(void *ctx, size_t begin, size_t end, int thread)
{
    cpu_linear_job *job = ctx;
    for (size_t r = begin; r < end; r++) {
        float *yr = job->y + r * (size_t)job->out;
        for (int j = 0; j < job->out; j++)
            yr[j] += job->bias[j];
    }
}

static void
cpu_linear(backend *be, float *y, const float *x, int rows, const backend_weight *w,
           const backend_weight *b)
{
    backend_cpu *cpu = (backend_cpu *)be;
    cpu_linear_job job = {
        .y = y, .x = x, .rows = rows, .in = (int)w->cols, .out = (int)w->rows, .w = w,
        .bias = b != NULL ? cpu_weight_f32(b) : NULL,
    };
    if (cpu_weight_quantized(w)) {
        qdot_act_quantize(&cpu->acts[0], x, rows, w->cols, cpu->pool);
        job.act = &cpu->acts[0];
        if (rows <= CPU_GEMV_MAX_ROWS)
            threadpool_run(cpu->pool, (size_t)job.out, 16, cpu_linear_gemv_range, &job);
        else
            threadpool_run(cpu->pool, ((size_t)job.out + QDOT_PANEL - 1) / QDOT_PANEL, 1,
                           cpu_linear_panel_range, &job);
        return;
    }
    if (rows <= CPU_GEMV_MAX_ROWS) {
        /* decode: bound by reading the weights, so read them once straight from fp16 */
        threadpool_run(cpu->pool, (size_t)job.out, 16, cpu_linear_gemv_range, &job);
        return;
    }
    size_t in = (size_t)job.in;
    size_t block_rows = CPU_SCRATCH_FLOATS / in;
    if (block_rows > (size_t)job.out)
        block_rows = (size_t)job.out;
    if (w->dtype == WEIGHTS_F16 && cpu->scratch_len < block_rows * in) {
        free(cpu->scratch);
        cpu->scratch_len = block_rows * in;
        cpu->scratch = xmalloc_aligned(cpu->scratch_len * sizeof(float));
    }
    for (size_t j0 = 0; j0 < (size_t)job.out; j0 += block_rows) {
        size_t nb = (size_t)job.out - j0 < block_rows ? (size_t)job.out - j0 : block_rows;
        job.j0 = (int)j0;
        job.nblock = (int)nb;
        if (w->dtype == WEIGHTS_F16) {
            job.wblock = cpu->scratch;
            threadpool_run(cpu->pool, nb, 64, cpu_convert_range, &job);
        } else {
            job.wblock = (const float *)w->data + j0 * in;
        }
#ifdef HAVE_OPENBLAS
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)nb, job.in, 1.0f, x,
                    job.in, job.wblock, job.in, 0.0f, y + j0, job.out);
#else
        job.col_tiles = (int)((nb + 63) / 64);
        size_t tiles = (size_t)((rows + 63) / 64) * (size_t)job.col_tiles;
        threadpool_run(cpu->pool, tiles, 1, cpu_gemm_tiles, &job);
#endif
    }
    if (job.bias != NULL)
        threadpool_run(cpu->pool, (size_t)rows, 4, cpu_add_bias_range, &job);
}

/* ------------------------------------------------------------------ elementwise */

typedef struct {
    float *y;
    const float *x;
    const float *a;
    int dim;
    const float *g;
    const float *b;
    float eps;
} cpu_rows_job;

static void
cpu_layernorm_range(void *ctx, size_t begin, size_t end, int thread)
{
    cpu_rows_job *job = ctx;
    int dim = job->dim;
    for (size_t r = begin; r < end; r++) {
        const float *xr = job->x + r * (size_t)dim;
        float *yr = job->y + r * (size_t)dim;
        /* double sums: the statistics are cheap next to the products, and exact enough */
        double sum = 0, sq = 0;
        for (int i = 0; i < dim; i++)
            sum += xr[i];
        double mean = sum / dim;
        for (int i = 0; i < dim; i++) {
            double d = xr[i] - mean;
            sq += d * d;
        }
        float rstd = (float)(1.0 / sqrt(sq / dim + job->eps));
        float m = (float)mean;
        for (int i = 0; i < dim; i++)
            yr[i] = (xr[i] - m) * rstd * job->g[i] + job->b[i];
    }
}

static void
cpu_layernorm(backend *be, float *y, const float *x, int rows, int dim, const backend_weight *g,
              const backend_weight *b, float eps)
{
    cpu_rows_job job = {
        .y = y, .x = x, .dim = dim, .g = cpu_weight_f32(g), .b = cpu_weight_f32(b), .eps = eps,
    };
    threadpool_run(((backend_cpu *)be)->pool, (size_t)rows, 1, cpu_layernorm_range, &job);
}

static void
cpu_gelu_tanh_range(void *ctx, size_t begin, size_t end, int thread)
{
    float *x = ctx;
#ifdef CPU_X86
    if (backend_cpu_has_simd()) {
        cpu_gelu_tanh_avx2(x + begin, end - begin);
        return;
    }
#endif
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = begin; i < end; i++) {
        float u = x[i];
        x[i] = 0.5f * u * (1.0f + tanhf(k * (u + 0.044715f * u * u * u)));
    }
}

static void
cpu_gelu_tanh(backend *be, float *x, size_t n)
{
    threadpool_run(((backend_cpu *)be)->pool, n, 16384, cpu_gelu_tanh_range, x);
}

static void
cpu_gelu_erf_range(void *ctx, size_t begin, size_t end, int thread)
{
    float *x = ctx;
    for (size_t i = begin; i < end; i++) {
        float u = x[i];
        x[i] = 0.5f * u * (1.0f + erff(u * 0.70710678118654752f));
    }
}

static void
cpu_gelu_erf(backend *be, float *x, size_t n)
{
    threadpool_run(((backend_cpu *)be)->pool, n, 4096, cpu_gelu_erf_range, x);
}

static void
cpu_add_range(void *ctx, size_t begin, size_t end, int thread)
{
    cpu_rows_job *job = ctx;
    for (size_t i = begin; i < end; i++)
        job->y[i] += job->a[i];
}

static void
cpu_add(backend *be, float *y, const float *a, size_t n)
{
    cpu_rows_job job = {.y = y, .a = a};
    threadpool_run(((backend_cpu *)be)->pool, n, 8192, cpu_add_range, &job);
}

/* ------------------------------------------------------------------ vision embedding */

static void
cpu_patch_embed(backend *be, float *y, const float *pixels, int image, int patch,
                const backend_weight *w, const backend_weight *b, const backend_weight *pos)
{
    int grid = image / patch;
    int npatch = grid * grid;
    int plen = 3 * patch * patch;
    int dim = (int)w->rows;
    assert(w->cols == plen);
    /* (npatch, 3*patch*patch) ordered (channel, ky, kx) like the conv weight */
    float *patches = xmalloc_aligned((size_t)npatch * plen * sizeof(float));
    for (int pr = 0; pr < grid; pr++)
        for (int pc = 0; pc < grid; pc++) {
            float *dst = patches + (size_t)(pr * grid + pc) * plen;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < patch; ky++) {
                    const float *src = pixels + ((size_t)c * image + (size_t)(pr * patch + ky)) * image +
                                       (size_t)pc * patch;
                    memcpy(dst + (c * patch + ky) * patch, src, (size_t)patch * sizeof(float));
                }
        }
    cpu_linear(be, y, patches, npatch, w, b);
    free(patches);
    size_t npos = (size_t)npatch * dim;
    if (pos->dtype == WEIGHTS_F16) {
        float *p = xmalloc(npos * sizeof(float));
        backend_cpu_f16_to_f32(p, pos->data, npos);
        cpu_add(be, y, p, npos);
        free(p);
    } else {
        cpu_add(be, y, pos->data, npos);
    }
}

/* ------------------------------------------------------------------ attention */

static void
cpu_attention_full(backend *be, float *out, const float *q, const float *k, const float *v, int n,
                   int heads, int head_dim, float scale)
{
    cpuattn_args a = {
        .out = out, .q = q, .k = k, .v = v, .rows = n, .pos0 = -1, .nkeys = n, .heads = heads,
        .hd = head_dim, .scale = scale,
    };
    cpuattn_run(((backend_cpu *)be)->pool, &a);
}

static void
cpu_rope(backend *be, float *x, int rows, int heads, int head_dim, int rot_dim, int pos0,
         float theta)
{
    int half = rot_dim / 2;
    double *inv_freq = xmalloc((size_t)half * sizeof(double));
    for (int i = 0; i < half; i++)
        inv_freq[i] = 1.0 / pow((double)theta, (double)(2 * i) / rot_dim);
    for (int r = 0; r < rows; r++) {
        double pos = (double)(pos0 + r);
        for (int i = 0; i < half; i++) {
            float c = (float)cos(pos * inv_freq[i]);
            float s = (float)sin(pos * inv_freq[i]);
            for (int h = 0; h < heads; h++) {
                float *xh = x + ((size_t)r * heads + h) * head_dim;
                float a = xh[i], b = xh[i + half];
                xh[i] = a * c - b * s;
                xh[i + half] = b * c + a * s;
            }
        }
    }
    free(inv_freq);
}

static void
cpu_embed(backend *be, float *y, const int32_t *ids, int n, const backend_weight *table)
{
    size_t dim = (size_t)table->cols;
    for (int i = 0; i < n; i++) {
        assert(ids[i] >= 0 && ids[i] < table->rows);
        if (table->dtype == WEIGHTS_F16)
            backend_cpu_f16_to_f32(y + i * dim, (const uint16_t *)table->data + (size_t)ids[i] * dim, dim);
        else
            memcpy(y + i * dim, (const float *)table->data + (size_t)ids[i] * dim,
                   dim * sizeof(float));
    }
}

/* ------------------------------------------------------------------ KV cache */

static backend_kv *
cpu_kv_new(backend *be, int layers, int ctx, int dim)
{
    backend_kv *kv = xcalloc(1, sizeof *kv);
    kv->layers = layers;
    kv->ctx = ctx;
    kv->dim = dim;
    kv->layer_stride = (size_t)ctx * dim;
    /* zero pages are mapped lazily: memory grows with the positions used */
    kv->k = xcalloc((size_t)layers * kv->layer_stride, sizeof(uint16_t));
    kv->v = xcalloc((size_t)layers * kv->layer_stride, sizeof(uint16_t));
    return kv;
}

static void
cpu_kv_free(backend *be, backend_kv *kv)
{
    if (kv == NULL)
        return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

static void
cpu_kv_write(backend *be, backend_kv *kv, int layer, int pos0, int rows, const float *k,
             const float *v)
{
    assert(layer >= 0 && layer < kv->layers && pos0 >= 0 && pos0 + rows <= kv->ctx);
    size_t off = (size_t)layer * kv->layer_stride + (size_t)pos0 * kv->dim;
    cpu_f32_to_f16(kv->k + off, k, (size_t)rows * kv->dim);
    cpu_f32_to_f16(kv->v + off, v, (size_t)rows * kv->dim);
}

/*
 * One query row over the cache (decode) in one pass, split by blocks of key positions so each
 * thread reads whole cache rows in order. A thread keeps a running softmax per head (its largest
 * score, the sum of exponentials and the weighted values so far, rescaled when the largest score
 * grows); the threads' states are merged at the end.
 */
#define CPU_DECODE_BLOCK 32

typedef struct {
    const float *q;    /* (dim) */
    const uint16_t *k; /* (keys, dim) fp16 */
    const uint16_t *v; /* (keys, dim) fp16 */
    float *state;   /* per thread: scores (heads, block), max (heads), sum (heads), acc (dim) */
    size_t state_len;
    int nkeys, heads, hd;
    float scale;
} cpu_decode_attn_job;

/* One thread's running softmax, laid out in job->state. */
typedef struct {
    float *scores; /* (heads, CPU_DECODE_BLOCK) */
    float *max;    /* (heads) largest score so far */
    float *sum;    /* (heads) sum of exp(score - max) */
    float *acc;    /* (dim) values weighted by exp(score - max) */
} cpu_decode_state;

static cpu_decode_state
cpu_decode_state_of(const cpu_decode_attn_job *job, int thread)
{
    cpu_decode_state st;
    st.scores = job->state + (size_t)thread * job->state_len;
    st.max = st.scores + (size_t)job->heads * CPU_DECODE_BLOCK;
    st.sum = st.max + job->heads;
    st.acc = st.sum + job->heads;
    return st;
}

static void
cpu_decode_block(cpu_decode_attn_job *job, int j0, int n, cpu_decode_state *st)
{
    int heads = job->heads, hd = job->hd;
    size_t dim = (size_t)heads * hd;
    float *scores = st->scores, *max = st->max, *sum = st->sum, *acc = st->acc;
    for (int j = 0; j < n; j++) {
        const uint16_t *krow = job->k + (size_t)(j0 + j) * dim;
        for (int h = 0; h < heads; h++)
            scores[h * CPU_DECODE_BLOCK + j] =
                cpu_dot_f16(krow + (size_t)h * hd, job->q + (size_t)h * hd, hd,
                            krow + (size_t)h * hd) *
                job->scale;
    }
    for (int h = 0; h < heads; h++) {
        float *s = scores + h * CPU_DECODE_BLOCK;
        float top = s[0];
        for (int j = 1; j < n; j++)
            if (s[j] > top)
                top = s[j];
        if (top > max[h]) {
            /* exp(-inf) is 0: the first block clears the empty state */
            float shrink = expf(max[h] - top);
            sum[h] *= shrink;
            for (int d = 0; d < hd; d++)
                acc[(size_t)h * hd + d] *= shrink;
            max[h] = top;
        }
        sum[h] += backend_cpu_exp_shifted(s, n, max[h]);
    }
    for (int j = 0; j < n; j++) {
        const uint16_t *vrow = job->v + (size_t)(j0 + j) * dim;
        for (int h = 0; h < heads; h++)
            cpu_axpy_f16(acc + (size_t)h * hd, scores[h * CPU_DECODE_BLOCK + j],
                         vrow + (size_t)h * hd, hd);
    }
}

static void
cpu_decode_attn_range(void *ctx, size_t begin, size_t end, int thread)
{
    cpu_decode_attn_job *job = ctx;
    cpu_decode_state st = cpu_decode_state_of(job, thread);
    for (size_t b = begin; b < end; b++) {
        int j0 = (int)b * CPU_DECODE_BLOCK;
        int n = job->nkeys - j0 < CPU_DECODE_BLOCK ? job->nkeys - j0 : CPU_DECODE_BLOCK;
        cpu_decode_block(job, j0, n, &st);
    }
}

static void
cpu_attention_decode(backend_cpu *cpu, float *out, const float *q, const uint16_t *k,
                     const uint16_t *v, int nkeys, int heads, int hd, float scale)
{
    int nt = threadpool_size(cpu->pool);
    size_t dim = (size_t)heads * hd;
    size_t state_len = (size_t)heads * (CPU_DECODE_BLOCK + 2) + dim;
    size_t need = (size_t)nt * state_len;
    if (cpu->attn_len < need) {
        free(cpu->attn);
        cpu->attn_len = need;
        cpu->attn = xmalloc_aligned(cpu->attn_len * sizeof(float));
    }
    cpu_decode_attn_job job = {
        .q = q, .k = k, .v = v, .state = cpu->attn, .state_len = state_len, .nkeys = nkeys,
        .heads = heads, .hd = hd, .scale = scale,
    };
    for (int t = 0; t < nt; t++) {
        cpu_decode_state st = cpu_decode_state_of(&job, t);
        for (int h = 0; h < heads; h++) {
            st.max[h] = -INFINITY;
            st.sum[h] = 0;
        }
        memset(st.acc, 0, dim * sizeof(float));
    }
    size_t blocks = ((size_t)nkeys + CPU_DECODE_BLOCK - 1) / CPU_DECODE_BLOCK;
    threadpool_run(cpu->pool, blocks, 2, cpu_decode_attn_range, &job);
    /* merge: each thread's part scaled to the overall largest score */
    for (int h = 0; h < heads; h++) {
        float top = -INFINITY;
        for (int t = 0; t < nt; t++) {
            cpu_decode_state st = cpu_decode_state_of(&job, t);
            if (st.max[h] > top)
                top = st.max[h];
        }
        float total = 0;
        float *o = out + (size_t)h * hd;
        memset(o, 0, (size_t)hd * sizeof(float));
        for (int t = 0; t < nt; t++) {
            cpu_decode_state st = cpu_decode_state_of(&job, t);
            if (st.sum[h] == 0)
                continue; /* this thread took no keys */
            float w = expf(st.max[h] - top);
            total += st.sum[h] * w;
            cpu_axpy(o, w, st.acc + (size_t)h * hd, hd);
        }
        float inv = 1.0f / total;
        for (int d = 0; d < hd; d++)
            o[d] *= inv;
    }
}

static void
cpu_attention_cached(backend *be, float *out, const float *q, int rows, int pos0,
                     const backend_kv *kv, int layer, int heads, int head_dim, float scale)
{
    assert(heads * head_dim == kv->dim && pos0 + rows <= kv->ctx);
    if (rows == 1) {
        cpu_attention_decode((backend_cpu *)be, out, q, kv->k + (size_t)layer * kv->layer_stride,
                             kv->v + (size_t)layer * kv->layer_stride, pos0 + 1, heads, head_dim,
                             scale);
        return;
    }
    cpuattn_args a = {
        .out = out, .q = q, .k = kv->k + (size_t)layer * kv->layer_stride,
        .v = kv->v + (size_t)layer * kv->layer_stride, .half = 1, .rows = rows, .pos0 = pos0,
        .heads = heads, .hd = head_dim, .scale = scale,
    };
    cpuattn_run(((backend_cpu *)be)->pool, &a);
}

/* ------------------------------------------------------------------ sampling */

static int32_t
cpu_sample(backend *be, const float *logits, int n, const sampler_params *p, uint64_t *rng,
           const int32_t *seen, size_t nseen)
{
    /* the rule changes logits by the penalty; the caller's stay as they are */
    float *work = xmalloc((size_t)n * sizeof(float));
    memcpy(work, logits, (size_t)n * sizeof(float));
    int32_t id = sampler_choose(p, work, n, rng, seen, nseen);
    free(work);
    return id;
}

static void
cpu_sync(backend *be)
{
    /* every op has finished when it returns */
}

/* ------------------------------------------------------------------ table */

static void
cpu_free(backend *be)
{
    backend_cpu *cpu = (backend_cpu *)be;
    threadpool_free(cpu->pool);
    for (int i = 0; i < CPU_BATCH_MAX; i++)
        qdot_act_free(&cpu->acts[i]);
    free(cpu->scratch);
    free(cpu->attn);
    free(cpu);
}

static const backend_ops cpu_ops = {
    .name = "cpu",
    .weight_modes = QUANT_MODE_BIT(QUANT_F16) | QUANT_MODE_BIT(QUANT_Q8) | QUANT_MODE_BIT(QUANT_Q4),
    /* decode reads every weight once a token: 8 bits are twice as fast as 16 and stay close to it */
    .default_weights = QUANT_Q8,
    .free = cpu_free,
    .weight_new = cpu_weight_new,
    .weight_free = cpu_weight_free,
    .buf_new = cpu_buf_new,
    .buf_free = cpu_buf_free,
    .buf_upload = cpu_buf_copy,
    .buf_download = cpu_buf_copy,
    .buf_copy = cpu_buf_copy,
    .linear = cpu_linear,
    .linear_batch = cpu_linear_batch,
    .layernorm = cpu_layernorm,
    .gelu_tanh = cpu_gelu_tanh,
    .gelu_erf = cpu_gelu_erf,
    .add = cpu_add,
    .patch_embed = cpu_patch_embed,
    .attention_full = cpu_attention_full,
    .rope = cpu_rope,
    .embed = cpu_embed,
    .kv_new = cpu_kv_new,
    .kv_free = cpu_kv_free,
    .kv_write = cpu_kv_write,
    .attention_cached = cpu_attention_cached,
    .sample = cpu_sample,
    .sync = cpu_sync,
};

backend *
backend_cpu_new(int threads)
{
    backend_cpu *cpu = xcalloc(1, sizeof *cpu);
    cpu->pool = threadpool_new(threads);
    cpu->base.ops = &cpu_ops;
    cpu->base.threads = threadpool_size(cpu->pool);
#ifdef HAVE_OPENBLAS
    openblas_set_num_threads(cpu->base.threads);
#endif
    (void)backend_cpu_has_simd();
    return &cpu->base;
}
