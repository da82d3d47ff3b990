/*
 * The CUDA side: C entry points into the device code (extern "C" in the .cu files), so that
 * backend_cuda.c fills the op table in plain C. Pointers named for the device point to device
 * memory; fp16 data is passed as uint16_t bit patterns. Work is queued in order on one stream;
 * gpu_download and gpu_sample wait for it. A CUDA or cuBLAS failure gives one message naming the
 * operation, its sizes and the card (gpumsg_failure): fatal(), except while loading and after
 * gpu_keep_failures (below).
 * IMP_CHAT_CUDA_FAIL=alloc|cublas|kernel makes every such call fail, to test these paths
 * (KIND@N: from the Nth token sampled on).
 */
#ifndef IMP_GPU_H
#define IMP_GPU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct backend;
typedef struct gpu_ctx gpu_ctx;

/*
 * Create the CUDA backend on device 0 when it has need bytes of free memory (0: no check); NULL
 * with *why (no driver, driver older than the runtime, no device, no kernels for its
 * architecture, not enough memory: how much is needed and how much is free).
 */
struct backend *backend_cuda_new(int threads, size_t need, char **why);
/* The weight modes the CUDA backend runs (QUANT_MODE_BIT of each); no device is needed to ask. */
unsigned backend_cuda_weight_modes(void);

/* Open device 0 after the checks backend_cuda_new describes; NULL with *why. */
gpu_ctx *gpu_ctx_new(size_t need, char **why);
/* Release the stream, the cuBLAS handle and the scratch buffers. */
void gpu_ctx_free(gpu_ctx *g);

/*
 * Loading begins: until gpu_load_end, a failure (the first one) is kept instead of ending the
 * program, and every later call does nothing.
 */
void gpu_load_begin(gpu_ctx *g);
/* Loading is over: -1 with *why when a failure was kept (g is then only good to free). */
int gpu_load_end(gpu_ctx *g, char **why);
/*
 * From now on every failure is kept as while loading (the first one; later calls do nothing), for
 * --backend auto to go on with the CPU; gpu_failed tells.
 */
void gpu_keep_failures(gpu_ctx *g);
/* -1 with *why when a failure was kept (the device is then only good to free), else 0. */
int gpu_failed(const gpu_ctx *g, char **why);
/* A failure that is not the device's (a weight fp16 cannot hold): kept while loading, else fatal. */
void gpu_refuse(gpu_ctx *g, const char *msg);

/* Device memory of bytes bytes; what names it in the out-of-memory message. */
void *gpu_alloc(gpu_ctx *g, size_t bytes, const char *what);
/* Free device memory from gpu_alloc (NULL is ignored). */
void gpu_free(gpu_ctx *g, void *dev);
/* Copy bytes from host src to device dst (src may be reused on return). */
void gpu_upload(gpu_ctx *g, void *dst, const void *src, size_t bytes, const char *what);
/* Copy bytes from device src to host dst once the work queued before has finished. */
void gpu_download(gpu_ctx *g, void *dst, const void *src, size_t bytes, const char *what);
/* Copy bytes between device buffers, in order with the other work. */
void gpu_copy(gpu_ctx *g, void *dst, const void *src, size_t bytes, const char *what);
/* Wait for every queued operation. */
void gpu_sync(gpu_ctx *g, const char *what);

/*
 * y (rows, out) = x (rows, in) . W^T + b with W (out, in) fp16 and b (out) or NULL; x is rounded to
 * fp16 for the product, accumulation is fp32.
 */
void gpu_linear(gpu_ctx *g, float *y, const float *x, int rows, int in, int out, const uint16_t *w,
                const float *b);
/* A quantized matrix on the device: quant.h's buffer uploaded as is. */
typedef struct {
    int bits;          /* 8 (q8: weight d * v) or 4 (q4: weight d * (u - 8)) */
    int rows, cols;    /* the logical shape (cols before padding) */
    int blocks;        /* scales per stored row */
    size_t row_bytes;  /* bytes of values per stored row */
    const uint8_t *qs; /* device (rows, row_bytes) values */
    const uint16_t *d; /* device (rows, blocks) fp16 scales */
} gpu_qmatrix;

/*
 * gpu_linear with a quantized W (out = w->rows, in = w->cols): one row reads the weights once and
 * dequantizes them in registers; more rows dequantize W into fp16 tiles of a bounded number of
 * output rows (IMP_CUDA_DEQUANT_ROWS, else 64 MiB worth) for cuBLAS. Twin: quant_linear_f16.
 */
void gpu_linear_q(gpu_ctx *g, float *y, const float *x, int rows, const gpu_qmatrix *w,
                  const float *b);
/* y (rows, dim) = LayerNorm(x) * gain + bias, statistics in fp32. */
void gpu_layernorm(gpu_ctx *g, float *y, const float *x, int rows, int dim, const float *gain,
                   const float *bias, float eps);
/* x (n) = gelu with the tanh approximation. */
void gpu_gelu_tanh(gpu_ctx *g, float *x, size_t n);
/* x (n) = gelu with exact erf. */
void gpu_gelu_erf(gpu_ctx *g, float *x, size_t n);
/* y (n) += a (n). */
void gpu_add(gpu_ctx *g, float *y, const float *a, size_t n);
/*
 * Partial rotary on the first rot_dim dims of every head of x (rows, heads*head_dim), row r at
 * position pos0+r (rotate-half pairing i with i+rot_dim/2).
 */
void gpu_rope(gpu_ctx *g, float *x, int rows, int heads, int head_dim, int rot_dim, int pos0,
              float theta);
/* y (n, dim) = rows ids (host, each in [0, vocab)) of table (vocab, dim) fp16. */
void gpu_embed(gpu_ctx *g, float *y, const int32_t *ids, int n, const uint16_t *table, int dim);
/*
 * y (grid*grid, dim) = conv(pixels (3, image, image), w (dim, 3*patch*patch) fp16, stride patch)
 * + b (dim) + pos (grid*grid, dim) fp16, grid = image / patch.
 */
void gpu_patch_embed(gpu_ctx *g, float *y, const float *pixels, int image, int patch, int dim,
                     const uint16_t *w, const float *b, const uint16_t *pos);
/* Bidirectional attention: out (n, heads*hd) = softmax(q k^T * scale) v per head. */
void gpu_attention_full(gpu_ctx *g, float *out, const float *q, const float *k, const float *v,
                        int n, int heads, int head_dim, float scale);
/* Store k and v (n values each) as fp16 at kc and vc (positions of one layer's cache). */
void gpu_kv_write(gpu_ctx *g, uint16_t *kc, uint16_t *vc, const float *k, const float *v, size_t n);
/*
 * Causal attention of q (rows, heads*hd) at positions pos0.. over the cached keys kc and values vc
 * (positions, heads*hd) fp16 of one layer: row r sees positions 0..pos0+r.
 */
void gpu_attention_cached(gpu_ctx *g, float *out, const float *q, int rows, int pos0,
                          const uint16_t *kc, const uint16_t *vc, int heads, int head_dim,
                          float scale);
/*
 * The next id from logits (n, device, unchanged) by sampler_choose's rule (sampler.h): penalty on
 * the distinct ids of seen (host), then argmax when temp <= 0, else top_k, top_p and the draw
 * with the random value rnd (the caller's next splitmix64 value).
 */
int32_t gpu_sample(gpu_ctx *g, const float *logits, int n, float temp, int top_k, float top_p,
                   float repeat_penalty, uint64_t rnd, const int32_t *seen, size_t nseen);

#ifdef __cplusplus
}
#endif

#endif
