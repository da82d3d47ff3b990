#include "config.h"

#include <stdlib.h>

#include "projector.h"
#include "xmalloc.h"

struct projector {
    backend *be;
    int hidden;
    backend_pair fc0; /* (hidden, mm_hidden) */
    backend_pair fc2; /* (hidden, hidden) */
    float *mid;       /* (rows, hidden) */
    size_t mid_cap;
};

projector *
projector_new(backend *be, const checkpoint *ck, const imp_config *cfg)
{
    projector *p = xcalloc(1, sizeof *p);
    p->be = be;
    p->hidden = cfg->hidden;
    p->fc0 = backend_pair_upload(be, &ck->proj0.w, &ck->proj0.b);
    p->fc2 = backend_pair_upload(be, &ck->proj2.w, &ck->proj2.b);
    return p;
}

void
projector_free(projector *p)
{
    if (p == NULL)
        return;
    backend_pair_free(p->be, &p->fc0);
    backend_pair_free(p->be, &p->fc2);
    if (p->mid != NULL)
        p->be->ops->buf_free(p->be, p->mid);
    free(p);
}

void
projector_apply(projector *p, float *out, const float *in, int rows)
{
    backend *be = p->be;
    size_t n = (size_t)rows * p->hidden;
    backend_buf_reserve(be, &p->mid, &p->mid_cap, n);
    be->ops->linear(be, p->mid, in, rows, p->fc0.w, p->fc0.b);
    be->ops->gelu_erf(be, p->mid, n);
    be->ops->linear(be, out, p->mid, rows, p->fc2.w, p->fc2.b);
}
