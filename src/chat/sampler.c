#include "config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sampler.h"
#include "sampler_rule.h"
#include "xmalloc.h"

struct sampler {
    sampler_params p; /* seed_set as the caller gave it; seed is the one in use */
    uint64_t state;
    int started;      /* the stream has a seed */
};

void
sampler_params_init(sampler_params *p)
{
    memset(p, 0, sizeof *p);
    p->temp = 0.0f;
    p->top_k = 0;
    p->top_p = 1.0f;
    p->repeat_penalty = 1.0f;
}

void
sampler_set_params(sampler *s, const sampler_params *p)
{
    uint64_t running = s->p.seed;
    s->p = *p;
    if (!p->seed_set) {
        /* no seed of the caller's: keep the stream's, or take one from the clock at the start */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->p.seed = s->started ? running
                               : (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    }
    /* other settings never restart the stream: only a new seed does */
    if (!s->started || (p->seed_set && p->seed != running))
        s->state = s->p.seed;
    s->started = 1;
}

void
sampler_reseed(sampler *s, uint64_t seed)
{
    s->p.seed = seed;
    s->p.seed_set = 1;
    s->state = seed;
}

sampler *
sampler_new(const sampler_params *p)
{
    sampler *s = xcalloc(1, sizeof *s);
    sampler_set_params(s, p);
    return s;
}

void
sampler_free(sampler *s)
{
    if (s == NULL)
        return;
    free(s);
}

const sampler_params *
sampler_params_borrow(const sampler *s)
{
    return &s->p;
}

int32_t
sampler_argmax(const float *logits, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

uint64_t *
sampler_rng_borrow(sampler *s)
{
    return &s->state;
}

static const float *sampler_sort_logits;

static int
sampler_cmp_desc(const void *a, const void *b)
{
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    float la = sampler_sort_logits[ia], lb = sampler_sort_logits[ib];
    if (la != lb)
        return la > lb ? -1 : 1;
    return ia < ib ? -1 : ia > ib; /* ties by id: the order never depends on qsort */
}

/* Penalise every distinct seen id once: divide positive logits, multiply negative ones. */
static void
sampler_penalize(float r, float *logits, int n, const int32_t *seen, size_t nseen)
{
    unsigned char *mark = xcalloc((size_t)n, 1);
    for (size_t i = 0; i < nseen; i++) {
        int32_t id = seen[i];
        if (id < 0 || id >= n || mark[id])
            continue;
        mark[id] = 1;
        logits[id] = logits[id] > 0 ? logits[id] / r : logits[id] * r;
    }
    free(mark);
}

/* The best ncand ids of logits, best first (logit descending, then id ascending). */
static void
sampler_order(int32_t *order, const float *logits, int n, int ncand)
{
    if (ncand < n) {
        /* keep a sorted window of the best ncand by insertion: k is small in practice */
        int kept = 0;
        for (int i = 0; i < n; i++) {
            if (kept == ncand && logits[i] <= logits[order[kept - 1]])
                continue;
            int j = kept < ncand ? kept++ : ncand - 1; /* a full window drops its last */
            while (j > 0 && logits[order[j - 1]] < logits[i]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
        return;
    }
    for (int i = 0; i < n; i++)
        order[i] = i;
    sampler_sort_logits = logits;
    qsort(order, (size_t)n, sizeof *order, sampler_cmp_desc);
}

int32_t
sampler_choose(const sampler_params *p, float *logits, int n, uint64_t *state, const int32_t *seen,
               size_t nseen)
{
    assert(n > 0 && n <= SAMPLER_RULE_MAX_N);
    if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f)
        sampler_penalize(p->repeat_penalty, logits, n, seen, nseen);
    if (p->temp <= 0.0f)
        return sampler_argmax(logits, n);

    int ncand = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    int32_t *order = xreallocarray(NULL, (size_t)ncand, sizeof *order);
    uint64_t *cum = xreallocarray(NULL, (size_t)ncand, sizeof *cum);
    sampler_order(order, logits, n, ncand);
    float best = logits[order[0]];
    uint64_t sum = 0;
    for (int i = 0; i < ncand; i++) {
        sum += sampler_rule_weight(logits[order[i]], best, p->temp);
        cum[i] = sum;
    }
    int keep = ncand;
    if (p->top_p > 0.0f && p->top_p < 1.0f) {
        for (int i = 0; i < ncand; i++)
            if (sampler_rule_reaches(cum[i], sum, p->top_p)) {
                keep = i + 1;
                break;
            }
    }
    uint64_t u = sampler_rule_mulhi(sampler_rule_next(state), cum[keep - 1]);
    int32_t id = order[keep - 1];
    for (int i = 0; i < keep; i++)
        if (cum[i] > u) {
            id = order[i];
            break;
        }
    free(order);
    free(cum);
    return id;
}

int32_t
sampler_sample(sampler *s, float *logits, int n, const int32_t *seen, size_t nseen)
{
    return sampler_choose(&s->p, logits, n, &s->state, seen, nseen);
}
