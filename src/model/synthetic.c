#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "f16.h"
#include "synthetic.h"
#include "threadpool.h"
#include "xmalloc.h"

struct synthetic {
    checkpoint ck;
    void **blocks;
    size_t nblocks;
    size_t bytes;
    threadpool *pool;
    uint64_t seed;
    quant_mode mode;
    quant_store *store; /* the quantized matrices */
};

typedef struct {
    uint16_t *data;
    size_t n;
    uint16_t exp_top; /* largest fp16 exponent field used */
    uint64_t seed;
} synthetic_fill_job;

/*
 * Random halves built straight from random bits (sign, one of four exponents, mantissa): values up
 * to about the scale asked for, fast enough to fill 6 GB in seconds.
 */
static void
synthetic_fill_range(void *ctx, size_t begin, size_t end, int thread)
{
    synthetic_fill_job *job = ctx;
    uint64_t x = job->seed ^ (begin * 0x9e3779b97f4a7c15ull) ^ 0x2545f4914f6cdd1dull;
    for (size_t i = begin; i < end; i += 4) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t r = x;
        for (size_t k = i; k < i + 4 && k < end; k++) {
            uint16_t sign = (uint16_t)((r & 1) << 15);
            uint16_t exp = (uint16_t)(job->exp_top - ((r >> 1) & 3));
            uint16_t mant = (uint16_t)((r >> 3) & 0x3ff);
            job->data[k] = (uint16_t)(sign | (exp << 10) | mant);
            r >>= 16;
        }
    }
}

static void *
synthetic_block(synthetic *s, size_t bytes)
{
    void *p = xmalloc_aligned(bytes);
    s->blocks = xreallocarray(s->blocks, s->nblocks + 1, sizeof *s->blocks);
    s->blocks[s->nblocks++] = p;
    s->bytes += bytes;
    return p;
}

/* A tensor of the given shape: random with values below about scale, or all equal to fill. */
static weights_tensor
synthetic_tensor(synthetic *s, const char *name, int ndim, const int64_t *shape, double scale,
                 float fill)
{
    weights_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.file = "synthetic";
    t.dtype = WEIGHTS_F16;
    t.ndim = ndim;
    t.nelem = 1;
    for (int i = 0; i < ndim; i++) {
        t.shape[i] = shape[i];
        t.nelem *= shape[i];
    }
    uint16_t *data = synthetic_block(s, (size_t)t.nelem * 2);
    if (scale > 0) {
        int e = (int)floor(log2(scale)) + 15;
        synthetic_fill_job job = {data, (size_t)t.nelem, (uint16_t)(e < 4 ? 4 : e), ++s->seed};
        threadpool_run(s->pool, (size_t)t.nelem, 1 << 16, synthetic_fill_range, &job);
    } else {
        uint16_t h = f32_to_f16(fill);
        for (int64_t i = 0; i < t.nelem; i++)
            data[i] = h;
    }
    t.data = data;
    return t;
}

/* A Linear layer of a part of the model (quantized as the mode says for that part). */
static checkpoint_linear
synthetic_linear(synthetic *s, quant_part part, const char *name, int64_t out, int64_t in)
{
    checkpoint_linear l;
    int64_t ws[2] = {out, in}, bs[1] = {out};
    l.w = synthetic_tensor(s, name, 2, ws, 1.0 / sqrt((double)in), 0);
    weights_dtype dtype = quant_part_dtype(s->mode, part);
    if (dtype != WEIGHTS_F16) {
        char *cause = NULL;
        int rc = quant_store_add(s->store, &l.w, dtype, s->pool, &cause);
        assert(rc == 0); /* random values are finite */
        (void)rc;
        /* the fp16 matrix was the last block made: it goes at once */
        s->bytes -= (size_t)l.w.nelem * 2;
        free(s->blocks[--s->nblocks]);
        s->bytes += quant_matrix_bytes(dtype, out, in);
    }
    l.b = synthetic_tensor(s, name, 1, bs, 0.01, 0);
    return l;
}

static checkpoint_norm
synthetic_norm(synthetic *s, const char *name, int64_t dim)
{
    checkpoint_norm n;
    n.w = synthetic_tensor(s, name, 1, &dim, 0, 1.0f);
    n.b = synthetic_tensor(s, name, 1, &dim, 0, 0.0f);
    return n;
}

synthetic *
synthetic_new(const imp_config *c, uint64_t seed, int threads)
{
    return synthetic_new_weights(c, seed, threads, QUANT_F16);
}

synthetic *
synthetic_new_weights(const imp_config *c, uint64_t seed, int threads, quant_mode mode)
{
    synthetic *s = xcalloc(1, sizeof *s);
    checkpoint *ck = &s->ck;
    s->pool = threadpool_new(threads);
    s->seed = seed;
    s->mode = mode;
    s->store = quant_store_new();
    int64_t pw[4] = {c->vis_hidden, 3, c->vis_patch, c->vis_patch};
    int64_t pb[1] = {c->vis_hidden};
    int64_t pos[2] = {c->vis_patches, c->vis_hidden};
    int64_t emb[2] = {c->vocab, c->hidden};
    ck->patch_w = synthetic_tensor(s, "patch_embedding.weight", 4, pw, 0.05, 0);
    ck->patch_b = synthetic_tensor(s, "patch_embedding.bias", 1, pb, 0.01, 0);
    ck->pos_emb = synthetic_tensor(s, "position_embedding.weight", 2, pos, 0.05, 0);
    ck->vision = xcalloc((size_t)c->vis_layers, sizeof *ck->vision);
    for (int i = 0; i < c->vis_layers; i++) {
        checkpoint_vision_layer *l = &ck->vision[i];
        l->ln1 = synthetic_norm(s, "vision.layer_norm1", c->vis_hidden);
        l->ln2 = synthetic_norm(s, "vision.layer_norm2", c->vis_hidden);
        l->q = synthetic_linear(s, QUANT_PART_VISION, "vision.q_proj", c->vis_hidden, c->vis_hidden);
        l->k = synthetic_linear(s, QUANT_PART_VISION, "vision.k_proj", c->vis_hidden, c->vis_hidden);
        l->v = synthetic_linear(s, QUANT_PART_VISION, "vision.v_proj", c->vis_hidden, c->vis_hidden);
        l->out = synthetic_linear(s, QUANT_PART_VISION, "vision.out_proj", c->vis_hidden, c->vis_hidden);
        l->fc1 = synthetic_linear(s, QUANT_PART_VISION, "vision.fc1", c->vis_inner, c->vis_hidden);
        l->fc2 = synthetic_linear(s, QUANT_PART_VISION, "vision.fc2", c->vis_hidden, c->vis_inner);
    }
    ck->proj0 = synthetic_linear(s, QUANT_PART_VISION, "mm_projector.0", c->hidden, c->mm_hidden);
    ck->proj2 = synthetic_linear(s, QUANT_PART_VISION, "mm_projector.2", c->hidden, c->hidden);
    ck->embed = synthetic_tensor(s, "embed_tokens.weight", 2, emb, 0.05, 0);
    ck->lm = xcalloc((size_t)c->layers, sizeof *ck->lm);
    for (int i = 0; i < c->layers; i++) {
        checkpoint_lm_layer *l = &ck->lm[i];
        l->ln = synthetic_norm(s, "input_layernorm", c->hidden);
        l->q = synthetic_linear(s, QUANT_PART_LM, "q_proj", c->hidden, c->hidden);
        l->k = synthetic_linear(s, QUANT_PART_LM, "k_proj", c->hidden, c->hidden);
        l->v = synthetic_linear(s, QUANT_PART_LM, "v_proj", c->hidden, c->hidden);
        l->dense = synthetic_linear(s, QUANT_PART_LM, "dense", c->hidden, c->hidden);
        l->fc1 = synthetic_linear(s, QUANT_PART_LM, "fc1", c->inner, c->hidden);
        l->fc2 = synthetic_linear(s, QUANT_PART_LM, "fc2", c->hidden, c->inner);
    }
    ck->final_ln = synthetic_norm(s, "final_layernorm", c->hidden);
    ck->lm_head = synthetic_linear(s, QUANT_PART_LM, "lm_head", c->vocab, c->hidden);
    return s;
}

const checkpoint *
synthetic_checkpoint_borrow(const synthetic *s)
{
    return &s->ck;
}

const quant_store *
synthetic_quant_borrow(const synthetic *s)
{
    return s->store;
}

size_t
synthetic_bytes(const synthetic *s)
{
    return s->bytes;
}

void
synthetic_free(synthetic *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nblocks; i++)
        free(s->blocks[i]);
    free(s->blocks);
    quant_store_free(s->store);
    free(s->ck.vision);
    free(s->ck.lm);
    threadpool_free(s->pool);
    free(s);
}
