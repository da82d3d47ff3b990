/*
 * One fuzz target per file: FUZZ_TARGET(name, data, size) { ... } is libFuzzer's entry point in
 * the fuzzing build (-DFUZZ_LIBFUZZER) and a named function that tests/fuzzreplay.c calls in the
 * normal build, so make check feeds the seeds and the regression inputs through every target.
 */
#ifndef IMP_FUZZTARGET_H
#define IMP_FUZZTARGET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef FUZZ_LIBFUZZER
#define FUZZ_TARGET(name, data, size)                                                              \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name, data, size)                                                              \
    int fuzz_target_##name(const uint8_t *data, size_t size);                                      \
    int fuzz_target_##name(const uint8_t *data, size_t size)
#endif

/* A property every input must keep; a broken one aborts, so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/*
 * A private scratch folder for targets whose parsers read files (made once, removed at exit).
 * Borrowed string.
 */
const char *fuzzutil_scratch_dir(void);
/* Write len bytes to DIR/name in the scratch folder (replacing it); aborts when it cannot. */
void fuzzutil_write(const char *name, const void *data, size_t len);
/* Remove DIR/name from the scratch folder if it is there. */
void fuzzutil_remove(const char *name);
/* The test fixtures folder: $FIXTURES, else the source tree's tests/fixtures. Borrowed string. */
const char *fuzzutil_fixtures_dir(void);
/* The bytes as a new NUL-terminated string (NULs inside are kept). */
char *fuzzutil_strndup(const uint8_t *data, size_t size);
/* Quiet the project's log for the rest of the run (bad inputs are the point). */
void fuzzutil_quiet(void);

#endif
