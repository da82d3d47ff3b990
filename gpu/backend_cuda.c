#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "f16.h"
#include "gpu.h"
#include "log.h"
#include "safetext.h"
#include "sampler_rule.h"
#include "xmalloc.h"

/*
 * Matrices (two or more dimensions) live on the device as fp16, as shipped (BF16 and F32 are
 * converted once), or quantized, as quant.h lays them out; vectors (biases, LayerNorm
 * parameters) as fp32.
 */
struct backend_weight {
    int64_t rows;  /* shape[0] */
    int64_t cols;  /* elements per row */
    int half;      /* 1: fp16 matrix, 0: fp32 vector or quantized matrix */
    void *data;    /* device */
    gpu_qmatrix q; /* a quantized matrix (q.bits 8 or 4; 0 otherwise), its pointers into data */
};

struct backend_kv {
    int layers, ctx, dim;
    uint16_t *k; /* (layer, pos, dim) fp16 on the device */
    uint16_t *v; /* (layer, pos, dim) fp16 on the device */
};

typedef struct {
    backend base;
    gpu_ctx *g;
} backend_cuda;

static gpu_ctx *
cuda_ctx(backend *be)
{
    return ((backend_cuda *)be)->g;
}

/* ------------------------------------------------------------------ weights and buffers */

/*
 * Upload a quantized matrix as is. Prefill dequantizes it into fp16 (matmul.cu): a block whose
 * largest weight d * 127 (q8) or d * 8 (q4) lies beyond fp16's range is refused.
 */
static void
cuda_weight_quant(gpu_ctx *g, backend_weight *w, const weights_tensor *t, const char *what)
{
    quant_matrix m = quant_matrix_of(t);
    float most = m.dtype == WEIGHTS_Q8 ? 127.0f : 8.0f, worst = 0.0f;
    for (size_t i = 0; i < (size_t)(m.rows * m.blocks); i++) {
        float d = fabsf(f16_to_f32(m.d[i]));
        worst = d > worst ? d : worst;
    }
    if ((f32_to_f16(worst * most) & 0x7c00) == 0x7c00) {
        char *name = safetext_new(t->name, strlen(t->name), 0);
        char *msg = xasprintf("tensor %s: a dequantized weight of magnitude up to %g lies beyond "
                              "fp16's range (65504), which the CUDA backend's products need: run "
                              "this model with --backend cpu",
                              name, (double)(worst * most));
        gpu_refuse(g, msg);
        free(msg);
        free(name);
        return;
    }
    size_t bytes = quant_matrix_bytes(m.dtype, m.rows, m.cols);
    w->data = gpu_alloc(g, bytes, what);
    gpu_upload(g, w->data, t->data, bytes, what);
    w->q.bits = m.dtype == WEIGHTS_Q8 ? 8 : 4;
    w->q.rows = (int)m.rows;
    w->q.cols = (int)m.cols;
    w->q.blocks = (int)m.blocks;
    w->q.row_bytes = m.row_bytes;
    w->q.qs = w->data;
    w->q.d = (const uint16_t *)((const char *)w->data + ((const char *)m.d - (const char *)m.qs));
}

static backend_weight *
cuda_weight_new(backend *be, const weights_tensor *t)
{
    gpu_ctx *g = cuda_ctx(be);
    backend_weight *w = xcalloc(1, sizeof *w);
    if (t->dtype == WEIGHTS_Q8 || t->dtype == WEIGHTS_Q4) {
        char *what = xasprintf("weight %s", t->name);
        w->rows = t->shape[0];
        w->cols = t->shape[1];
        cuda_weight_quant(g, w, t, what);
        free(what);
        return w;
    }
    size_t n = (size_t)t->nelem;
    w->rows = t->ndim > 0 ? t->shape[0] : 1;
    w->cols = w->rows > 0 ? t->nelem / w->rows : 0;
    w->half = t->ndim >= 2;
    char *what = xasprintf("weight %s", t->name);
    if (w->half) {
        w->data = gpu_alloc(g, n * 2, what);
        if (t->dtype == WEIGHTS_F16) {
            gpu_upload(g, w->data, t->data, n * 2, what);
        } else {
            /* a value fp16 cannot hold would become inf: refuse the model, never compute with it */
            uint16_t *h = xreallocarray(NULL, n ? n : 1, sizeof *h);
            weights_f16_loss loss;
            char *cause = NULL;
            weights_tensor_to_f16(t, h, &loss);
            if (weights_f16_loss_check(t, &loss, &cause) != 0) {
                char *msg = xasprintf("%s; the CUDA backend keeps matrices in fp16: run this model "
                                      "with --backend cpu, which keeps them in fp32",
                                      cause);
                gpu_refuse(g, msg);
                free(msg);
                free(cause);
            } else {
                gpu_upload(g, w->data, h, n * 2, what);
            }
            free(h);
        }
    } else {
        float *f = xreallocarray(NULL, n ? n : 1, sizeof *f);
        for (size_t i = 0; i < n; i++)
            f[i] = weights_tensor_value(t, (int64_t)i);
        w->data = gpu_alloc(g, n * sizeof(float), what);
        gpu_upload(g, w->data, f, n * sizeof(float), what);
        free(f);
    }
    free(what);
    return w;
}

static void
cuda_weight_free(backend *be, backend_weight *w)
{
    if (w == NULL)
        return;
    gpu_free(cuda_ctx(be), w->data);
    free(w);
}

static float *
cuda_buf_new(backend *be, size_t n)
{
    return gpu_alloc(cuda_ctx(be), n * sizeof(float), "an activation buffer");
}

static void
cuda_buf_free(backend *be, float *buf)
{
    gpu_free(cuda_ctx(be), buf);
}

static void
cuda_buf_upload(backend *be, float *dst, const float *src, size_t n)
{
    gpu_upload(cuda_ctx(be), dst, src, n * sizeof(float), "activations");
}

static void
cuda_buf_download(backend *be, float *dst, const float *src, size_t n)
{
    gpu_download(cuda_ctx(be), dst, src, n * sizeof(float), "activations");
}

static void
cuda_buf_copy(backend *be, float *dst, const float *src, size_t n)
{
    gpu_copy(cuda_ctx(be), dst, src, n * sizeof(float), "activations");
}

/* ------------------------------------------------------------------ ops */

static void
cuda_linear(backend *be, float *y, const float *x, int rows, const backend_weight *w,
            const backend_weight *b)
{
    assert((w->half || w->q.bits != 0) && (b == NULL || (!b->half && b->rows == w->rows)));
    if (w->q.bits != 0)
        gpu_linear_q(cuda_ctx(be), y, x, rows, &w->q, b != NULL ? b->data : NULL);
    else
        gpu_linear(cuda_ctx(be), y, x, rows, (int)w->cols, (int)w->rows, w->data,
                   b != NULL ? b->data : NULL);
}

/* One product after another; the kernels of a batch already fill the GPU. */
static void
cuda_linear_batch(backend *be, int n, float *const *y, const float *const *x, int rows,
                  const backend_weight *const *w, const backend_weight *const *b)
{
    for (int i = 0; i < n; i++)
        cuda_linear(be, y[i], x[i], rows, w[i], b[i]);
}

static void
cuda_layernorm(backend *be, float *y, const float *x, int rows, int dim, const backend_weight *g,
               const backend_weight *b, float eps)
{
    assert(!g->half && !b->half && g->rows == dim && b->rows == dim);
    gpu_layernorm(cuda_ctx(be), y, x, rows, dim, g->data, b->data, eps);
}

static void
cuda_gelu_tanh(backend *be, float *x, size_t n)
{
    gpu_gelu_tanh(cuda_ctx(be), x, n);
}

static void
cuda_gelu_erf(backend *be, float *x, size_t n)
{
    gpu_gelu_erf(cuda_ctx(be), x, n);
}

static void
cuda_add(backend *be, float *y, const float *a, size_t n)
{
    gpu_add(cuda_ctx(be), y, a, n);
}

static void
cuda_patch_embed(backend *be, float *y, const float *pixels, int image, int patch,
                 const backend_weight *w, const backend_weight *b, const backend_weight *pos)
{
    int grid = image / patch;
    int dim = (int)w->rows;
    assert(w->half && w->cols == 3 * patch * patch && !b->half && b->rows == dim && pos->half &&
           pos->rows * pos->cols == (int64_t)grid * grid * dim);
    gpu_patch_embed(cuda_ctx(be), y, pixels, image, patch, dim, w->data, b->data, pos->data);
}

static void
cuda_attention_full(backend *be, float *out, const float *q, const float *k, const float *v, int n,
                    int heads, int head_dim, float scale)
{
    gpu_attention_full(cuda_ctx(be), out, q, k, v, n, heads, head_dim, scale);
}

static void
cuda_rope(backend *be, float *x, int rows, int heads, int head_dim, int rot_dim, int pos0,
          float theta)
{
    assert(rot_dim % 2 == 0 && rot_dim <= head_dim);
    gpu_rope(cuda_ctx(be), x, rows, heads, head_dim, rot_dim, pos0, theta);
}

static void
cuda_embed(backend *be, float *y, const int32_t *ids, int n, const backend_weight *table)
{
    assert(table->half);
    for (int i = 0; i < n; i++)
        assert(ids[i] >= 0 && ids[i] < table->rows);
    gpu_embed(cuda_ctx(be), y, ids, n, table->data, (int)table->cols);
}

/* ------------------------------------------------------------------ KV cache */

static backend_kv *
cuda_kv_new(backend *be, int layers, int ctx, int dim)
{
    gpu_ctx *g = cuda_ctx(be);
    backend_kv *kv = xcalloc(1, sizeof *kv);
    size_t n = (size_t)layers * ctx * dim;
    kv->layers = layers;
    kv->ctx = ctx;
    kv->dim = dim;
    /* never cleared: attention reads only the positions written before (see attention.cu) */
    kv->k = gpu_alloc(g, n * 2, "the KV cache (keys)");
    kv->v = gpu_alloc(g, n * 2, "the KV cache (values)");
    return kv;
}

static void
cuda_kv_free(backend *be, backend_kv *kv)
{
    if (kv == NULL)
        return;
    gpu_free(cuda_ctx(be), kv->k);
    gpu_free(cuda_ctx(be), kv->v);
    free(kv);
}

static void
cuda_kv_write(backend *be, backend_kv *kv, int layer, int pos0, int rows, const float *k,
              const float *v)
{
    assert(layer >= 0 && layer < kv->layers && pos0 >= 0 && pos0 + rows <= kv->ctx);
    size_t off = ((size_t)layer * kv->ctx + (size_t)pos0) * kv->dim;
    gpu_kv_write(cuda_ctx(be), kv->k + off, kv->v + off, k, v, (size_t)rows * kv->dim);
}

static void
cuda_attention_cached(backend *be, float *out, const float *q, int rows, int pos0,
                      const backend_kv *kv, int layer, int heads, int head_dim, float scale)
{
    assert(heads * head_dim == kv->dim && layer >= 0 && layer < kv->layers && pos0 >= 0 &&
           pos0 + rows <= kv->ctx);
    size_t off = (size_t)layer * kv->ctx * kv->dim;
    gpu_attention_cached(cuda_ctx(be), out, q, rows, pos0, kv->k + off, kv->v + off, heads,
                         head_dim, scale);
}

/* ------------------------------------------------------------------ sampling */

static int32_t
cuda_sample(backend *be, const float *logits, int n, const sampler_params *p, uint64_t *rng,
            const int32_t *seen, size_t nseen)
{
    /* the CPU rule draws one value per step, and only with a temperature */
    uint64_t rnd = p->temp > 0.0f ? sampler_rule_next(rng) : 0;
    return gpu_sample(cuda_ctx(be), logits, n, p->temp, p->top_k, p->top_p, p->repeat_penalty, rnd,
                      seen, nseen);
}

static void
cuda_sync(backend *be)
{
    gpu_sync(cuda_ctx(be), "waiting for the device");
}

/* ------------------------------------------------------------------ table */

static void
cuda_free(backend *be)
{
    gpu_ctx_free(cuda_ctx(be));
    free(be);
}

static void
cuda_load_begin(backend *be)
{
    gpu_load_begin(cuda_ctx(be));
}

static int
cuda_load_end(backend *be, char **cause)
{
    return gpu_load_end(cuda_ctx(be), cause);
}

static void
cuda_keep_failures(backend *be)
{
    gpu_keep_failures(cuda_ctx(be));
}

static int
cuda_failed(backend *be, char **cause)
{
    return gpu_failed(cuda_ctx(be), cause);
}

static const backend_ops cuda_ops = {
    .name = "cuda",
    .weight_modes = QUANT_MODE_BIT(QUANT_F16) | QUANT_MODE_BIT(QUANT_Q8) | QUANT_MODE_BIT(QUANT_Q4),
    /*
     * as shipped: the reference's numbers, in 7.2 GiB of device memory; q8 and q4 are for smaller
     * cards and for decode speed, not yet measured on a GPU (README, "Quantized weights")
     */
    .default_weights = QUANT_F16,
    .free = cuda_free,
    .load_begin = cuda_load_begin,
    .load_end = cuda_load_end,
    .keep_failures = cuda_keep_failures,
    .failed = cuda_failed,
    .weight_new = cuda_weight_new,
    .weight_free = cuda_weight_free,
    .buf_new = cuda_buf_new,
    .buf_free = cuda_buf_free,
    .buf_upload = cuda_buf_upload,
    .buf_download = cuda_buf_download,
    .buf_copy = cuda_buf_copy,
    .linear = cuda_linear,
    .linear_batch = cuda_linear_batch,
    .layernorm = cuda_layernorm,
    .gelu_tanh = cuda_gelu_tanh,
    .gelu_erf = cuda_gelu_erf,
    .add = cuda_add,
    .patch_embed = cuda_patch_embed,
    .attention_full = cuda_attention_full,
    .rope = cuda_rope,
    .embed = cuda_embed,
    .kv_new = cuda_kv_new,
    .kv_free = cuda_kv_free,
    .kv_write = cuda_kv_write,
    .attention_cached = cuda_attention_cached,
    .sample = cuda_sample,
    .sync = cuda_sync,
};

unsigned
backend_cuda_weight_modes(void)
{
    return cuda_ops.weight_modes;
}

backend *
backend_cuda_new(int threads, size_t need, char **why)
{
    gpu_ctx *g = gpu_ctx_new(need, why);
    if (g == NULL)
        return NULL;
    backend_cuda *cu = xcalloc(1, sizeof *cu);
    cu->base.ops = &cuda_ops;
    cu->base.threads = 1; /* one host thread queues the work */
    cu->g = g;
    return &cu->base;
}
