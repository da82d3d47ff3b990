/* Small helpers shared by the C test programs. */
#ifndef IMP_TESTUTIL_H
#define IMP_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* Exit status automake reads as "skipped". */
#define TEST_SKIP 77

/* Count one check; on failure print "FAIL: file:line: message" and remember it. */
#define CHECK(cond, ...) testutil_check((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)

/* Record a check result; prints the formatted message on failure. Returns cond. */
int testutil_check(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A deterministic 32-bit random number (xorshift64 from a fixed seed), so failures reproduce. */
uint32_t testutil_random(void);
/* A deterministic float in [-1, 1) from the same generator. */
float testutil_random_float(void);
/* n deterministic floats in [-scale, scale) (new array, at least one element). */
float *testutil_random_vec(size_t n, float scale);
/* The n floats of fixtures/expected/NAME (new array), or NULL after a failed check saying why. */
float *testutil_read_expected(const char *name, size_t n);
/* testutil_close of got against fixtures/expected/NAME (n floats); 0 when missing or not close. */
int testutil_close_expected(const char *what, const float *got, const char *name, size_t n,
                            double tol);
/* Load model_dir on backend with context positions (0: the model's); exits 99 when it cannot. */
engine *testutil_engine_new(const char *model_dir, backend_choice choice, int context);
/* The same with the weights in a given mode (testutil_engine_new: f16). */
engine *testutil_engine_new_weights(const char *model_dir, backend_choice choice, int context,
                                    quant_mode mode);
/* The ids of a reply as engine_send streams them (text ignored). */
typedef struct {
    int32_t ids[4096];
    int n;
    int stop_after; /* ask to stop after this many ids (0: never) */
} testutil_ids;
/* An engine token callback that appends to the testutil_ids at ctx. */
int testutil_collect_ids(void *ctx, int32_t id, const char *text, size_t len);
/* Print the summary and return the exit status for main (0 when every check passed). */
int testutil_finish(const char *name);
/* The fixtures folder: $FIXTURES, else tests/fixtures relative to the working directory. */
const char *testutil_fixtures(void);
/* Path under the fixtures folder (static buffer, valid until the next call). */
const char *testutil_fixture_path(const char *rel);
/* A fresh empty scratch folder for this test (under $TMPROOT or /tmp). Static string. */
const char *testutil_tmpdir(const char *name);
/* Read a whole file into a new buffer (NUL-terminated); NULL when unreadable. */
char *testutil_read_file(const char *path, size_t *len);
/* Write a whole buffer to a file; 0 or -1. */
int testutil_write_file(const char *path, const void *data, size_t len);
/*
 * Compare got with want (n floats) by relative error max|got-want| / max|want|; NaN/Inf in got
 * always fail. On failure prints the error and the first differing values. Returns 1 when within tol.
 */
int testutil_close(const char *what, const float *got, const float *want, size_t n, double tol);
/* The relative error max|got-want| / max|want| (infinity when got holds NaN/Inf). */
double testutil_rel_error(const float *got, const float *want, size_t n);

#endif
