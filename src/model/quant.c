#include "config.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QUANT_X86 1
#endif

#include "cpufeat.h"
#include "f16.h"
#include "log.h"
#include "quant.h"
#include "xmalloc.h"

static const char *const quant_names[] = {"f16", "q8", "q4"};

int
quant_parse_mode(const char *s, quant_mode *mode)
{
    for (int i = QUANT_F16; i <= QUANT_Q4; i++)
        if (strcmp(s, quant_names[i]) == 0) {
            *mode = (quant_mode)i;
            return 0;
        }
    return -1;
}

const char *
quant_mode_name(quant_mode mode)
{
    return mode == QUANT_AUTO ? "auto" : quant_names[mode];
}

const char *
quant_mode_list(unsigned modes)
{
    static char buf[32];
    size_t n = 0;
    buf[0] = '\0';
    for (int i = QUANT_F16; i <= QUANT_Q4; i++)
        if (modes & QUANT_MODE_BIT(i))
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", n ? ", " : "", quant_names[i]);
    return buf;
}

/* ------------------------------------------------------------------ layout */

int64_t
quant_row_blocks(int64_t cols)
{
    return (cols + QUANT_ROW_ALIGN - 1) / QUANT_ROW_ALIGN * (QUANT_ROW_ALIGN / QUANT_BLOCK);
}

/* Bytes of values per block. */
static size_t
quant_block_bytes(weights_dtype dtype)
{
    assert(dtype == WEIGHTS_Q8 || dtype == WEIGHTS_Q4);
    return dtype == WEIGHTS_Q8 ? QUANT_BLOCK : QUANT_BLOCK / 2;
}

/* Offset of the scales: after every row's values, rounded up to 64 bytes. */
static size_t
quant_scales_offset(weights_dtype dtype, int64_t rows, int64_t cols)
{
    size_t values = (size_t)rows * (size_t)quant_row_blocks(cols) * quant_block_bytes(dtype);
    return (values + 63) & ~(size_t)63;
}

size_t
quant_matrix_bytes(weights_dtype dtype, int64_t rows, int64_t cols)
{
    size_t scales = (size_t)rows * (size_t)quant_row_blocks(cols) * sizeof(uint16_t);
    return quant_scales_offset(dtype, rows, cols) + ((scales + 63) & ~(size_t)63);
}

static quant_matrix
quant_matrix_at(weights_dtype dtype, const void *data, int64_t rows, int64_t cols)
{
    quant_matrix m;
    m.dtype = dtype;
    m.rows = rows;
    m.cols = cols;
    m.blocks = quant_row_blocks(cols);
    m.row_bytes = (size_t)m.blocks * quant_block_bytes(dtype);
    m.qs = data;
    m.d = (const uint16_t *)((const uint8_t *)data + quant_scales_offset(dtype, rows, cols));
    return m;
}

quant_matrix
quant_matrix_of(const weights_tensor *t)
{
    assert(t->ndim == 2 && (t->dtype == WEIGHTS_Q8 || t->dtype == WEIGHTS_Q4));
    return quant_matrix_at(t->dtype, t->data, t->shape[0], t->shape[1]);
}

/* ------------------------------------------------------------------ quantizing blocks */

/*
 * One block of 32 values (zeros past the row's end) into q8 values and the fp16 scale. The scale
 * is rounded to fp16 first and the values are divided by the rounded scale, so d * v is what a
 * kernel multiplies.
 */
static uint16_t
quant_block_q8(const float *x, int8_t *v)
{
    float amax = 0;
    for (int i = 0; i < QUANT_BLOCK; i++)
        amax = fmaxf(amax, fabsf(x[i]));
    uint16_t d16 = f32_to_f16(amax / 127.0f);
    float d = f16_to_f32(d16);
    float id = d != 0 ? 1.0f / d : 0.0f;
    for (int i = 0; i < QUANT_BLOCK; i++) {
        long q = lrintf(x[i] * id);
        v[i] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
    }
    return d16;
}

/* One block into q4 values (nibbles packed, QUANT_BLOCK / 2 bytes) and the fp16 scale. */
static uint16_t
quant_block_q4(const float *x, uint8_t *packed)
{
    /* the value of largest magnitude becomes -8; the positive one wins a tie */
    float max = x[0], min = x[0];
    for (int i = 1; i < QUANT_BLOCK; i++) {
        max = fmaxf(max, x[i]);
        min = fminf(min, x[i]);
    }
    float m = max >= -min ? max : min;
    uint16_t d16 = f32_to_f16(m / -8.0f);
    float d = f16_to_f32(d16);
    float id = d != 0 ? 1.0f / d : 0.0f;
    uint8_t u[QUANT_BLOCK];
    for (int i = 0; i < QUANT_BLOCK; i++) {
        long q = lrintf(x[i] * id) + 8;
        u[i] = (uint8_t)(q > 15 ? 15 : q < 0 ? 0 : q);
    }
    for (int j = 0; j < QUANT_BLOCK / 2; j++)
        packed[j] = (uint8_t)(u[j] | (u[j + QUANT_BLOCK / 2] << 4));
    return d16;
}

#ifdef QUANT_X86
/* The same blocks from fp16 with AVX2 and F16C, bit for bit; -1 when a value is NaN or infinite. */
__attribute__((target("avx2,fma,f16c"))) static int
quant_block_f16_avx2(weights_dtype dtype, const uint16_t *h, uint8_t *out, uint16_t *d_out)
{
    /* a kilobyte ahead: the source is a file mapping whose pages the prefetchers do not cross */
    _mm_prefetch((const char *)(h + 512), _MM_HINT_T0);
    __m256i h0 = _mm256_loadu_si256((const __m256i *)h);
    __m256i h1 = _mm256_loadu_si256((const __m256i *)(h + 16));
    __m256i em = _mm256_set1_epi16(0x7c00);
    __m256i bad = _mm256_or_si256(_mm256_cmpeq_epi16(_mm256_and_si256(h0, em), em),
                                  _mm256_cmpeq_epi16(_mm256_and_si256(h1, em), em));
    if (_mm256_movemask_epi8(bad) != 0)
        return -1;
    __m256 x[4] = {
        _mm256_cvtph_ps(_mm256_castsi256_si128(h0)),
        _mm256_cvtph_ps(_mm256_extracti128_si256(h0, 1)),
        _mm256_cvtph_ps(_mm256_castsi256_si128(h1)),
        _mm256_cvtph_ps(_mm256_extracti128_si256(h1, 1)),
    };
    float id, d;
    if (dtype == WEIGHTS_Q8) {
        __m256 sign = _mm256_set1_ps(-0.0f);
        __m256 a = _mm256_max_ps(
            _mm256_max_ps(_mm256_andnot_ps(sign, x[0]), _mm256_andnot_ps(sign, x[1])),
            _mm256_max_ps(_mm256_andnot_ps(sign, x[2]), _mm256_andnot_ps(sign, x[3])));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        *d_out = f32_to_f16(_mm_cvtss_f32(m4) / 127.0f);
    } else {
        __m256 hi = _mm256_max_ps(_mm256_max_ps(x[0], x[1]), _mm256_max_ps(x[2], x[3]));
        __m256 lo = _mm256_min_ps(_mm256_min_ps(x[0], x[1]), _mm256_min_ps(x[2], x[3]));
        __m128 h4 = _mm_max_ps(_mm256_castps256_ps128(hi), _mm256_extractf128_ps(hi, 1));
        __m128 l4 = _mm_min_ps(_mm256_castps256_ps128(lo), _mm256_extractf128_ps(lo, 1));
        h4 = _mm_max_ps(h4, _mm_movehl_ps(h4, h4));
        l4 = _mm_min_ps(l4, _mm_movehl_ps(l4, l4));
        float max = _mm_cvtss_f32(_mm_max_ss(h4, _mm_movehdup_ps(h4)));
        float min = _mm_cvtss_f32(_mm_min_ss(l4, _mm_movehdup_ps(l4)));
        *d_out = f32_to_f16((max >= -min ? max : min) / -8.0f);
    }
    d = f16_to_f32(*d_out);
    id = d != 0 ? 1.0f / d : 0.0f;
    __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; i++)
        q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(x[i], idv));
    /* pack to bytes in order: packs interleave the 128-bit lanes, the permutation undoes it */
    __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
    __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
    __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    if (dtype == WEIGHTS_Q8) {
        p8 = _mm256_max_epi8(p8, _mm256_set1_epi8(-127));
        _mm256_storeu_si256((__m256i *)out, p8);
    } else {
        __m256i u = _mm256_add_epi8(p8, _mm256_set1_epi8(8));
        u = _mm256_min_epi8(_mm256_max_epi8(u, _mm256_setzero_si256()), _mm256_set1_epi8(15));
        __m128i lo = _mm256_castsi256_si128(u), hi = _mm256_extracti128_si256(u, 1);
        _mm_storeu_si128((__m128i *)out, _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
    }
    return 0;
}
#endif

int
quant_rows(weights_dtype dtype, void *dst, const weights_tensor *src, int64_t r0, int64_t r1,
           int64_t *bad)
{
    int64_t rows = src->shape[0], cols = src->shape[1];
    quant_matrix m = quant_matrix_at(dtype, dst, rows, cols);
    size_t bb = quant_block_bytes(dtype);
#ifdef QUANT_X86
    int fast = src->dtype == WEIGHTS_F16 && ((uintptr_t)src->data & 1) == 0 &&
               cpufeat_level_get() >= CPUFEAT_AVX2;
#endif
    for (int64_t r = r0; r < r1; r++) {
        uint8_t *qs = (uint8_t *)m.qs + (size_t)r * m.row_bytes;
        uint16_t *d = (uint16_t *)m.d + (size_t)r * (size_t)m.blocks;
        for (int64_t b = 0; b < m.blocks; b++) {
            int64_t c0 = b * QUANT_BLOCK;
            uint8_t *out = qs + (size_t)b * bb;
#ifdef QUANT_X86
            if (fast && c0 + QUANT_BLOCK <= cols &&
                quant_block_f16_avx2(dtype, (const uint16_t *)src->data + r * cols + c0, out,
                                     &d[b]) == 0)
                continue;
#endif
            float x[QUANT_BLOCK];
            for (int i = 0; i < QUANT_BLOCK; i++) {
                x[i] = c0 + i < cols ? weights_tensor_value(src, r * cols + c0 + i) : 0.0f;
                if (!isfinite(x[i])) {
                    *bad = r * cols + c0 + i;
                    return -1;
                }
            }
            if (dtype == WEIGHTS_Q8)
                d[b] = quant_block_q8(x, (int8_t *)out);
            else
                d[b] = quant_block_q4(x, out);
        }
    }
    return 0;
}

void
quant_dequantize_row(const weights_tensor *t, int64_t r, float *out)
{
    quant_matrix m = quant_matrix_of(t);
    const uint8_t *qs = m.qs + (size_t)r * m.row_bytes;
    for (int64_t c = 0; c < m.cols; c++) {
        int64_t b = c / QUANT_BLOCK, i = c % QUANT_BLOCK;
        float d = f16_to_f32(m.d[(size_t)r * (size_t)m.blocks + (size_t)b]);
        int v;
        if (m.dtype == WEIGHTS_Q8) {
            v = (int8_t)qs[c];
        } else {
            uint8_t byte = qs[(size_t)b * (QUANT_BLOCK / 2) + (size_t)(i % (QUANT_BLOCK / 2))];
            v = (i < QUANT_BLOCK / 2 ? byte & 15 : byte >> 4) - 8;
        }
        out[c] = d * (float)v;
    }
}

/* ------------------------------------------------------------------ policy */

weights_dtype
quant_part_dtype(quant_mode mode, quant_part part)
{
    switch (mode) {
    case QUANT_Q8:
        return WEIGHTS_Q8;
    case QUANT_Q4:
        /* the vision tower stays at 8 bits: see README, "Quantized weights" */
        return part == QUANT_PART_LM ? WEIGHTS_Q4 : WEIGHTS_Q8;
    default:
        return WEIGHTS_F16;
    }
}

void
quant_linear_f16(const weights_tensor *t, float *y, const float *x, int rows, const float *b,
                 int w16)
{
    int64_t in = t->shape[1], out = t->shape[0];
    size_t nx = (size_t)rows * (size_t)in;
    float *x16 = xreallocarray(NULL, nx ? nx : 1, sizeof *x16);
    float *w = xreallocarray(NULL, in ? (size_t)in : 1, sizeof *w);
    for (size_t i = 0; i < nx; i++)
        x16[i] = f16_to_f32(f32_to_f16(x[i]));
    for (int64_t j = 0; j < out; j++) {
        quant_dequantize_row(t, j, w);
        if (w16)
            for (int64_t c = 0; c < in; c++)
                w[c] = f16_to_f32(f32_to_f16(w[c]));
        for (int r = 0; r < rows; r++) {
            const float *xr = x16 + (size_t)r * (size_t)in;
            float s = 0.0f;
            for (int64_t c = 0; c < in; c++)
                s += w[c] * xr[c];
            y[(size_t)r * (size_t)out + (size_t)j] = b != NULL ? s + b[j] : s;
        }
    }
    free(w);
    free(x16);
}

/* ------------------------------------------------------------------ store */

/*
 * The store hands out slices of large anonymous mappings with transparent huge pages asked for:
 * the kernel then fills them 2 MiB at a time (a 4 KiB page fault each would cost more than the
 * quantizing on a virtual machine), decode's stream through the weights misses the TLB less, and
 * the pages start zeroed, so padding needs no writing. Pages never touched cost no memory.
 */
#define QUANT_CHUNK_BYTES ((size_t)256 << 20)
#define QUANT_HUGE_PAGE ((size_t)2 << 20)

typedef struct {
    unsigned char *base;
    size_t size;
    size_t used;
} quant_chunk;

struct quant_store {
    quant_chunk *chunks;
    size_t nchunks;
    size_t bytes;
    double seconds;
};

quant_store *
quant_store_new(void)
{
    return xcalloc(1, sizeof(quant_store));
}

void
quant_store_free(quant_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nchunks; i++)
        munmap(s->chunks[i].base, s->chunks[i].size);
    free(s->chunks);
    free(s);
}

/* bytes of zeroed memory, 64-byte aligned, owned by the store */
static void *
quant_store_alloc(quant_store *s, size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    quant_chunk *c = s->nchunks > 0 ? &s->chunks[s->nchunks - 1] : NULL;
    if (c == NULL || c->size - c->used < bytes) {
        size_t size = bytes > QUANT_CHUNK_BYTES ? bytes : QUANT_CHUNK_BYTES;
        size = (size + QUANT_HUGE_PAGE - 1) & ~(QUANT_HUGE_PAGE - 1);
        /* one huge page more, to start the chunk on a huge-page boundary */
        void *map = mmap(NULL, size + QUANT_HUGE_PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED)
            fatal("out of memory: %zu bytes for quantized weights", size);
        uintptr_t start =
            ((uintptr_t)map + QUANT_HUGE_PAGE - 1) & ~(uintptr_t)(QUANT_HUGE_PAGE - 1);
        size_t lead = start - (uintptr_t)map;
        if (lead > 0)
            munmap(map, lead);
        if (QUANT_HUGE_PAGE - lead > 0)
            munmap((unsigned char *)start + size, QUANT_HUGE_PAGE - lead);
#ifdef MADV_HUGEPAGE
        madvise((void *)start, size, MADV_HUGEPAGE);
#endif
        s->chunks = xreallocarray(s->chunks, s->nchunks + 1, sizeof *s->chunks);
        c = &s->chunks[s->nchunks++];
        *c = (quant_chunk){(unsigned char *)start, size, 0};
    }
    void *p = c->base + c->used;
    c->used += bytes;
    return p;
}

size_t
quant_store_bytes(const quant_store *s)
{
    return s != NULL ? s->bytes : 0;
}

double
quant_store_seconds(const quant_store *s)
{
    return s != NULL ? s->seconds : 0;
}

static double
quant_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    weights_dtype dtype;
    void *dst;
    const weights_tensor *src;
    int64_t *bad; /* per thread: first bad element, -1 when none */
} quant_job;

static void
quant_range(void *ctx, size_t begin, size_t end, int thread)
{
    quant_job *job = ctx;
    int64_t bad;
    if (job->bad[thread] >= 0)
        return;
    if (quant_rows(job->dtype, job->dst, job->src, (int64_t)begin, (int64_t)end, &bad) != 0)
        job->bad[thread] = bad;
}

int
quant_store_add(quant_store *s, weights_tensor *t, weights_dtype dtype, threadpool *pool,
                char **cause)
{
    assert(t->ndim == 2 && (dtype == WEIGHTS_Q8 || dtype == WEIGHTS_Q4));
    double t0 = quant_now();
    size_t bytes = quant_matrix_bytes(dtype, t->shape[0], t->shape[1]);
    /* zeroed: the bytes between the values and the scales, and after the scales, are padding */
    void *dst = quant_store_alloc(s, bytes);
    int nt = threadpool_size(pool);
    int64_t *bad = xmalloc((size_t)nt * sizeof *bad);
    for (int i = 0; i < nt; i++)
        bad[i] = -1;
    quant_job job = {dtype, dst, t, bad};
    size_t chunk = (size_t)(65536 / (t->shape[1] > 0 ? t->shape[1] : 1)) + 1;
    threadpool_run(pool, (size_t)t->shape[0], chunk, quant_range, &job);
    int64_t first = -1;
    for (int i = 0; i < nt; i++)
        if (bad[i] >= 0 && (first < 0 || bad[i] < first))
            first = bad[i];
    free(bad);
    if (first >= 0) {
        /* the slice stays unused: a load that fails frees the store */
        float v = weights_tensor_value(t, first);
        return log_cause(cause,
                         "%s: tensor %s has %s weight at row %" PRId64 ", column %" PRId64
                         " (cannot quantize it)",
                         t->file, t->name, isnan(v) ? "a NaN" : "an infinite", first / t->shape[1],
                         first % t->shape[1]);
    }
    s->bytes += bytes;
    s->seconds += quant_now() - t0;
    t->dtype = dtype;
    t->data = dst;
    return 0;
}

/* ------------------------------------------------------------------ a loaded checkpoint */

typedef struct {
    quant_store *store;
    const weights *files;
    threadpool *pool;
    char **cause;
} quant_walk;

static int
quant_walk_one(quant_walk *w, weights_tensor *t, weights_dtype dtype)
{
    if (dtype == WEIGHTS_F16)
        return 0;
    weights_tensor mapped = *t;
    if (quant_store_add(w->store, t, dtype, w->pool, w->cause) != 0)
        return -1;
    weights_drop_pages(w->files, &mapped);
    return 0;
}

int
quant_checkpoint(checkpoint *ck, const imp_config *cfg, const weights *files, quant_mode mode,
                 int threads, quant_store **store, char **cause)
{
    *store = NULL;
    if (mode == QUANT_F16)
        return 0;
    weights_dtype lm = quant_part_dtype(mode, QUANT_PART_LM);
    weights_dtype vis = quant_part_dtype(mode, QUANT_PART_VISION);
    quant_walk w = {quant_store_new(), files, threadpool_new(threads), cause};
    int rc = 0;
    for (int i = 0; rc == 0 && i < cfg->layers; i++) {
        checkpoint_lm_layer *l = &ck->lm[i];
        weights_tensor *ts[] = {&l->q.w, &l->k.w, &l->v.w, &l->dense.w, &l->fc1.w, &l->fc2.w};
        for (size_t j = 0; rc == 0 && j < sizeof ts / sizeof ts[0]; j++)
            rc = quant_walk_one(&w, ts[j], lm);
    }
    if (rc == 0)
        rc = quant_walk_one(&w, &ck->lm_head.w, lm);
    for (int i = 0; rc == 0 && i < cfg->vis_layers; i++) {
        checkpoint_vision_layer *l = &ck->vision[i];
        weights_tensor *ts[] = {&l->q.w, &l->k.w, &l->v.w, &l->out.w, &l->fc1.w, &l->fc2.w};
        for (size_t j = 0; rc == 0 && j < sizeof ts / sizeof ts[0]; j++)
            rc = quant_walk_one(&w, ts[j], vis);
    }
    if (rc == 0)
        rc = quant_walk_one(&w, &ck->proj0.w, vis);
    if (rc == 0)
        rc = quant_walk_one(&w, &ck->proj2.w, vis);
    threadpool_free(w.pool);
    if (rc != 0) {
        quant_store_free(w.store);
        return -1;
    }
    *store = w.store;
    return 0;
}
