/*
 * The arithmetic of the sampling rule (sampler_choose in sampler.h), shared by the host and the
 * CUDA kernels so that both pick the same id from the same logits and seed. Only operations that
 * IEEE 754 rounds exactly the same everywhere are used: +, -, *, / on their own, fma(), rint(),
 * ldexp() and conversions. Every product that feeds a sum is written as fma(), so no compiler can
 * contract it differently on one side.
 */
#ifndef IMP_SAMPLER_RULE_H
#define IMP_SAMPLER_RULE_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define SAMPLER_RULE_FN static inline __host__ __device__
#else
#define SAMPLER_RULE_FN static inline
#endif

/* Candidate weights are integers of this many fraction bits, so sums are exact in any order. */
#define SAMPLER_RULE_WEIGHT_BITS 46
/* Most candidates a draw may have: n << WEIGHT_BITS stays below 2^63. */
#define SAMPLER_RULE_MAX_N (1 << 17)

/* The next value of the splitmix64 stream in *state (the same stream on every platform). */
SAMPLER_RULE_FN uint64_t
sampler_rule_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * e^x for x <= 0, relative error below 1e-14; 0 below -40 (and for NaN), where the weight would
 * round to 0 anyway. libm's and CUDA's exp differ in the last bit, so both sides use this one.
 */
SAMPLER_RULE_FN double
sampler_rule_exp(double x)
{
    if (!(x >= -40.0))
        return 0.0;
    /* x = k ln2 + r with |r| <= ln2/2, ln2 split in two so k ln2 is exact to 2^-100 */
    double k = rint(x * 1.4426950408889634);
    double r = fma(-k, 6.93147180369123816490e-01, x);
    r = fma(-k, 1.90821492927058770002e-10, r);
    /* Taylor series to r^12/12!: the first omitted term is below 2e-16 for |r| <= 0.35 */
    double p = 1.0 / 479001600.0;
    p = fma(p, r, 1.0 / 39916800.0);
    p = fma(p, r, 1.0 / 3628800.0);
    p = fma(p, r, 1.0 / 362880.0);
    p = fma(p, r, 1.0 / 40320.0);
    p = fma(p, r, 1.0 / 5040.0);
    p = fma(p, r, 1.0 / 720.0);
    p = fma(p, r, 1.0 / 120.0);
    p = fma(p, r, 1.0 / 24.0);
    p = fma(p, r, 1.0 / 6.0);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    return ldexp(p, (int)k);
}

/*
 * The integer weight of a candidate: floor(2^WEIGHT_BITS * e^((logit - max) / temp)), with max the
 * largest candidate logit and temp > 0. The best candidate weighs exactly 2^WEIGHT_BITS.
 */
SAMPLER_RULE_FN uint64_t
sampler_rule_weight(float logit, float max, float temp)
{
    double x = ((double)logit - (double)max) / (double)temp;
    return (uint64_t)(sampler_rule_exp(x) * (double)(1ull << SAMPLER_RULE_WEIGHT_BITS));
}

/* The high 64 bits of a * b: a uniform draw in [0, b) from a random a. */
SAMPLER_RULE_FN uint64_t
sampler_rule_mulhi(uint64_t a, uint64_t b)
{
    uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
    uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
    uint64_t lo_lo = a_lo * b_lo;
    uint64_t hi_lo = a_hi * b_lo;
    uint64_t lo_hi = a_lo * b_hi;
    uint64_t mid = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + (lo_hi & 0xffffffffu);
    return a_hi * b_hi + (hi_lo >> 32) + (lo_hi >> 32) + (mid >> 32);
}

/* Whether top_p cuts the candidates: the prefix ending at cum (of total) reaches top_p. */
SAMPLER_RULE_FN int
sampler_rule_reaches(uint64_t cum, uint64_t total, float top_p)
{
    return (double)cum >= (double)top_p * (double)total;
}

#endif
