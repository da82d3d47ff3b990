#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpumsg.h"
#include "log.h"
#include "safetext.h"
#include "xmalloc.h"

/* The next number of an architecture list at *s (advanced past it); -1 at the end. */
static int
gpumsg_next_arch(const char **s)
{
    const char *p = *s;
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9') {
        *s = p;
        return -1;
    }
    int n = 0;
    while (*p >= '0' && *p <= '9' && n < 10000)
        n = n * 10 + (*p++ - '0');
    while (*p != '\0' && *p != ' ')
        p++; /* a suffix such as "90a" is not ours to judge */
    *s = p;
    return n;
}

static int
gpumsg_is_native(const char *sass)
{
    return strcmp(sass, "native") == 0;
}

char *
gpumsg_archs_text(const char *sass, const char *ptx)
{
    if (gpumsg_is_native(sass))
        return xstrdup("native (the build machine's GPU)");
    size_t cap = strlen(sass) * 2 + strlen(ptx) + 32;
    char *out = xmalloc(cap);
    size_t len = 0;
    out[0] = '\0';
    const char *p = sass;
    int a;
    while ((a = gpumsg_next_arch(&p)) >= 0)
        len += (size_t)snprintf(out + len, cap - len, "%ssm_%d", len > 0 ? " " : "", a);
    if (*ptx != '\0')
        snprintf(out + len, cap - len, "%s+ PTX compute_%s", len > 0 ? " " : "", ptx);
    return out;
}

int
gpumsg_covers(const char *sass, const char *ptx, int major, int minor)
{
    if (gpumsg_is_native(sass))
        return 1;
    int card = major * 10 + minor;
    const char *p = sass;
    int a;
    /* machine code runs on later minor versions of the same major only */
    while ((a = gpumsg_next_arch(&p)) >= 0)
        if (a / 10 == major && a % 10 <= minor)
            return 1;
    /* PTX is compiled by the driver for any later card */
    p = ptx;
    while ((a = gpumsg_next_arch(&p)) >= 0)
        if (a <= card)
            return 1;
    return 0;
}

char *
gpumsg_uncovered(const char *card, int major, int minor, const char *sass, const char *ptx)
{
    char *name = safetext_new(card, strlen(card), 0);
    char *archs = gpumsg_archs_text(sass, ptx);
    if (gpumsg_is_native(sass)) {
        /* built for another machine's GPU: name this card's number instead */
        char *msg = xasprintf("this build has no kernels for %s (sm_%d%d, compute capability "
                              "%d.%d); it was built for %s: rebuild with ./configure "
                              "--with-cuda-arch=\"%d%d\" (or native on this machine)",
                              name, major, minor, major, minor, archs, major, minor);
        free(archs);
        free(name);
        return msg;
    }
    char *msg = xasprintf("this build has no kernels for %s (sm_%d%d, compute capability %d.%d); "
                          "it was built for %s: rebuild with ./configure --with-cuda-arch=\"%s%s%d%d\"",
                          name, major, minor, major, minor, archs, sass, *sass != '\0' ? " " : "",
                          major, minor);
    free(archs);
    free(name);
    return msg;
}

char *
gpumsg_failure(const char *op, const char *sizes, const char *card, const char *error,
               const char *hint)
{
    char *name = safetext_new(card, strlen(card), 0);
    int sized = sizes != NULL && *sizes != '\0';
    int hinted = hint != NULL && *hint != '\0';
    char *msg = xasprintf("CUDA error in %s%s%s%s on %s: %s%s%s", op, sized ? " (" : "",
                          sized ? sizes : "", sized ? ")" : "", name, error, hinted ? "; " : "",
                          hinted ? hint : "");
    free(name);
    return msg;
}

int
gpumsg_parse_fail(const char *s, gpumsg_fail *fail, long *from_token, char **cause)
{
    static const struct {
        const char *name;
        gpumsg_fail fail;
    } names[] = {
        {"alloc", GPUMSG_FAIL_ALLOC},
        {"cublas", GPUMSG_FAIL_CUBLAS},
        {"kernel", GPUMSG_FAIL_KERNEL},
    };
    *fail = GPUMSG_FAIL_NONE;
    *from_token = 0;
    if (s == NULL || *s == '\0')
        return 0;
    const char *at = strchr(s, '@');
    size_t kind_len = at != NULL ? (size_t)(at - s) : strlen(s);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) != kind_len || strncmp(s, names[i].name, kind_len) != 0)
            continue;
        if (at != NULL) {
            char *end;
            errno = 0;
            long n = strtol(at + 1, &end, 10);
            if (errno != 0 || end == at + 1 || *end != '\0' || n < 1)
                break;
            *from_token = n;
        }
        *fail = names[i].fail;
        return 0;
    }
    char *shown = safetext_new(s, strlen(s), 0);
    log_cause(cause,
              "IMP_CHAT_CUDA_FAIL=%s: expected alloc, cublas or kernel, each optionally "
              "followed by @N (from the Nth token sampled on)",
              shown);
    free(shown);
    return -1;
}
