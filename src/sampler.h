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
    int seed_set;         /* 0: seed from the clock at creation */
} sampler_params;

typedef struct sampler sampler;

/* Fill p with the defaults (greedy, no penalty). */
void sampler_params_init(sampler_params *p);
/* Create a sampler; the random stream starts from p->seed. */
sampler *sampler_new(const sampler_params *p);
/* Free a sampler. */
void sampler_free(sampler *s);
/* Change the parameters; a changed seed restarts the random stream. */
void sampler_set_params(sampler *s, const sampler_params *p);
/* Borrow the current parameters. */
const sampler_params *sampler_params_borrow(const sampler *s);
/*
 * Pick the next id from logits (n values, modified in place by the penalty and temperature);
 * seen holds the ids that the repetition penalty applies to.
 */
int32_t sampler_sample(sampler *s, float *logits, int n, const int32_t *seen, size_t nseen);
/* Index of the largest value, the lowest index among equal maxima (torch.argmax). */
int32_t sampler_argmax(const float *logits, int n);

#endif
