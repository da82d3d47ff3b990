#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <errno.h>
#include <ncurses.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "keys.h"
#include "log.h"
#include "sanitize.h"
#include "screen.h"
#include "termdetect.h"
#include "xmalloc.h"

/* Image pairs start after the roles' pairs. */
#define SCREEN_ROLE_PAIR(r) ((r) + 1)

static SCREEN *screen_term;
static struct termios screen_saved_termios;
static int screen_have_termios;
static int screen_active;
static int screen_mouse;
static const theme *screen_theme;
static int screen_pairs_used; /* image pairs allocated since the last reset */
static int screen_ncolors = 2; /* the colors in use (2: none), set when ncurses starts */

/*
 * What a crash handler writes: leave the alternate screen, show the cursor, plain attributes, and
 * turn off bracketed paste and mouse reporting. Only async-signal-safe calls use it.
 */
static const char screen_reset_bytes[] =
    "\033[?2004l\033[?1000l\033[?1002l\033[?1006l\033[0m\033[?25h\033[?1049l\r\n";

static void
screen_crash(int sig)
{
    if (screen_active) {
        ssize_t unused = write(STDOUT_FILENO, screen_reset_bytes, sizeof screen_reset_bytes - 1);
        (void)unused;
        if (screen_have_termios)
            tcsetattr(STDIN_FILENO, TCSANOW, &screen_saved_termios);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Whether NO_COLOR (https://no-color.org) asks for no colors: set and not empty. */
static int
screen_no_color(void)
{
    const char *v = getenv("NO_COLOR");
    return v != NULL && *v != '\0';
}

int
screen_colors(void)
{
    return screen_ncolors;
}

void
screen_set_theme(const theme *t)
{
    screen_theme = t;
    if (!screen_active || screen_colors() == 2)
        return;
    for (int r = 0; r < ROLE_COUNT; r++) {
        theme_style st = theme_style_for(t, (role)r, screen_colors());
        init_extended_pair(SCREEN_ROLE_PAIR(r), st.fg, st.bg);
    }
}

int
screen_start(int mouse, char **notice, char **cause)
{
    if (tcgetattr(STDIN_FILENO, &screen_saved_termios) == 0)
        screen_have_termios = 1;
    /* a TERM unknown here (xterm-kitty over SSH) gets a common entry, with a notice */
    const char *fallback = NULL;
    if (termdetect_terminfo_check(getenv("TERM"), NULL, &fallback, notice, cause) < 0)
        return -1;
    screen_term = newterm(fallback, stdout, stdin);
    if (screen_term == NULL)
        return log_cause(cause, "cannot drive the terminal (TERM=%s)",
                         fallback != NULL ? fallback : getenv("TERM"));
    screen_active = 1;
    log_set_restore_hook(screen_stop);
    static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        signal(crash_signals[i], screen_crash);
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    nodelay(stdscr, TRUE);
    screen_ncolors = 2;
    if (!screen_no_color() && has_colors()) {
        start_color(); /* sets COLORS */
        use_default_colors();
        screen_ncolors = COLORS >= 256 ? 256 : COLORS >= 16 ? 16 : COLORS >= 8 ? 8 : 2;
    }
    keys_init();
    /* bracketed paste: a paste arrives between two markers instead of as typed keys */
    define_key("\033[200~", KEYS_PASTE_BEGIN & ~KEYS_CODE);
    define_key("\033[201~", KEYS_PASTE_END & ~KEYS_CODE);
    static const char paste_on[] = "\033[?2004h";
    screen_write_raw(paste_on, sizeof paste_on - 1);
    screen_mouse = mouse;
    if (mouse) {
        mousemask(BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
        mouseinterval(0);
    }
    if (screen_theme != NULL)
        screen_set_theme(screen_theme);
    return 0;
}

void
screen_stop(void)
{
    if (!screen_active)
        return;
    screen_active = 0;
    if (screen_mouse)
        mousemask(0, NULL);
    static const char paste_off[] = "\033[?2004l";
    screen_write_raw(paste_off, sizeof paste_off - 1);
    endwin();
    delscreen(screen_term);
    screen_term = NULL;
    screen_ncolors = 2;
    if (screen_have_termios)
        tcsetattr(STDIN_FILENO, TCSANOW, &screen_saved_termios);
}

void
screen_suspend(void)
{
    endwin();
    if (screen_have_termios)
        tcsetattr(STDIN_FILENO, TCSANOW, &screen_saved_termios);
    kill(0, SIGTSTP);
    /* back in the foreground */
    refresh();
}

void
screen_resume(void)
{
    if (!screen_active)
        return;
    reset_prog_mode();
    static const char paste_on[] = "\033[?2004h";
    screen_write_raw(paste_on, sizeof paste_on - 1);
    clearok(curscr, TRUE);
    refresh();
}

void
screen_begin_frame(void)
{
    /* ncurses reuses the oldest pair when full and recolors old cells: reset before that */
    if (screen_colors() > 2 && screen_pairs_used > COLOR_PAIRS * 3 / 4) {
        reset_color_pairs();
        screen_pairs_used = 0;
        if (screen_theme != NULL)
            screen_set_theme(screen_theme);
    }
}

static attr_t
screen_attrs(int attr)
{
    attr_t a = A_NORMAL;
    if (attr & CELL_BOLD)
        a |= A_BOLD;
    if (attr & CELL_ITALIC)
        a |= A_ITALIC;
    if (attr & CELL_UNDERLINE)
        a |= A_UNDERLINE;
    if (attr & CELL_REVERSE)
        a |= A_REVERSE;
    if (attr & CELL_DIM)
        a |= A_DIM;
    return a;
}

/* The pair and attributes of a cell: its own palette colors, or its role's. */
static void
screen_cell_style(const cell *c, int *pair, attr_t *attrs)
{
    int colors = screen_colors();
    theme_style st = {-1, -1, 0};
    if (screen_theme != NULL)
        st = theme_style_for(screen_theme, c->role, colors);
    int attr = c->attr | st.attr;
    if ((c->fg >= 0 || c->bg >= 0) && colors > 2) {
        /* an overlay mark keeps the image's number in fg, not a color */
        int fg = c->fg >= 0 && !(c->attr & CELL_IMAGE_MARK) ? c->fg : -1;
        int bg = c->bg >= 0 ? c->bg : -1;
        int p = find_pair(fg, bg);
        if (p < 0) {
            p = alloc_pair(fg, bg);
            screen_pairs_used++;
        }
        *pair = p > 0 ? p : 0;
        attr = c->attr & ~CELL_IMAGE_MARK;
    } else {
        *pair = colors > 2 ? SCREEN_ROLE_PAIR(c->role) : 0;
    }
    *attrs = screen_attrs(attr);
}

void
screen_fill(int y, int x, int width, role r)
{
    cell blank = {.ch = {L' '}, .role = (uint8_t)r, .fg = -1, .bg = -1};
    int pair;
    attr_t attrs;
    cchar_t cc;
    screen_cell_style(&blank, &pair, &attrs);
    setcchar(&cc, blank.ch, attrs, 0, &pair);
    for (int i = 0; i < width; i++)
        mvadd_wch(y, x + i, &cc);
}

void
screen_draw_line(int y, int x, const cell_line *line, int width, role fill)
{
    int col = 0;
    for (int i = 0; line != NULL && i < line->n && col < width; i++) {
        const cell *c = &line->cells[i];
        if (c->ch[0] == 0)
            continue; /* the right half of a wide character */
        int w = wcwidth(c->ch[0]);
        if (w < 1)
            w = 1;
        if (col + w > width)
            break;
        int pair;
        attr_t attrs;
        cchar_t cc;
        screen_cell_style(c, &pair, &attrs);
        setcchar(&cc, c->ch, attrs, 0, &pair);
        mvadd_wch(y, x + col, &cc);
        col += w;
    }
    if (col < width)
        screen_fill(y, x + col, width - col, fill);
}

int
screen_draw_text(int y, int x, const char *text, int width, role r, int attr)
{
    cell_line line = {NULL, 0};
    sanitize_line_append(&line, text, (uint8_t)r, (uint8_t)attr);
    screen_draw_line(y, x, &line, width, r);
    free(line.cells);
    return line.n < width ? line.n : width;
}

void
screen_write_raw(const char *bytes, size_t len)
{
    fflush(stdout);
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, bytes, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        bytes += n;
        len -= (size_t)n;
    }
}
