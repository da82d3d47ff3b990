#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_cpu.h"
#include "log.h"
#include "xmalloc.h"
#ifdef HAVE_CUDA
#include "../gpu/gpu.h"
#endif

int
backend_parse_choice(const char *s, backend_choice *choice)
{
    if (strcmp(s, "auto") == 0)
        *choice = BACKEND_AUTO;
    else if (strcmp(s, "cpu") == 0)
        *choice = BACKEND_CPU;
    else if (strcmp(s, "cuda") == 0)
        *choice = BACKEND_CUDA;
    else
        return -1;
    return 0;
}

backend *
backend_new(backend_choice choice, int threads, char **note, char **cause)
{
    return backend_new_sized(choice, threads, 0, note, cause);
}

backend *
backend_new_sized(backend_choice choice, int threads, size_t need, char **note, char **cause)
{
    return backend_new_for(choice, threads, need, QUANT_AUTO, note, cause);
}

quant_mode
backend_weights(const backend *be, quant_mode asked)
{
    return asked == QUANT_AUTO ? be->ops->default_weights : asked;
}

backend *
backend_new_for(backend_choice choice, int threads, size_t need, quant_mode mode, char **note,
                char **cause)
{
    if (note != NULL)
        *note = NULL;
    if (choice == BACKEND_CPU)
        return backend_cpu_new(threads);
#ifdef HAVE_CUDA
    char *why = NULL;
    unsigned modes = backend_cuda_weight_modes();
    if (mode != QUANT_AUTO && !(modes & QUANT_MODE_BIT(mode))) {
        /* decided before a device is opened: the kernels are what is missing, not the GPU */
        if (choice == BACKEND_CUDA) {
            log_cause(cause, "the CUDA backend cannot run %s weights; it runs %s (--backend cpu "
                      "runs f16, q8 and q4)",
                      quant_mode_name(mode), quant_mode_list(modes));
            return NULL;
        }
        if (note != NULL)
            *note = xasprintf("using the CPU backend: the CUDA backend cannot run %s weights (it "
                              "runs %s)",
                              quant_mode_name(mode), quant_mode_list(modes));
        return backend_cpu_new(threads);
    }
    backend *be = backend_cuda_new(threads, need, &why);
    if (be != NULL)
        return be;
    if (choice == BACKEND_CUDA) {
        log_cause(cause, "CUDA backend unavailable: %s", why);
        free(why);
        return NULL;
    }
    if (note != NULL)
        *note = xasprintf("using the CPU backend: %s", why);
    free(why);
    return backend_cpu_new(threads);
#else
    (void)need;
    (void)mode;
    if (choice == BACKEND_CUDA) {
        log_cause(cause, "this imp-chat was built without CUDA (configure --with-cuda)");
        return NULL;
    }
    return backend_cpu_new(threads);
#endif
}

/* Bytes of a (rows, cols) matrix on a GPU: fp16, or quantized as dtype. */
static size_t
backend_matrix_bytes(weights_dtype dtype, size_t rows, size_t cols)
{
    if (dtype == WEIGHTS_F16)
        return 2 * rows * cols;
    return quant_matrix_bytes(dtype, (int64_t)rows, (int64_t)cols);
}

size_t
backend_model_bytes(const imp_config *c, int ctx, int chunk, quant_mode mode)
{
    /* matrices are stored as fp16 or quantized (mode), vectors as fp32; a GPU's default is f16 */
    weights_dtype lq = quant_part_dtype(mode == QUANT_AUTO ? QUANT_F16 : mode, QUANT_PART_LM);
    weights_dtype vq = quant_part_dtype(mode == QUANT_AUTO ? QUANT_F16 : mode, QUANT_PART_VISION);
    size_t h = (size_t)c->hidden, in = (size_t)c->inner, v = (size_t)c->vocab;
    size_t vh = (size_t)c->vis_hidden, vi = (size_t)c->vis_inner, np = (size_t)c->vis_patches;
    size_t pp = 3 * (size_t)c->vis_patch * c->vis_patch;
    size_t big = h > in ? h : in;
    /* the embedding table, the patch embedding and the positions stay fp16 in every mode */
    size_t f16_mat = 2 * (v * h + vh * pp + np * vh);
    size_t lm_mat =
        c->layers * (4 * backend_matrix_bytes(lq, h, h) + backend_matrix_bytes(lq, in, h) +
                     backend_matrix_bytes(lq, h, in)) +
        backend_matrix_bytes(lq, v, h);
    size_t vis_mat =
        c->vis_layers * (4 * backend_matrix_bytes(vq, vh, vh) + backend_matrix_bytes(vq, vi, vh) +
                         backend_matrix_bytes(vq, vh, vi)) +
        backend_matrix_bytes(vq, h, (size_t)c->mm_hidden) + backend_matrix_bytes(vq, h, h);
    size_t lm_vec = c->layers * (2 * h + 4 * h + in + h) + 2 * h + v;
    size_t vis_vec = vh + c->vis_layers * (4 * vh + 4 * vh + vi + vh) + 2 * h;
    size_t stored = f16_mat + lm_mat + vis_mat + 4 * (lm_vec + vis_vec);
    /* the fp16 tile a quantized matrix is dequantized into for prefill (matmul.cu) */
    size_t tile = lq != WEIGHTS_F16 ? (size_t)64 << 20 : 0;
    size_t kv = 2 * (size_t)c->layers * (size_t)ctx * h * 2;
    /* phi2's scratch, the engine's input rows, logits and the fp16 copy of a product's input */
    size_t lm_act = 4 * ((size_t)chunk * (7 * h + in) + 2 * v) + 2 * (size_t)chunk * big;
    /* siglip's scratch, one image's features, the projector and the fp16 patches */
    size_t vis_act = 4 * (3 * (size_t)c->vis_image * c->vis_image + np * (6 * vh + vi + 2 * h)) +
                     2 * np * (vi > pp ? vi : pp);
    /* sampling scratch (logits, marks, sort keys, sums) */
    size_t sample = 48 * v;
    /* cuBLAS and sort workspaces, module images */
    size_t margin = (size_t)256 << 20;
    return stored + tile + kv + lm_act + vis_act + sample + margin;
}

void
backend_free(backend *be)
{
    if (be != NULL)
        be->ops->free(be);
}

void
backend_load_begin(backend *be)
{
    if (be->ops->load_begin != NULL)
        be->ops->load_begin(be);
}

int
backend_load_end(backend *be, char **cause)
{
    return be->ops->load_end != NULL ? be->ops->load_end(be, cause) : 0;
}

int
backend_keep_failures(backend *be)
{
    if (be->ops->keep_failures == NULL || be->ops->failed == NULL)
        return 0;
    be->ops->keep_failures(be);
    return 1;
}

int
backend_failed(backend *be, char **cause)
{
    return be->ops->failed != NULL ? be->ops->failed(be, cause) : 0;
}

backend_pair
backend_pair_upload(backend *be, const weights_tensor *w, const weights_tensor *b)
{
    backend_pair p = {be->ops->weight_new(be, w), be->ops->weight_new(be, b)};
    return p;
}

void
backend_pair_free(backend *be, backend_pair *p)
{
    be->ops->weight_free(be, p->w);
    be->ops->weight_free(be, p->b);
    p->w = p->b = NULL;
}

void
backend_buf_reserve(backend *be, float **buf, size_t *cap, size_t n)
{
    if (*buf != NULL && *cap >= n)
        return;
    if (*buf != NULL)
        be->ops->buf_free(be, *buf);
    *buf = be->ops->buf_new(be, n);
    *cap = n;
}
