/*
 * The front end without a screen: --script FILE (each line as typed in the chat), standard input
 * when it is not a terminal, and the one-shot -p. Replies and what commands show go to standard
 * output; notices, statistics and errors ("FILE:LINE: message") to standard error.
 */
#ifndef IMP_LINEFRONT_H
#define IMP_LINEFRONT_H

#include <stdio.h>

#include "session.h"

typedef struct {
    FILE *out;       /* replies */
    int print_ids;   /* each reply's ids instead of its text */
    int stats;       /* each turn's numbers on stderr */
    volatile int *cancel; /* Ctrl-C's flag: stops a reply or a rebuild; cleared for each line */
    const char *prompt;   /* written before each line is read (line mode on a terminal); or NULL */
} linefront_options;

/*
 * Run the lines of in (name is used in messages) on s until the end or /quit; a failing line is
 * reported and the next one runs. Returns the exit status: 1 when a line failed, else 0.
 */
int linefront_script(session *s, FILE *in, const char *name, const linefront_options *o);
/*
 * Stage images (in order) and send prompt. Returns the exit status (1 after printing why it
 * failed).
 */
int linefront_oneshot(session *s, const char *prompt, const char *const *images, int nimages,
                      const linefront_options *o);
/*
 * --resume: load the conversation name names (NULL: the newest saved one; none is a notice, not an
 * error). Returns the exit status (1 after printing why it failed).
 */
int linefront_resume(session *s, const char *name, const linefront_options *o);

#endif
