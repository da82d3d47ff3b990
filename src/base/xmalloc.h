/* Allocation that never returns NULL: out of memory is fatal. */
#ifndef IMP_XMALLOC_H
#define IMP_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Allocate size bytes or exit with a message. */
void *xmalloc(size_t size);
/* Allocate n zeroed elements of size bytes or exit. */
void *xcalloc(size_t n, size_t size);
/* Resize or exit. */
void *xrealloc(void *ptr, size_t size);
/* Resize an array of n elements of size bytes, checking the product for overflow. */
void *xreallocarray(void *ptr, size_t n, size_t size);
/* Duplicate a string or exit. */
char *xstrdup(const char *s);
/* Duplicate at most n bytes of a string or exit. */
char *xstrndup(const char *s, size_t n);
/* Format into a new string or exit. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Format into a new string from a va_list or exit. */
char *xvasprintf(const char *fmt, va_list ap);
/* Allocate size bytes aligned to 64 bytes (for SIMD loads) or exit. */
void *xmalloc_aligned(size_t size);

#endif
