/*
 * The CUDA backend against the CPU backend, which is the reference:
 * - every op on seeded random inputs at the fixture's and the real model's shapes, each with its
 *   relative-error tolerance (max|cuda-cpu| / max|cpu|, NaN/Inf fail) and guard values around the
 *   output that must survive; the KV cache written in pieces, rewritten after a truncation, and
 *   layers kept apart; products with q8 and q4 weights against their plain-C twin
 *   (quant_linear_f16), which rounds as the device does;
 * - sampling: the same ids and random stream as the CPU for several seeds and settings;
 * - the fixture cases end to end: vision and projector outputs and logits within 1e-2 of
 *   tests/fixtures/expected, the same first greedy token; the multi-turn case with the cache
 *   reused against one prefill of the whole transcript; 2,000 decode steps without NaN/Inf;
 * - the real widths with two layers (synthetic weights): image, prefill and decode against the CPU.
 * Without a usable device it checks the selection messages (CUDA refused with its cause, auto
 * falling back to the CPU with one line) and exits 77. Where no GPU is present, make check links
 * it against the CPU harness (tests/cudaemu) and sets IMP_CUDA_TESTS=reduced: the real model's
 * shapes, the real widths and all but 40 decode steps are left out (make check-cuda-full).
 */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cpu.h"
#include "checkpoint.h"
#include "engine.h"
#include "f16.h"
#include "image.h"
#include "phi2.h"
#include "projector.h"
#include "quant.h"
#include "siglip.h"
#include "synthetic.h"
#include "testutil.h"
#include "weights.h"
#include "xmalloc.h"

/* fp16 rounding of the input of every matrix product: about 2^-12 per element */
#define TOL_LINEAR 3e-3
/*
 * Quantized weights against their twin (quant_linear_f16): the same fp16 roundings of the input
 * (and of the weights for rows > 1) on both sides, only the order of the fp32 sums differs, a few
 * 2^-24 of the terms' magnitude times sqrt(in): under 1e-6 of the largest output at these sizes.
 */
#define TOL_LINEAR_Q 1e-5
#define TOL_NORM 1e-4
#define TOL_ELEMENTWISE 1e-5
#define TOL_ROPE 1e-5
#define TOL_ATTENTION 1e-4
/* the cache holds fp16 keys and values (the CPU's are fp32) */
#define TOL_ATTENTION_CACHED 3e-3
/* MODEL.md Part A decision 9 */
#define TOL_LOGITS 1e-2
#define TOL_FEATURES 1e-2
/* set when stb_image decoded JPEG (2e-2 on the CPU then); JPEG now decodes exactly, to be tightened */
#define TOL_FEATURES_JPEG 3e-2
/*
 * Cached turn against one prefill: the same fp16 roundings, only summation orders differ (cuBLAS
 * shapes, the one-row kernel), which can flip an fp16 rounding here and there.
 */
#define TOL_TRANSCRIPT 5e-3
/*
 * Rows of a quantized matrix dequantized at a time for rows > 1 (IMP_CUDA_DEQUANT_ROWS): few, so
 * that small matrices run the tile loop, with whole tiles and a last partial one.
 */
#define DEQUANT_ROWS "48"
/* guard floats before and after every output */
#define GUARD 64
#define GUARD_VALUE -12345.5f

static backend *cpu, *cuda;
/* 0 with IMP_CUDA_TESTS=reduced (make check under the CPU harness): the real model's shapes,
 * the long decode and the real widths are cut; make check-cuda-full runs them all */
static int full_sizes = 1;
/* ------------------------------------------------------------------ buffers with guards */

/* A device buffer of n floats with GUARD guard floats on each side. */
typedef struct {
    float *base; /* device, n + 2 * GUARD */
    float *p;    /* device, the n floats */
    size_t n;
} guarded;

/* The interior holds init (or NaN when init is NULL, so unwritten outputs fail). */
static guarded
guarded_new(const float *init, size_t n)
{
    guarded g = {NULL, NULL, n};
    float *h = xmalloc((n + 2 * GUARD) * sizeof(float));
    for (size_t i = 0; i < n + 2 * GUARD; i++)
        h[i] = GUARD_VALUE;
    for (size_t i = 0; i < n; i++)
        h[GUARD + i] = init != NULL ? init[i] : NAN;
    g.base = cuda->ops->buf_new(cuda, n + 2 * GUARD);
    cuda->ops->buf_upload(cuda, g.base, h, n + 2 * GUARD);
    g.p = g.base + GUARD;
    free(h);
    return g;
}

/* Download the interior into out (n floats) and check the guards; frees the buffer. */
static void
guarded_take(guarded *g, float *out, const char *what)
{
    float *h = xmalloc((g->n + 2 * GUARD) * sizeof(float));
    cuda->ops->buf_download(cuda, h, g->base, g->n + 2 * GUARD);
    int intact = 1;
    for (size_t i = 0; i < GUARD; i++)
        intact &= h[i] == GUARD_VALUE && h[GUARD + g->n + i] == GUARD_VALUE;
    CHECK(intact, "%s: the guard values around the output are intact", what);
    memcpy(out, h + GUARD, g->n * sizeof(float));
    cuda->ops->buf_free(cuda, g->base);
    free(h);
}

/* A device copy of host floats. */
static float *
dev_copy(const float *h, size_t n)
{
    float *d = cuda->ops->buf_new(cuda, n);
    cuda->ops->buf_upload(cuda, d, h, n);
    return d;
}

/* An fp16 tensor of random values. */
typedef struct {
    weights_tensor t;
    uint16_t *h;
} f16_tensor;

static f16_tensor
f16_random(int ndim, int64_t rows, int64_t cols, float scale)
{
    f16_tensor r;
    memset(&r, 0, sizeof r);
    size_t n = (size_t)(rows * cols);
    r.h = xmalloc((n ? n : 1) * 2);
    for (size_t i = 0; i < n; i++)
        r.h[i] = f32_to_f16(testutil_random_float() * scale);
    r.t.name = "test";
    r.t.file = "test";
    r.t.dtype = WEIGHTS_F16;
    r.t.ndim = ndim;
    r.t.shape[0] = rows;
    r.t.shape[1] = cols;
    r.t.nelem = rows * cols;
    r.t.data = r.h;
    return r;
}

/* The same tensor on both backends. */
typedef struct {
    backend_weight *c; /* CPU */
    backend_weight *g; /* CUDA */
} both_weight;

static both_weight
both_new(const f16_tensor *t)
{
    both_weight w = {cpu->ops->weight_new(cpu, &t->t), cuda->ops->weight_new(cuda, &t->t)};
    return w;
}

static void
both_free(both_weight *w)
{
    cpu->ops->weight_free(cpu, w->c);
    cuda->ops->weight_free(cuda, w->g);
}

/* ------------------------------------------------------------------ ops */

static void
check_linear(int rows, int in, int out, int bias, const char *label)
{
    f16_tensor w = f16_random(2, out, in, 1.0f / sqrtf((float)in));
    f16_tensor b = f16_random(1, out, 1, 0.1f);
    both_weight bw = both_new(&w), bb = both_new(&b);
    float *x = testutil_random_vec((size_t)rows * in, 1.0f);
    size_t ny = (size_t)rows * out;
    float *want = xmalloc(ny * sizeof(float)), *got = xmalloc(ny * sizeof(float));
    cpu->ops->linear(cpu, want, x, rows, bw.c, bias ? bb.c : NULL);
    float *dx = dev_copy(x, (size_t)rows * in);
    guarded y = guarded_new(NULL, ny);
    cuda->ops->linear(cuda, y.p, dx, rows, bw.g, bias ? bb.g : NULL);
    char what[160];
    snprintf(what, sizeof what, "linear %s (%d x %d -> %d%s)", label, rows, in, out,
             bias ? "" : ", no bias");
    guarded_take(&y, got, what);
    testutil_close(what, got, want, ny, TOL_LINEAR);
    cuda->ops->buf_free(cuda, dx);
    both_free(&bw);
    both_free(&bb);
    free(w.h);
    free(b.h);
    free(x);
    free(want);
    free(got);
}

/* Two products of one input in one batch, against the CPU's batch. */
static void
check_linear_batch(int rows, int in, int out1, int out2, const char *label)
{
    f16_tensor w1 = f16_random(2, out1, in, 1.0f / sqrtf((float)in));
    f16_tensor w2 = f16_random(2, out2, in, 1.0f / sqrtf((float)in));
    f16_tensor b1 = f16_random(1, out1, 1, 0.1f);
    both_weight bw1 = both_new(&w1), bw2 = both_new(&w2), bb1 = both_new(&b1);
    float *x = testutil_random_vec((size_t)rows * in, 1.0f);
    size_t n1 = (size_t)rows * out1, n2 = (size_t)rows * out2;
    float *want1 = xmalloc(n1 * sizeof(float)), *want2 = xmalloc(n2 * sizeof(float));
    float *got1 = xmalloc(n1 * sizeof(float)), *got2 = xmalloc(n2 * sizeof(float));
    const backend_weight *cw[2] = {bw1.c, bw2.c}, *cb[2] = {bb1.c, NULL};
    const backend_weight *gw[2] = {bw1.g, bw2.g}, *gb[2] = {bb1.g, NULL};
    float *cy[2] = {want1, want2};
    const float *cx[2] = {x, x};
    cpu->ops->linear_batch(cpu, 2, cy, cx, rows, cw, cb);
    float *dx = dev_copy(x, (size_t)rows * in);
    guarded y1 = guarded_new(NULL, n1), y2 = guarded_new(NULL, n2);
    float *gy[2] = {y1.p, y2.p};
    const float *gx[2] = {dx, dx};
    cuda->ops->linear_batch(cuda, 2, gy, gx, rows, gw, gb);
    char what[160];
    snprintf(what, sizeof what, "linear_batch %s (%d x %d -> %d and %d)", label, rows, in, out1,
             out2);
    guarded_take(&y1, got1, what);
    guarded_take(&y2, got2, what);
    testutil_close(what, got1, want1, n1, TOL_LINEAR);
    testutil_close(what, got2, want2, n2, TOL_LINEAR);
    cuda->ops->buf_free(cuda, dx);
    both_free(&bw1);
    both_free(&bw2);
    both_free(&bb1);
    free(w1.h);
    free(w2.h);
    free(b1.h);
    free(x);
    free(want1);
    free(want2);
    free(got1);
    free(got2);
}

/*
 * A quantized linear layer (q8 or q4) against its plain-C twin: rows 1 takes the matrix-vector
 * kernel, more rows the fp16 tiles and cuBLAS.
 */
static void
check_linear_q(weights_dtype dtype, int rows, int in, int out, int bias, const char *label)
{
    f16_tensor w = f16_random(2, out, in, 1.0f / sqrtf((float)in));
    f16_tensor b = f16_random(1, out, 1, 0.1f);
    weights_tensor q = w.t;
    quant_store *store = quant_store_new();
    threadpool *pool = threadpool_new(1);
    char *cause = NULL;
    if (!CHECK(quant_store_add(store, &q, dtype, pool, &cause) == 0, "quantize: %s",
               cause != NULL ? cause : "")) {
        free(cause);
        goto out;
    }
    float *bf = xmalloc((size_t)out * sizeof(float));
    for (int j = 0; j < out; j++)
        bf[j] = f16_to_f32(b.h[j]);
    float *x = testutil_random_vec((size_t)rows * in, 1.0f);
    size_t ny = (size_t)rows * out;
    float *want = xmalloc(ny * sizeof(float)), *got = xmalloc(ny * sizeof(float));
    quant_linear_f16(&q, want, x, rows, bias ? bf : NULL, rows > 1);
    backend_weight *gw = cuda->ops->weight_new(cuda, &q), *gb = cuda->ops->weight_new(cuda, &b.t);
    /* one row also with an input one float past 16-byte alignment: the kernel's scalar reads */
    for (int shift = 0; shift <= (rows == 1); shift++) {
        float *dx = cuda->ops->buf_new(cuda, (size_t)rows * in + 1);
        cuda->ops->buf_upload(cuda, dx + shift, x, (size_t)rows * in);
        guarded y = guarded_new(NULL, ny);
        cuda->ops->linear(cuda, y.p, dx + shift, rows, gw, bias ? gb : NULL);
        char what[160];
        snprintf(what, sizeof what, "linear %s %s (%d x %d -> %d%s%s)",
                 dtype == WEIGHTS_Q8 ? "q8" : "q4", label, rows, in, out, bias ? "" : ", no bias",
                 shift ? ", unaligned input" : "");
        guarded_take(&y, got, what);
        testutil_close(what, got, want, ny, TOL_LINEAR_Q);
        cuda->ops->buf_free(cuda, dx);
    }
    cuda->ops->weight_free(cuda, gw);
    cuda->ops->weight_free(cuda, gb);
    free(bf);
    free(x);
    free(want);
    free(got);
out:
    threadpool_free(pool);
    quant_store_free(store);
    free(w.h);
    free(b.h);
}

/* Each quantized shape in q8 and in q4. */
static void
check_linear_q_both(int rows, int in, int out, int bias, const char *label)
{
    check_linear_q(WEIGHTS_Q8, rows, in, out, bias, label);
    check_linear_q(WEIGHTS_Q4, rows, in, out, bias, label);
}

static void
check_layernorm(int rows, int dim, float eps)
{
    f16_tensor g = f16_random(1, dim, 1, 1.0f), b = f16_random(1, dim, 1, 0.5f);
    both_weight bg = both_new(&g), bb = both_new(&b);
    size_t n = (size_t)rows * dim;
    /* an offset mean and a large spread, as in Phi-2's residual stream */
    float *x = testutil_random_vec(n, 30.0f);
    for (size_t i = 0; i < n; i++)
        x[i] += 5.0f;
    float *want = xmalloc(n * sizeof(float)), *got = xmalloc(n * sizeof(float));
    cpu->ops->layernorm(cpu, want, x, rows, dim, bg.c, bb.c, eps);
    float *dx = dev_copy(x, n);
    guarded y = guarded_new(NULL, n);
    cuda->ops->layernorm(cuda, y.p, dx, rows, dim, bg.g, bb.g, eps);
    char what[96];
    snprintf(what, sizeof what, "layernorm (%d x %d)", rows, dim);
    guarded_take(&y, got, what);
    testutil_close(what, got, want, n, TOL_NORM);
    cuda->ops->buf_free(cuda, dx);
    both_free(&bg);
    both_free(&bb);
    free(g.h);
    free(b.h);
    free(x);
    free(want);
    free(got);
}

static void
check_elementwise(size_t n)
{
    float *x = testutil_random_vec(n, 6.0f), *a = testutil_random_vec(n, 3.0f);
    float *want = xmalloc(n * sizeof(float)), *got = xmalloc(n * sizeof(float));
    char what[96];
    void (*const ops_cpu[2])(backend *, float *, size_t) = {cpu->ops->gelu_tanh,
                                                            cpu->ops->gelu_erf};
    void (*const ops_cuda[2])(backend *, float *, size_t) = {cuda->ops->gelu_tanh,
                                                             cuda->ops->gelu_erf};
    const char *names[2] = {"gelu_tanh", "gelu_erf"};
    for (int k = 0; k < 2; k++) {
        memcpy(want, x, n * sizeof(float));
        ops_cpu[k](cpu, want, n);
        guarded y = guarded_new(x, n);
        ops_cuda[k](cuda, y.p, n);
        snprintf(what, sizeof what, "%s (%zu)", names[k], n);
        guarded_take(&y, got, what);
        testutil_close(what, got, want, n, TOL_ELEMENTWISE);
    }
    memcpy(want, x, n * sizeof(float));
    cpu->ops->add(cpu, want, a, n);
    float *da = dev_copy(a, n);
    guarded y = guarded_new(x, n);
    cuda->ops->add(cuda, y.p, da, n);
    snprintf(what, sizeof what, "add (%zu)", n);
    guarded_take(&y, got, what);
    CHECK(memcmp(got, want, n * sizeof(float)) == 0, "%s: exactly the CPU's sums", what);
    cuda->ops->buf_free(cuda, da);
    free(x);
    free(a);
    free(want);
    free(got);
}

static void
check_rope(int rows, int heads, int hd, int rot, int pos0)
{
    size_t n = (size_t)rows * heads * hd;
    float *x = testutil_random_vec(n, 2.0f);
    float *want = xmalloc(n * sizeof(float)), *got = xmalloc(n * sizeof(float));
    memcpy(want, x, n * sizeof(float));
    cpu->ops->rope(cpu, want, rows, heads, hd, rot, pos0, 10000.0f);
    guarded y = guarded_new(x, n);
    cuda->ops->rope(cuda, y.p, rows, heads, hd, rot, pos0, 10000.0f);
    char what[128];
    snprintf(what, sizeof what, "rope (%d rows at %d, %d heads x %d, rotary %d)", rows, pos0, heads,
             hd, rot);
    guarded_take(&y, got, what);
    testutil_close(what, got, want, n, TOL_ROPE);
    free(x);
    free(want);
    free(got);
}

static void
check_embed(int vocab, int dim)
{
    f16_tensor table = f16_random(2, vocab, dim, 1.0f);
    both_weight bt = both_new(&table);
    int32_t ids[7] = {0, vocab - 1, 42 % vocab, 42 % vocab, 7 % vocab, vocab / 2, 1};
    size_t n = 7 * (size_t)dim;
    float *want = xmalloc(n * sizeof(float)), *got = xmalloc(n * sizeof(float));
    cpu->ops->embed(cpu, want, ids, 7, bt.c);
    guarded y = guarded_new(NULL, n);
    cuda->ops->embed(cuda, y.p, ids, 7, bt.g);
    char what[96];
    snprintf(what, sizeof what, "embed (%d x %d)", vocab, dim);
    guarded_take(&y, got, what);
    CHECK(memcmp(got, want, n * sizeof(float)) == 0, "%s: exactly the table's rows", what);
    both_free(&bt);
    free(table.h);
    free(want);
    free(got);
}

static void
check_patch_embed(int image, int patch, int dim)
{
    int grid = image / patch, plen = 3 * patch * patch;
    f16_tensor w = f16_random(4, dim, plen, 0.2f);
    w.t.shape[1] = 3;
    w.t.shape[2] = patch;
    w.t.shape[3] = patch;
    f16_tensor b = f16_random(1, dim, 1, 0.1f);
    f16_tensor pos = f16_random(2, grid * grid, dim, 0.1f);
    both_weight bw = both_new(&w), bb = both_new(&b), bp = both_new(&pos);
    size_t npx = (size_t)3 * image * image, n = (size_t)grid * grid * dim;
    float *px = testutil_random_vec(npx, 1.0f);
    float *want = xmalloc(n * sizeof(float)), *got = xmalloc(n * sizeof(float));
    cpu->ops->patch_embed(cpu, want, px, image, patch, bw.c, bb.c, bp.c);
    float *dpx = dev_copy(px, npx);
    guarded y = guarded_new(NULL, n);
    cuda->ops->patch_embed(cuda, y.p, dpx, image, patch, bw.g, bb.g, bp.g);
    char what[96];
    snprintf(what, sizeof what, "patch_embed (image %d, patch %d, dim %d)", image, patch, dim);
    guarded_take(&y, got, what);
    testutil_close(what, got, want, n, TOL_LINEAR);
    cuda->ops->buf_free(cuda, dpx);
    both_free(&bw);
    both_free(&bb);
    both_free(&bp);
    free(w.h);
    free(b.h);
    free(pos.h);
    free(px);
    free(want);
    free(got);
}

static void
check_attention_full(int n, int heads, int hd)
{
    size_t nd = (size_t)n * heads * hd;
    float scale = 1.0f / sqrtf((float)hd);
    float *q = testutil_random_vec(nd, 2.0f), *k = testutil_random_vec(nd, 2.0f), *v = testutil_random_vec(nd, 1.0f);
    float *want = xmalloc(nd * sizeof(float)), *got = xmalloc(nd * sizeof(float));
    cpu->ops->attention_full(cpu, want, q, k, v, n, heads, hd, scale);
    float *dq = dev_copy(q, nd), *dk = dev_copy(k, nd), *dv = dev_copy(v, nd);
    guarded y = guarded_new(NULL, nd);
    cuda->ops->attention_full(cuda, y.p, dq, dk, dv, n, heads, hd, scale);
    char what[96];
    snprintf(what, sizeof what, "attention_full (%d x %d heads x %d)", n, heads, hd);
    guarded_take(&y, got, what);
    testutil_close(what, got, want, nd, TOL_ATTENTION);
    cuda->ops->buf_free(cuda, dq);
    cuda->ops->buf_free(cuda, dk);
    cuda->ops->buf_free(cuda, dv);
    free(q);
    free(k);
    free(v);
    free(want);
    free(got);
}

/* Write rows pos0.. of k, v (host, rows x dim) into layer of both caches. */
static void
kv_write_both(backend_kv *kc, backend_kv *kg, int layer, int pos0, int rows, int dim,
              const float *k, const float *v)
{
    size_t n = (size_t)rows * dim;
    cpu->ops->kv_write(cpu, kc, layer, pos0, rows, k, v);
    float *dk = dev_copy(k, n), *dv = dev_copy(v, n);
    cuda->ops->kv_write(cuda, kg, layer, pos0, rows, dk, dv);
    cuda->ops->buf_free(cuda, dk);
    cuda->ops->buf_free(cuda, dv);
}

/* Attention of rows at pos0 over layer of both caches; the CUDA result goes to got. */
static void
attend_both(backend_kv *kc, backend_kv *kg, int layer, int rows, int pos0, int heads, int hd,
            const float *q, float *want, float *got, const char *what)
{
    size_t nd = (size_t)rows * heads * hd;
    float scale = 1.0f / sqrtf((float)hd);
    cpu->ops->attention_cached(cpu, want, q, rows, pos0, kc, layer, heads, hd, scale);
    float *dq = dev_copy(q, nd);
    guarded y = guarded_new(NULL, nd);
    cuda->ops->attention_cached(cuda, y.p, dq, rows, pos0, kg, layer, heads, hd, scale);
    guarded_take(&y, got, what);
    cuda->ops->buf_free(cuda, dq);
}

/*
 * Causal attention over the cache: written in two pieces; then positions from pos0 on rewritten
 * with new values (a truncation followed by a different continuation) must give the new result,
 * and writing another layer must not change this one.
 */
static void
check_attention_cached(int rows, int pos0, int heads, int hd, int ctx)
{
    int dim = heads * hd, total = pos0 + rows;
    size_t nd = (size_t)rows * dim;
    float *q = testutil_random_vec(nd, 2.0f);
    float *k = testutil_random_vec((size_t)total * dim, 2.0f), *v = testutil_random_vec((size_t)total * dim, 1.0f);
    float *want = xmalloc(nd * sizeof(float)), *got = xmalloc(nd * sizeof(float));
    float *first = xmalloc(nd * sizeof(float));
    backend_kv *kc = cpu->ops->kv_new(cpu, 2, ctx, dim), *kg = cuda->ops->kv_new(cuda, 2, ctx, dim);
    char what[160];

    if (pos0 > 0)
        kv_write_both(kc, kg, 1, 0, pos0, dim, k, v);
    kv_write_both(kc, kg, 1, pos0, rows, dim, k + (size_t)pos0 * dim, v + (size_t)pos0 * dim);
    snprintf(what, sizeof what, "attention_cached (%d rows at %d, %d heads x %d)", rows, pos0,
             heads, hd);
    attend_both(kc, kg, 1, rows, pos0, heads, hd, q, want, got, what);
    testutil_close(what, got, want, nd, TOL_ATTENTION_CACHED);
    memcpy(first, got, nd * sizeof(float));

    /* layer 0 written afterwards leaves layer 1 as it was, to the bit */
    float *other = testutil_random_vec((size_t)total * dim, 3.0f);
    kv_write_both(kc, kg, 0, 0, total, dim, other, other);
    attend_both(kc, kg, 1, rows, pos0, heads, hd, q, want, got, what);
    CHECK(memcmp(first, got, nd * sizeof(float)) == 0, "%s: writing layer 0 leaves layer 1", what);

    /* truncate to pos0 and continue differently: only the length changed, nothing was cleared */
    float *k2 = testutil_random_vec(nd, 2.0f), *v2 = testutil_random_vec(nd, 1.0f);
    kv_write_both(kc, kg, 1, pos0, rows, dim, k2, v2);
    snprintf(what, sizeof what, "attention_cached after a rewrite at %d (%d heads x %d)", pos0,
             heads, hd);
    attend_both(kc, kg, 1, rows, pos0, heads, hd, q, want, got, what);
    testutil_close(what, got, want, nd, TOL_ATTENTION_CACHED);

    cpu->ops->kv_free(cpu, kc);
    cuda->ops->kv_free(cuda, kg);
    free(q);
    free(k);
    free(v);
    free(k2);
    free(v2);
    free(other);
    free(want);
    free(got);
    free(first);
}

static void
check_ops(void)
{
    printf("-- ops at the fixture's shapes\n");
    check_linear(1, 80, 320, 1, "fixture decode");
    check_linear(1, 320, 80, 0, "fixture fc2 decode");
    check_linear(49, 80, 320, 1, "fixture prefill");
    check_linear(729, 64, 128, 1, "fixture vision fc1");
    check_linear(729, 588, 64, 1, "fixture patch");
    check_linear(1, 80, 51200, 1, "fixture lm_head");
    check_linear(3, 80, 51200, 1, "fixture lm_head rows");
    check_linear(1, 13, 7, 1, "odd decode");
    check_linear(1, 588, 64, 1, "unaligned decode");
    check_linear_batch(1, 80, 80, 320, "fixture decode");
    check_linear_batch(5, 80, 80, 320, "fixture prefill");
    check_linear(5, 13, 7, 1, "odd prefill");
    /* quantized: in padded to 128 (13, 300, 1030), out not a multiple of 8 warps (7, 77, 130),
     * partial last groups of 16 or 32 values (300, 336), tiles of 48 rows: whole and partial */
    check_linear_q_both(1, 80, 320, 1, "fixture decode");
    check_linear_q_both(1, 320, 80, 0, "fixture fc2 decode");
    check_linear_q_both(1, 13, 7, 1, "odd decode");
    check_linear_q_both(1, 300, 77, 0, "padded decode");
    check_linear_q_both(5, 80, 320, 1, "fixture prefill");
    check_linear_q_both(49, 300, 100, 0, "padded prefill");
    check_linear_q_both(3, 13, 7, 1, "odd prefill");
    check_linear_q_both(17, 1030, 130, 1, "unaligned prefill");
    check_linear_q_both(4, 336, 96, 0, "whole tiles");
    check_layernorm(7, 80, 1e-5f);
    check_layernorm(729, 64, 1e-6f);
    check_elementwise(10000);
    check_rope(5, 2, 40, 16, 0);
    check_rope(49, 2, 40, 16, 777);
    check_embed(100, 24);
    check_embed(51200, 80);
    check_patch_embed(30, 7, 16);
    check_patch_embed(384, 14, 64);
    check_attention_full(50, 2, 32);
    check_attention_full(729, 2, 32);
    check_attention_cached(17, 30, 2, 40, 64);
    check_attention_cached(1, 300, 2, 40, 3072);
    check_attention_cached(777, 0, 2, 40, 3072);

    if (!full_sizes) {
        /* the CPU harness (tests/cudaemu) runs these in minutes: make check-cuda-full */
        printf("-- ops at the real model's shapes: skipped (IMP_CUDA_TESTS=reduced)\n");
        return;
    }
    printf("-- ops at the real model's shapes\n");
    check_linear(1, 2560, 2560, 1, "real q decode");
    check_linear(1, 2560, 10240, 1, "real fc1 decode");
    check_linear(1, 10240, 2560, 1, "real fc2 decode");
    check_linear(1, 2560, 51200, 1, "real lm_head");
    check_linear(20, 2560, 2560, 1, "real follow-up");
    check_linear(777, 2560, 2560, 1, "real prefill");
    check_linear(512, 2560, 10240, 1, "real prefill fc1");
    check_linear(512, 10240, 2560, 1, "real prefill fc2");
    check_linear(729, 1152, 1152, 1, "real vision q");
    check_linear(729, 1152, 4304, 1, "real vision fc1");
    check_linear(729, 4304, 1152, 1, "real vision fc2");
    check_linear(729, 1152, 2560, 1, "real projector 0");
    check_linear_q_both(1, 2560, 2560, 1, "real q decode");
    check_linear_q_both(1, 10240, 2560, 1, "real fc2 decode");
    check_linear_q_both(1, 2560, 51200, 1, "real lm_head");
    check_linear_q_both(20, 2560, 2560, 1, "real follow-up");
    check_linear_q_both(64, 2560, 10240, 1, "real prefill fc1");
    check_linear_q_both(3, 2560, 51200, 1, "real lm_head rows");
    check_layernorm(512, 2560, 1e-5f);
    check_layernorm(1, 2560, 1e-5f);
    check_layernorm(729, 1152, 1e-6f);
    check_elementwise((size_t)729 * 4304);
    check_rope(3, 32, 80, 32, 2999);
    check_rope(512, 32, 80, 32, 100);
    check_embed(51200, 2560);
    check_patch_embed(384, 14, 1152);
    check_attention_full(729, 16, 72);
    check_attention_cached(1, 3000, 32, 80, 3072);
    check_attention_cached(64, 700, 32, 80, 3072);
    check_attention_cached(512, 0, 32, 80, 3072);
}

/* ------------------------------------------------------------------ sampling */

static void
check_sampling(void)
{
    printf("-- sampling, CUDA against the CPU\n");
    int n = 51200;
    float *logits = testutil_random_vec((size_t)n, 6.0f);
    /* ties the order must break by id, signed zeros, and a shared maximum */
    logits[100] = logits[200] = logits[300] = 7.5f;
    logits[10] = -0.0f;
    logits[11] = 0.0f;
    logits[5000] = logits[5001] = 2.25f;
    float *dl = dev_copy(logits, (size_t)n);
    int32_t seen[9] = {100, 5, 5, 5000, 51199, 0, 300, 77777, -3};
    struct {
        float temp, top_p, penalty;
        int top_k;
    } settings[] = {
        {0.0f, 1.0f, 1.0f, 0},  {0.0f, 1.0f, 1.3f, 0}, {0.8f, 1.0f, 1.0f, 0},
        {0.8f, 1.0f, 1.1f, 40}, {1.0f, 0.9f, 1.0f, 0}, {0.7f, 0.95f, 1.2f, 50},
        {1.5f, 0.5f, 1.0f, 3},  {0.3f, 1.0f, 0.9f, 1},
    };
    uint64_t seeds[3] = {1, 42, 0x123456789abcdefull};
    for (size_t si = 0; si < sizeof settings / sizeof settings[0]; si++)
        for (int s = 0; s < 3; s++) {
            sampler_params p;
            sampler_params_init(&p);
            p.temp = settings[si].temp;
            p.top_p = settings[si].top_p;
            p.top_k = settings[si].top_k;
            p.repeat_penalty = settings[si].penalty;
            uint64_t rc = seeds[s], rg = seeds[s];
            int same = 1, first_diff = -1;
            int32_t a = 0, b = 0;
            for (int step = 0; step < 25 && same; step++) {
                a = cpu->ops->sample(cpu, logits, n, &p, &rc, seen, 9);
                b = cuda->ops->sample(cuda, dl, n, &p, &rg, seen, 9);
                same = a == b && rc == rg;
                if (!same)
                    first_diff = step;
            }
            CHECK(same,
                  "sampling temp %g top-k %d top-p %g penalty %g seed %llu: first "
                  "difference at step %d (cpu %d, cuda %d)",
                  p.temp, p.top_k, p.top_p, p.repeat_penalty, (unsigned long long)seeds[s],
                  first_diff, a, b);
        }
    /* the op leaves the logits on the device as they were */
    float *back = xmalloc((size_t)n * sizeof(float));
    cuda->ops->buf_download(cuda, back, dl, (size_t)n);
    CHECK(memcmp(back, logits, (size_t)n * sizeof(float)) == 0, "sampling leaves the logits");
    cuda->ops->buf_free(cuda, dl);
    free(back);
    free(logits);
}

/* ------------------------------------------------------------------ fixture model */

static const char *model_dir;

static engine *
open_engine(int context)
{
    return testutil_engine_new(model_dir, BACKEND_CUDA, context);
}

static void
check_images(json_t *expected)
{
    engine *e = open_engine(0);
    const imp_config *c = engine_config(e);
    CHECK(strcmp(engine_backend_name(e), "cuda") == 0, "the engine runs on cuda");
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(expected, "images"), name, v)
    {
        char path[256], base[128], bin[160], what[200];
        snprintf(path, sizeof path, "images/%s", name);
        snprintf(base, sizeof base, "%.*s", (int)strcspn(name, "."), name);
        char *cause = NULL;
        int slot = engine_image_add(e, testutil_fixture_path(path), &cause);
        if (!CHECK(slot >= 0, "%s: %s", name, cause))
            continue;
        size_t nv = (size_t)c->vis_patches * c->vis_hidden, np = (size_t)c->vis_patches * c->hidden;
        float *vis = xmalloc(nv * sizeof(float)), *proj = xmalloc(np * sizeof(float));
        engine_image_features(e, slot, vis, proj);
        double tol = strstr(name, ".jpg") != NULL ? TOL_FEATURES_JPEG : TOL_FEATURES;
        snprintf(bin, sizeof bin, "%s.vision.bin", base);
        snprintf(what, sizeof what, "cuda: %s vision features", name);
        testutil_close_expected(what, vis, bin, nv, tol);
        snprintf(bin, sizeof bin, "%s.proj.bin", base);
        snprintf(what, sizeof what, "cuda: %s projector output", name);
        testutil_close_expected(what, proj, bin, np, tol);
        free(vis);
        free(proj);
    }
    engine_free(e);
}

static int32_t
json_id(json_t *ids, size_t k)
{
    return (int32_t)json_integer_value(json_array_get(ids, k));
}

/* The fixture model on its own CUDA backend, for runs the engine does not offer. */
typedef struct {
    imp_config cfg;
    weights *files;
    checkpoint ck;
    backend *be;
    siglip *vis;
    projector *proj;
    phi2 *lm;
} direct_model;

static void
direct_open(direct_model *m)
{
    char *cause = NULL;
    memset(m, 0, sizeof *m);
    if (config_load(&m->cfg, model_dir, &cause) != 0 ||
        (m->files = weights_open(model_dir, &cause)) == NULL ||
        checkpoint_init(&m->ck, m->files, &m->cfg, &cause) != 0 ||
        (m->be = backend_new(BACKEND_CUDA, 0, NULL, &cause)) == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", model_dir, cause);
        exit(99);
    }
    m->vis = siglip_new(m->be, &m->ck, &m->cfg);
    m->proj = projector_new(m->be, &m->ck, &m->cfg);
    m->lm = phi2_new(m->be, &m->ck, &m->cfg);
}

static void
direct_close(direct_model *m)
{
    phi2_free(m->lm);
    projector_free(m->proj);
    siglip_free(m->vis);
    backend_free(m->be);
    checkpoint_free(&m->ck);
    weights_free(m->files);
}

/*
 * The logits of one prefill of ids, where each image marker takes the next image's 729 rows
 * (image paths under the fixtures' images/).
 */
static void
direct_prefill(direct_model *m, const int32_t *ids, int n, const char *const *images, float *logits)
{
    const imp_config *c = &m->cfg;
    backend *be = m->be;
    size_t d = (size_t)c->hidden;
    int positions = 0;
    for (int i = 0; i < n; i++)
        positions += ids[i] == c->image_token ? c->vis_patches : 1;
    float *x = be->ops->buf_new(be, (size_t)positions * d);
    float *vis_out = be->ops->buf_new(be, (size_t)c->vis_patches * c->vis_hidden);
    float *pixels = xmalloc((size_t)3 * c->vis_image * c->vis_image * sizeof(float));
    int row = 0, image = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] != c->image_token) {
            phi2_embed(m->lm, x + (size_t)row * d, &ids[i], 1);
            row++;
            continue;
        }
        char path[256];
        char *cause = NULL;
        snprintf(path, sizeof path, "images/%s", images[image++]);
        if (image_load_pixels(pixels, NULL, testutil_fixture_path(path), c->vis_image, &cause) !=
            0) {
            fprintf(stderr, "%s\n", cause);
            exit(99);
        }
        siglip_encode(m->vis, vis_out, pixels);
        projector_apply(m->proj, x + (size_t)row * d, vis_out, c->vis_patches);
        row += c->vis_patches;
    }
    backend_kv *kv = phi2_kv_new(m->lm, positions + 1);
    phi2_forward(m->lm, kv, x, positions, 0, logits);
    be->ops->kv_free(be, kv);
    be->ops->buf_free(be, x);
    be->ops->buf_free(be, vis_out);
    free(pixels);
}

static void
check_cases(json_t *expected, json_t *cases)
{
    size_t ci;
    json_t *ec;
    json_array_foreach(json_object_get(expected, "cases"), ci, ec)
    {
        const char *name = json_string_value(json_object_get(ec, "name"));
        json_t *in_turns =
            json_object_get(json_array_get(json_object_get(cases, "cases"), ci), "turns");
        json_t *turns = json_object_get(ec, "turns");
        engine *e = open_engine(0);
        const imp_config *cfg = engine_config(e);
        int diverged = 0; /* an earlier turn's ids differ from the expected ones */
        testutil_ids prev = {.n = 0};
        size_t ti;
        json_t *et;
        json_array_foreach(turns, ti, et)
        {
            json_t *it = json_array_get(in_turns, ti);
            const char *user = json_string_value(json_object_get(it, "user"));
            int max_new = (int)json_integer_value(json_object_get(it, "max_new"));
            int slots[8], nslots = 0;
            size_t ii;
            json_t *iv;
            json_array_foreach(json_object_get(it, "images"), ii, iv)
            {
                char path[256];
                char *cause = NULL;
                snprintf(path, sizeof path, "images/%s", json_string_value(iv));
                slots[nslots++] = engine_image_add(e, testutil_fixture_path(path), &cause);
            }
            testutil_ids got = {.n = 0};
            engine_stats st;
            char *cause = NULL;
            int rc = engine_send(e, user, slots, nslots, max_new, testutil_collect_ids, &got, NULL,
                                 &st, &cause);
            if (!CHECK(rc == 0, "cuda %s turn %zu: %s", name, ti, cause))
                break;
            json_t *want_ids = json_object_get(et, "generated_ids");
            const char *lf = json_string_value(json_object_get(et, "logits_file"));
            if (diverged) {
                printf(
                    "cuda %s turn %zu: an earlier reply differed past its first token (allowed), "
                    "so this turn's prompt differs from the fixture's; compared below against "
                    "one prefill instead\n",
                    name, ti);
            } else {
                CHECK(got.n > 0 && got.ids[0] == json_id(want_ids, 0),
                      "cuda %s turn %zu: first greedy token %d, expected %d", name, ti,
                      got.n > 0 ? got.ids[0] : -1, json_id(want_ids, 0));
                float *want = testutil_read_expected(lf, (size_t)cfg->vocab);
                char what[160];
                snprintf(what, sizeof what, "cuda %s turn %zu logits (%s)", name, ti, lf);
                if (want != NULL)
                    testutil_close(what, engine_prompt_logits_borrow(e), want, (size_t)cfg->vocab,
                                   TOL_LOGITS);
                free(want);
                int k = 0;
                while (k < got.n && k < (int)json_array_size(want_ids) &&
                       got.ids[k] == json_id(want_ids, k))
                    k++;
                if (k < got.n || got.n != (int)json_array_size(want_ids)) {
                    printf("cuda %s turn %zu: greedy ids follow the fixture for %d of %zu tokens\n",
                           name, ti, k, json_array_size(want_ids));
                    diverged = 1;
                }
            }
            if (ti == 1) {
                /* the cached turn against one prefill of the whole transcript, as it happened */
                json_t *p0 = json_object_get(json_array_get(turns, 0), "prompt_ids");
                json_t *p1 = json_object_get(et, "prompt_ids");
                int n0 = (int)json_array_size(p0), n1 = (int)json_array_size(p1);
                int32_t *ids = xmalloc((size_t)(n0 + prev.n + 1 + n1) * sizeof(int32_t));
                int n = 0;
                for (int k = 0; k < n0; k++)
                    ids[n++] = json_id(p0, (size_t)k);
                for (int k = 0; k < prev.n; k++)
                    ids[n++] = prev.ids[k];
                if (prev.n == 0 || prev.ids[prev.n - 1] != cfg->eos_id)
                    ids[n++] = cfg->eos_id;
                for (int k = 0; k < n1; k++)
                    ids[n++] = json_id(p1, (size_t)k);
                const char *imgs[16];
                int nimgs = 0;
                for (size_t t = 0; t < 2; t++)
                    json_array_foreach(json_object_get(json_array_get(in_turns, t), "images"), ii,
                                       iv) if (nimgs < 16) imgs[nimgs++] = json_string_value(iv);
                direct_model m;
                direct_open(&m);
                float *one = xmalloc((size_t)cfg->vocab * sizeof(float));
                direct_prefill(&m, ids, n, imgs, one);
                char what[160];
                snprintf(what, sizeof what,
                         "cuda %s turn 1 with the cache reused against one prefill of the "
                         "transcript (%d ids)",
                         name, n);
                testutil_close(what, engine_prompt_logits_borrow(e), one, (size_t)cfg->vocab,
                               TOL_TRANSCRIPT);
                if (diverged) {
                    /* the fixture's own transcript through one prefill still matches its logits */
                    n = 0;
                    json_t *g0 = json_object_get(json_array_get(turns, 0), "generated_ids");
                    for (int k = 0; k < n0; k++)
                        ids[n++] = json_id(p0, (size_t)k);
                    int ng = (int)json_array_size(g0);
                    ids = xreallocarray(ids, (size_t)(n0 + ng + 1 + n1), sizeof *ids);
                    for (int k = 0; k < ng; k++)
                        ids[n++] = json_id(g0, (size_t)k);
                    if (ng == 0 || json_id(g0, (size_t)ng - 1) != cfg->eos_id)
                        ids[n++] = cfg->eos_id;
                    for (int k = 0; k < n1; k++)
                        ids[n++] = json_id(p1, (size_t)k);
                    direct_prefill(&m, ids, n, imgs, one);
                    float *want = testutil_read_expected(lf, (size_t)cfg->vocab);
                    snprintf(what, sizeof what,
                             "cuda %s turn 1: one prefill of the fixture's "
                             "transcript against %s",
                             name, lf);
                    if (want != NULL)
                        testutil_close(what, one, want, (size_t)cfg->vocab, TOL_LOGITS);
                    free(want);
                }
                free(one);
                free(ids);
                direct_close(&m);
            }
            prev = got;
        }
        engine_free(e);
    }
}

/* 2,000 decode steps on the fixture model: finite logits, device greedy equal to the host's. */
static void
check_long_decode(void)
{
    direct_model m;
    direct_open(&m);
    const imp_config *c = &m.cfg;
    backend *be = m.be;
    int steps = full_sizes ? 2000 : 40;
    backend_kv *kv = phi2_kv_new(m.lm, steps + 16);
    float *x = be->ops->buf_new(be, (size_t)c->hidden);
    float *logits = xmalloc((size_t)c->vocab * sizeof(float));
    sampler_params greedy;
    sampler_params_init(&greedy);
    uint64_t state = 1;
    int32_t id = 32; /* "A", how the system prompt begins */
    int bad_step = -1, differ_step = -1;
    for (int step = 0; step < steps && bad_step < 0; step++) {
        phi2_embed(m.lm, x, &id, 1);
        const float *dl = phi2_forward_logits(m.lm, kv, x, 1, step);
        be->ops->buf_download(be, logits, dl, (size_t)c->vocab);
        for (int i = 0; i < c->vocab; i++)
            if (!isfinite(logits[i])) {
                bad_step = step;
                break;
            }
        int32_t host = sampler_argmax(logits, c->vocab);
        id = be->ops->sample(be, dl, c->vocab, &greedy, &state, NULL, 0);
        if (id != host && differ_step < 0)
            differ_step = step;
    }
    CHECK(bad_step < 0, "cuda: %d decode steps with finite logits (first NaN/Inf at step %d)",
          steps, bad_step);
    CHECK(differ_step < 0,
          "cuda: device greedy equals the host argmax at every step (first "
          "difference at step %d)",
          differ_step);
    free(logits);
    be->ops->buf_free(be, x);
    be->ops->kv_free(be, kv);
    direct_close(&m);
}

/* ------------------------------------------------------------------ real widths */

/*
 * imp-v1-3b's real widths with two layers of each tower (random weights): the image, a prefill of
 * 777 positions over it and 16 decode steps on CUDA against the CPU.
 */
static void
check_real_widths(void)
{
    if (!full_sizes) {
        printf("-- real widths: skipped (IMP_CUDA_TESTS=reduced)\n");
        return;
    }
    imp_config c;
    config_init_default(&c);
    c.layers = 2;
    c.vis_layers = 2;
    synthetic *syn = synthetic_new(&c, 5, 0);
    const checkpoint *ck = synthetic_checkpoint_borrow(syn);
    backend *bes[2] = {cpu, cuda};
    siglip *vis[2];
    projector *proj[2];
    phi2 *lm[2];
    backend_kv *kv[2];
    float *feat[2], *x[2];
    size_t npix = (size_t)3 * c.vis_image * c.vis_image, nv = (size_t)c.vis_patches * c.vis_hidden;
    size_t rows = 777, d = (size_t)c.hidden, np = (size_t)c.vis_patches * d;
    float *pixels = testutil_random_vec(npix, 1.0f);
    float *out[2][2]; /* [backend][vision, projector] host copies */
    float *logits[2];
    int32_t text[48];
    for (int i = 0; i < 48; i++)
        text[i] = (int32_t)(testutil_random_float() * 25000 + 25000);
    printf("-- real widths, two layers, CUDA against the CPU\n");
    for (int b = 0; b < 2; b++) {
        backend *be = bes[b];
        vis[b] = siglip_new(be, ck, &c);
        proj[b] = projector_new(be, ck, &c);
        lm[b] = phi2_new(be, ck, &c);
        kv[b] = phi2_kv_new(lm[b], c.context);
        feat[b] = be->ops->buf_new(be, nv);
        x[b] = be->ops->buf_new(be, rows * d);
        siglip_encode(vis[b], feat[b], pixels);
        out[b][0] = xmalloc(nv * sizeof(float));
        out[b][1] = xmalloc(np * sizeof(float));
        be->ops->buf_download(be, out[b][0], feat[b], nv);
        /* the prompt: 16 text rows, the image's 729, 32 text rows */
        phi2_embed(lm[b], x[b], text, 16);
        projector_apply(proj[b], x[b] + 16 * d, feat[b], c.vis_patches);
        be->ops->buf_download(be, out[b][1], x[b] + 16 * d, np);
        phi2_embed(lm[b], x[b] + (16 + (size_t)c.vis_patches) * d, text + 16, 32);
        logits[b] = xmalloc((size_t)c.vocab * sizeof(float));
        phi2_forward(lm[b], kv[b], x[b], (int)rows, 0, logits[b]);
    }
    testutil_close("real widths: vision features", out[1][0], out[0][0], nv, TOL_FEATURES);
    testutil_close("real widths: projector output", out[1][1], out[0][1], np, TOL_FEATURES);
    testutil_close("real widths: prefill logits (777 positions)", logits[1], logits[0],
                   (size_t)c.vocab, TOL_LOGITS);
    int32_t id = sampler_argmax(logits[0], c.vocab);
    for (int step = 0; step < 16; step++) {
        for (int b = 0; b < 2; b++) {
            phi2_embed(lm[b], x[b], &id, 1);
            phi2_forward(lm[b], kv[b], x[b], 1, (int)rows + step, logits[b]);
        }
        char what[96];
        snprintf(what, sizeof what, "real widths: decode step %d logits", step);
        if (!testutil_close(what, logits[1], logits[0], (size_t)c.vocab, TOL_LOGITS))
            break;
        id = sampler_argmax(logits[0], c.vocab);
    }
    for (int b = 0; b < 2; b++) {
        backend *be = bes[b];
        be->ops->buf_free(be, feat[b]);
        be->ops->buf_free(be, x[b]);
        be->ops->kv_free(be, kv[b]);
        phi2_free(lm[b]);
        projector_free(proj[b]);
        siglip_free(vis[b]);
        free(out[b][0]);
        free(out[b][1]);
        free(logits[b]);
    }
    free(pixels);
    synthetic_free(syn);
}

/* ------------------------------------------------------------------ selection */

/* Without a usable device: the cause is named, and auto falls back to the CPU with one line. */
static int
check_no_device(const char *cause)
{
    CHECK(strncmp(cause, "CUDA backend unavailable: ", 26) == 0 ||
              strstr(cause, "built without CUDA") != NULL,
          "--backend cuda is refused with its cause: %s", cause);
    CHECK(strlen(cause) > 30 && strchr(cause, '\n') == NULL, "the cause is one readable line");
    char *note = NULL, *cause2 = NULL;
    backend *be = backend_new(BACKEND_AUTO, 1, &note, &cause2);
    CHECK(be != NULL && strcmp(be->ops->name, "cpu") == 0, "auto falls back to the CPU");
#ifdef HAVE_CUDA
    CHECK(note != NULL && strncmp(note, "using the CPU backend: ", 23) == 0 &&
              strchr(note, '\n') == NULL,
          "auto says why in one line: %s", note != NULL ? note : "(nothing)");
#endif
    printf("no usable CUDA device (%s): the CUDA checks are skipped\n", cause);
    backend_free(be);
    free(note);
    int rc = testutil_finish("test_cuda");
    return rc == 0 ? TEST_SKIP : rc;
}

/* A device with less free memory than asked for is refused with both numbers. */
static void
check_memory_refusal(void)
{
    char *note = NULL, *cause = NULL;
    size_t huge = (size_t)1 << 50; /* 1 PiB */
    backend *be = backend_new_sized(BACKEND_CUDA, 1, huge, &note, &cause);
    CHECK(be == NULL && cause != NULL && strstr(cause, "GiB of memory free") != NULL &&
              strstr(cause, "the model needs 1048576.00 GiB") != NULL,
          "a model larger than the free memory is refused: %s", cause != NULL ? cause : "(none)");
    free(cause);
    be = backend_new_sized(BACKEND_AUTO, 1, huge, &note, &cause);
    CHECK(be != NULL && strcmp(be->ops->name, "cpu") == 0 && note != NULL &&
              strstr(note, "the model needs") != NULL,
          "auto falls back when the memory is short: %s", note != NULL ? note : "(no note)");
    backend_free(be);
    free(note);
}

/* What the selection asks a GPU to have free for imp-v1-3b. */
static void
check_model_bytes(void)
{
    imp_config c;
    config_init_default(&c);
    double gib = (double)backend_model_bytes(&c, c.context, 512, QUANT_AUTO) / (1 << 30);
    CHECK(gib > 6.9 && gib < 7.6, "imp-v1-3b needs %.2f GiB on a GPU (weights 5.94, KV 0.94)", gib);
    double q8 = (double)backend_model_bytes(&c, c.context, 512, QUANT_Q8) / (1 << 30);
    double q4 = (double)backend_model_bytes(&c, c.context, 512, QUANT_Q4) / (1 << 30);
    /* the language model's matrices at 1.0625 bytes a weight (q8) or 0.5625 (q4, vision at q8),
     * plus a 64 MiB tile for prefill */
    CHECK(q8 > 4.3 && q8 < 5.0 && q4 > 3.1 && q4 < 3.7,
          "imp-v1-3b needs %.2f GiB on a GPU with q8 weights, %.2f GiB with q4", q8, q4);
}

int
main(void)
{
    char *cause = NULL;
    const char *sizes = getenv("IMP_CUDA_TESTS");
    full_sizes = sizes == NULL || strcmp(sizes, "reduced") != 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_model_bytes();
    setenv("IMP_CUDA_DEQUANT_ROWS", DEQUANT_ROWS, 1);
    cuda = backend_new(BACKEND_CUDA, 1, NULL, &cause);
    if (cuda == NULL) {
        int rc = check_no_device(cause);
        free(cause);
        return rc;
    }
    cpu = backend_cpu_new(0);
    model_dir = getenv("MODEL_DIR");
    if (model_dir == NULL || *model_dir == '\0')
        model_dir = xstrdup(testutil_fixture_path("imp-tiny"));
    json_error_t err;
    json_t *expected = json_load_file(testutil_fixture_path("expected/expected.json"), 0, &err);
    json_t *cases = json_load_file(testutil_fixture_path("cases.json"), 0, &err);
    if (expected == NULL || cases == NULL) {
        fprintf(stderr, "cannot read the fixtures: %s\n", err.text);
        return 99;
    }
    check_memory_refusal();
    check_ops();
    check_sampling();
    check_images(expected);
    check_cases(expected, cases);
    check_long_decode();
    check_real_widths();
    json_decref(expected);
    json_decref(cases);
    backend_free(cpu);
    backend_free(cuda);
    return testutil_finish("test_cuda");
}
