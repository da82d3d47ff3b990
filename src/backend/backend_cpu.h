/*
 * The CPU backend: the reference implementation of every op, fp32 arithmetic from fp16 weights,
 * integer block products for q8 and q4 weights (qdot.h), the KV cache in fp16.
 */
#ifndef IMP_BACKEND_CPU_H
#define IMP_BACKEND_CPU_H

#include "backend.h"

/* Create the CPU backend with threads threads (<= 0: all cores). */
backend *backend_cpu_new(int threads);
/* Whether the SIMD kernels (AVX2, FMA, F16C, or more: cpufeat.h) are in use. */
int backend_cpu_has_simd(void);
/* dst (n) = the fp16 values of src as floats. */
void backend_cpu_f16_to_f32(float *dst, const uint16_t *src, size_t n);
/* s[i] <- exp(s[i] - max) for n scores, all at most max; returns their sum (softmaxes). */
float backend_cpu_exp_shifted(float *s, int n, float max);
/* Force the portable kernels (for tests comparing both paths); 0 lifts it (cpufeat_cap). */
void backend_cpu_force_portable(int portable);

#endif
