/*
 * The sampling rule (sampler_choose) and its shared arithmetic (sampler_rule.h): the exponential
 * against libm, the 128-bit product, greedy ties and the penalty, top-k, top-p and temperature
 * frequencies, the random stream's use, and the CPU backend's sample op against sampler_sample.
 * Frequencies are checked within 0.02 of the exact probabilities over 20,000 draws (more than 4
 * standard deviations).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cpu.h"
#include "sampler.h"
#include "sampler_rule.h"
#include "testutil.h"
#include "xmalloc.h"

#define TOL_EXP 1e-13
#define TOL_FREQ 0.02
#define DRAWS 20000

static void
check_rule_arithmetic(void)
{
    double worst = 0, worst_x = 0;
    for (int i = 0; i <= 400000; i++) {
        double x = -40.0 * i / 400000.0;
        double rel = fabs(sampler_rule_exp(x) - exp(x)) / exp(x);
        if (rel > worst) {
            worst = rel;
            worst_x = x;
        }
    }
    CHECK(worst < TOL_EXP, "sampler_rule_exp within %g of exp on [-40, 0]: worst %g at %.9f",
          TOL_EXP, worst, worst_x);
    CHECK(sampler_rule_exp(0.0) == 1.0, "e^0 is exactly 1");
    CHECK(sampler_rule_exp(-40.5) == 0.0 && sampler_rule_exp(-INFINITY) == 0.0 &&
              sampler_rule_exp(NAN) == 0.0,
          "below -40, -inf and NaN weigh nothing");
    CHECK(sampler_rule_weight(3.5f, 3.5f, 0.7f) == 1ull << SAMPLER_RULE_WEIGHT_BITS,
          "the best candidate weighs 2^%d", SAMPLER_RULE_WEIGHT_BITS);
    CHECK(sampler_rule_weight(1.0f, 3.5f, 0.7f) < sampler_rule_weight(2.0f, 3.5f, 0.7f),
          "weights grow with the logit");

    uint64_t s = 99;
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t a = sampler_rule_next(&s), b = sampler_rule_next(&s) >> (i % 64);
#ifdef __SIZEOF_INT128__
        uint64_t want = (uint64_t)(((unsigned __int128)a * b) >> 64);
#else
        uint64_t want = sampler_rule_mulhi(a, b);
#endif
        bad += sampler_rule_mulhi(a, b) != want || sampler_rule_mulhi(a, b) >= (b ? b : 1);
    }
    CHECK(bad == 0, "sampler_rule_mulhi is the high half of the 128-bit product (%d wrong)", bad);

    /* splitmix64's published first outputs for seed 0 */
    s = 0;
    CHECK(sampler_rule_next(&s) == 0xe220a8397b1dcdafull &&
              sampler_rule_next(&s) == 0x6e789e6aa1b965f4ull,
          "splitmix64 stream from seed 0");
}

/* Draw DRAWS ids and count each of the first n. */
static void
count_draws(const sampler_params *p, const float *logits, int n, int *counts, uint64_t seed)
{
    uint64_t state = seed;
    float *work = xmalloc((size_t)n * sizeof(float));
    memset(counts, 0, (size_t)n * sizeof(int));
    for (int i = 0; i < DRAWS; i++) {
        memcpy(work, logits, (size_t)n * sizeof(float));
        int32_t id = sampler_choose(p, work, n, &state, NULL, 0);
        if (id >= 0 && id < n)
            counts[id]++;
    }
    free(work);
}

static int
near(int count, double p)
{
    return fabs((double)count / DRAWS - p) <= TOL_FREQ;
}

static void
check_rule(void)
{
    sampler_params p;
    sampler_params_init(&p);
    uint64_t state = 5;

    /* greedy: the first of equal maxima, -0 equal to +0; no random value used */
    float a[6] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, -1.0f};
    CHECK(sampler_choose(&p, a, 6, &state, NULL, 0) == 1 && state == 5,
          "greedy takes the lowest of tied ids and draws nothing");
    float z[3] = {-0.0f, 0.0f, -1.0f};
    CHECK(sampler_choose(&p, z, 3, &state, NULL, 0) == 0, "-0 and +0 tie in greedy");

    /* penalty: once per distinct id, dividing positive and multiplying negative logits */
    p.repeat_penalty = 2.0f;
    float b[4] = {4.0f, 3.0f, -1.0f, 2.5f};
    int32_t seen[5] = {0, 0, 2, 0, 77};
    int32_t id = sampler_choose(&p, b, 4, &state, seen, 5);
    CHECK(b[0] == 2.0f && b[2] == -2.0f && b[1] == 3.0f && b[3] == 2.5f && id == 1,
          "penalty applied once per distinct id (%g %g %g %g, id %d)", b[0], b[1], b[2], b[3], id);

    /* temperature, top-k and top-p frequencies */
    sampler_params_init(&p);
    p.temp = 1.0f;
    float two[2] = {0.0f, logf(3.0f)};
    int counts[8];
    count_draws(&p, two, 2, counts, 11);
    CHECK(near(counts[1], 0.75) && near(counts[0], 0.25),
          "temperature 1 over e^0, e^ln3: %d and %d of %d", counts[0], counts[1], DRAWS);
    p.temp = 2.0f;
    count_draws(&p, two, 2, counts, 12);
    double q = sqrt(3.0) / (1 + sqrt(3.0));
    CHECK(near(counts[1], q), "temperature 2 flattens: %d of %d, expected %.3f", counts[1], DRAWS,
          q);

    /* probabilities 0.5, 0.3, 0.2 (and a fourth of 0) */
    float three[4] = {logf(0.5f), logf(0.3f), logf(0.2f), -1000.0f};
    p.temp = 1.0f;
    p.top_k = 2;
    count_draws(&p, three, 4, counts, 13);
    CHECK(counts[2] == 0 && counts[3] == 0 && near(counts[0], 0.625),
          "top-k 2 keeps the best two: %d %d %d", counts[0], counts[1], counts[2]);
    p.top_k = 0;
    p.top_p = 0.7f;
    count_draws(&p, three, 4, counts, 14);
    CHECK(counts[2] == 0 && near(counts[0], 0.625), "top-p 0.7 keeps 0.5 + 0.3: %d %d %d",
          counts[0], counts[1], counts[2]);
    p.top_p = 0.9f;
    count_draws(&p, three, 4, counts, 15);
    CHECK(near(counts[2], 0.2) && counts[3] == 0, "top-p 0.9 keeps all three: %d %d %d", counts[0],
          counts[1], counts[2]);
    p.top_p = 1e-6f;
    count_draws(&p, three, 4, counts, 16);
    CHECK(counts[0] == DRAWS, "a tiny top-p is greedy: %d of %d", counts[0], DRAWS);
    p.top_p = 1.0f;
    p.top_k = 1;
    count_draws(&p, three, 4, counts, 17);
    CHECK(counts[0] == DRAWS, "top-k 1 is greedy");

    /* ties among candidates are ordered by id: with top-k 2 of three equal, ids 0 and 1 remain */
    float eq[3] = {1.0f, 1.0f, 1.0f};
    p.top_k = 2;
    count_draws(&p, eq, 3, counts, 18);
    CHECK(counts[2] == 0 && near(counts[0], 0.5), "equal logits: the lower ids are the best");

    /* one splitmix64 value per draw, from the same stream for the same seed */
    uint64_t s1 = 42, s2 = 42;
    sampler_rule_next(&s2);
    float w[4];
    memcpy(w, three, sizeof w);
    sampler_choose(&p, w, 4, &s1, NULL, 0);
    CHECK(s1 == s2, "a temperature draw takes exactly one value of the stream");
}

static void
check_cpu_op(void)
{
    backend *be = backend_cpu_new(1);
    int n = 51200;
    float *logits = xmalloc((size_t)n * sizeof(float)), *copy = xmalloc((size_t)n * sizeof(float));
    uint64_t r = 3;
    for (int i = 0; i < n; i++)
        logits[i] = (float)((double)(sampler_rule_next(&r) >> 11) / 9007199254740992.0 * 8 - 4);
    int32_t seen[6] = {5, 17, 5, 40000, 123, 51199};
    sampler_params p;
    sampler_params_init(&p);
    p.temp = 0.8f;
    p.top_k = 50;
    p.top_p = 0.9f;
    p.repeat_penalty = 1.3f;
    p.seed = 9;
    p.seed_set = 1;
    sampler *s = sampler_new(&p);
    uint64_t state = 9;
    int same = 1;
    for (int step = 0; step < 20; step++) {
        memcpy(copy, logits, (size_t)n * sizeof(float));
        int32_t want = sampler_sample(s, copy, n, seen, 6);
        int32_t got = be->ops->sample(be, logits, n, &p, &state, seen, 6);
        same &= got == want && state == *sampler_rng_borrow(s);
    }
    memcpy(copy, logits, (size_t)n * sizeof(float));
    CHECK(same, "the CPU sample op gives sampler_sample's ids and stream");
    be->ops->sample(be, logits, n, &p, &state, seen, 6);
    CHECK(memcmp(copy, logits, (size_t)n * sizeof(float)) == 0, "the sample op leaves the logits");
    sampler_free(s);
    free(logits);
    free(copy);
    backend_free(be);
}

int
main(void)
{
    check_rule_arithmetic();
    check_rule();
    check_cpu_op();
    return testutil_finish("test_sampler");
}
