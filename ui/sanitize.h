/*
 * Untrusted UTF-8 (model output, file names, typed text) made safe to draw as screen cells:
 * nothing that a terminal would act on survives. Decoding and the rules for control characters
 * are the base sanitizer's (safetext.h); widths come from wcwidth, so the caller must have set a
 * UTF-8 locale (setlocale(LC_ALL, "") at start-up, "C.UTF-8" in tests).
 *
 * What becomes of each kind of character:
 * - invalid UTF-8: U+FFFD for each byte that does not start a valid sequence (an incomplete
 *   sequence at the end of the text is one U+FFFD), and for a code point beyond U+10FFFF;
 * - C0 controls, ESC and DEL: caret notation in ROLE_ESCAPED ("^[" for ESC, "^G" for BEL, "^@" for
 *   NUL, "^?" for DEL), except \n and \t when the caller asks for line-break and tab glyphs;
 * - C1 controls (U+0080-U+009F) and bidirectional embeddings, overrides, isolates and marks
 *   (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C): "<U+XXXX>" in ROLE_ESCAPED;
 * - U+10EEEE (the kitty image placeholder, which would show an image in kitty terminals) and other
 *   characters with wcwidth < 0: U+FFFD;
 * - zero-width characters (combining marks): attached to the cell before them, at most
 *   CELL_CHARS - 2 per cell (the cell's characters stay NUL-terminated), further ones dropped;
 *   one with no base before it (start of text, after a break, tab or escaped character) gets a
 *   U+00A0 base.
 *
 * Grapheme clusters (UAX #29, through utf8proc) are what the editor moves over and what wrapping
 * never splits. Terminals disagree on the width of emoji sequences (tmux and kitty draw a ZWJ
 * family in 2 columns, xterm in 6; kitty joins skin tones, tmux does not; some honour U+FE0F), so
 * a cluster is drawn in a form every terminal gives the same width: its spacing characters each
 * in their own cells (glyphs marked `cont` after the first), its combining marks attached, and the
 * characters that only join or restyle emoji left out (U+200D ZWJ, U+FE0E/U+FE0F, the skin-tone
 * modifiers U+1F3FB-U+1F3FF after a base). A family emoji shows as its three people side by side,
 * a flag as its two letters' symbols (which most terminals draw as the flag); the text itself keeps
 * every code point.
 */
#ifndef IMP_SANITIZE_H
#define IMP_SANITIZE_H

#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#include "cells.h"

/* Flags for the append functions. */
enum {
    SANITIZE_BREAKS = 1 << 0, /* \n becomes a line-break glyph, not "^J" */
    SANITIZE_TABS = 1 << 1,   /* \t becomes a tab glyph, not "^I" */
};

/*
 * One thing to draw: a character with its combining marks taking `width` columns, or (width 0)
 * a line break (c.ch[0] == '\n') or a tab (c.ch[0] == '\t') for the layout code to resolve.
 */
typedef struct {
    cell c;
    uint8_t width;
    uint8_t cont; /* continues the grapheme cluster of the glyph before: no break, no cursor stop */
} sanitize_glyph;

/* A growing list of glyphs, and where the last cluster stands (to know what joins it). */
typedef struct {
    sanitize_glyph *g;
    int n, cap;
    int32_t last;  /* the last code point appended, -1 after a break or escaped character */
    int32_t state; /* utf8proc's grapheme-break state after it */
} sanitize_glyphs;

/*
 * Decode the character at the start of len > 0 bytes of UTF-8 into *wc (an invalid byte or a
 * sequence cut off by the end as U+FFFD); returns the bytes it took.
 */
size_t sanitize_decode(const char *s, size_t len, mbstate_t *ps, wchar_t *wc);
/* Start an empty glyph list. */
void sanitize_glyphs_init(sanitize_glyphs *gl);
/* Free the glyph list's memory. */
void sanitize_glyphs_free(sanitize_glyphs *gl);
/* Append the glyphs for len bytes of UTF-8 text drawn in text_role with attr (CELL_* bits). */
void sanitize_glyphs_append(sanitize_glyphs *gl, const char *s, size_t len, uint8_t text_role,
                            uint8_t attr, int flags);
/* Append the glyphs for one character; returns how many glyphs were added (0: attached). */
int sanitize_glyphs_append_wchar(sanitize_glyphs *gl, wchar_t wc, uint8_t text_role, uint8_t attr,
                                 int flags);
/* Whether wc is a zero-width character that is drawn attached to the character before it. */
int sanitize_wchar_is_mark(wchar_t wc);
/* Whether wc is drawn in a visible escaped form ("^G", "<U+202E>") when no flags are given. */
int sanitize_wchar_is_escaped(wchar_t wc);
/* The columns wc takes when drawn on its own with no flags (0 for a mark). */
int sanitize_wchar_width(wchar_t wc);
/* The columns of the cluster that starts at glyph i (i and the glyphs that continue it). */
int sanitize_cluster_width(const sanitize_glyphs *gl, int i);
/* Whether a grapheme cluster boundary lies between code points a and b; *state carries from a. */
int sanitize_cluster_break(wchar_t a, wchar_t b, int32_t *state);
/* Whether wc, inside a cluster, is left out when drawing (ZWJ, emoji variation selectors, tones). */
int sanitize_wchar_is_joiner(wchar_t wc);
/* Whether a glyph is a plain space (a place where lines may wrap). */
int sanitize_glyph_is_space(const sanitize_glyph *g);
/* Append a character glyph's cells to line: the cell, and a right half for a wide one. */
void sanitize_line_push(cell_line *line, const sanitize_glyph *g);
/*
 * Like sanitize_line_push, but a glyph wider than avail columns (a wide character in a
 * one-column space) goes in as U+FFFD of width 1 in its look; returns the columns taken.
 */
int sanitize_line_push_fit(cell_line *line, const sanitize_glyph *g, int avail);
/*
 * Append one line of UTF-8 text (a file name, a status message) to line without wrapping; \n and
 * \t show as "^J" and "^I". Returns the number of columns added.
 */
int sanitize_line_append(cell_line *line, const char *s, uint8_t text_role, uint8_t attr);
/* The display width of UTF-8 text once sanitised with the given flags (breaks and tabs count 0). */
int sanitize_width(const char *s, size_t len, int flags);
/* A sanitised copy of one line of UTF-8 text (the visible forms of the cells). New string. */
char *sanitize_string_new(const char *s);

#endif
