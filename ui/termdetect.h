/*
 * What the terminal can show, decided once before ncurses starts: the environment first, then one
 * batch of queries on the tty (the kitty graphics query, XTVERSION, the cell and window size in
 * pixels, and primary device attributes last, whose reply ends the wait because terminals answer in
 * order). An explicit mode skips the queries.
 *
 * Choice for auto. No TERM, TERM=dumb, no tty or no UTF-8 locale: none. GNU screen: symbols (its
 * passthrough is too small for images).
 *
 * Outside tmux: kitty placeholders when the kitty query answers OK and the terminal is kitty 0.28
 * or later or Ghostty (by XTVERSION, else by TERM, KITTY_WINDOW_ID, TERM_PROGRAM or
 * GHOSTTY_RESOURCES_DIR; WEZTERM_* rules it out); else sixel when DA1 lists attribute 4; else
 * symbols. Apple's Terminal is not sent the kitty query because it prints it.
 *
 * Inside tmux (TMUX set, TERM_PROGRAM=tmux, or XTVERSION says tmux): sixel only when tmux itself
 * answers DA1 with 4 (tmux then draws them). Kitty placeholders only when the environment names
 * kitty or Ghostty as the outer terminal and the kitty query, sent through tmux passthrough, is
 * answered OK, which proves allow-passthrough is on; the uploads then need passthrough wrapping.
 * Otherwise symbols, with a notice when kitty was hinted but did not answer. In doubt: symbols.
 *
 * The cell size comes from the reply to CSI 16 t, else the kernel's window size in pixels
 * (TIOCGWINSZ), else the reply to CSI 14 t divided by the cells.
 */
#ifndef IMP_TERMDETECT_H
#define IMP_TERMDETECT_H

/* Image modes; TERMDETECT_AUTO asks the terminal. */
typedef enum {
    TERMDETECT_AUTO,
    TERMDETECT_NONE,
    TERMDETECT_SYMBOLS,
    TERMDETECT_KITTY,
    TERMDETECT_SIXEL,
} termdetect_mode;

/* How long to wait for the replies when the caller has no better idea (milliseconds). */
#define TERMDETECT_TIMEOUT_MS 300
/* The cell size assumed when the terminal does not tell (pixels). */
#define TERMDETECT_CELL_WIDTH 10
#define TERMDETECT_CELL_HEIGHT 20

/* What the terminal can show. */
typedef struct {
    termdetect_mode mode;        /* never TERMDETECT_AUTO */
    int cell_width, cell_height; /* pixels per cell; the defaults above when unknown */
    int cell_size_known;         /* the terminal or the kernel told the cell size */
    int tmux;                    /* running inside tmux */
    int passthrough;             /* kitty commands must be wrapped for tmux passthrough */
    int answered;                /* the terminal answered the device attributes query */
    const char *notice;          /* a hint for the user (static string), or NULL */
} termdetect_result;

/* Parse an --image-mode value (auto, symbols, kitty, sixel, none); -1 with *cause when unknown. */
int termdetect_mode_parse(const char *text, termdetect_mode *mode, char **cause);
/* The name of a mode as --image-mode spells it. */
const char *termdetect_mode_name(termdetect_mode mode);
/*
 * Decide the mode: want is the user's choice (TERMDETECT_AUTO to detect), envp the environment
 * ("NAME=value" strings; NULL: the process's), in_fd and out_fd the terminal. Only auto writes
 * queries: in_fd is in raw mode just while reading the replies, its termios is restored exactly,
 * the replies are consumed, and the wait ends at the DA1 reply or after timeout_ms (<= 0:
 * TERMDETECT_TIMEOUT_MS). Bytes typed meanwhile are dropped with the replies. A reply slower than
 * the time-out arrives later as input, so the key reader should drop stray DA1, APC and DCS
 * replies.
 */
void termdetect_run(termdetect_result *result, termdetect_mode want, int in_fd, int out_fd,
                    char *const *envp, int timeout_ms);
/*
 * Check that term has a terminfo entry. Returns 0 when it has; 1 when it has none (or is empty)
 * but a fallback has: *fallback names the first of fallbacks (a NULL-terminated list; NULL:
 * xterm-256color, xterm, vt100) with an entry, and *notice gets a new text for the user; -1 with
 * *cause when none has. The caller sets TERM to the fallback before starting ncurses and keeps the
 * original for image detection.
 */
int termdetect_terminfo_check(const char *term, const char *const *fallbacks, const char **fallback,
                              char **notice, char **cause);

/*
 * Whether the full-screen chat can run on term: it is set, has a terminfo entry, and that entry
 * can move the cursor. Returns 1, or 0 with *hint a new one-line text saying how to fix TERM.
 */
int termdetect_screen_usable(const char *term, char **hint);

#endif
