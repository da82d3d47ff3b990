#include "config.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CPUFEAT_X86 1
#endif

#include "cpufeat.h"
#include "log.h"

static int cpufeat_found = -1; /* cpufeat_level, -1 until detected */
static int cpufeat_env = -1;   /* cap from $IMP_CPU_KERNELS, -1 until read */
static cpufeat_level cpufeat_test_cap = CPUFEAT_AVX512;
/* the level in use, -1 until worked out: kernels ask for it in their inner loops */
static int cpufeat_current = -1;

static const char *const cpufeat_names[] = {"portable", "avx2", "avx512"};

#ifdef CPUFEAT_X86
/* The register state the OS saves on a context switch (XCR0). */
static unsigned long long
cpufeat_xcr0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

/* What the hardware offers and the OS enables; no caps. */
static cpufeat_level
cpufeat_probe(void)
{
#ifdef CPUFEAT_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return CPUFEAT_PORTABLE;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx || !fma || !f16c)
        return CPUFEAT_PORTABLE;
    unsigned long long xcr0 = cpufeat_xcr0();
    if ((xcr0 & 0x6) != 0x6) /* SSE and AVX registers */
        return CPUFEAT_PORTABLE;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((b >> 5) & 1))
        return CPUFEAT_PORTABLE;
    int avx512 = ((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1) && ((c >> 11) & 1);
    /* opmask and the full ZMM registers */
    if (avx512 && (xcr0 & 0xe6) == 0xe6)
        return CPUFEAT_AVX512;
    return CPUFEAT_AVX2;
#else
    return CPUFEAT_PORTABLE;
#endif
}

cpufeat_level
cpufeat_supported(void)
{
    if (cpufeat_found < 0)
        cpufeat_found = cpufeat_probe();
    return (cpufeat_level)cpufeat_found;
}

int
cpufeat_parse(const char *s, cpufeat_level *level)
{
    for (int i = 0; i <= CPUFEAT_AVX512; i++)
        if (strcmp(s, cpufeat_names[i]) == 0) {
            *level = (cpufeat_level)i;
            return 0;
        }
    return -1;
}

cpufeat_level
cpufeat_level_get(void)
{
    if (cpufeat_current >= 0)
        return (cpufeat_level)cpufeat_current;
    if (cpufeat_env < 0) {
        const char *s = getenv("IMP_CPU_KERNELS");
        cpufeat_level cap = CPUFEAT_AVX512;
        if (s != NULL && *s != '\0' && cpufeat_parse(s, &cap) != 0)
            log_error(
                "IMP_CPU_KERNELS: unknown value (expected portable, avx2 or avx512); ignored");
        cpufeat_env = (int)cap;
    }
    int level = (int)cpufeat_supported();
    if (level > cpufeat_env)
        level = cpufeat_env;
    if (level > (int)cpufeat_test_cap)
        level = (int)cpufeat_test_cap;
    cpufeat_current = level;
    return (cpufeat_level)level;
}

void
cpufeat_cap(cpufeat_level max)
{
    cpufeat_test_cap = max;
    cpufeat_current = -1;
}

const char *
cpufeat_name(cpufeat_level level)
{
    return cpufeat_names[level];
}
