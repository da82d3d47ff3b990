/*
 * The backend op table: every computation of the model goes through these function pointers, so
 * a CUDA backend can fill the same table (in a plain C file) and the model code never changes.
 * Activations are fp32 buffers owned by the backend (host memory for the CPU, device memory for a
 * GPU); weights are uploaded once as backend_weight handles; the KV cache is a backend_kv handle.
 * Ops run in the order they are called; a GPU backend may queue them, but every result that
 * reaches the host (buf_download, sample) waits for the work before it, so callers see them as
 * synchronous. Only timing needs sync.
 */
#ifndef IMP_BACKEND_H
#define IMP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "model_config.h"
#include "quant.h"
#include "sampler.h"
#include "weights.h"

typedef struct backend backend;
typedef struct backend_weight backend_weight;
typedef struct backend_kv backend_kv;

typedef struct {
    const char *name;
    /* the weight modes it runs (QUANT_MODE_BIT of each), and the one it runs when not told */
    unsigned weight_modes;
    quant_mode default_weights;
    void (*free)(backend *be);
    /*
     * Optional (NULL: failures while loading end the program). Between load_begin and load_end, a
     * device failure or a weight the backend cannot hold is kept instead of ending the program;
     * load_end returns -1 with *cause then, and the backend is only good to free.
     */
    void (*load_begin)(backend *be);
    int (*load_end)(backend *be, char **cause);
    /*
     * Optional (NULL: a backend whose failures always end the program). keep_failures: from now
     * on every failure is kept as while loading, and the ops after it do nothing; failed: -1 with
     * *cause once one was kept (the backend is then only good to free).
     */
    void (*keep_failures)(backend *be);
    int (*failed)(backend *be, char **cause);

    /*
     * weights: uploaded once from the mapped (or quantized) tensor; the handle keeps its shape.
     * Quantized tensors (WEIGHTS_Q8, WEIGHTS_Q4, layout in quant.h) come only to a backend whose
     * weight_modes name them, and only as matrices that linear and linear_batch take.
     */
    backend_weight *(*weight_new)(backend *be, const weights_tensor *t);
    void (*weight_free)(backend *be, backend_weight *w);

    /* activation buffers of n floats */
    float *(*buf_new)(backend *be, size_t n);
    void (*buf_free)(backend *be, float *buf);
    void (*buf_upload)(backend *be, float *dst, const float *src, size_t n);
    void (*buf_download)(backend *be, float *dst, const float *src, size_t n);
    void (*buf_copy)(backend *be, float *dst, const float *src, size_t n);

    /* y (rows, out) = x (rows, in) . W^T + b, with W (out, in) and b (out) or NULL */
    void (*linear)(backend *be, float *y, const float *x, int rows, const backend_weight *w,
                   const backend_weight *b);
    /*
     * n independent products at once, y[i] = x[i] . w[i]^T + b[i] (b[i] may be NULL), all with the
     * same rows: a backend may run them as one job (decode reads four matrices with one input).
     */
    void (*linear_batch)(backend *be, int n, float *const *y, const float *const *x, int rows,
                         const backend_weight *const *w, const backend_weight *const *b);
    /* y (rows, dim) = LayerNorm(x) * g + b over the last dimension */
    void (*layernorm)(backend *be, float *y, const float *x, int rows, int dim,
                      const backend_weight *g, const backend_weight *b, float eps);
    /* x (n) = gelu with the tanh approximation (SigLIP "gelu_pytorch_tanh", Phi-2 "gelu_new") */
    void (*gelu_tanh)(backend *be, float *x, size_t n);
    /* x (n) = gelu with exact erf (projector nn.GELU) */
    void (*gelu_erf)(backend *be, float *x, size_t n);
    /* y (n) += a (n) */
    void (*add)(backend *be, float *y, const float *a, size_t n);
    /*
     * SigLIP patch embedding: y (grid*grid, dim) = conv(pixels (3, image, image), w (dim, 3, patch,
     * patch), stride patch) + b + pos (grid*grid, dim); rows and columns past grid*patch are unused.
     */
    void (*patch_embed)(backend *be, float *y, const float *pixels, int image, int patch,
                        const backend_weight *w, const backend_weight *b,
                        const backend_weight *pos);
    /* Bidirectional attention: out (n, heads*hd) = softmax(q k^T * scale) v per head. */
    void (*attention_full)(backend *be, float *out, const float *q, const float *k,
                           const float *v, int n, int heads, int head_dim, float scale);
    /*
     * Partial rotary (rotate-half pairing i with i+rot/2) on the first rot dims of every head of
     * x (rows, heads*hd), row r at position pos0+r.
     */
    void (*rope)(backend *be, float *x, int rows, int heads, int head_dim, int rot_dim, int pos0,
                 float theta);
    /* y (n, dim) = rows ids of the table (vocab, dim) */
    void (*embed)(backend *be, float *y, const int32_t *ids, int n, const backend_weight *table);

    /* KV cache for layers x ctx positions of dim values each, for K and for V */
    backend_kv *(*kv_new)(backend *be, int layers, int ctx, int dim);
    void (*kv_free)(backend *be, backend_kv *kv);
    /* Store k, v (rows, dim) at positions pos0.. of layer. */
    void (*kv_write)(backend *be, backend_kv *kv, int layer, int pos0, int rows, const float *k,
                     const float *v);
    /*
     * Causal attention of q (rows, heads*hd) at positions pos0.. over the cached positions
     * 0..pos0+r of layer; out (rows, heads*hd).
     */
    void (*attention_cached)(backend *be, float *out, const float *q, int rows, int pos0,
                             const backend_kv *kv, int layer, int heads, int head_dim,
                             float scale);

    /*
     * The next id from logits (n, on the backend, left unchanged) by sampler_choose's rule with p,
     * the penalty applying to seen (nseen ids, host memory); advances *rng like sampler_choose.
     */
    int32_t (*sample)(backend *be, const float *logits, int n, const sampler_params *p,
                      uint64_t *rng, const int32_t *seen, size_t nseen);
    /* Wait until every op called so far has finished (for timing). */
    void (*sync)(backend *be);
} backend_ops;

/* Every backend begins with this header. */
struct backend {
    const backend_ops *ops;
    int threads; /* host threads it uses */
};

/* What the user asked for with --backend. */
typedef enum {
    BACKEND_AUTO,
    BACKEND_CPU,
    BACKEND_CUDA,
} backend_choice;

/*
 * Create the backend chosen: auto takes CUDA when built and usable, else the CPU (with *note set
 * to one line saying why, when CUDA was built but not usable). NULL with *cause on failure.
 */
backend *backend_new(backend_choice choice, int threads, char **note, char **cause);
/*
 * Like backend_new, but a GPU is taken only when it also has need bytes of memory free (0: no
 * check); when it has not, the cause or note gives both numbers.
 */
backend *backend_new_sized(backend_choice choice, int threads, size_t need, char **note,
                           char **cause);
/*
 * Like backend_new_sized, for weights in the given mode: a backend that cannot run the mode is
 * not taken (auto then falls back to the CPU with a note; a backend chosen by name fails with a
 * cause that names the modes it runs). QUANT_AUTO takes the backend's default.
 */
backend *backend_new_for(backend_choice choice, int threads, size_t need, quant_mode mode,
                         char **note, char **cause);
/* The mode a backend runs for a request (QUANT_AUTO: its default). */
quant_mode backend_weights(const backend *be, quant_mode asked);
/*
 * Device memory a GPU backend needs for a model (bytes): the weights in fp16 or quantized as mode
 * asks (QUANT_AUTO: fp16; vectors in fp32), the fp16 KV cache of ctx positions, activations for
 * prefill chunks of chunk rows and one image, and room for the libraries' workspaces.
 */
size_t backend_model_bytes(const imp_config *cfg, int ctx, int chunk, quant_mode mode);
/* Parse "auto", "cpu" or "cuda"; -1 when unknown. */
int backend_parse_choice(const char *s, backend_choice *choice);
/* Free a backend. */
void backend_free(backend *be);
/* Loading begins: failures are kept until backend_load_end (see backend_ops.load_begin). */
void backend_load_begin(backend *be);
/* Loading is over: -1 with *cause when it failed on the device (the backend must be freed). */
int backend_load_end(backend *be, char **cause);
/* Failures are kept from now on (see backend_ops.keep_failures); 0 when the backend cannot. */
int backend_keep_failures(backend *be);
/* -1 with *cause when a kept failure left the backend unusable. */
int backend_failed(backend *be, char **cause);

/* A weight and its bias (or LayerNorm gain and shift) uploaded together. */
typedef struct {
    backend_weight *w;
    backend_weight *b;
} backend_pair;

/* Upload a weight and its bias. */
backend_pair backend_pair_upload(backend *be, const weights_tensor *w, const weights_tensor *b);
/* Free both halves of a pair. */
void backend_pair_free(backend *be, backend_pair *p);
/* Grow a scratch buffer to at least n floats (contents are not kept). */
void backend_buf_reserve(backend *be, float **buf, size_t *cap, size_t n);

#endif
