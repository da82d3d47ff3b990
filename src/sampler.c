#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sampler.h"
#include "xmalloc.h"

struct sampler {
    sampler_params p;
    uint64_t state;
    int32_t *order; /* candidate ids, best first */
    float *probs;
    unsigned char *seen_mark;
    int cap;
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

/* splitmix64: small, fast, and the same stream on every platform for a given seed */
static uint64_t
sampler_next(sampler *s)
{
    uint64_t z = (s->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double
sampler_uniform(sampler *s)
{
    return (double)(sampler_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

void
sampler_set_params(sampler *s, const sampler_params *p)
{
    int reseed = p->seed_set || !s->p.seed_set; /* an explicit seed always restarts */
    s->p = *p;
    if (!s->p.seed_set) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->p.seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
        s->p.seed_set = 1;
    }
    if (reseed)
        s->state = s->p.seed;
}

sampler *
sampler_new(const sampler_params *p)
{
    sampler *s = xcalloc(1, sizeof *s);
    sampler_set_params(s, p);
    s->state = s->p.seed;
    return s;
}

void
sampler_free(sampler *s)
{
    if (s == NULL)
        return;
    free(s->order);
    free(s->probs);
    free(s->seen_mark);
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

static void
sampler_grow(sampler *s, int n)
{
    if (s->cap >= n)
        return;
    s->order = xreallocarray(s->order, (size_t)n, sizeof *s->order);
    s->probs = xreallocarray(s->probs, (size_t)n, sizeof *s->probs);
    s->seen_mark = xrealloc(s->seen_mark, (size_t)n);
    s->cap = n;
}

/* Penalise every distinct seen id once: divide positive logits, multiply negative ones. */
static void
sampler_penalize(sampler *s, float *logits, int n, const int32_t *seen, size_t nseen)
{
    float r = s->p.repeat_penalty;
    memset(s->seen_mark, 0, (size_t)n);
    for (size_t i = 0; i < nseen; i++) {
        int32_t id = seen[i];
        if (id < 0 || id >= n || s->seen_mark[id])
            continue;
        s->seen_mark[id] = 1;
        logits[id] = logits[id] > 0 ? logits[id] / r : logits[id] * r;
    }
}

int32_t
sampler_sample(sampler *s, float *logits, int n, const int32_t *seen, size_t nseen)
{
    sampler_grow(s, n);
    if (s->p.repeat_penalty > 0 && s->p.repeat_penalty != 1.0f)
        sampler_penalize(s, logits, n, seen, nseen);
    if (s->p.temp <= 0.0f)
        return sampler_argmax(logits, n);

    /* candidates best first; with top-k only the best k are needed */
    int ncand = n;
    if (s->p.top_k > 0 && s->p.top_k < n)
        ncand = s->p.top_k;
    sampler_sort_logits = logits;
    if (ncand < n) {
        /* keep a sorted window of the best ncand by insertion: k is small in practice */
        int kept = 0;
        for (int i = 0; i < n; i++) {
            if (kept == ncand && logits[i] <= logits[s->order[kept - 1]])
                continue;
            int j = kept < ncand ? kept++ : ncand - 1; /* a full window drops its last */
            while (j > 0 && logits[s->order[j - 1]] < logits[i]) {
                s->order[j] = s->order[j - 1];
                j--;
            }
            s->order[j] = i;
        }
    } else {
        for (int i = 0; i < n; i++)
            s->order[i] = i;
        qsort(s->order, (size_t)n, sizeof *s->order, sampler_cmp_desc);
    }

    double max = logits[s->order[0]];
    double sum = 0;
    for (int i = 0; i < ncand; i++) {
        double e = exp(((double)logits[s->order[i]] - max) / s->p.temp);
        s->probs[i] = (float)e;
        sum += e;
    }
    /* top-p: the smallest prefix whose probability reaches p */
    if (s->p.top_p > 0.0f && s->p.top_p < 1.0f) {
        double cum = 0;
        int keep = ncand;
        for (int i = 0; i < ncand; i++) {
            cum += s->probs[i] / sum;
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        ncand = keep;
        sum = 0;
        for (int i = 0; i < ncand; i++)
            sum += s->probs[i];
    }
    double u = sampler_uniform(s) * sum;
    double acc = 0;
    for (int i = 0; i < ncand; i++) {
        acc += s->probs[i];
        if (u < acc)
            return s->order[i];
    }
    return s->order[ncand - 1];
}
