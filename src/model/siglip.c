#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "siglip.h"
#include "xmalloc.h"

typedef struct {
    backend_pair ln1, ln2, q, k, v, out, fc1, fc2;
} siglip_layer;

struct siglip {
    backend *be;
    imp_config cfg;
    backend_pair patch;         /* (vis_hidden, 3, patch, patch), (vis_hidden) */
    backend_weight *pos;        /* (patches, vis_hidden) */
    siglip_layer *layers;
    float *pixels;              /* (3, image, image) */
    float *h, *q, *k, *v, *att; /* (patches, vis_hidden) */
    float *mlp;                 /* (patches, vis_inner) */
};

siglip *
siglip_new(backend *be, const checkpoint *ck, const imp_config *cfg)
{
    siglip *s = xcalloc(1, sizeof *s);
    s->be = be;
    s->cfg = *cfg;
    s->patch = backend_pair_upload(be, &ck->patch_w, &ck->patch_b);
    s->pos = be->ops->weight_new(be, &ck->pos_emb);
    s->layers = xcalloc((size_t)cfg->vis_layers, sizeof *s->layers);
    for (int i = 0; i < cfg->vis_layers; i++) {
        const checkpoint_vision_layer *cl = &ck->vision[i];
        siglip_layer *l = &s->layers[i];
        l->ln1 = backend_pair_upload(be, &cl->ln1.w, &cl->ln1.b);
        l->ln2 = backend_pair_upload(be, &cl->ln2.w, &cl->ln2.b);
        l->q = backend_pair_upload(be, &cl->q.w, &cl->q.b);
        l->k = backend_pair_upload(be, &cl->k.w, &cl->k.b);
        l->v = backend_pair_upload(be, &cl->v.w, &cl->v.b);
        l->out = backend_pair_upload(be, &cl->out.w, &cl->out.b);
        l->fc1 = backend_pair_upload(be, &cl->fc1.w, &cl->fc1.b);
        l->fc2 = backend_pair_upload(be, &cl->fc2.w, &cl->fc2.b);
    }
    size_t n = (size_t)cfg->vis_patches * cfg->vis_hidden;
    s->pixels = be->ops->buf_new(be, (size_t)3 * cfg->vis_image * cfg->vis_image);
    s->h = be->ops->buf_new(be, n);
    s->q = be->ops->buf_new(be, n);
    s->k = be->ops->buf_new(be, n);
    s->v = be->ops->buf_new(be, n);
    s->att = be->ops->buf_new(be, n);
    s->mlp = be->ops->buf_new(be, (size_t)cfg->vis_patches * cfg->vis_inner);
    return s;
}

void
siglip_free(siglip *s)
{
    if (s == NULL)
        return;
    backend *be = s->be;
    backend_pair_free(be, &s->patch);
    be->ops->weight_free(be, s->pos);
    for (int i = 0; i < s->cfg.vis_layers; i++) {
        siglip_layer *l = &s->layers[i];
        backend_pair *pairs[] = {&l->ln1, &l->ln2, &l->q, &l->k, &l->v, &l->out, &l->fc1, &l->fc2};
        for (size_t j = 0; j < sizeof pairs / sizeof pairs[0]; j++)
            backend_pair_free(be, pairs[j]);
    }
    free(s->layers);
    float *bufs[] = {s->pixels, s->h, s->q, s->k, s->v, s->att, s->mlp};
    for (size_t j = 0; j < sizeof bufs / sizeof bufs[0]; j++)
        be->ops->buf_free(be, bufs[j]);
    free(s);
}

void
siglip_encode(siglip *s, float *out, const float *pixels)
{
    backend *be = s->be;
    const backend_ops *op = be->ops;
    const imp_config *c = &s->cfg;
    int n = c->vis_patches;
    size_t nd = (size_t)n * c->vis_hidden;
    float *x = out; /* the residual stream lives in the output buffer */

    op->buf_upload(be, s->pixels, pixels, (size_t)3 * c->vis_image * c->vis_image);
    op->patch_embed(be, x, s->pixels, c->vis_image, c->vis_patch, s->patch.w, s->patch.b, s->pos);
    float scale = 1.0f / sqrtf((float)c->vis_head_dim);
    for (int i = 0; i < c->vis_layers; i++) {
        siglip_layer *l = &s->layers[i];
        op->layernorm(be, s->h, x, n, c->vis_hidden, l->ln1.w, l->ln1.b, c->vis_ln_eps);
        op->linear(be, s->q, s->h, n, l->q.w, l->q.b);
        op->linear(be, s->k, s->h, n, l->k.w, l->k.b);
        op->linear(be, s->v, s->h, n, l->v.w, l->v.b);
        op->attention_full(be, s->att, s->q, s->k, s->v, n, c->vis_heads, c->vis_head_dim, scale);
        op->linear(be, s->h, s->att, n, l->out.w, l->out.b);
        op->add(be, x, s->h, nd);
        op->layernorm(be, s->h, x, n, c->vis_hidden, l->ln2.w, l->ln2.b, c->vis_ln_eps);
        op->linear(be, s->mlp, s->h, n, l->fc1.w, l->fc1.b);
        op->gelu_tanh(be, s->mlp, (size_t)n * c->vis_inner);
        op->linear(be, s->h, s->mlp, n, l->fc2.w, l->fc2.b);
        op->add(be, x, s->h, nd);
    }
}
