#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static int testutil_checks;
static int testutil_failures;

int
testutil_check(int cond, const char *file, int line, const char *fmt, ...)
{
    testutil_checks++;
    if (!cond) {
        va_list ap;
        testutil_failures++;
        fprintf(stderr, "FAIL: %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    return cond;
}

int
testutil_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, testutil_checks, testutil_failures);
    return testutil_failures == 0 ? 0 : 1;
}

const char *
testutil_fixtures(void)
{
    const char *dir = getenv("FIXTURES");
    return dir != NULL && *dir != '\0' ? dir : "tests/fixtures";
}

const char *
testutil_fixture_path(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", testutil_fixtures(), rel);
    return buf;
}

const char *
testutil_tmpdir(const char *name)
{
    static char buf[4096];
    const char *root = getenv("TMPROOT");
    char cmd[8300];
    if (root == NULL || *root == '\0')
        root = "/tmp/imp-chat-tests";
    snprintf(buf, sizeof buf, "%s/%s.%ld", root, name, (long)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot create %s\n", buf);
        exit(99);
    }
    return buf;
}

char *
testutil_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

int
testutil_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

double
testutil_rel_error(const float *got, const float *want, size_t n)
{
    double maxdiff = 0, maxref = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            return INFINITY;
        double d = fabs((double)got[i] - want[i]);
        if (d > maxdiff)
            maxdiff = d;
        if (fabs(want[i]) > maxref)
            maxref = fabs(want[i]);
    }
    return maxref > 0 ? maxdiff / maxref : maxdiff;
}

int
testutil_close(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double err = testutil_rel_error(got, want, n);
    int ok = err <= tol;
    testutil_checks++;
    if (ok)
        return 1;
    testutil_failures++;
    double maxref = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > maxref)
            maxref = fabs(want[i]);
    fprintf(stderr, "FAIL: %s: relative error %.3g > tolerance %.3g; first differing values:\n",
            what, err, tol);
    int shown = 0;
    for (size_t i = 0; i < n && shown < 5; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!isfinite(got[i]) || (maxref > 0 ? d / maxref : d) > tol) {
            fprintf(stderr, "  [%zu] got %.9g want %.9g\n", i, got[i], want[i]);
            shown++;
        }
    }
    return 0;
}

uint32_t
testutil_random(void)
{
    static uint64_t state = 0x9E3779B97F4A7C15ULL;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 32);
}

float
testutil_random_float(void)
{
    uint64_t r = (uint64_t)testutil_random() << 21 ^ testutil_random();
    return (float)((double)(r & ((1ULL << 53) - 1)) / 9007199254740992.0 * 2 - 1);
}

float *
testutil_random_vec(size_t n, float scale)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    if (v == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        v[i] = testutil_random_float() * scale;
    return v;
}

float *
testutil_read_expected(const char *name, size_t n)
{
    char rel[256];
    size_t len;
    snprintf(rel, sizeof rel, "expected/%s", name);
    char *data = testutil_read_file(testutil_fixture_path(rel), &len);
    if (data == NULL || len != n * sizeof(float)) {
        CHECK(0, "%s: missing or not %zu floats", rel, n);
        free(data);
        return NULL;
    }
    return (float *)data;
}

int
testutil_close_expected(const char *what, const float *got, const char *name, size_t n, double tol)
{
    float *want = testutil_read_expected(name, n);
    int ok = want != NULL && testutil_close(what, got, want, n, tol);
    free(want);
    return ok;
}

engine *
testutil_engine_new(const char *model_dir, backend_choice choice, int context)
{
    return testutil_engine_new_weights(model_dir, choice, context, QUANT_F16);
}

engine *
testutil_engine_new_weights(const char *model_dir, backend_choice choice, int context,
                            quant_mode mode)
{
    engine_options eo = {.model_dir = model_dir, .backend = choice, .context = context,
                         .weights = mode};
    char *cause = NULL, *note = NULL;
    engine *e = engine_new(&eo, &note, &cause);
    if (e == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", model_dir, cause);
        exit(99);
    }
    free(note);
    return e;
}

int
testutil_collect_ids(void *ctx, int32_t id, const char *text, size_t len)
{
    testutil_ids *c = ctx;
    if (id >= 0 && c->n < (int)(sizeof c->ids / sizeof c->ids[0]))
        c->ids[c->n++] = id;
    return c->stop_after > 0 && c->n >= c->stop_after;
}
