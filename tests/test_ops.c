/*
 * Every op of the CPU backend against a plain double-precision reference written here, on seeded
 * random inputs at the fixture's and the real model's shapes, through both the SIMD and the
 * portable kernels, with one thread and with several. Tolerances are relative errors
 * max|got-want| / max|want|; NaN or Inf always fails.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cpu.h"
#include "f16.h"
#include "testutil.h"
#include "xmalloc.h"

#define TOL_LINEAR 2e-5
#define TOL_NORM 1e-5
#define TOL_ELEMENTWISE 1e-6
#define TOL_ATTENTION 1e-5
#define TOL_ROPE 1e-6

/* An fp16 tensor of random values and its exact float values. */
typedef struct {
    weights_tensor t;
    uint16_t *h;
    float *f;
} f16_tensor;

static f16_tensor
f16_random(int64_t rows, int64_t cols, float scale)
{
    f16_tensor r;
    memset(&r, 0, sizeof r);
    size_t n = (size_t)(rows * cols);
    r.h = xmalloc_aligned(n * 2);
    r.f = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        r.h[i] = f32_to_f16(testutil_random_float() * scale);
        r.f[i] = f16_to_f32(r.h[i]);
    }
    r.t.name = "test";
    r.t.file = "test";
    r.t.dtype = WEIGHTS_F16;
    r.t.ndim = cols > 1 || rows > 1 ? 2 : 1;
    r.t.shape[0] = rows;
    r.t.shape[1] = cols;
    if (cols == 1) {
        r.t.ndim = 1;
        r.t.shape[0] = rows;
    }
    r.t.nelem = rows * cols;
    r.t.data = r.h;
    return r;
}

static void
f16_free(f16_tensor *t)
{
    free(t->h);
    free(t->f);
}

static void
check_linear(backend *be, int rows, int in, int out, const char *label)
{
    f16_tensor w = f16_random(out, in, 1.0f / sqrtf((float)in));
    f16_tensor b = f16_random(out, 1, 0.1f);
    float *x = testutil_random_vec((size_t)rows * in, 1.0f);
    float *y = xmalloc((size_t)rows * out * sizeof(float));
    float *want = xmalloc((size_t)rows * out * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < out; j++) {
            double s = b.f[j];
            for (int k = 0; k < in; k++)
                s += (double)x[(size_t)r * in + k] * w.f[(size_t)j * in + k];
            want[(size_t)r * out + j] = (float)s;
        }
    backend_weight *bw = be->ops->weight_new(be, &w.t);
    backend_weight *bb = be->ops->weight_new(be, &b.t);
    be->ops->linear(be, y, x, rows, bw, bb);
    char what[128];
    snprintf(what, sizeof what, "linear %s (%d x %d -> %d)", label, rows, in, out);
    testutil_close(what, y, want, (size_t)rows * out, TOL_LINEAR);
    be->ops->weight_free(be, bw);
    be->ops->weight_free(be, bb);
    f16_free(&w);
    f16_free(&b);
    free(x);
    free(y);
    free(want);
}

/*
 * A batch of products with different shapes (three with one input, one with another, one without
 * bias) gives exactly what the products give one by one: the same kernels, only scheduled together.
 */
static void
check_linear_batch(backend *be, int rows, int in, int out, int in2, int out2, const char *label)
{
    enum { N = 4 };
    int ins[N] = {in, in, in, in2}, outs[N] = {out, out, out2, out2};
    f16_tensor w[N], b[N];
    backend_weight *bw[N], *bb[N];
    float *y[N], *want[N];
    float *x1 = testutil_random_vec((size_t)rows * in, 1.0f);
    float *x2 = testutil_random_vec((size_t)rows * in2, 1.0f);
    const float *xs[N] = {x1, x1, x1, x2};
    for (int i = 0; i < N; i++) {
        w[i] = f16_random(outs[i], ins[i], 1.0f / sqrtf((float)ins[i]));
        b[i] = f16_random(outs[i], 1, 0.1f);
        bw[i] = be->ops->weight_new(be, &w[i].t);
        bb[i] = i == 1 ? NULL : be->ops->weight_new(be, &b[i].t);
        y[i] = xmalloc((size_t)rows * outs[i] * sizeof(float));
        want[i] = xmalloc((size_t)rows * outs[i] * sizeof(float));
        be->ops->linear(be, want[i], xs[i], rows, bw[i], bb[i]);
    }
    be->ops->linear_batch(be, N, y, xs, rows, (const backend_weight *const *)bw,
                          (const backend_weight *const *)bb);
    for (int i = 0; i < N; i++) {
        char what[128];
        snprintf(what, sizeof what, "linear_batch %s, product %d (%d x %d -> %d)", label, i, rows,
                 ins[i], outs[i]);
        testutil_close(what, y[i], want[i], (size_t)rows * outs[i], 0.0);
        be->ops->weight_free(be, bw[i]);
        if (bb[i] != NULL)
            be->ops->weight_free(be, bb[i]);
        f16_free(&w[i]);
        f16_free(&b[i]);
        free(y[i]);
        free(want[i]);
    }
    free(x1);
    free(x2);
}

static void
check_layernorm(backend *be, int rows, int dim, float eps)
{
    f16_tensor g = f16_random(dim, 1, 1.0f);
    f16_tensor b = f16_random(dim, 1, 0.5f);
    float *x = testutil_random_vec((size_t)rows * dim, 3.0f);
    float *y = xmalloc((size_t)rows * dim * sizeof(float));
    float *want = xmalloc((size_t)rows * dim * sizeof(float));
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        double m = 0, v = 0;
        for (int i = 0; i < dim; i++)
            m += xr[i];
        m /= dim;
        for (int i = 0; i < dim; i++)
            v += (xr[i] - m) * (xr[i] - m);
        v /= dim;
        for (int i = 0; i < dim; i++)
            want[(size_t)r * dim + i] = (float)((xr[i] - m) / sqrt(v + eps) * g.f[i] + b.f[i]);
    }
    backend_weight *bg = be->ops->weight_new(be, &g.t), *bb = be->ops->weight_new(be, &b.t);
    be->ops->layernorm(be, y, x, rows, dim, bg, bb, eps);
    testutil_close("layernorm", y, want, (size_t)rows * dim, TOL_NORM);
    be->ops->weight_free(be, bg);
    be->ops->weight_free(be, bb);
    f16_free(&g);
    f16_free(&b);
    free(x);
    free(y);
    free(want);
}

static void
check_gelu(backend *be, size_t n)
{
    float *x = testutil_random_vec(n, 6.0f);
    float *a = xmalloc(n * sizeof(float)), *b = xmalloc(n * sizeof(float));
    float *wa = xmalloc(n * sizeof(float)), *wb = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        double u = x[i];
        wa[i] = (float)(0.5 * u * (1 + tanh(sqrt(2 / M_PI) * (u + 0.044715 * u * u * u))));
        wb[i] = (float)(0.5 * u * (1 + erf(u / sqrt(2.0))));
    }
    memcpy(a, x, n * sizeof(float));
    memcpy(b, x, n * sizeof(float));
    be->ops->gelu_tanh(be, a, n);
    be->ops->gelu_erf(be, b, n);
    testutil_close("gelu_tanh", a, wa, n, TOL_ELEMENTWISE);
    testutil_close("gelu_erf", b, wb, n, TOL_ELEMENTWISE);
    free(x);
    free(a);
    free(b);
    free(wa);
    free(wb);
}

/* Reference attention of query row r over keys [0, nkeys) of one head. */
static void
ref_attend(float *out, const float *q, const float *k, const float *v, int nkeys, int dim, int hd,
           int h, float scale)
{
    double *s = xmalloc((size_t)nkeys * sizeof(double));
    double max = -INFINITY, sum = 0;
    for (int j = 0; j < nkeys; j++) {
        double d = 0;
        for (int t = 0; t < hd; t++)
            d += (double)q[h * hd + t] * k[(size_t)j * dim + h * hd + t];
        s[j] = d * scale;
        if (s[j] > max)
            max = s[j];
    }
    for (int j = 0; j < nkeys; j++)
        sum += s[j] = exp(s[j] - max);
    for (int t = 0; t < hd; t++) {
        double o = 0;
        for (int j = 0; j < nkeys; j++)
            o += s[j] / sum * v[(size_t)j * dim + h * hd + t];
        out[h * hd + t] = (float)o;
    }
    free(s);
}

static void
check_attention(backend *be, int n, int heads, int hd, int pos0)
{
    int dim = heads * hd, total = pos0 + n;
    float scale = 1.0f / sqrtf((float)hd);
    float *q = testutil_random_vec((size_t)n * dim, 2.0f);
    float *k = testutil_random_vec((size_t)total * dim, 2.0f);
    float *v = testutil_random_vec((size_t)total * dim, 1.0f);
    float *got = xmalloc((size_t)n * dim * sizeof(float));
    float *want = xmalloc((size_t)n * dim * sizeof(float));
    char what[128];

    if (pos0 == 0) {
        for (int r = 0; r < n; r++)
            for (int h = 0; h < heads; h++)
                ref_attend(want + (size_t)r * dim, q + (size_t)r * dim, k, v, n, dim, hd, h, scale);
        be->ops->attention_full(be, got, q, k, v, n, heads, hd, scale);
        snprintf(what, sizeof what, "attention_full (%d x %d heads x %d)", n, heads, hd);
        testutil_close(what, got, want, (size_t)n * dim, TOL_ATTENTION);
    }

    /* cached causal attention: keys 0..pos0+r for row r, the cache written in two pieces */
    backend_kv *kv = be->ops->kv_new(be, 2, total + 5, dim);
    if (pos0 > 0)
        be->ops->kv_write(be, kv, 1, 0, pos0, k, v);
    be->ops->kv_write(be, kv, 1, pos0, n, k + (size_t)pos0 * dim, v + (size_t)pos0 * dim);
    /* the cache keeps keys and values in fp16: the reference reads them rounded the same way */
    for (size_t i = 0; i < (size_t)total * dim; i++) {
        k[i] = f16_to_f32(f32_to_f16(k[i]));
        v[i] = f16_to_f32(f32_to_f16(v[i]));
    }
    for (int r = 0; r < n; r++)
        for (int h = 0; h < heads; h++)
            ref_attend(want + (size_t)r * dim, q + (size_t)r * dim, k, v, pos0 + r + 1, dim, hd, h,
                       scale);
    be->ops->attention_cached(be, got, q, n, pos0, kv, 1, heads, hd, scale);
    snprintf(what, sizeof what, "attention_cached (%d rows at %d, %d heads x %d)", n, pos0, heads, hd);
    testutil_close(what, got, want, (size_t)n * dim, TOL_ATTENTION);
    be->ops->kv_free(be, kv);
    free(q);
    free(k);
    free(v);
    free(got);
    free(want);
}

static void
check_rope(backend *be, int rows, int heads, int hd, int rot, int pos0)
{
    size_t n = (size_t)rows * heads * hd;
    float *x = testutil_random_vec(n, 2.0f);
    float *want = xmalloc(n * sizeof(float));
    int half = rot / 2;
    memcpy(want, x, n * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < heads; h++) {
            const float *src = x + ((size_t)r * heads + h) * hd;
            float *dst = want + ((size_t)r * heads + h) * hd;
            for (int i = 0; i < rot; i++) {
                int f = i % half;
                double theta = (pos0 + r) * pow(10000.0, -2.0 * f / rot);
                double other = i < half ? -src[i + half] : src[i - half];
                dst[i] = (float)(src[i] * cos(theta) + other * sin(theta));
            }
        }
    be->ops->rope(be, x, rows, heads, hd, rot, pos0, 10000.0f);
    testutil_close("rope", x, want, n, TOL_ROPE);
    free(x);
    free(want);
}

static void
check_embed_and_patch(backend *be)
{
    /* embedding: exact rows */
    f16_tensor table = f16_random(100, 24, 1.0f);
    int32_t ids[5] = {0, 99, 42, 42, 7};
    float got[5 * 24], want[5 * 24];
    for (int i = 0; i < 5; i++)
        memcpy(want + i * 24, table.f + ids[i] * 24, 24 * sizeof(float));
    backend_weight *bt = be->ops->weight_new(be, &table.t);
    be->ops->embed(be, got, ids, 5, bt);
    CHECK(memcmp(got, want, sizeof got) == 0, "embed returns the table's rows exactly");
    be->ops->weight_free(be, bt);
    f16_free(&table);

    /* patch embedding as a direct convolution, image 30 with patch 7 (two unused columns) */
    int image = 30, patch = 7, dim = 16, grid = image / patch;
    f16_tensor w = f16_random(dim, 3 * patch * patch, 0.2f);
    w.t.ndim = 4;
    w.t.shape[1] = 3;
    w.t.shape[2] = patch;
    w.t.shape[3] = patch;
    f16_tensor b = f16_random(dim, 1, 0.1f);
    f16_tensor pos = f16_random(grid * grid, dim, 0.1f);
    float *px = testutil_random_vec((size_t)3 * image * image, 1.0f);
    float *y = xmalloc((size_t)grid * grid * dim * sizeof(float));
    float *ref = xmalloc((size_t)grid * grid * dim * sizeof(float));
    for (int pr = 0; pr < grid; pr++)
        for (int pc = 0; pc < grid; pc++)
            for (int o = 0; o < dim; o++) {
                double s = b.f[o] + pos.f[(pr * grid + pc) * dim + o];
                for (int c = 0; c < 3; c++)
                    for (int ky = 0; ky < patch; ky++)
                        for (int kx = 0; kx < patch; kx++)
                            s += (double)w.f[((o * 3 + c) * patch + ky) * patch + kx] *
                                 px[((size_t)c * image + pr * patch + ky) * image + pc * patch + kx];
                ref[(pr * grid + pc) * dim + o] = (float)s;
            }
    backend_weight *bw = be->ops->weight_new(be, &w.t), *bb = be->ops->weight_new(be, &b.t);
    backend_weight *bp = be->ops->weight_new(be, &pos.t);
    be->ops->patch_embed(be, y, px, image, patch, bw, bb, bp);
    testutil_close("patch_embed", y, ref, (size_t)grid * grid * dim, TOL_LINEAR);
    be->ops->weight_free(be, bw);
    be->ops->weight_free(be, bb);
    be->ops->weight_free(be, bp);
    f16_free(&w);
    f16_free(&b);
    f16_free(&pos);
    free(px);
    free(y);
    free(ref);
}

static void
check_all(backend *be, const char *label)
{
    printf("-- %s (%d threads, SIMD %s)\n", label, be->threads, backend_cpu_has_simd() ? "on" : "off");
    /* the fixture's shapes */
    check_linear(be, 1, 80, 320, "fixture decode");
    check_linear(be, 49, 80, 320, "fixture prefill");
    check_linear(be, 729, 588, 64, "fixture patch");
    check_linear(be, 3, 80, 51200, "fixture lm_head");
    /* the real model's shapes (rows kept small so the double reference stays quick) */
    check_linear(be, 1, 2560, 2560, "real decode");
    check_linear(be, 1, 10240, 2560, "real fc2 decode");
    check_linear(be, 37, 2560, 2560, "real prefill");
    check_linear(be, 33, 1152, 4304, "real vision fc1");
    check_linear_batch(be, 1, 80, 80, 320, 80, "fixture decode");
    check_linear_batch(be, 1, 2560, 2560, 10240, 2560, "real decode");
    check_linear_batch(be, 12, 80, 80, 320, 80, "fixture prefill");
    check_layernorm(be, 7, 80, 1e-5f);
    check_layernorm(be, 5, 2560, 1e-5f);
    check_layernorm(be, 5, 1152, 1e-6f);
    check_gelu(be, 10000);
    check_attention(be, 50, 2, 32, 0);
    check_attention(be, 17, 2, 40, 30);
    check_attention(be, 1, 32, 80, 0);    /* decode over one key: a thread takes none */
    check_attention(be, 1, 32, 80, 300);
    check_attention(be, 1, 32, 80, 1500); /* decode splits the keys across threads */
    check_attention(be, 9, 16, 72, 0);
    /* several blocks of 64 query rows and of 64 keys */
    check_attention(be, 150, 2, 40, 0);
    check_attention(be, 70, 2, 80, 100);
    check_rope(be, 5, 2, 40, 16, 0);
    check_rope(be, 3, 32, 80, 32, 2999);
    check_embed_and_patch(be);
}

int
main(void)
{
    backend *be = backend_cpu_new(0);
    check_all(be, "CPU backend, all cores");
    backend_free(be);
    be = backend_cpu_new(1);
    check_all(be, "CPU backend, one thread");
    backend_cpu_force_portable(1);
    check_all(be, "CPU backend, portable kernels");
    backend_cpu_force_portable(0);
    backend_free(be);
    return testutil_finish("test_ops");
}
