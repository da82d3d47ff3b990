/*
 * A session file through sessiondoc_parse. What parses must write back (sessiondoc_dump_new) as a
 * document that parses to the same text again, and copy deeply.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzztarget.h"
#include "sessiondoc.h"

FUZZ_TARGET(session, data, size)
{
    sessiondoc d;
    sessiondoc_init(&d);
    char *cause = NULL;
    if (sessiondoc_parse(&d, (const char *)data, size, "fuzz.json", &cause) != 0) {
        FUZZ_CHECK(cause != NULL && d.nturns == 0);
        free(cause);
        sessiondoc_free(&d);
        return 0;
    }
    size_t len = 0;
    char *text = sessiondoc_dump_new(&d, &len);
    sessiondoc again, copy;
    sessiondoc_init(&again);
    sessiondoc_init(&copy);
    int rc = sessiondoc_parse(&again, text, len, "fuzz-again.json", &cause);
    if (rc != 0)
        fprintf(stderr, "fuzz_session: a dumped session does not parse: %s\n", cause);
    FUZZ_CHECK(rc == 0);
    sessiondoc_copy(&copy, &again);
    size_t len2 = 0;
    char *text2 = sessiondoc_dump_new(&copy, &len2);
    FUZZ_CHECK(len2 == len && memcmp(text, text2, len) == 0);
    free(text);
    free(text2);
    sessiondoc_free(&again);
    sessiondoc_free(&copy);
    sessiondoc_free(&d);
    return 0;
}
