/*
 * The input history kept across runs: $XDG_STATE_HOME/imp-chat/history (by default
 * ~/.local/state/imp-chat/history), one entry a line with backslash escapes for newlines and
 * backslashes. It holds at most INPUT_HISTORY_MAX entries and INPUTHIST_MAX_BYTES; each submission
 * is added to what the file holds then (another imp-chat may have added to it) and the file is
 * written atomically.
 */
#ifndef IMP_INPUTHIST_H
#define IMP_INPUTHIST_H

#include "input.h"

#define INPUTHIST_MAX_BYTES (256 * 1024)

typedef struct inputhist inputhist;

/*
 * Load the history file at path (NULL: the default place) into in's history. A file that cannot
 * be read gives *notice (the history then starts empty); a missing one is no problem.
 */
inputhist *inputhist_open(input *in, const char *path, char **notice);
/*
 * Remember a submitted text in the file (it is already in the editor's history). -1 with *cause
 * the first time the file cannot be written; the history then stays in memory only.
 */
int inputhist_add(inputhist *h, const char *text, char **cause);
/* Free the handle (the file stays). */
void inputhist_free(inputhist *h);
/* The entries of a history file's contents, oldest first (count in *n). Plain: fuzzable. */
char **inputhist_parse(const char *data, size_t len, int *n);
/* A history file's contents for entries, bounded (the oldest go first). New string. */
char *inputhist_format_new(char *const *entries, int n, size_t *len);

#endif
