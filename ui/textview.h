/*
 * Messages laid out as display lines for a given width: word wrapping by display columns, tabs,
 * prefixes, and light Markdown for replies. Everything passes through the sanitiser (sanitize.h),
 * so the caller must have set a UTF-8 locale. Rendering is cheap enough to redo for each update
 * of a streaming reply; unfinished markup renders sensibly (an unclosed fence is code to the end,
 * an unclosed ** or ` stays literal until it closes).
 *
 * Layout rules:
 * - each \n ends a display line (a \r just before a \n is dropped; a trailing \n gives a last,
 *   empty line); lines wrap at spaces by display width; a CJK character or emoji (2 columns) is
 *   never split and lines may also break before and after one; a word wider than the line is
 *   broken; spaces at a wrap point are dropped, as are spaces at the end of a line; spaces at the
 *   start of a line are kept (indentation); a tab advances to the next multiple of 4 columns of
 *   the text area;
 * - the prefixes are drawn in prefix_role and shortened so that at least one column remains for
 *   text; a wide character that cannot fit in a one-column text area shows as U+FFFD.
 *
 * Markdown (TEXTVIEW_MARKDOWN), line by line:
 * - ``` or ~~~ fences (any indentation, optional language): the fence lines are shown as written,
 *   dimmed, in ROLE_CODE_BLOCK; the lines between them are ROLE_CODE_BLOCK, not word-wrapped but
 *   broken at the width, without markup, with the opening fence's indentation removed;
 * - "# " to "###### " headings: the text without the marks, bold;
 * - "- ", "* ", "+ " items get a "•" bullet, "1. " and "1) " items keep their number, both in
 *   ROLE_BULLET, with the item's indentation and a hanging indent for wrapped lines;
 * - a line of three or more -, * or _ (spaces allowed between) is a rule of ─ in ROLE_BORDER;
 * - inline, within one line: `code` (ROLE_CODE), **bold** and __bold__ (ROLE_BOLD and
 *   CELL_BOLD), *italic* and _italic_ (CELL_ITALIC), nested up to 8 deep, backslash escapes of
 *   ASCII punctuation; _ does not open or close inside a word (snake_case stays as written).
 */
#ifndef IMP_TEXTVIEW_H
#define IMP_TEXTVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "cells.h"

/* Flags for textview_style. */
enum {
    TEXTVIEW_MARKDOWN = 1 << 0, /* render light Markdown (replies) */
};

/* How to lay out a message. */
typedef struct {
    int width;                /* columns, prefixes included (at least 1 is used) */
    uint8_t role;             /* role of the text (ROLE_ASSISTANT, ROLE_USER, ...) */
    uint8_t attr;             /* CELL_* bits for all of the text */
    int flags;                /* TEXTVIEW_* bits */
    const char *first_prefix; /* UTF-8 before the first display line; NULL: prefix */
    const char *prefix;       /* UTF-8 before every other display line; NULL: none */
    uint8_t prefix_role;
} textview_style;

/* Append the display lines of len bytes of UTF-8 text to out. */
void textview_render(cell_lines *out, const char *text, size_t len, const textview_style *st);
/* The number of display lines textview_render would append. */
int textview_count_lines(const char *text, size_t len, const textview_style *st);
/*
 * The text of the last fenced code block (unclosed: up to the end), without its fences and with
 * the fence's indentation removed, lines joined by \n with no final \n, exactly as written (not
 * sanitised). New string; NULL when the text has no fenced block.
 */
char *textview_last_code_new(const char *text, size_t len);

#endif
