/*
 * The input editor as a state machine over a wide-character buffer: editing, kill and yank,
 * history, and the layout the screen draws. No ncurses here: the caller maps keys to these
 * functions. Uses wcwidth and wcrtomb, so the caller must have set a UTF-8 locale.
 *
 * Definitions:
 * - a line is a run of the buffer between newlines; "up" and "down" move by these lines (not by
 *   wrapped rows), keeping the display column of the first vertical move;
 * - a word is a run of alphanumeric characters (iswalnum) and the zero-width marks after them;
 * - the cursor never sits inside a grapheme cluster (UAX #29 through utf8proc: a letter with its
 *   marks, an emoji ZWJ sequence, a flag, a Hangul syllable): moving and Delete take the whole
 *   cluster, Backspace too unless the cluster ends in an accent (a combining mark that is not an
 *   emoji's joiner or selector), which it takes alone so a wrong one can be fixed;
 * - one kill buffer: each kill replaces it, yank inserts it;
 * - history: submitted texts (input_take_new), no empty texts and no repeat of the last entry,
 *   at most INPUT_HISTORY_MAX. While browsing, edits to a recalled entry are kept until the next
 *   submission, and the text that was being written comes back after the newest entry.
 *
 * The editing functions return 1 when the text or the cursor changed and 0 when nothing did
 * (the caller may beep or skip the redraw).
 */
#ifndef IMP_INPUT_H
#define IMP_INPUT_H

#include <stddef.h>
#include <wchar.h>

#include "cells.h"

#define INPUT_HISTORY_MAX 1000

typedef struct input input;

/* An empty editor with an empty history. */
input *input_new(void);
/* Free the editor, its text and its history. */
void input_free(input *in);

/* Insert one typed character at the cursor; \r counts as \n, other controls are ignored. */
int input_insert_char(input *in, wchar_t wc);
/* Insert len bytes of UTF-8 (a paste): \r\n and \r become \n, controls but \t are dropped. */
int input_insert_text(input *in, const char *utf8, size_t len);
/* Insert a newline at the cursor (Alt-Enter, Ctrl-J). */
int input_insert_newline(input *in);

/* Move one character left. */
int input_move_left(input *in);
/* Move one character right. */
int input_move_right(input *in);
/* Move to the start of the word before the cursor. */
int input_move_word_left(input *in);
/* Move to the end of the word after the cursor. */
int input_move_word_right(input *in);
/* Move to the start of the current line. */
int input_move_line_start(input *in);
/* Move to the end of the current line. */
int input_move_line_end(input *in);
/* Move to the start of the text. */
int input_move_start(input *in);
/* Move to the end of the text. */
int input_move_end(input *in);
/* Up: on the first line go back in history, else move up a line. */
int input_up(input *in);
/* Down: on the last line go forward in history (back to the text being written), else move down. */
int input_down(input *in);

/* Delete the cluster before the cursor, or its last accent alone. */
int input_delete_backward(input *in);
/* Delete the cluster under the cursor. */
int input_delete_forward(input *in);
/* Kill to the end of the line; at the end of a line, kill the newline (Ctrl-K). */
int input_kill_line_end(input *in);
/* Kill to the start of the line; at the start of a line, kill the newline before it (Ctrl-U). */
int input_kill_line_start(input *in);
/* Kill back to the start of the word before the cursor (Ctrl-W). */
int input_kill_word_backward(input *in);
/* Insert the last killed text at the cursor (Ctrl-Y). */
int input_yank(input *in);

/* Take the text out as UTF-8 (new string), remember it in the history and clear the editor. */
char *input_take_new(input *in);
/* The text as UTF-8 (new string); the editor is unchanged. */
char *input_text_new(const input *in);
/* Replace the text with UTF-8 text (filtered like a paste), cursor at the end. */
int input_set_text(input *in, const char *utf8);
/* The number of characters in the text. */
size_t input_length(const input *in);
/* The cursor as a character index into the text (0 to input_length). */
size_t input_cursor(const input *in);
/* The number of history entries. */
int input_history_count(const input *in);
/* Append UTF-8 text to the history as if submitted (the editor is unchanged); not empty texts. */
void input_history_add(input *in, const char *utf8);
/* History entry i (0 is the oldest) as UTF-8. New string. */
char *input_history_entry_new(const input *in, int i);

/*
 * Lay the text out for drawing in ROLE_INPUT: rows of at most width columns (wide characters
 * never split; tabs to multiples of 4), at most max_rows of them, scrolled so that the cursor
 * is visible (the scroll position is kept between calls). Appends the visible rows to out (at
 * least one) and sets the cursor's row within them and its column.
 */
void input_layout(input *in, int width, int max_rows, cell_lines *out, int *row, int *col);

#endif
