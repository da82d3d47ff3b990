/*
 * Quantized weights: the q8 and q4 formats (layout, rounding, padding, the error bound of every
 * element, NaN and infinity named at load), the activations' 8-bit blocks, and the products of
 * every kernel level (AVX-512 VNNI, AVX2, plain C: each SIMD level against the plain one, and all
 * against a double-precision product of the dequantized values) through the backend's linear and
 * linear_batch, with one thread and with several.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cpu.h"
#include "cpufeat.h"
#include "f16.h"
#include "qdot.h"
#include "quant.h"
#include "testutil.h"
#include "xmalloc.h"

/*
 * The integer sums are exact at every level; what differs is the order in which the scaled
 * block sums are added in float: a few units of float's 6e-8 over thousands of terms.
 */
#define TOL_LEVELS 2e-6
/* Against the double product of the dequantized weights and activations: the same float sums. */
#define TOL_EXACT 2e-6

/* A random fp16 matrix (rows, cols) with values up to scale, and its tensor. */
typedef struct {
    weights_tensor t;
    uint16_t *h;
} f16_matrix;

static f16_matrix
f16_matrix_random(int64_t rows, int64_t cols, float scale)
{
    f16_matrix m;
    memset(&m, 0, sizeof m);
    m.h = xmalloc_aligned((size_t)(rows * cols) * 2 + 2);
    for (int64_t i = 0; i < rows * cols; i++)
        m.h[i] = f32_to_f16(testutil_random_float() * scale);
    m.t.name = "test.weight";
    m.t.file = "test.safetensors";
    m.t.dtype = WEIGHTS_F16;
    m.t.ndim = 2;
    m.t.shape[0] = rows;
    m.t.shape[1] = cols;
    m.t.nelem = rows * cols;
    m.t.data = m.h;
    return m;
}

static float
f16_at(const f16_matrix *m, int64_t i)
{
    return f16_to_f32(m->h[i]);
}

/* The stored scale of block b of row r. */
static float
scale_of(const weights_tensor *q, int64_t r, int64_t b)
{
    quant_matrix m = quant_matrix_of(q);
    return f16_to_f32(m.d[r * m.blocks + b]);
}

static void
check_layout(void)
{
    CHECK(quant_row_blocks(80) == 4 && quant_row_blocks(128) == 4 && quant_row_blocks(129) == 8 &&
              quant_row_blocks(4304) == 136,
          "rows are padded to multiples of 128 values");
    /* values, then scales at a 64-byte boundary, each padded to 64 bytes */
    CHECK(quant_matrix_bytes(WEIGHTS_Q8, 3, 80) == 3 * 128 + 64, "q8 (3, 80): %zu bytes",
          quant_matrix_bytes(WEIGHTS_Q8, 3, 80));
    CHECK(quant_matrix_bytes(WEIGHTS_Q4, 2560, 2560) == 2560 * 1280 + 2560 * 160,
          "q4 (2560, 2560): %zu bytes (4.5 bits a weight)",
          quant_matrix_bytes(WEIGHTS_Q4, 2560, 2560));
    CHECK(quant_matrix_bytes(WEIGHTS_Q8, 2560, 2560) == 2560 * 2560 + 2560 * 160,
          "q8 (2560, 2560): %zu bytes (8.5 bits a weight)",
          quant_matrix_bytes(WEIGHTS_Q8, 2560, 2560));
    quant_mode mode;
    CHECK(quant_parse_mode("q4", &mode) == 0 && mode == QUANT_Q4 &&
              quant_parse_mode("q5", &mode) < 0 && strcmp(quant_mode_name(QUANT_Q8), "q8") == 0,
          "mode names");
    CHECK(strcmp(quant_mode_list(QUANT_MODE_BIT(QUANT_F16) | QUANT_MODE_BIT(QUANT_Q4)),
                 "f16, q4") == 0,
          "mode lists: %s", quant_mode_list(QUANT_MODE_BIT(QUANT_F16) | QUANT_MODE_BIT(QUANT_Q4)));
}

/* Blocks whose values the formats hold exactly, and where the rounding must land. */
static void
check_exact_blocks(void)
{
    f16_matrix m = f16_matrix_random(2, 32, 1.0f);
    /* row 0: k/4 for k = -16..15 (q8 scale 4/127 rounded to fp16: not exact, checked by bound) */
    for (int i = 0; i < 32; i++) {
        m.h[i] = f32_to_f16((float)(i - 16) / 4);
        m.h[32 + i] = f32_to_f16((float)((i % 16) - 8) * 0.5f); /* row 1: (u - 8) / 2 */
    }
    threadpool *pool = threadpool_new(1);
    quant_store *s = quant_store_new();
    weights_tensor q4 = m.t;
    char *cause = NULL;
    CHECK(quant_store_add(s, &q4, WEIGHTS_Q4, pool, &cause) == 0, "q4: %s", cause ? cause : "");
    float row[32];
    quant_dequantize_row(&q4, 1, row);
    int exact = 1;
    for (int i = 0; i < 32; i++)
        exact &= row[i] == f16_at(&m, 32 + i);
    /* the largest magnitude is -4 (value 0): the scale is 0.5 and every value lands exactly */
    CHECK(exact && scale_of(&q4, 1, 0) == 0.5f, "q4 holds (u - 8) * 0.5 exactly (scale %g)",
          scale_of(&q4, 1, 0));
    /* row 0: the largest magnitude is -4 too, so the scale is 0.5; -4 is exact, 3.75 rounds to 3.5
     */
    quant_dequantize_row(&q4, 0, row);
    CHECK(row[0] == -4.0f && row[31] == 3.5f && row[16] == 0.0f, "q4 row 0: %g %g %g", row[0],
          row[31], row[16]);
    quant_store_free(s);
    threadpool_free(pool);
    free(m.h);
}

/*
 * Every element of a random matrix within half a step of its value after quantization: |w - q| <=
 * d / 2 with d the block's scale (q8: largest magnitude / 127, q4: / 8), plus fp16's rounding of
 * the scale times the value (2^-11 relative); in q4 a value of the sign opposite the largest
 * magnitude, beyond 7.5 steps, stops at 7 (at most one step off). Shapes with partial blocks and
 * padding included, from fp16 (the SIMD path where the level allows) and from F32 and BF16 (plain
 * C).
 */
static void
check_bounds(weights_dtype dtype, int64_t rows, int64_t cols, weights_dtype src_dtype)
{
    f16_matrix m = f16_matrix_random(rows, cols, 0.3f);
    float *f32 = NULL;
    uint16_t *bf = NULL;
    weights_tensor src = m.t;
    if (src_dtype == WEIGHTS_F32) {
        f32 = xmalloc((size_t)(rows * cols) * sizeof(float));
        for (int64_t i = 0; i < rows * cols; i++)
            f32[i] = f16_at(&m, i);
        src.data = f32;
        src.dtype = WEIGHTS_F32;
    } else if (src_dtype == WEIGHTS_BF16) {
        bf = xmalloc((size_t)(rows * cols) * 2);
        for (int64_t i = 0; i < rows * cols; i++) {
            float v = f16_at(&m, i);
            uint32_t bits;
            memcpy(&bits, &v, 4);
            bf[i] = (uint16_t)(bits >> 16); /* exact: fp16 values with few mantissa bits */
            m.h[i] = f32_to_f16(bf16_to_f32(bf[i]));
        }
        src.data = bf;
        src.dtype = WEIGHTS_BF16;
    }
    threadpool *pool = threadpool_new(2);
    quant_store *s = quant_store_new();
    weights_tensor q = src;
    char *cause = NULL;
    if (!CHECK(quant_store_add(s, &q, dtype, pool, &cause) == 0, "quantize: %s",
               cause ? cause : ""))
        return;
    CHECK(q.dtype == dtype && q.shape[0] == rows && q.shape[1] == cols &&
              strcmp(q.name, src.name) == 0 && ((uintptr_t)q.data & 63) == 0 &&
              quant_store_bytes(s) == quant_matrix_bytes(dtype, rows, cols),
          "the quantized view keeps name and shape, 64-byte aligned");
    float *row = xmalloc((size_t)cols * sizeof(float));
    int ok = 1;
    double worst = 0;
    for (int64_t r = 0; r < rows && ok; r++) {
        quant_dequantize_row(&q, r, row);
        for (int64_t c = 0; c < cols; c++) {
            float w = f16_at(&m, r * cols + c);
            double d = scale_of(&q, r, c / QUANT_BLOCK);
            double bound = fabs(d) / 2 * (1 + 1e-6) + fabs(w) * 0x1p-11;
            /* q4: the value opposite the largest magnitude may reach 8 steps but 7 is the top */
            if (dtype == WEIGHTS_Q4 && d != 0 && w / d > 7.5)
                bound = fabs(d) * (w / d - 7) * (1 + 1e-6);
            double err = fabs(row[c] - w);
            worst = fmax(worst, err / fmax(bound, 1e-30));
            if (err > bound) {
                ok = CHECK(
                    0, "%s (%lld, %lld) from %s: element (%lld, %lld) is %g, was %g (bound %g)",
                    weights_dtype_name(dtype), (long long)rows, (long long)cols,
                    weights_dtype_name(src_dtype), (long long)r, (long long)c, row[c], w, bound);
                break;
            }
        }
    }
    if (ok)
        CHECK(1, "bound");
    printf("%s (%lld, %lld) from %s: largest error %.3f of the bound\n", weights_dtype_name(dtype),
           (long long)rows, (long long)cols, weights_dtype_name(src_dtype), worst);
    free(row);
    quant_store_free(s);
    threadpool_free(pool);
    free(m.h);
    free(f32);
    free(bf);
}

/* The AVX2 quantizer writes the same bytes as the plain one. */
static void
check_quantizer_levels(weights_dtype dtype)
{
    if (cpufeat_supported() < CPUFEAT_AVX2) {
        printf("AVX2 not available: the SIMD quantizer is not compared\n");
        return;
    }
    f16_matrix m = f16_matrix_random(37, 300, 2.0f);
    m.h[5] = 0; /* a block with zeros and one with a single value */
    for (int i = 32; i < 64; i++)
        m.h[i] = i == 40 ? f32_to_f16(-1.5f) : 0;
    size_t bytes = quant_matrix_bytes(dtype, 37, 300);
    void *a = xcalloc(1, bytes), *b = xcalloc(1, bytes);
    int64_t bad;
    cpufeat_cap(CPUFEAT_PORTABLE);
    CHECK(quant_rows(dtype, a, &m.t, 0, 37, &bad) == 0, "plain quantizer");
    cpufeat_cap(CPUFEAT_AVX512);
    CHECK(quant_rows(dtype, b, &m.t, 0, 37, &bad) == 0, "SIMD quantizer");
    CHECK(memcmp(a, b, bytes) == 0, "%s: the SIMD quantizer's bytes are the plain one's",
          weights_dtype_name(dtype));
    free(a);
    free(b);
    free(m.h);
}

/* A NaN or infinite weight fails quantization with the tensor, row and column named. */
static void
check_bad_values(void)
{
    struct {
        weights_dtype src;
        float value;
        const char *word;
    } cases[] = {
        {WEIGHTS_F16, NAN, "a NaN weight"},
        {WEIGHTS_F16, INFINITY, "an infinite weight"},
        {WEIGHTS_F32, -INFINITY, "an infinite weight"},
        {WEIGHTS_F32, NAN, "a NaN weight"},
    };
    threadpool *pool = threadpool_new(2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f16_matrix m = f16_matrix_random(40, 100, 1.0f);
        float *f = NULL;
        weights_tensor t = m.t;
        if (cases[i].src == WEIGHTS_F32) {
            f = xmalloc(4000 * sizeof(float));
            for (int k = 0; k < 4000; k++)
                f[k] = f16_at(&m, k);
            f[33 * 100 + 70] = cases[i].value;
            t.data = f;
            t.dtype = WEIGHTS_F32;
        } else {
            m.h[33 * 100 + 70] = f32_to_f16(cases[i].value);
        }
        quant_store *s = quant_store_new();
        weights_tensor q = t;
        char *cause = NULL;
        int rc = quant_store_add(s, &q, i % 2 ? WEIGHTS_Q4 : WEIGHTS_Q8, pool, &cause);
        CHECK(rc < 0 && cause != NULL && strstr(cause, "test.safetensors: tensor test.weight") &&
                  strstr(cause, cases[i].word) && strstr(cause, "row 33, column 70"),
              "a bad %s value is named: %s", weights_dtype_name(cases[i].src),
              cause != NULL ? cause : "(accepted)");
        CHECK(q.dtype == t.dtype && q.data == t.data, "the tensor is left as it was");
        free(cause);
        quant_store_free(s);
        free(m.h);
        free(f);
    }
    threadpool_free(pool);
}

/* The AVX2 activation quantizer gives the plain one's bytes, scales and sums. */
static void
check_activations(void)
{
    int rows = 11;
    int64_t cols = 300;
    float *x = testutil_random_vec((size_t)rows * cols, 3.0f);
    for (int i = 0; i < 32; i++)
        x[64 + i] = 0; /* a zero block */
    qdot_act a, b;
    qdot_act_init(&a);
    qdot_act_init(&b);
    cpufeat_cap(CPUFEAT_PORTABLE);
    qdot_act_quantize(&a, x, rows, cols, NULL);
    cpufeat_cap(CPUFEAT_AVX512);
    qdot_act_quantize(&b, x, rows, cols, NULL);
    size_t nb = (size_t)rows * (size_t)a.blocks;
    CHECK(a.blocks == 12 && memcmp(a.q, b.q, nb * QUANT_BLOCK) == 0 &&
              memcmp(a.d, b.d, nb * sizeof(float)) == 0 && memcmp(a.sum, b.sum, nb * 4) == 0,
          "activations: every level quantizes the same");
    /* each value within half a step, the padding zero */
    int bad_r = -1;
    int64_t bad_c = -1;
    for (int r = 0; r < rows && bad_r < 0; r++)
        for (int64_t c = 0; c < a.blocks * QUANT_BLOCK && bad_r < 0; c++) {
            size_t k = (size_t)r * (size_t)a.blocks + (size_t)(c / QUANT_BLOCK);
            float v = c < cols ? x[r * cols + c] : 0;
            float got = a.d[k] * a.q[(size_t)r * (size_t)a.blocks * QUANT_BLOCK + (size_t)c];
            if (fabsf(got - v) > a.d[k] / 2 * 1.0001f)
                bad_r = r, bad_c = c;
        }
    CHECK(bad_r < 0, "activations within half a step of their values (first not: (%d, %lld))",
          bad_r, (long long)bad_c);
    qdot_act_free(&a);
    qdot_act_free(&b);
    free(x);
}

/*
 * y = x . W^T + b through the backend with W quantized, against the double product of the
 * dequantized weights with the dequantized activations, at every kernel level available.
 */
static void
check_linear(backend *be, weights_dtype dtype, int rows, int in, int out, const char *label)
{
    f16_matrix m = f16_matrix_random(out, in, 1.0f / sqrtf((float)in));
    float *bias = testutil_random_vec((size_t)out, 0.1f);
    weights_tensor bt = {.name = "test.bias",
                         .file = "test",
                         .dtype = WEIGHTS_F32,
                         .ndim = 1,
                         .shape = {out},
                         .nelem = out,
                         .data = bias};
    float *x = testutil_random_vec((size_t)rows * in, 1.0f);
    threadpool *pool = threadpool_new(2);
    quant_store *s = quant_store_new();
    weights_tensor q = m.t;
    char *cause = NULL;
    CHECK(quant_store_add(s, &q, dtype, pool, &cause) == 0, "quantize: %s", cause ? cause : "");

    /* the reference: dequantized weights and activations, summed in double */
    qdot_act act;
    qdot_act_init(&act);
    qdot_act_quantize(&act, x, rows, in, NULL);
    float *wrow = xmalloc((size_t)in * sizeof(float));
    float *want = xmalloc((size_t)rows * out * sizeof(float));
    for (int j = 0; j < out; j++) {
        quant_dequantize_row(&q, j, wrow);
        for (int r = 0; r < rows; r++) {
            double sum = bias[j];
            for (int c = 0; c < in; c++) {
                size_t k = (size_t)r * (size_t)act.blocks + (size_t)(c / QUANT_BLOCK);
                sum += (double)wrow[c] * act.d[k] *
                       act.q[(size_t)r * (size_t)act.blocks * QUANT_BLOCK + (size_t)c];
            }
            want[(size_t)r * out + j] = (float)sum;
        }
    }
    backend_weight *bw = be->ops->weight_new(be, &q);
    backend_weight *bb = be->ops->weight_new(be, &bt);
    float *plain = xmalloc((size_t)rows * out * sizeof(float));
    float *y = xmalloc((size_t)rows * out * sizeof(float));
    for (int level = CPUFEAT_PORTABLE; level <= (int)cpufeat_supported(); level++) {
        char what[160];
        cpufeat_cap((cpufeat_level)level);
        be->ops->linear(be, y, x, rows, bw, bb);
        snprintf(what, sizeof what, "%s linear %s (%d x %d -> %d), %s, %d threads",
                 weights_dtype_name(dtype), label, rows, in, out,
                 cpufeat_name((cpufeat_level)level), be->threads);
        testutil_close(what, y, want, (size_t)rows * out, TOL_EXACT);
        if (level == CPUFEAT_PORTABLE) {
            memcpy(plain, y, (size_t)rows * out * sizeof(float));
        } else {
            strcat(what, " against plain C");
            testutil_close(what, y, plain, (size_t)rows * out, TOL_LEVELS);
        }
    }
    cpufeat_cap(CPUFEAT_AVX512);
    be->ops->weight_free(be, bw);
    be->ops->weight_free(be, bb);
    qdot_act_free(&act);
    quant_store_free(s);
    threadpool_free(pool);
    free(m.h);
    free(bias);
    free(x);
    free(wrow);
    free(want);
    free(plain);
    free(y);
}

/*
 * linear_batch with quantized matrices, some sharing an input and one fp16 among them, gives what
 * linear gives one by one.
 */
static void
check_batch(backend *be, int rows)
{
    enum { N = 4 };
    int in = 160, ins[N] = {160, 160, 160, 320}, outs[N] = {96, 96, 320, 160};
    weights_dtype dts[N] = {WEIGHTS_Q8, WEIGHTS_Q4, WEIGHTS_F16, WEIGHTS_Q4};
    f16_matrix m[N];
    backend_weight *bw[N];
    float *y[N], *want[N];
    float *x1 = testutil_random_vec((size_t)rows * in, 1.0f);
    float *x2 = testutil_random_vec((size_t)rows * 320, 1.0f);
    const float *xs[N] = {x1, x1, x1, x2};
    const backend_weight *nob[N] = {NULL, NULL, NULL, NULL};
    threadpool *pool = threadpool_new(2);
    quant_store *s = quant_store_new();
    for (int i = 0; i < N; i++) {
        char *cause = NULL;
        m[i] = f16_matrix_random(outs[i], ins[i], 0.1f);
        weights_tensor q = m[i].t;
        if (dts[i] != WEIGHTS_F16)
            CHECK(quant_store_add(s, &q, dts[i], pool, &cause) == 0, "quantize: %s",
                  cause ? cause : "");
        bw[i] = be->ops->weight_new(be, &q);
        y[i] = xmalloc((size_t)rows * outs[i] * sizeof(float));
        want[i] = xmalloc((size_t)rows * outs[i] * sizeof(float));
        be->ops->linear(be, want[i], xs[i], rows, bw[i], NULL);
    }
    be->ops->linear_batch(be, N, y, xs, rows, (const backend_weight *const *)bw, nob);
    for (int i = 0; i < N; i++) {
        char what[96];
        snprintf(what, sizeof what, "linear_batch %d rows, product %d (%s)", rows, i,
                 weights_dtype_name(dts[i]));
        testutil_close(what, y[i], want[i], (size_t)rows * outs[i], 1e-6);
        be->ops->weight_free(be, bw[i]);
        free(y[i]);
        free(want[i]);
        free(m[i].h);
    }
    quant_store_free(s);
    threadpool_free(pool);
    free(x1);
    free(x2);
}

static void
check_products(backend *be)
{
    weights_dtype dts[2] = {WEIGHTS_Q8, WEIGHTS_Q4};
    for (int i = 0; i < 2; i++) {
        /* the fixture's shapes: 80 wide (a partial block and padding) */
        check_linear(be, dts[i], 1, 80, 320, "fixture decode");
        check_linear(be, dts[i], 3, 320, 80, "fixture decode, 3 rows");
        check_linear(be, dts[i], 49, 80, 320, "fixture prefill");
        check_linear(be, dts[i], 9, 64, 100, "a partial panel");
        check_linear(be, dts[i], 2, 300, 37, "rows not in fours");
        /* the real model's shapes (few rows: the double reference stays quick) */
        check_linear(be, dts[i], 1, 2560, 2560, "real decode");
        check_linear(be, dts[i], 1, 10240, 512, "real fc2 rows");
        check_linear(be, dts[i], 21, 2560, 272, "real prefill rows");
        check_linear(be, dts[i], 13, 4304, 48, "real vision fc2 rows");
    }
    check_batch(be, 1);
    check_batch(be, 2);
    check_batch(be, 12);
}

int
main(void)
{
    printf("kernel levels: this CPU supports %s\n", cpufeat_name(cpufeat_supported()));
    check_layout();
    check_exact_blocks();
    weights_dtype dts[2] = {WEIGHTS_Q8, WEIGHTS_Q4};
    for (int i = 0; i < 2; i++) {
        check_bounds(dts[i], 17, 80, WEIGHTS_F16);
        check_bounds(dts[i], 33, 4304, WEIGHTS_F16);
        check_bounds(dts[i], 5, 256, WEIGHTS_F32);
        check_bounds(dts[i], 5, 100, WEIGHTS_BF16);
        check_quantizer_levels(dts[i]);
    }
    check_bad_values();
    check_activations();
    backend *be = backend_cpu_new(2);
    check_products(be);
    backend_free(be);
    be = backend_cpu_new(1);
    check_products(be);
    backend_free(be);
    return testutil_finish("test_quant");
}
