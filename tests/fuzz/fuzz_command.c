/*
 * Lines as typed in the chat or read by --script: each line of the input through cmdtable_parse,
 * then the argument parsers the commands use (the /set NAME VALUE parser, paths with quotes,
 * escapes and ~ for the commands that take a path).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cmdtable.h"
#include "fuzztarget.h"
#include "pathcomplete.h"
#include "sampler.h"
#include "session.h"
#include "xmalloc.h"

static void
fuzz_command_line(const char *line)
{
    cmdtable_call call;
    char *cause = NULL;
    if (cmdtable_parse(line, &call, &cause) != 0) {
        FUZZ_CHECK(cause != NULL);
        free(cause);
        return;
    }
    FUZZ_CHECK(call.args >= line && call.args <= line + strlen(line));
    if (call.entry == NULL || call.args[0] == '\0')
        return;
    const char *name = call.entry->name;
    if (strcmp(name, "/set") == 0) {
        /* split as the /set handler does */
        size_t klen = strcspn(call.args, " \t");
        char *key = xstrndup(call.args, klen);
        const char *value = call.args + klen + strspn(call.args + klen, " \t");
        sampler_params p;
        sampler_params_init(&p);
        int max_tokens = -1, seed_given = 0;
        if (session_parse_set(key, value, &p, &max_tokens, &seed_given, &cause) != 0) {
            FUZZ_CHECK(cause != NULL);
            free(cause);
            cause = NULL;
        }
        free(key);
    } else if (strstr(call.entry->args, "PATH") != NULL) {
        char *path = NULL;
        if (pathcomplete_parse(call.args, &path, &cause) == 0) {
            FUZZ_CHECK(path != NULL);
            free(path);
        } else {
            FUZZ_CHECK(cause != NULL);
            free(cause);
        }
    }
}

FUZZ_TARGET(command, data, size)
{
    char *text = fuzzutil_strndup(data, size);
    /* a script is read line by line; a NUL ends a line's text as it would in the reader */
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        fuzz_command_line(line);
    free(text);
    return 0;
}
