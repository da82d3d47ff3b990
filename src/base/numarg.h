/* Strict parsing of numbers given as option values: the whole text, within a range. */
#ifndef IMP_NUMARG_H
#define IMP_NUMARG_H

/* s as a finite number in [lo, hi] into *out; -1 with *cause naming the option otherwise. */
int numarg_number(const char *name, const char *s, double lo, double hi, double *out, char **cause);
/* s as an integer in [lo, hi] into *out; -1 with *cause naming the option otherwise. */
int numarg_integer(const char *name, const char *s, long long lo, long long hi, long long *out,
                   char **cause);

#endif
