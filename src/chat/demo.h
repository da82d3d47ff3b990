/* The demo model's words: its weights are random, so what it may say is limited to these. */
#ifndef IMP_DEMO_H
#define IMP_DEMO_H

#include <stddef.h>

/* The plain words the demo model draws its replies from (*n of them; static). */
const char *const *demo_words(size_t *n);

#endif
