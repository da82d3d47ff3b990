/*
 * Feeds files through the fuzz targets in the normal build: fuzzreplay TARGET FILE... runs each
 * file through TARGET's entry point (tests/fuzz/fuzz_TARGET.c), as the fuzzer would, so make check
 * replays the seed corpora and every input that once crashed or hung.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzztarget.h"
#include "xmalloc.h"

#define X(name) int fuzz_target_##name(const uint8_t *data, size_t size);
#define FUZZREPLAY_TARGETS                                                                         \
    X(image) X(safetensors) X(shardindex) X(config) X(tokfiles) X(tokenize) X(session) X(command)  \
    X(text)
FUZZREPLAY_TARGETS
#undef X

typedef struct {
    const char *name;
    int (*run)(const uint8_t *data, size_t size);
} fuzzreplay_target;

static const fuzzreplay_target fuzzreplay_targets[] = {
#define X(name) {#name, fuzz_target_##name},
    FUZZREPLAY_TARGETS
#undef X
};

/* Read a whole regular file; NULL with a message naming it. */
static uint8_t *
fuzzreplay_read(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    if (fp == NULL || fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "fuzzreplay: %s: %s\n", path, fp == NULL ? strerror(errno) : "not a regular file");
        if (fp != NULL)
            fclose(fp);
        return NULL;
    }
    uint8_t *buf = xmalloc((size_t)st.st_size + 1);
    *len = fread(buf, 1, (size_t)st.st_size, fp);
    int bad = ferror(fp) || *len != (size_t)st.st_size;
    fclose(fp);
    if (bad) {
        fprintf(stderr, "fuzzreplay: %s: short read\n", path);
        free(buf);
        return NULL;
    }
    return buf;
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fuzzreplay TARGET FILE...\n");
        return 2;
    }
    const fuzzreplay_target *t = NULL;
    for (size_t i = 0; i < sizeof fuzzreplay_targets / sizeof fuzzreplay_targets[0]; i++)
        if (strcmp(argv[1], fuzzreplay_targets[i].name) == 0)
            t = &fuzzreplay_targets[i];
    if (t == NULL) {
        fprintf(stderr, "fuzzreplay: unknown target \"%s\"\n", argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        size_t len = 0;
        uint8_t *data = fuzzreplay_read(argv[i], &len);
        if (data == NULL)
            return 1;
        t->run(data, len);
        free(data);
    }
    printf("fuzzreplay: %s: %d inputs\n", t->name, argc - 2);
    return 0;
}
