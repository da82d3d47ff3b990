/* Choosing the next token from the logits: greedy, or temperature with top-k, top-p and a seed. */
#ifndef IMP_SAMPLER_H
#define IMP_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float temp;           /* 0: greedy (the default) */
    int top_k;            /* 0: off */
    float top_p;          /* 1: off */
    float repeat_penalty; /* 1: off; applied to every id seen in the conversation */
    uint64_t seed;
    int seed_set;         /* the seed was given (else it comes from the clock at creation) */
} sampler_params;

typedef struct sampler sampler;

/* Fill p with the defaults (greedy, no penalty). */
void sampler_params_init(sampler_params *p);
/* Create a sampler; the random stream starts from p->seed. */
sampler *sampler_new(const sampler_params *p);
/* Free a sampler. */
void sampler_free(sampler *s);
/*
 * Change the parameters; the random stream goes on unless p gives a seed other than the one in use
 * (changing the temperature must not replay the same draws).
 */
void sampler_set_params(sampler *s, const sampler_params *p);
/* Restart the random stream from seed, which becomes the given seed. */
void sampler_reseed(sampler *s, uint64_t seed);
/* Borrow the current parameters. */
const sampler_params *sampler_params_borrow(const sampler *s);
/*
 * Pick the next id from logits (n values, modified in place by the penalty); seen holds the ids
 * that the repetition penalty applies to. The rule is sampler_choose's.
 */
int32_t sampler_sample(sampler *s, float *logits, int n, const int32_t *seen, size_t nseen);
/* Borrow the random stream's state (a backend's sample op advances it). */
uint64_t *sampler_rng_borrow(sampler *s);
/* Index of the largest value, the lowest index among equal maxima (torch.argmax). */
int32_t sampler_argmax(const float *logits, int n);
/*
 * The sampling rule every backend follows, so the same logits and seed give the same id:
 * 1. the repetition penalty on every distinct id of seen (positive logits divided, negative
 *    multiplied);
 * 2. temp <= 0: the argmax;
 * 3. else the candidates ordered by logit (highest first, ties by lower id), the best top_k;
 * 4. each weighs floor(2^46 e^((logit - best) / temp)) (sampler_rule.h), summed in integers;
 * 5. top_p in (0, 1) keeps the shortest prefix whose running sum reaches top_p of the whole;
 * 6. one splitmix64 value r from *state draws u = r * kept_sum / 2^64; the first candidate whose
 *    running sum exceeds u is chosen.
 * logits (n values, n <= 2^17, finite) is modified by the penalty.
 */
int32_t sampler_choose(const sampler_params *p, float *logits, int n, uint64_t *state,
                       const int32_t *seen, size_t nseen);

#endif
