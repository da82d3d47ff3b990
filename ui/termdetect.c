#include "config.h"

#include <errno.h>
#include <langinfo.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>
#include <term.h>

#include "log.h"
#include "termdetect.h"
#include "xmalloc.h"

/* The kitty graphics query: a 1x1 RGB image under id 31, query only (nothing is stored). */
#define TERMDETECT_KITTY_QUERY "\033_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\033\\"
/* The same through tmux passthrough: every ESC inside is doubled. */
#define TERMDETECT_KITTY_QUERY_TMUX                                                                \
    "\033Ptmux;\033\033_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\033\033\\\033\\"
/* XTVERSION, cell size in pixels, window size in pixels, and DA1 last as the sentinel. */
#define TERMDETECT_QUERIES "\033[>0q\033[16t\033[14t\033[c"

/* Longest reply kept while it is incomplete; anything longer is no answer to these queries. */
#define TERMDETECT_BUF 4096

static const char *const termdetect_names[] = {
    [TERMDETECT_AUTO] = "auto",   [TERMDETECT_NONE] = "none",   [TERMDETECT_SYMBOLS] = "symbols",
    [TERMDETECT_KITTY] = "kitty", [TERMDETECT_SIXEL] = "sixel",
};

int
termdetect_mode_parse(const char *text, termdetect_mode *mode, char **cause)
{
    for (size_t i = 0; i < sizeof termdetect_names / sizeof termdetect_names[0]; i++)
        if (strcmp(text, termdetect_names[i]) == 0) {
            *mode = (termdetect_mode)i;
            return 0;
        }
    return log_cause(cause, "image mode '%s' is unknown (use auto, symbols, kitty, sixel or none)",
                     text);
}

const char *
termdetect_mode_name(termdetect_mode mode)
{
    return termdetect_names[mode];
}

/* ---------------------------------------------------------------- environment */

/* The value of name in envp, or NULL when unset. */
static const char *
termdetect_env(char *const *envp, const char *name)
{
    size_t n = strlen(name);

    for (; *envp != NULL; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

/* name is set to a non-empty value. */
static int
termdetect_env_set(char *const *envp, const char *name)
{
    const char *v = termdetect_env(envp, name);
    return v != NULL && *v != '\0';
}

/* name is set to value. */
static int
termdetect_env_is(char *const *envp, const char *name, const char *value)
{
    const char *v = termdetect_env(envp, name);
    return v != NULL && strcasecmp(v, value) == 0;
}

/* The environment names a terminal with kitty Unicode placeholders (kitty or Ghostty). */
static int
termdetect_env_placeholders(char *const *envp)
{
    if (termdetect_env_set(envp, "WEZTERM_EXECUTABLE") || termdetect_env_set(envp, "WEZTERM_PANE"))
        return 0;
    return termdetect_env_is(envp, "TERM", "xterm-kitty") ||
           termdetect_env_set(envp, "KITTY_WINDOW_ID") ||
           termdetect_env_is(envp, "TERM", "xterm-ghostty") ||
           termdetect_env_is(envp, "TERM_PROGRAM", "ghostty") ||
           termdetect_env_set(envp, "GHOSTTY_RESOURCES_DIR");
}

/* ---------------------------------------------------------------- replies */

typedef struct {
    int da1;                     /* a DA1 reply arrived */
    int sixel;                   /* it lists attribute 4 */
    int kitty, kitty_ok;         /* a reply to the kitty query arrived; it said OK */
    int cell_width, cell_height; /* CSI 6;h;w t */
    int win_width, win_height;   /* CSI 4;h;w t */
    char version[64];            /* the XTVERSION text */
} termdetect_replies;

/* Split a CSI parameter string "a;b;c" into numbers (missing ones are 0); returns the count. */
static int
termdetect_params(const char *p, size_t len, int *out, int max)
{
    int n = 0, v = 0, any = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == ';') {
            if (n < max)
                out[n] = v;
            n++;
            v = 0;
            any = 1;
        } else if (p[i] >= '0' && p[i] <= '9') {
            v = v < 100000 ? v * 10 + (p[i] - '0') : v;
        }
    }
    return any ? (n < max ? n : max) : 0;
}

static void
termdetect_csi(termdetect_replies *r, const char *params, size_t len, char final)
{
    int p[16];

    if (final == 'c' && len > 0 && params[0] == '?') {
        /* DA1: the first number is the terminal class, the rest are attributes; 4 is sixel */
        int n = termdetect_params(params + 1, len - 1, p, 16);
        r->da1 = 1;
        for (int i = 1; i < n; i++)
            if (p[i] == 4)
                r->sixel = 1;
    } else if (final == 't') {
        int n = termdetect_params(params, len, p, 16);
        if (n == 3 && p[0] == 6) {
            r->cell_height = p[1];
            r->cell_width = p[2];
        } else if (n == 3 && p[0] == 4) {
            r->win_height = p[1];
            r->win_width = p[2];
        }
    }
}

/* The keys of a kitty graphics reply (between G and ';') name the query's image id 31. */
static int
termdetect_kitty_ours(const char *keys, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t j = i;
        while (j < len && keys[j] != ',')
            j++;
        if (j - i == 4 && memcmp(keys + i, "i=31", 4) == 0)
            return 1;
        i = j + 1;
    }
    return 0;
}

/* An APC or DCS string body (without the introducer and the terminator). */
static void
termdetect_string(termdetect_replies *r, char kind, const char *s, size_t len)
{
    if (kind == '_' && len > 0 && s[0] == 'G') {
        const char *semi = memchr(s, ';', len);
        size_t keys = semi != NULL ? (size_t)(semi - s) : len;
        if (termdetect_kitty_ours(s + 1, keys - 1)) {
            r->kitty = 1;
            r->kitty_ok = semi != NULL && len - keys == 3 && memcmp(semi + 1, "OK", 2) == 0;
        }
    } else if (kind == 'P' && len >= 2 && s[0] == '>' && s[1] == '|') {
        size_t n = len - 2 < sizeof r->version - 1 ? len - 2 : sizeof r->version - 1;
        for (size_t i = 0; i < n; i++)
            r->version[i] = s[2 + i] >= ' ' && s[2 + i] < 0x7f ? s[2 + i] : '?';
        r->version[n] = '\0';
    }
}

/*
 * Take the replies out of buf. Returns how many bytes were used up: complete sequences and stray
 * bytes (typed keys); an incomplete sequence at the end is left for the next read.
 */
static size_t
termdetect_parse(termdetect_replies *r, const char *buf, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (buf[i] != '\033') {
            i++;
            continue;
        }
        if (i + 1 == len)
            return i;
        char kind = buf[i + 1];
        if (kind == '[') {
            size_t j = i + 2;
            while (j < len && buf[j] >= 0x20 && buf[j] <= 0x3f)
                j++;
            if (j == len)
                return i;
            if (buf[j] >= 0x40 && buf[j] <= 0x7e)
                termdetect_csi(r, buf + i + 2, j - i - 2, buf[j]);
            i = j + 1;
        } else if (kind == '_' || kind == 'P' || kind == ']') {
            /* a string ends with ST (ESC \) or, for OSC, BEL */
            size_t j = i + 2;
            while (j < len && buf[j] != '\a' && !(buf[j] == '\033' && j + 1 < len))
                j++;
            if (j == len)
                return i;
            termdetect_string(r, kind, buf + i + 2, j - i - 2);
            i = buf[j] == '\a' ? j + 1 : j + 2;
        } else {
            i++;
        }
    }
    return len;
}

static long
termdetect_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
termdetect_write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Write the queries and read replies until DA1 has answered (and, with wait_kitty, the kitty query
 * too) or the time is up, with in_fd in raw mode meanwhile.
 */
static void
termdetect_probe(termdetect_replies *r, int in_fd, int out_fd, const char *queries, int wait_kitty,
                 int timeout_ms)
{
    struct termios saved, raw;
    char buf[TERMDETECT_BUF];
    size_t len = 0;

    if (tcgetattr(in_fd, &saved) != 0)
        return;
    raw = saved;
    cfmakeraw(&raw);
    /* reads return what is there; poll does the waiting */
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(in_fd, TCSANOW, &raw) != 0)
        return;
    long deadline = termdetect_now_ms() + timeout_ms;
    if (termdetect_write_all(out_fd, queries, strlen(queries)) == 0) {
        while (!(r->da1 && (!wait_kitty || r->kitty))) {
            long left = deadline - termdetect_now_ms();
            if (left <= 0)
                break;
            struct pollfd p = {.fd = in_fd, .events = POLLIN};
            int n = poll(&p, 1, (int)left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            ssize_t got = read(in_fd, buf + len, sizeof buf - len);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0)
                break;
            len += (size_t)got;
            size_t used = termdetect_parse(r, buf, len);
            memmove(buf, buf + used, len - used);
            len -= used;
            if (len == sizeof buf)
                len = 0;
        }
    }
    tcsetattr(in_fd, TCSANOW, &saved);
}

/* ---------------------------------------------------------------- decision */

/* The cell size from the kernel's window size in pixels, when it is plausible. */
static int
termdetect_cell_ioctl(int fd, int *width, int *height)
{
    struct winsize ws;

    if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0 || ws.ws_row == 0)
        return 0;
    /* some terminals report 0 or the size in cells; a cell is at least 2x4 pixels */
    if (ws.ws_xpixel < 2 * ws.ws_col || ws.ws_ypixel < 4 * ws.ws_row)
        return 0;
    *width = ws.ws_xpixel / ws.ws_col;
    *height = ws.ws_ypixel / ws.ws_row;
    return 1;
}

/*
 * The cell size: the terminal's own answer to CSI 16 t, else the kernel's window size in pixels,
 * else the answer to CSI 14 t divided by the cell count; the defaults stay when none is known.
 */
static void
termdetect_cell_size(termdetect_result *res, const termdetect_replies *r, int fd)
{
    struct winsize ws;
    int w = 0, h = 0;

    if (r != NULL && r->cell_width > 0 && r->cell_height > 0) {
        w = r->cell_width;
        h = r->cell_height;
    } else if (!termdetect_cell_ioctl(fd, &w, &h) && r != NULL && r->win_width > 0 &&
               r->win_height > 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
               ws.ws_row > 0) {
        w = r->win_width / ws.ws_col;
        h = r->win_height / ws.ws_row;
    }
    if (w > 0 && h > 0) {
        res->cell_width = w;
        res->cell_height = h;
        res->cell_size_known = 1;
    }
}

/* XTVERSION names a terminal with kitty Unicode placeholders: kitty 0.28 or later, or Ghostty. */
static int
termdetect_version_placeholders(const char *version)
{
    int major, minor;

    if (sscanf(version, "kitty(%d.%d", &major, &minor) == 2)
        return major > 0 || minor >= 28;
    return strncasecmp(version, "ghostty", 7) == 0;
}

void
termdetect_run(termdetect_result *result, termdetect_mode want, int in_fd, int out_fd,
               char *const *envp, int timeout_ms)
{
    termdetect_replies r;

    if (envp == NULL)
        envp = environ;
    if (timeout_ms <= 0)
        timeout_ms = TERMDETECT_TIMEOUT_MS;
    memset(result, 0, sizeof *result);
    memset(&r, 0, sizeof r);
    result->cell_width = TERMDETECT_CELL_WIDTH;
    result->cell_height = TERMDETECT_CELL_HEIGHT;
    result->tmux =
        termdetect_env_set(envp, "TMUX") || termdetect_env_is(envp, "TERM_PROGRAM", "tmux");

    if (want != TERMDETECT_AUTO) {
        result->mode = want;
        result->passthrough = want == TERMDETECT_KITTY && result->tmux;
        termdetect_cell_size(result, NULL, out_fd);
        return;
    }
    const char *term = termdetect_env(envp, "TERM");
    if (term == NULL || *term == '\0' || strcmp(term, "dumb") == 0 || !isatty(in_fd) ||
        !isatty(out_fd)) {
        result->mode = TERMDETECT_NONE;
        return;
    }
    if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0) {
        result->mode = TERMDETECT_NONE;
        result->notice = "images need a UTF-8 locale (LANG or LC_ALL)";
        return;
    }
    if (termdetect_env_set(envp, "STY") || (strncmp(term, "screen", 6) == 0 && !result->tmux)) {
        result->mode = TERMDETECT_SYMBOLS;
        termdetect_cell_size(result, NULL, out_fd);
        return;
    }

    /*
     * tmux drops the kitty query unless it is wrapped; wrapped, it reaches the outer terminal only
     * with allow-passthrough on, and the answer comes after tmux's own DA1 reply, so the wait goes
     * on for it. That wait costs the whole time-out when passthrough is off, so the query is sent
     * only when the environment names kitty or Ghostty. Outside tmux the query is harmless except
     * in Apple's Terminal, which prints it.
     */
    int hint = termdetect_env_placeholders(envp);
    int ask_kitty =
        result->tmux ? hint : !termdetect_env_is(envp, "TERM_PROGRAM", "Apple_Terminal");
    char queries[256];
    snprintf(queries, sizeof queries, "%s%s",
             !ask_kitty     ? ""
             : result->tmux ? TERMDETECT_KITTY_QUERY_TMUX
                            : TERMDETECT_KITTY_QUERY,
             TERMDETECT_QUERIES);
    termdetect_probe(&r, in_fd, out_fd, queries, result->tmux && ask_kitty, timeout_ms);

    result->answered = r.da1;
    if (strncmp(r.version, "tmux", 4) == 0)
        result->tmux = 1; /* a tmux on the far side of SSH: TMUX is not set here */
    termdetect_cell_size(result, &r, out_fd);
    int placeholders =
        r.version[0] != '\0' && !result->tmux ? termdetect_version_placeholders(r.version) : hint;
    if (r.kitty_ok && placeholders) {
        result->mode = TERMDETECT_KITTY;
        result->passthrough = result->tmux;
    } else if (r.sixel) {
        result->mode = TERMDETECT_SIXEL;
    } else {
        result->mode = TERMDETECT_SYMBOLS;
        if (result->tmux && hint)
            result->notice = "kitty images inside tmux need passthrough: "
                             "set -g allow-passthrough on (showing symbols)";
    }
}

/* ---------------------------------------------------------------- terminfo */

/* term has a usable terminfo entry. */
static int
termdetect_terminfo_has(const char *term)
{
    TERMINAL *before = cur_term;
    int err = 0;

    if (setupterm(term, STDOUT_FILENO, &err) != OK)
        return 0;
    /* leave the current terminal as it was */
    del_curterm(set_curterm(before));
    return 1;
}

int
termdetect_terminfo_check(const char *term, const char *const *fallbacks, const char **fallback,
                          char **notice, char **cause)
{
    static const char *const standard[] = {"xterm-256color", "xterm", "vt100", NULL};

    *fallback = NULL;
    *notice = NULL;
    if (term != NULL && *term != '\0' && termdetect_terminfo_has(term))
        return 0;
    if (fallbacks == NULL)
        fallbacks = standard;
    for (const char *const *f = fallbacks; *f != NULL; f++)
        if (termdetect_terminfo_has(*f)) {
            *fallback = *f;
            if (term == NULL || *term == '\0')
                *notice = xasprintf("TERM is not set; using %s", *f);
            else
                *notice = xasprintf("TERM=%s has no terminfo entry on this machine; using %s "
                                    "(install the entry, for example from ncurses-term, or copy it "
                                    "with infocmp and tic)",
                                    term, *f);
            return 1;
        }
    return log_cause(cause,
                     "TERM=%s has no terminfo entry, and neither has %s%s: install the "
                     "terminfo database (ncurses-base) or set TERMINFO",
                     term != NULL ? term : "", fallbacks[0] != NULL ? fallbacks[0] : "any fallback",
                     fallbacks[0] != NULL && fallbacks[1] != NULL ? " or the other fallbacks" : "");
}

int
termdetect_screen_usable(const char *term, char **hint)
{
    *hint = NULL;
    if (term == NULL || *term == '\0') {
        *hint = xstrdup("TERM is not set, so imp-chat runs in line mode; for the full-screen chat "
                        "set it to your terminal's type (for example TERM=xterm-256color)");
        return 0;
    }
    TERMINAL *before = cur_term;
    int err = 0;
    if (setupterm(term, STDOUT_FILENO, &err) != OK) {
        *hint = xasprintf("TERM=%s has no terminfo entry on this machine, so imp-chat runs in line "
                          "mode; for the full-screen chat install the entry (ncurses-term, or "
                          "infocmp -x on your machine and tic -x here) or run with "
                          "TERM=xterm-256color",
                          term);
        return 0;
    }
    /* the chat draws by moving the cursor: a terminal that cannot (dumb) gets lines */
    const char *cup = tigetstr("cup");
    int usable = cup != NULL && cup != (const char *)-1;
    del_curterm(set_curterm(before));
    if (!usable)
        *hint = xasprintf("TERM=%s cannot move the cursor, so imp-chat runs in line mode; for the "
                          "full-screen chat set TERM to your terminal's type (for example "
                          "TERM=xterm-256color)",
                          term);
    return usable;
}
