#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "log.h"
#include "xmalloc.h"

#define CHECKPOINT_NEW_EMBED "model.embed_tokens.weight"
#define CHECKPOINT_OLD_EMBED "transformer.embd.wte.weight"
#define CHECKPOINT_NAME_MAX 256
/* The SigLIP tower's names, after "model" (current layout) or "transformer" (old layout). */
#define CHECKPOINT_VISION ".vision_tower.vision_tower.vision_model."

/* What resolving needs at hand: the weights and where to report. */
typedef struct {
    const weights *w;
    char **cause;
} checkpoint_ctx;

/* Find name (printf-formatted) and check it has exactly the ndim dims given. */
static int
checkpoint_get(const checkpoint_ctx *c, weights_tensor *out, int ndim, const int64_t *shape,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
checkpoint_get(const checkpoint_ctx *c, weights_tensor *out, int ndim, const int64_t *shape,
               const char *fmt, ...)
{
    char name[CHECKPOINT_NAME_MAX];
    char want[WEIGHTS_SHAPE_STRLEN], got[WEIGHTS_SHAPE_STRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);

    const weights_tensor *t = weights_find(c->w, name);
    weights_format_shape(want, sizeof want, ndim, shape);
    if (t == NULL)
        return log_cause(c->cause, "tensor %s is missing (expected shape %s)", name, want);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same)
        return log_cause(c->cause, "%s: tensor %s has shape %s but %s was expected", t->file, name,
                         weights_format_shape(got, sizeof got, t->ndim, t->shape), want);
    *out = *t;
    return 0;
}

/* A Linear layer PREFIX PART.weight (out, in) with PREFIX PART.bias (out). */
static int
checkpoint_linear_get(const checkpoint_ctx *c, checkpoint_linear *l, int64_t out, int64_t in,
                      const char *prefix, const char *part)
{
    if (checkpoint_get(c, &l->w, 2, (int64_t[]){ out, in }, "%s%s.weight", prefix, part) != 0
        || checkpoint_get(c, &l->b, 1, (int64_t[]){ out }, "%s%s.bias", prefix, part) != 0)
        return -1;
    return 0;
}

/* A LayerNorm PREFIX PART.weight (dim) with PREFIX PART.bias (dim). */
static int
checkpoint_norm_get(const checkpoint_ctx *c, checkpoint_norm *n, int64_t dim, const char *prefix,
                    const char *part)
{
    if (checkpoint_get(c, &n->w, 1, (int64_t[]){ dim }, "%s%s.weight", prefix, part) != 0
        || checkpoint_get(c, &n->b, 1, (int64_t[]){ dim }, "%s%s.bias", prefix, part) != 0)
        return -1;
    return 0;
}

/*
 * Rows [row0, row0 + nrows) of t as a tensor of its own: same dtype and name (so messages name the
 * tensor actually in the file), the data pointer moved into the fused matrix.
 */
static weights_tensor
checkpoint_rows(const weights_tensor *t, int64_t row0, int64_t nrows)
{
    weights_tensor v = *t;
    int64_t row_elems = t->shape[0] > 0 ? t->nelem / t->shape[0] : 0;
    v.shape[0] = nrows;
    v.nelem = nrows * row_elems;
    v.data = (const char *)t->data + (size_t)(row0 * row_elems) * weights_dtype_size(t->dtype);
    return v;
}

/* Split a fused q|k|v Linear (3*dim rows) into three row views. */
static void
checkpoint_split_qkv(const checkpoint_linear *fused, int64_t dim, checkpoint_linear *q,
                     checkpoint_linear *k, checkpoint_linear *v)
{
    checkpoint_linear *parts[3] = { q, k, v };
    for (int i = 0; i < 3; i++) {
        parts[i]->w = checkpoint_rows(&fused->w, i * dim, dim);
        parts[i]->b = checkpoint_rows(&fused->b, i * dim, dim);
    }
}

static int
checkpoint_vision(checkpoint *ck, const checkpoint_ctx *c, const imp_config *cfg, const char *base)
{
    char p[CHECKPOINT_NAME_MAX];
    int64_t vh = cfg->vis_hidden, vi = cfg->vis_inner;
    if (checkpoint_get(c, &ck->patch_w, 4, (int64_t[]){ vh, 3, cfg->vis_patch, cfg->vis_patch },
                       "%s" CHECKPOINT_VISION "embeddings.patch_embedding.weight", base) != 0
        || checkpoint_get(c, &ck->patch_b, 1, (int64_t[]){ vh },
                          "%s" CHECKPOINT_VISION "embeddings.patch_embedding.bias", base) != 0
        || checkpoint_get(c, &ck->pos_emb, 2, (int64_t[]){ cfg->vis_patches, vh },
                          "%s" CHECKPOINT_VISION "embeddings.position_embedding.weight", base) != 0)
        return -1;
    /* Only the layers the select layer uses; stored layers past them are ignored. */
    ck->vision = xcalloc((size_t)cfg->vis_layers, sizeof *ck->vision);
    for (int j = 0; j < cfg->vis_layers; j++) {
        checkpoint_vision_layer *l = &ck->vision[j];
        snprintf(p, sizeof p, "%s" CHECKPOINT_VISION "encoder.layers.%d", base, j);
        if (checkpoint_norm_get(c, &l->ln1, vh, p, ".layer_norm1") != 0
            || checkpoint_linear_get(c, &l->q, vh, vh, p, ".self_attn.q_proj") != 0
            || checkpoint_linear_get(c, &l->k, vh, vh, p, ".self_attn.k_proj") != 0
            || checkpoint_linear_get(c, &l->v, vh, vh, p, ".self_attn.v_proj") != 0
            || checkpoint_linear_get(c, &l->out, vh, vh, p, ".self_attn.out_proj") != 0
            || checkpoint_norm_get(c, &l->ln2, vh, p, ".layer_norm2") != 0
            || checkpoint_linear_get(c, &l->fc1, vi, vh, p, ".mlp.fc1") != 0
            || checkpoint_linear_get(c, &l->fc2, vh, vi, p, ".mlp.fc2") != 0)
            return -1;
    }
    if (checkpoint_linear_get(c, &ck->proj0, cfg->hidden, cfg->mm_hidden, base, ".mm_projector.0") != 0)
        return -1;
    return checkpoint_linear_get(c, &ck->proj2, cfg->hidden, cfg->hidden, base, ".mm_projector.2");
}

/* MODEL.md B3.1: model.layers.N.self_attn.{q,k,v}_proj, dense, model.final_layernorm, lm_head. */
static int
checkpoint_lm_new(checkpoint *ck, const checkpoint_ctx *c, const imp_config *cfg)
{
    char p[CHECKPOINT_NAME_MAX];
    int64_t h = cfg->hidden, in = cfg->inner;
    if (checkpoint_get(c, &ck->embed, 2, (int64_t[]){ cfg->vocab, h }, CHECKPOINT_NEW_EMBED) != 0)
        return -1;
    for (int i = 0; i < cfg->layers; i++) {
        checkpoint_lm_layer *l = &ck->lm[i];
        snprintf(p, sizeof p, "model.layers.%d", i);
        if (checkpoint_norm_get(c, &l->ln, h, p, ".input_layernorm") != 0
            || checkpoint_linear_get(c, &l->q, h, h, p, ".self_attn.q_proj") != 0
            || checkpoint_linear_get(c, &l->k, h, h, p, ".self_attn.k_proj") != 0
            || checkpoint_linear_get(c, &l->v, h, h, p, ".self_attn.v_proj") != 0
            || checkpoint_linear_get(c, &l->dense, h, h, p, ".self_attn.dense") != 0
            || checkpoint_linear_get(c, &l->fc1, in, h, p, ".mlp.fc1") != 0
            || checkpoint_linear_get(c, &l->fc2, h, in, p, ".mlp.fc2") != 0)
            return -1;
    }
    if (checkpoint_norm_get(c, &ck->final_ln, h, "model.final_layernorm", "") != 0)
        return -1;
    return checkpoint_linear_get(c, &ck->lm_head, cfg->vocab, h, "lm_head", "");
}

/* MODEL.md B3.2: transformer.h.N.mixer.Wqkv (fused q|k|v rows), out_proj, lm_head.ln, lm_head.linear. */
static int
checkpoint_lm_old(checkpoint *ck, const checkpoint_ctx *c, const imp_config *cfg)
{
    char p[CHECKPOINT_NAME_MAX];
    int64_t h = cfg->hidden, in = cfg->inner;
    if (checkpoint_get(c, &ck->embed, 2, (int64_t[]){ cfg->vocab, h }, CHECKPOINT_OLD_EMBED) != 0)
        return -1;
    for (int i = 0; i < cfg->layers; i++) {
        checkpoint_lm_layer *l = &ck->lm[i];
        checkpoint_linear qkv;
        snprintf(p, sizeof p, "transformer.h.%d", i);
        if (checkpoint_norm_get(c, &l->ln, h, p, ".ln") != 0
            || checkpoint_linear_get(c, &qkv, 3 * h, h, p, ".mixer.Wqkv") != 0
            || checkpoint_linear_get(c, &l->dense, h, h, p, ".mixer.out_proj") != 0
            || checkpoint_linear_get(c, &l->fc1, in, h, p, ".mlp.fc1") != 0
            || checkpoint_linear_get(c, &l->fc2, h, in, p, ".mlp.fc2") != 0)
            return -1;
        checkpoint_split_qkv(&qkv, h, &l->q, &l->k, &l->v);
    }
    if (checkpoint_norm_get(c, &ck->final_ln, h, "lm_head.ln", "") != 0)
        return -1;
    return checkpoint_linear_get(c, &ck->lm_head, cfg->vocab, h, "lm_head.linear", "");
}

int
checkpoint_init(checkpoint *ck, const weights *w, const imp_config *cfg, char **cause)
{
    checkpoint_ctx c = { w, cause };
    memset(ck, 0, sizeof *ck);
    if (weights_find(w, CHECKPOINT_NEW_EMBED) != NULL)
        ck->old_layout = 0;
    else if (weights_find(w, CHECKPOINT_OLD_EMBED) != NULL)
        ck->old_layout = 1;
    else
        return log_cause(cause, "no token embedding in the weights: neither " CHECKPOINT_NEW_EMBED
                         " (current layout) nor " CHECKPOINT_OLD_EMBED " (old layout) is there");

    ck->lm = xcalloc((size_t)cfg->layers, sizeof *ck->lm);
    int rc = ck->old_layout ? checkpoint_lm_old(ck, &c, cfg) : checkpoint_lm_new(ck, &c, cfg);
    if (rc == 0)
        rc = checkpoint_vision(ck, &c, cfg, ck->old_layout ? "transformer" : "model");
    if (rc != 0)
        checkpoint_free(ck);
    return rc;
}

void
checkpoint_free(checkpoint *ck)
{
    free(ck->vision);
    free(ck->lm);
    memset(ck, 0, sizeof *ck);
}
