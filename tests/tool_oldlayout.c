#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "modelfile.h"

/*
 * tool_oldlayout SRC_DIR DST_DIR: write the model of SRC_DIR (current tensor names) to DST_DIR in
 * the old checkpoint layout (fused Wqkv, transformer.* names, old config keys).
 */
int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tool_oldlayout SRC_DIR DST_DIR\n");
        return 2;
    }
    char *cause = NULL;
    if (modelfile_oldlayout(argv[1], argv[2], &cause) != 0) {
        fprintf(stderr, "tool_oldlayout: %s\n", cause != NULL ? cause : "failed");
        free(cause);
        return 1;
    }
    printf("%s: old layout written\n", argv[2]);
    return 0;
}
