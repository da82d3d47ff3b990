/*
 * Terminal graphics detection against a pseudo-terminal: a thread plays the terminal, reading the
 * queries and answering as kitty, Ghostty, a sixel xterm, WezTerm, tmux, a plain terminal, or not
 * at all. Checks the mode, the cell size, that termios comes back exactly and that no reply is
 * left unread; then the environment rules, --image-mode parsing and the terminfo fallback.
 */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "termdetect.h"
#include "testutil.h"
#include "xmalloc.h"

/* Generous: an answering terminal ends the wait at its DA1 reply, long before this. */
#define ANSWER_TIMEOUT_MS 5000

#define KITTY_OK "\033_Gi=31;OK\033\\"
#define DA1_PLAIN "\033[?62;22c"

/* The terminal's side of the pseudo-terminal. */
typedef struct {
    int master;
    const char *reply; /* written once the DA1 query has arrived; NULL: never answer */
    int bytewise;      /* write the reply one byte at a time */
    char got[2048];    /* what the program wrote to the terminal */
    size_t got_len;
} fake_term;

static void *
fake_term_main(void *arg)
{
    fake_term *t = arg;

    while (strstr(t->got, "\033[c") == NULL && t->got_len < sizeof t->got - 1) {
        struct pollfd p = {.fd = t->master, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            break;
        ssize_t n = read(t->master, t->got + t->got_len, sizeof t->got - 1 - t->got_len);
        if (n <= 0)
            break;
        t->got_len += (size_t)n;
        t->got[t->got_len] = '\0';
    }
    if (t->reply == NULL)
        return NULL;
    size_t len = strlen(t->reply);
    for (size_t i = 0; i < len;) {
        size_t n = t->bytewise ? 1 : len - i;
        ssize_t w = write(t->master, t->reply + i, n);
        if (w <= 0)
            break;
        i += (size_t)w;
        if (t->bytewise)
            usleep(500);
    }
    return NULL;
}

static int
termios_equal(const struct termios *a, const struct termios *b)
{
    return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
           a->c_lflag == b->c_lflag && memcmp(a->c_cc, b->c_cc, sizeof a->c_cc) == 0 &&
           cfgetispeed(a) == cfgetispeed(b) && cfgetospeed(a) == cfgetospeed(b);
}

/* Bytes waiting to be read on the program's side, looked at without blocking the test. */
static size_t
unread_bytes(int slave)
{
    struct termios saved, raw;
    char buf[256];
    size_t total = 0;

    tcgetattr(slave, &saved);
    raw = saved;
    cfmakeraw(&raw);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(slave, TCSANOW, &raw);
    /* the pty hands written bytes over asynchronously: give late ones a moment to show */
    struct pollfd p = {.fd = slave, .events = POLLIN};
    while (poll(&p, 1, 100) > 0) {
        ssize_t n = read(slave, buf, sizeof buf);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    tcsetattr(slave, TCSANOW, &saved);
    return total;
}

/* One scenario: how the terminal answers and what it is told. */
typedef struct {
    const char *name;
    char *const *env;
    termdetect_mode want;
    const char *reply; /* NULL: the terminal stays silent */
    int bytewise;
    int timeout_ms;
    int xpixel, ypixel; /* the kernel's window size in pixels (80x24 cells) */
    int asks;           /* the terminal is expected to receive queries */
} scenario;

/*
 * Run detection on a fresh pseudo-terminal answered by a fake terminal; checks termios and unread
 * bytes and returns the result and what the terminal received.
 */
static void
run(const scenario *s, termdetect_result *res, fake_term *t)
{
    int master, slave;
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    struct termios before, after;

    ws.ws_xpixel = (unsigned short)s->xpixel;
    ws.ws_ypixel = (unsigned short)s->ypixel;
    memset(t, 0, sizeof *t);
    memset(res, 0, sizeof *res);
    if (openpty(&master, &slave, NULL, NULL, &ws) != 0) {
        fprintf(stderr, "openpty: %s\n", strerror(errno));
        exit(TEST_SKIP);
    }
    /* odd settings, so that "restored" cannot mean "reset to defaults" */
    tcgetattr(slave, &before);
    before.c_lflag &= ~(tcflag_t)ECHOCTL;
    before.c_cc[VMIN] = 3;
    before.c_cc[VTIME] = 7;
    tcsetattr(slave, TCSANOW, &before);
    tcgetattr(slave, &before);

    pthread_t th;
    t->master = master;
    t->reply = s->reply;
    t->bytewise = s->bytewise;
    if (s->asks)
        pthread_create(&th, NULL, fake_term_main, t);
    termdetect_run(res, s->want, slave, slave, s->env, s->timeout_ms);
    if (s->asks) {
        pthread_join(th, NULL);
    } else {
        /* nothing may have been written: look without waiting for a DA1 query */
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t n = read(master, t->got, sizeof t->got - 1);
            t->got_len = n > 0 ? (size_t)n : 0;
        }
    }
    CHECK(s->asks || t->got_len == 0,
          "%s: %zu bytes written to a terminal that was not to be asked", s->name, t->got_len);
    CHECK(!s->asks || strstr(t->got, "\033[c") != NULL, "%s: no DA1 query reached the terminal",
          s->name);
    tcgetattr(slave, &after);
    CHECK(termios_equal(&before, &after), "%s: termios not restored exactly", s->name);
    size_t left = unread_bytes(slave);
    CHECK(left == 0, "%s: %zu reply bytes left unread", s->name, left);
    close(slave);
    close(master);
}

static void
expect(const scenario *s, termdetect_mode mode, int cell_w, int cell_h, int tmux, int passthrough)
{
    termdetect_result res;
    fake_term t;

    run(s, &res, &t);
    CHECK(res.mode == mode, "%s: mode %s, want %s", s->name, termdetect_mode_name(res.mode),
          termdetect_mode_name(mode));
    CHECK(res.cell_width == cell_w && res.cell_height == cell_h, "%s: cell %dx%d, want %dx%d",
          s->name, res.cell_width, res.cell_height, cell_w, cell_h);
    CHECK(res.tmux == tmux && res.passthrough == passthrough,
          "%s: tmux %d passthrough %d, want %d %d", s->name, res.tmux, res.passthrough, tmux,
          passthrough);
}

static char *env_kitty[] = {"TERM=xterm-kitty", "KITTY_WINDOW_ID=1", NULL};
static char *env_xterm[] = {"TERM=xterm-256color", NULL};
static char *env_wezterm[] = {"TERM=xterm-256color", "TERM_PROGRAM=WezTerm",
                              "WEZTERM_EXECUTABLE=/usr/bin/wezterm-gui", NULL};
static char *env_tmux[] = {"TERM=tmux-256color", "TMUX=/tmp/tmux-1000/default,1,0",
                           "TERM_PROGRAM=tmux", NULL};
static char *env_tmux_kitty[] = {"TERM=tmux-256color", "TMUX=/tmp/tmux-1000/default,1,0",
                                 "KITTY_WINDOW_ID=3", NULL};
static char *env_apple[] = {"TERM=xterm-256color", "TERM_PROGRAM=Apple_Terminal", NULL};
static char *env_screen[] = {"TERM=screen", "STY=1234.pts-0.host", NULL};
static char *env_dumb[] = {"TERM=dumb", NULL};
static char *env_empty[] = {NULL};

static void
test_answers(void)
{
    termdetect_result res;
    fake_term t;

    scenario kitty = {"kitty",
                      env_kitty,
                      TERMDETECT_AUTO,
                      KITTY_OK "\033P>|kitty(0.35.2)\033\\\033[6;20;10t\033[4;480;800t\033[?62;c",
                      0,
                      ANSWER_TIMEOUT_MS,
                      0,
                      0,
                      1};
    run(&kitty, &res, &t);
    CHECK(res.mode == TERMDETECT_KITTY && res.answered && !res.passthrough && res.cell_size_known &&
              res.cell_width == 10 && res.cell_height == 20 && res.notice == NULL,
          "kitty: mode %s answered %d cell %dx%d", termdetect_mode_name(res.mode), res.answered,
          res.cell_width, res.cell_height);
    CHECK(strstr(t.got, "\033_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\033\\") != NULL &&
              strstr(t.got, "\033[16t") != NULL && strstr(t.got, "\033[14t") != NULL,
          "kitty: the queries are missing from what the terminal got");
    CHECK(strstr(t.got, "\033[c") > strstr(t.got, "\033_G"), "kitty: DA1 is not the last query");

    scenario split = {"kitty, replies a byte at a time after typed keys",
                      env_kitty,
                      TERMDETECT_AUTO,
                      "ls\r" KITTY_OK "\033[6;18;9t\033[?62;4c",
                      1,
                      ANSWER_TIMEOUT_MS,
                      0,
                      0,
                      1};
    expect(&split, TERMDETECT_KITTY, 9, 18, 0, 0);

    scenario old = {"kitty 0.26 (no placeholders)",
                    env_kitty,
                    TERMDETECT_AUTO,
                    KITTY_OK "\033P>|kitty(0.26.5)\033\\\033[?62;c",
                    0,
                    ANSWER_TIMEOUT_MS,
                    0,
                    0,
                    1};
    expect(&old, TERMDETECT_SYMBOLS, 10, 20, 0, 0);

    scenario ghostty = {"Ghostty known by XTVERSION only",
                        env_xterm,
                        TERMDETECT_AUTO,
                        KITTY_OK "\033P>|ghostty 1.1.3\033\\\033[?62;22c",
                        0,
                        ANSWER_TIMEOUT_MS,
                        0,
                        0,
                        1};
    expect(&ghostty, TERMDETECT_KITTY, 10, 20, 0, 0);

    scenario unbranded = {"kitty graphics from an unknown terminal",
                          env_xterm,
                          TERMDETECT_AUTO,
                          KITTY_OK DA1_PLAIN,
                          0,
                          ANSWER_TIMEOUT_MS,
                          0,
                          0,
                          1};
    expect(&unbranded, TERMDETECT_SYMBOLS, 10, 20, 0, 0);

    scenario xterm = {"sixel xterm",
                      env_xterm,
                      TERMDETECT_AUTO,
                      "\033[4;504;880t\033[?63;1;2;4;6;9;15;22c",
                      0,
                      ANSWER_TIMEOUT_MS,
                      0,
                      0,
                      1};
    expect(&xterm, TERMDETECT_SIXEL, 11, 21, 0, 0);

    scenario foot = {"sixel terminal, cell size from CSI 16 t before the kernel's",
                     env_xterm,
                     TERMDETECT_AUTO,
                     "\033[6;30;15t\033[?62;4;22c",
                     0,
                     ANSWER_TIMEOUT_MS,
                     800,
                     480,
                     1};
    expect(&foot, TERMDETECT_SIXEL, 15, 30, 0, 0);

    scenario kernel = {"cell size from the kernel before CSI 14 t",
                       env_xterm,
                       TERMDETECT_AUTO,
                       "\033[4;504;880t\033[?62;4;22c",
                       0,
                       ANSWER_TIMEOUT_MS,
                       800,
                       480,
                       1};
    expect(&kernel, TERMDETECT_SIXEL, 10, 20, 0, 0);

    scenario wezterm = {"WezTerm (kitty query OK, no placeholders)",
                        env_wezterm,
                        TERMDETECT_AUTO,
                        KITTY_OK "\033P>|WezTerm 20240203\033\\\033[?65;4;6;18;22c",
                        0,
                        ANSWER_TIMEOUT_MS,
                        0,
                        0,
                        1};
    expect(&wezterm, TERMDETECT_SIXEL, 10, 20, 0, 0);

    scenario plain = {"plain terminal",
                      env_xterm,
                      TERMDETECT_AUTO,
                      "\033[?64;14;22c",
                      0,
                      ANSWER_TIMEOUT_MS,
                      0,
                      0,
                      1};
    expect(&plain, TERMDETECT_SYMBOLS, 10, 20, 0, 0);

    scenario error = {"kitty query refused",
                      env_kitty,
                      TERMDETECT_AUTO,
                      "\033_Gi=31;ENOTSUPPORTED:no\033\\" DA1_PLAIN,
                      0,
                      ANSWER_TIMEOUT_MS,
                      0,
                      0,
                      1};
    expect(&error, TERMDETECT_SYMBOLS, 10, 20, 0, 0);

    scenario ssh_tmux = {"tmux on the far side of SSH",
                         env_xterm,
                         TERMDETECT_AUTO,
                         "\033P>|tmux 3.3a\033\\\033[?1;2c",
                         0,
                         ANSWER_TIMEOUT_MS,
                         0,
                         0,
                         1};
    expect(&ssh_tmux, TERMDETECT_SYMBOLS, 10, 20, 1, 0);

    /* silence: the time-out ends the wait (default length) and the answer is symbols */
    scenario silent = {"no answer", env_xterm, TERMDETECT_AUTO, NULL, 0, 0, 0, 0, 1};
    run(&silent, &res, &t);
    CHECK(res.mode == TERMDETECT_SYMBOLS && !res.answered && !res.cell_size_known &&
              res.cell_width == TERMDETECT_CELL_WIDTH && res.cell_height == TERMDETECT_CELL_HEIGHT,
          "no answer: mode %s answered %d", termdetect_mode_name(res.mode), res.answered);
}

static void
test_tmux(void)
{
    termdetect_result res;
    fake_term t;

    scenario plain = {"tmux without sixel",
                      env_tmux,
                      TERMDETECT_AUTO,
                      "\033[?1;2c",
                      0,
                      ANSWER_TIMEOUT_MS,
                      0,
                      0,
                      1};
    run(&plain, &res, &t);
    CHECK(res.mode == TERMDETECT_SYMBOLS && res.tmux && res.notice == NULL, "tmux: mode %s tmux %d",
          termdetect_mode_name(res.mode), res.tmux);
    CHECK(strstr(t.got, "_Gi=31") == NULL, "tmux: kitty query sent without a kitty hint");

    /* the outer terminal's sixel does not count: only tmux's own DA1 does */
    scenario sixel = {"tmux with sixel",
                      env_tmux,
                      TERMDETECT_AUTO,
                      "\033[?1;2;4c",
                      0,
                      ANSWER_TIMEOUT_MS,
                      0,
                      0,
                      1};
    expect(&sixel, TERMDETECT_SIXEL, 10, 20, 1, 0);

    /* tmux answers DA1 at once; the outer kitty's answer comes later through passthrough */
    scenario kitty = {"tmux in kitty with passthrough",
                      env_tmux_kitty,
                      TERMDETECT_AUTO,
                      "\033[?1;2c" KITTY_OK,
                      1,
                      ANSWER_TIMEOUT_MS,
                      0,
                      0,
                      1};
    run(&kitty, &res, &t);
    CHECK(res.mode == TERMDETECT_KITTY && res.tmux && res.passthrough,
          "tmux in kitty: mode %s passthrough %d", termdetect_mode_name(res.mode), res.passthrough);
    CHECK(strstr(t.got, "\033Ptmux;\033\033_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\033\033\\\033\\") !=
              NULL,
          "tmux in kitty: the kitty query was not wrapped for passthrough");

    scenario off = {"tmux in kitty, passthrough off",
                    env_tmux_kitty,
                    TERMDETECT_AUTO,
                    "\033[?1;2c",
                    0,
                    300,
                    0,
                    0,
                    1};
    run(&off, &res, &t);
    CHECK(res.mode == TERMDETECT_SYMBOLS && res.notice != NULL &&
              strstr(res.notice, "allow-passthrough") != NULL,
          "tmux in kitty without passthrough: mode %s notice %s", termdetect_mode_name(res.mode),
          res.notice != NULL ? res.notice : "(none)");
}

static void
test_environment(void)
{
    termdetect_result res;
    fake_term t;

    scenario forced = {"forced sixel in tmux", env_tmux, TERMDETECT_SIXEL, NULL, 0, 0, 0, 0, 0};
    expect(&forced, TERMDETECT_SIXEL, 10, 20, 1, 0);
    scenario forced_kitty = {
        "forced kitty in tmux", env_tmux, TERMDETECT_KITTY, NULL, 0, 0, 960, 480, 0};
    expect(&forced_kitty, TERMDETECT_KITTY, 12, 20, 1, 1);
    scenario forced_none = {"forced none", env_kitty, TERMDETECT_NONE, NULL, 0, 0, 0, 0, 0};
    expect(&forced_none, TERMDETECT_NONE, 10, 20, 0, 0);
    scenario forced_symbols = {
        "forced symbols", env_xterm, TERMDETECT_SYMBOLS, NULL, 0, 0, 0, 0, 0};
    expect(&forced_symbols, TERMDETECT_SYMBOLS, 10, 20, 0, 0);

    scenario dumb = {"TERM=dumb", env_dumb, TERMDETECT_AUTO, NULL, 0, 0, 0, 0, 0};
    expect(&dumb, TERMDETECT_NONE, 10, 20, 0, 0);
    scenario noterm = {"no TERM", env_empty, TERMDETECT_AUTO, NULL, 0, 0, 0, 0, 0};
    expect(&noterm, TERMDETECT_NONE, 10, 20, 0, 0);
    scenario screen = {"GNU screen", env_screen, TERMDETECT_AUTO, NULL, 0, 0, 0, 0, 0};
    expect(&screen, TERMDETECT_SYMBOLS, 10, 20, 0, 0);

    scenario apple = {
        "Apple Terminal", env_apple, TERMDETECT_AUTO, DA1_PLAIN, 0, ANSWER_TIMEOUT_MS, 0, 0, 1};
    run(&apple, &res, &t);
    CHECK(res.mode == TERMDETECT_SYMBOLS && strstr(t.got, "_G") == NULL,
          "Apple Terminal: the kitty query was sent (it prints it)");

    setlocale(LC_ALL, "C");
    scenario ascii = {"no UTF-8 locale", env_kitty, TERMDETECT_AUTO, NULL, 0, 0, 0, 0, 0};
    run(&ascii, &res, &t);
    CHECK(res.mode == TERMDETECT_NONE && res.notice != NULL && strstr(res.notice, "UTF-8") != NULL,
          "C locale: mode %s", termdetect_mode_name(res.mode));
    setlocale(LC_ALL, "C.UTF-8");

    /* not a terminal: no queries, no images */
    int fds[2];
    if (pipe(fds) == 0) {
        termdetect_run(&res, TERMDETECT_AUTO, fds[0], fds[1], env_kitty, 100);
        close(fds[1]);
        char c;
        CHECK(res.mode == TERMDETECT_NONE && read(fds[0], &c, 1) == 0,
              "pipes: mode %s or bytes written", termdetect_mode_name(res.mode));
        close(fds[0]);
    }
}

static void
test_parse(void)
{
    static const termdetect_mode modes[] = {TERMDETECT_AUTO, TERMDETECT_NONE, TERMDETECT_SYMBOLS,
                                            TERMDETECT_KITTY, TERMDETECT_SIXEL};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        termdetect_mode m = TERMDETECT_NONE;
        char *cause = NULL;
        const char *name = termdetect_mode_name(modes[i]);
        CHECK(termdetect_mode_parse(name, &m, &cause) == 0 && m == modes[i], "parse '%s'", name);
    }
    termdetect_mode m = TERMDETECT_SIXEL;
    char *cause = NULL;
    CHECK(termdetect_mode_parse("kitt", &m, &cause) == -1 && m == TERMDETECT_SIXEL &&
              cause != NULL && strstr(cause, "'kitt'") != NULL &&
              strstr(cause, "auto, symbols, kitty, sixel or none") != NULL,
          "parse 'kitt': %s", cause != NULL ? cause : "(null)");
    free(cause);
}

static void
test_terminfo(void)
{
    const char *fallback = NULL;
    char *notice = NULL, *cause = NULL;

    if (termdetect_terminfo_check("xterm-256color", NULL, &fallback, &notice, &cause) != 0) {
        fprintf(stderr, "no terminfo entry for xterm-256color: terminfo checks skipped\n");
        free(notice);
        return;
    }
    CHECK(fallback == NULL && notice == NULL, "xterm-256color: a fallback was offered");
    int rc = termdetect_terminfo_check("imp-no-such-terminal", NULL, &fallback, &notice, &cause);
    CHECK(rc == 1 && fallback != NULL && strcmp(fallback, "xterm-256color") == 0 &&
              notice != NULL && strstr(notice, "TERM=imp-no-such-terminal") != NULL &&
              strstr(notice, "xterm-256color") != NULL,
          "missing entry: rc %d fallback %s notice %s", rc, fallback != NULL ? fallback : "(null)",
          notice != NULL ? notice : "(null)");
    free(notice);
    notice = NULL;
    rc = termdetect_terminfo_check("", NULL, &fallback, &notice, &cause);
    CHECK(rc == 1 && notice != NULL && strstr(notice, "TERM is not set") != NULL,
          "empty TERM: rc %d notice %s", rc, notice != NULL ? notice : "(null)");
    free(notice);
    notice = NULL;

    static const char *const later[] = {"imp-no-such-fallback", "vt100", NULL};
    rc = termdetect_terminfo_check("imp-no-such-terminal", later, &fallback, &notice, &cause);
    CHECK(rc == 1 && fallback != NULL && strcmp(fallback, "vt100") == 0,
          "a later fallback: rc %d fallback %s", rc, fallback != NULL ? fallback : "(null)");
    free(notice);
    notice = NULL;

    static const char *const none[] = {"imp-no-such-fallback", NULL};
    rc = termdetect_terminfo_check("xterm-kitty-imp", none, &fallback, &notice, &cause);
    CHECK(rc == -1 && fallback == NULL && notice == NULL && cause != NULL &&
              strstr(cause, "TERM=xterm-kitty-imp has no terminfo entry") != NULL &&
              strstr(cause, "imp-no-such-fallback") != NULL,
          "no entry anywhere: rc %d cause %s", rc, cause != NULL ? cause : "(null)");
    free(cause);
}

/* Which TERM values the full-screen chat runs on, and the hint for the others. */
static void
test_screen_usable(void)
{
    char *hint = NULL;
    if (!termdetect_screen_usable("xterm-256color", &hint)) {
        fprintf(stderr, "no terminfo entry for xterm-256color: screen checks skipped\n");
        free(hint);
        return;
    }
    CHECK(hint == NULL, "xterm-256color: a hint %s", hint);
    static const struct {
        const char *term, *hint;
    } cases[] = {
        {"dumb", "TERM=dumb cannot move the cursor"},
        {"", "TERM is not set"},
        {NULL, "TERM is not set"},
        {"xterm-kitty-imp", "TERM=xterm-kitty-imp has no terminfo entry"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int usable = termdetect_screen_usable(cases[i].term, &hint);
        CHECK(!usable && hint != NULL && strstr(hint, cases[i].hint) != NULL &&
                  strstr(hint, "line mode") != NULL && strchr(hint, '\n') == NULL,
              "TERM=%s: usable %d hint %s", cases[i].term ? cases[i].term : "(unset)", usable,
              hint != NULL ? hint : "(null)");
        free(hint);
    }
}

int
main(void)
{
    if (setlocale(LC_ALL, "C.UTF-8") == NULL) {
        fprintf(stderr, "no C.UTF-8 locale\n");
        return TEST_SKIP;
    }
    /* a test that hangs fails instead of blocking the suite */
    alarm(120);
    test_answers();
    test_tmux();
    test_environment();
    test_parse();
    test_terminfo();
    test_screen_usable();
    return testutil_finish("test_termdetect");
}
