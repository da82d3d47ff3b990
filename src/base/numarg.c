#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "log.h"
#include "numarg.h"

int
numarg_number(const char *name, const char *s, double lo, double hi, double *out, char **cause)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return log_cause(cause, "%s: invalid value \"%s\" (expected a number from %g to %g)", name,
                         s, lo, hi);
    *out = v;
    return 0;
}

int
numarg_integer(const char *name, const char *s, long long lo, long long hi, long long *out,
               char **cause)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return log_cause(cause, "%s: invalid value \"%s\" (expected an integer from %lld to %lld)",
                         name, s, lo, hi);
    *out = v;
    return 0;
}
