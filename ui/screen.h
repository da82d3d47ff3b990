/*
 * The terminal under ncurses: start-up with a terminfo fallback, color pairs for roles and for
 * image cells, drawing cell lines, and restoring the terminal on every way out (normal exit,
 * fatal errors, SIGTERM/SIGHUP through the caller's loop, and crash signals here).
 */
#ifndef IMP_SCREEN_H
#define IMP_SCREEN_H

#include "cells.h"
#include "theme.h"

/*
 * Start ncurses on the terminal. When TERM has no terminfo entry, a common one (xterm-256color)
 * is used and *notice says so (new string). -1 with *cause when no terminal can be driven.
 */
int screen_start(int mouse, char **notice, char **cause);
/* Leave ncurses and restore the terminal (idempotent; also the fatal() hook). */
void screen_stop(void);
/* Use theme t (borrowed) for the roles' color pairs. */
void screen_set_theme(const theme *t);
/* Colors in use: 256, 16 or 8, or 2 for none (a monochrome terminal, NO_COLOR set, not started). */
int screen_colors(void);
/* Draw line at row y from column x, at most width columns; the rest of width is cleared in role fill. */
void screen_draw_line(int y, int x, const cell_line *line, int width, role fill);
/* Draw UTF-8 text in role at y, x (sanitised, clipped to width); returns the columns used. */
int screen_draw_text(int y, int x, const char *text, int width, role r, int attr);
/* Clear width columns at y, x in role r. */
void screen_fill(int y, int x, int width, role r);
/* Forget the image color pairs when many are in use (call before drawing a frame). */
void screen_begin_frame(void);
/* Write bytes straight to the terminal (OSC 52, kitty uploads, sixel overlays). */
void screen_write_raw(const char *bytes, size_t len);
/* Suspend to the shell (Ctrl-Z) and come back. */
void screen_suspend(void);
/*
 * After a SIGCONT: put back the terminal modes, bracketed paste and the whole screen, which a stop
 * from outside (SIGSTOP, a shell's fg) may have left in the shell's cooked mode.
 */
void screen_resume(void);

#endif
