#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "phi2.h"
#include "xmalloc.h"

typedef struct {
    backend_pair ln, q, k, v, dense, fc1, fc2;
} phi2_layer;

struct phi2 {
    backend *be;
    imp_config cfg;
    backend_weight *embed; /* (vocab, hidden) */
    phi2_layer *layers;
    backend_pair final_ln;
    backend_pair lm_head;  /* (vocab, hidden), (vocab) */
    /* scratch, grown to the largest number of rows seen */
    size_t rows_cap;
    float *h, *q, *k, *v, *att, *a; /* (rows, hidden) */
    float *mlp;                     /* (rows, inner) */
    float *logits;                  /* (vocab) */
};

phi2 *
phi2_new(backend *be, const checkpoint *ck, const imp_config *cfg)
{
    phi2 *m = xcalloc(1, sizeof *m);
    m->be = be;
    m->cfg = *cfg;
    m->embed = be->ops->weight_new(be, &ck->embed);
    m->layers = xcalloc((size_t)cfg->layers, sizeof *m->layers);
    for (int i = 0; i < cfg->layers; i++) {
        const checkpoint_lm_layer *cl = &ck->lm[i];
        phi2_layer *l = &m->layers[i];
        l->ln = backend_pair_upload(be, &cl->ln.w, &cl->ln.b);
        l->q = backend_pair_upload(be, &cl->q.w, &cl->q.b);
        l->k = backend_pair_upload(be, &cl->k.w, &cl->k.b);
        l->v = backend_pair_upload(be, &cl->v.w, &cl->v.b);
        l->dense = backend_pair_upload(be, &cl->dense.w, &cl->dense.b);
        l->fc1 = backend_pair_upload(be, &cl->fc1.w, &cl->fc1.b);
        l->fc2 = backend_pair_upload(be, &cl->fc2.w, &cl->fc2.b);
    }
    m->final_ln = backend_pair_upload(be, &ck->final_ln.w, &ck->final_ln.b);
    m->lm_head = backend_pair_upload(be, &ck->lm_head.w, &ck->lm_head.b);
    m->logits = be->ops->buf_new(be, (size_t)cfg->vocab);
    return m;
}

static void
phi2_free_scratch(phi2 *m)
{
    float *bufs[] = {m->h, m->q, m->k, m->v, m->att, m->a, m->mlp};
    for (size_t j = 0; j < sizeof bufs / sizeof bufs[0]; j++)
        if (bufs[j] != NULL)
            m->be->ops->buf_free(m->be, bufs[j]);
    m->h = m->q = m->k = m->v = m->att = m->a = m->mlp = NULL;
    m->rows_cap = 0;
}

void
phi2_free(phi2 *m)
{
    if (m == NULL)
        return;
    backend *be = m->be;
    be->ops->weight_free(be, m->embed);
    for (int i = 0; i < m->cfg.layers; i++) {
        phi2_layer *l = &m->layers[i];
        backend_pair *pairs[] = {&l->ln, &l->q, &l->k, &l->v, &l->dense, &l->fc1, &l->fc2};
        for (size_t j = 0; j < sizeof pairs / sizeof pairs[0]; j++)
            backend_pair_free(be, pairs[j]);
    }
    free(m->layers);
    backend_pair_free(be, &m->final_ln);
    backend_pair_free(be, &m->lm_head);
    be->ops->buf_free(be, m->logits);
    phi2_free_scratch(m);
    free(m);
}

static void
phi2_reserve(phi2 *m, int rows)
{
    if ((size_t)rows <= m->rows_cap)
        return;
    phi2_free_scratch(m);
    backend *be = m->be;
    size_t n = (size_t)rows * m->cfg.hidden;
    m->h = be->ops->buf_new(be, n);
    m->q = be->ops->buf_new(be, n);
    m->k = be->ops->buf_new(be, n);
    m->v = be->ops->buf_new(be, n);
    m->att = be->ops->buf_new(be, n);
    m->a = be->ops->buf_new(be, n);
    m->mlp = be->ops->buf_new(be, (size_t)rows * m->cfg.inner);
    m->rows_cap = (size_t)rows;
}

void
phi2_embed(phi2 *m, float *y, const int32_t *ids, int n)
{
    m->be->ops->embed(m->be, y, ids, n, m->embed);
}

backend_kv *
phi2_kv_new(phi2 *m, int ctx)
{
    return m->be->ops->kv_new(m->be, m->cfg.layers, ctx, m->cfg.hidden);
}

/* The blocks for rows positions pos0.. of x (rows, hidden), storing their K and V in kv. */
static void
phi2_blocks(phi2 *m, backend_kv *kv, float *x, int rows, int pos0)
{
    backend *be = m->be;
    const backend_ops *op = be->ops;
    const imp_config *c = &m->cfg;
    size_t nd = (size_t)rows * c->hidden;
    float scale = 1.0f / sqrtf((float)c->head_dim);

    phi2_reserve(m, rows);
    for (int i = 0; i < c->layers; i++) {
        phi2_layer *l = &m->layers[i];
        /* one LayerNorm feeds both the attention and the MLP ("parallel" block) */
        op->layernorm(be, m->h, x, rows, c->hidden, l->ln.w, l->ln.b, c->ln_eps);
        /* q, k, v and fc1 read the same input, dense and fc2 end in the same sum: two batches */
        float *qkvf[4] = {m->q, m->k, m->v, m->mlp};
        const float *qkvf_in[4] = {m->h, m->h, m->h, m->h};
        const backend_weight *qkvf_w[4] = {l->q.w, l->k.w, l->v.w, l->fc1.w};
        const backend_weight *qkvf_b[4] = {l->q.b, l->k.b, l->v.b, l->fc1.b};
        op->linear_batch(be, 4, qkvf, qkvf_in, rows, qkvf_w, qkvf_b);
        op->rope(be, m->q, rows, c->heads, c->head_dim, c->rotary_dim, pos0, c->rope_theta);
        op->rope(be, m->k, rows, c->heads, c->head_dim, c->rotary_dim, pos0, c->rope_theta);
        op->kv_write(be, kv, i, pos0, rows, m->k, m->v);
        op->attention_cached(be, m->att, m->q, rows, pos0, kv, i, c->heads, c->head_dim, scale);
        op->gelu_tanh(be, m->mlp, (size_t)rows * c->inner);
        float *out[2] = {m->a, m->h};
        const float *out_in[2] = {m->att, m->mlp};
        const backend_weight *out_w[2] = {l->dense.w, l->fc2.w};
        const backend_weight *out_b[2] = {l->dense.b, l->fc2.b};
        op->linear_batch(be, 2, out, out_in, rows, out_w, out_b);
        /* x <- (attention + mlp) + x, in the reference's order */
        op->add(be, m->a, m->h, nd);
        op->add(be, x, m->a, nd);
    }
}

const float *
phi2_forward_logits(phi2 *m, backend_kv *kv, float *x, int rows, int pos0)
{
    backend *be = m->be;
    const imp_config *c = &m->cfg;
    phi2_blocks(m, kv, x, rows, pos0);
    /* only the last position's logits are needed for generation */
    const float *last = x + (size_t)(rows - 1) * c->hidden;
    be->ops->layernorm(be, m->h, last, 1, c->hidden, m->final_ln.w, m->final_ln.b, c->ln_eps);
    be->ops->linear(be, m->logits, m->h, 1, m->lm_head.w, m->lm_head.b);
    return m->logits;
}

void
phi2_forward(phi2 *m, backend_kv *kv, float *x, int rows, int pos0, float *logits)
{
    if (logits == NULL) {
        phi2_blocks(m, kv, x, rows, pos0);
        return;
    }
    const float *dev = phi2_forward_logits(m, kv, x, rows, pos0);
    m->be->ops->buf_download(m->be, logits, dev, (size_t)m->cfg.vocab);
}
