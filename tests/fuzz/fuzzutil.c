/* Scratch files and fixtures for the fuzz targets (fuzztarget.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzztarget.h"
#include "log.h"
#include "xmalloc.h"

#ifndef FUZZ_FIXTURES
#define FUZZ_FIXTURES "tests/fixtures"
#endif

static char fuzzutil_dir[64];

static void
fuzzutil_cleanup(void)
{
    static const char *const names[] = {"config.json", "model.safetensors", "model.safetensors.index.json",
                                        "shard.safetensors", "vocab.json", "merges.txt",
                                        "added_tokens.json", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        fuzzutil_remove(names[i]);
    rmdir(fuzzutil_dir);
}

const char *
fuzzutil_scratch_dir(void)
{
    if (fuzzutil_dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzzutil_dir, sizeof fuzzutil_dir, "%s/imp-fuzz-XXXXXX",
                 tmp != NULL && *tmp != '\0' && strlen(tmp) < 40 ? tmp : "/tmp");
        if (mkdtemp(fuzzutil_dir) == NULL) {
            fprintf(stderr, "fuzz: cannot make a scratch folder %s: %s\n", fuzzutil_dir, strerror(errno));
            abort();
        }
        atexit(fuzzutil_cleanup);
    }
    return fuzzutil_dir;
}

void
fuzzutil_write(const char *name, const void *data, size_t len)
{
    char *path = xasprintf("%s/%s", fuzzutil_scratch_dir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const char *p = data;
    while (fd >= 0 && len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            break;
        p += w;
        len -= (size_t)w;
    }
    if (fd < 0 || len > 0 || close(fd) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
    free(path);
}

void
fuzzutil_remove(const char *name)
{
    if (fuzzutil_dir[0] == '\0')
        return;
    char *path = xasprintf("%s/%s", fuzzutil_dir, name);
    unlink(path);
    free(path);
}

const char *
fuzzutil_fixtures_dir(void)
{
    const char *env = getenv("FIXTURES");
    return env != NULL && *env != '\0' ? env : FUZZ_FIXTURES;
}

char *
fuzzutil_strndup(const uint8_t *data, size_t size)
{
    char *s = xmalloc(size + 1);
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

void
fuzzutil_quiet(void)
{
    log_set_quiet(1);
}
