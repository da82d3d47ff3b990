/*
 * Download progress for people: on a terminal, one bar redrawn in place (bytes, speed, time left,
 * file i of n) above which finished files are listed; otherwise one line per file.
 */
#ifndef IMP_PROGRESSBAR_H
#define IMP_PROGRESSBAR_H

#include <stdio.h>

#include "download.h"

typedef struct progressbar progressbar;

/* Draw on f (stderr); a bar when f is a terminal, lines otherwise. */
progressbar *progressbar_new(FILE *f);
/* The download_progress_fn: ctx is the progressbar. */
void progressbar_update(void *ctx, const download_progress *p);
/* Erase the bar so that the next output starts on a clean line. */
void progressbar_end(progressbar *b);
/* Erase the bar and free. */
void progressbar_free(progressbar *b);

#endif
