/*
 * The transcript: the conversation as entries (messages, images, notices), their display lines
 * for the current width (cached per entry), and the scroll position, which survives re-wrapping.
 */
#ifndef IMP_TRANSCRIPT_H
#define IMP_TRANSCRIPT_H

#include <stddef.h>

#include "cells.h"

typedef enum {
    TRANSCRIPT_USER,
    TRANSCRIPT_ASSISTANT,
    TRANSCRIPT_IMAGE,
    TRANSCRIPT_NOTICE,
    TRANSCRIPT_ERROR,
} transcript_kind;

/* Draws an image entry's rendition into out for a width (the caller knows the images). */
typedef void (*transcript_image_fn)(void *ctx, int image, int width, cell_lines *out);

typedef struct transcript transcript;

/* An empty transcript; image entries are drawn with fn. */
transcript *transcript_new(transcript_image_fn fn, void *ctx);
/* Free the transcript. */
void transcript_free(transcript *t);
/* Append an entry (text is copied; image is the image number for image entries). Its index. */
int transcript_add(transcript *t, transcript_kind kind, const char *text, int image);
/* Append text to entry i (a streaming reply). */
void transcript_append(transcript *t, int i, const char *text, size_t len);
/* Replace entry i's text. */
void transcript_set_text(transcript *t, int i, const char *text);
/* Borrow entry i's text. */
const char *transcript_text(const transcript *t, int i);
/* Entry i's kind. */
transcript_kind transcript_kind_of(const transcript *t, int i);
/* Mark entry i: stopped (a reply cut short), dropped (out of the context), streaming. */
void transcript_mark(transcript *t, int i, int stopped, int dropped, int streaming);
/* Remove every entry from i on (an error undoes what a send added). */
void transcript_truncate(transcript *t, int i);
/* Number of entries. */
int transcript_count(const transcript *t);
/* Forget every entry. */
void transcript_clear(transcript *t);

/* Render the image entries again at the next layout (the box images are drawn in changed). */
void transcript_invalidate_images(transcript *t);
/* Lay out for width and height; keeps the view anchored at the same content when the width changes. */
void transcript_layout(transcript *t, int width, int height);
/* Borrow display line `row` (0 = top) of the view, or NULL past the end. */
const cell_line *transcript_view_line(const transcript *t, int row);
/* Scroll by lines (negative: up, towards older entries). */
void transcript_scroll(transcript *t, int lines);
/* Scroll to the start (top != 0) or to the end, where new lines stay in view. */
void transcript_scroll_to(transcript *t, int top);
/* Lines below the view (0 when following the end). */
int transcript_lines_below(const transcript *t);

#endif
