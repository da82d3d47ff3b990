/*
 * Which SIMD kernels the CPU backend may use, decided at run time: what the CPU and the operating
 * system support, capped by $IMP_CPU_KERNELS (portable, avx2, avx512) and by tests.
 */
#ifndef IMP_CPUFEAT_H
#define IMP_CPUFEAT_H

/* Kernel levels, each including the ones before it. */
typedef enum {
    CPUFEAT_PORTABLE, /* plain C */
    CPUFEAT_AVX2,     /* AVX2, FMA and F16C */
    CPUFEAT_AVX512,   /* AVX-512 F, BW, VL and VNNI (integer dot products) */
} cpufeat_level;

/* The best level this CPU and OS support (cpuid and the saved register state). */
cpufeat_level cpufeat_supported(void);
/* The level in use: supported, capped by $IMP_CPU_KERNELS and by cpufeat_cap. */
cpufeat_level cpufeat_level_get(void);
/* Cap the level in use (tests compare the kernels of each level); CPUFEAT_AVX512 lifts the cap. */
void cpufeat_cap(cpufeat_level max);
/* Name of a level as $IMP_CPU_KERNELS spells it. */
const char *cpufeat_name(cpufeat_level level);
/* Parse a level name; -1 when unknown. */
int cpufeat_parse(const char *s, cpufeat_level *level);

#endif
