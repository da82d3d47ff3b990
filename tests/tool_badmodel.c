#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile.h"

/*
 * tool_badmodel KIND SRC_DIR DST_DIR: copy a model folder and damage it one way (or, for
 * single-file, bf16 and f32, rewrite it in another valid form). Prints what it changed.
 */
int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tool_badmodel KIND SRC_DIR DST_DIR\nkinds:");
        for (size_t i = 0; modelfile_kinds[i] != NULL; i++)
            fprintf(stderr, " %s", modelfile_kinds[i]);
        fputc('\n', stderr);
        return 2;
    }
    char *what = NULL, *cause = NULL;
    if (modelfile_corrupt(argv[1], argv[2], argv[3], &what, &cause) != 0) {
        fprintf(stderr, "tool_badmodel: %s\n", cause != NULL ? cause : "failed");
        free(cause);
        return 1;
    }
    printf("%s: %s\n", argv[1], what);
    free(what);
    return 0;
}
