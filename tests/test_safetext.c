/*
 * The one sanitizer (src/base/safetext.c): its rules, strict UTF-8 decoding, the stream form over
 * every chunking, the stdio stream; stderr messages through it; and regfile's refusal of files
 * that are not regular files (also for themes).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "regfile.h"
#include "safetext.h"
#include "testutil.h"
#include "theme.h"
#include "xmalloc.h"

/* The stream form of s fed in chunks of at most chunk bytes (0: byte by byte). New string. */
static char *
test_stream(const char *s, size_t len, int flags, size_t chunk)
{
    safetext_stream st;
    char *out = xmalloc(SAFETEXT_STREAM_OUT(len) + SAFETEXT_STREAM_OUT(0) + 1);
    size_t n = 0;
    safetext_stream_init(&st, flags);
    for (size_t i = 0; i < len;) {
        size_t k = chunk == 0 ? 1 : chunk;
        if (k > len - i)
            k = len - i;
        size_t got = safetext_stream_feed(&st, s + i, k, out + n);
        CHECK(got <= SAFETEXT_STREAM_OUT(k), "stream: %zu bytes out for %zu in", got, k);
        n += got;
        i += k;
    }
    n += safetext_stream_finish(&st, out + n);
    out[n] = '\0';
    return out;
}

/* Whether s holds a control byte but \n and \t, a C1 control or a bidi control. */
static int
test_has_controls(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; u[i] != 0; i++) {
        if ((u[i] < 0x20 && u[i] != '\n' && u[i] != '\t') || u[i] == 0x7F)
            return 1;
        if (u[i] == 0xC2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F)
            return 1;
        if (u[i] == 0xE2 && u[i + 1] == 0x80 &&
            (u[i + 2] == 0x8E || u[i + 2] == 0x8F || (u[i + 2] >= 0xAA && u[i + 2] <= 0xAE)))
            return 1;
        if (u[i] == 0xE2 && u[i + 1] == 0x81 && u[i + 2] >= 0xA6 && u[i + 2] <= 0xA9)
            return 1;
    }
    return 0;
}

/* Check the sanitised form of in (len bytes; SIZE_MAX: up to its NUL), whole and in chunks. */
static void
test_text(const char *what, const char *in, size_t len, int flags, const char *want)
{
    if (len == SIZE_MAX)
        len = strlen(in);
    char *got = safetext_new(in, len, flags);
    CHECK(strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", what, got, want);
    /* the stream form gives the same text whatever the chunks */
    for (size_t chunk = 0; chunk <= len; chunk++) {
        char *s = test_stream(in, len, flags, chunk);
        CHECK(strcmp(s, want) == 0, "%s: stream in chunks of %zu: \"%s\"", what, chunk, s);
        free(s);
    }
    free(got);
}

static void
test_rules(void)
{
    char esc[SAFETEXT_ESCAPE_MAX];
    CHECK(safetext_classify('a') == SAFETEXT_KEEP, "a is kept");
    CHECK(safetext_classify(0x1B) == SAFETEXT_CARET, "ESC is caret");
    CHECK(safetext_classify(0x7F) == SAFETEXT_CARET, "DEL is caret");
    CHECK(safetext_classify('\n') == SAFETEXT_CARET, "\\n is caret without flags");
    CHECK(safetext_classify(0x9B) == SAFETEXT_CODE, "CSI is code");
    CHECK(safetext_classify(0x202E) == SAFETEXT_CODE, "RLO is code");
    CHECK(safetext_classify(0x2066) == SAFETEXT_CODE, "LRI is code");
    CHECK(safetext_classify(0x061C) == SAFETEXT_CODE, "ALM is code");
    CHECK(safetext_classify(0x10EEEE) == SAFETEXT_REPLACE, "kitty placeholder is replaced");
    CHECK(safetext_classify(0xD800) == SAFETEXT_REPLACE, "surrogate is replaced");
    CHECK(safetext_classify(0x110000) == SAFETEXT_REPLACE, "beyond U+10FFFF is replaced");
    CHECK(safetext_classify(0x4E2D) == SAFETEXT_KEEP, "CJK is kept");
    CHECK(safetext_escape(0x1B, esc) == 2 && strcmp(esc, "^[") == 0, "ESC is ^[ (%s)", esc);
    CHECK(safetext_escape(0, esc) == 2 && strcmp(esc, "^@") == 0, "NUL is ^@ (%s)", esc);
    CHECK(safetext_escape(0x7F, esc) == 2 && strcmp(esc, "^?") == 0, "DEL is ^? (%s)", esc);
    CHECK(safetext_escape(0x85, esc) == 8 && strcmp(esc, "<U+0085>") == 0, "NEL (%s)", esc);

    uint32_t cp;
    CHECK(safetext_decode("\xe4\xb8\xad", 3, &cp) == 3 && cp == 0x4E2D, "decode 3 bytes");
    CHECK(safetext_decode("\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1F600, "decode 4 bytes");
    CHECK(safetext_decode("\xe4\xb8", 2, &cp) == 0, "a cut-off sequence waits");
    CHECK(safetext_decode("\xc0\xaf", 2, &cp) == 1 && cp == SAFETEXT_REPLACEMENT, "overlong");
    CHECK(safetext_decode("\xe0\x80\xaf", 3, &cp) == 1 && cp == SAFETEXT_REPLACEMENT, "overlong 3");
    CHECK(safetext_decode("\xed\xa0\x80", 3, &cp) == 1 && cp == SAFETEXT_REPLACEMENT, "surrogate");
    CHECK(safetext_decode("\xf4\x90\x80\x80", 4, &cp) == 1, "beyond U+10FFFF");
    CHECK(safetext_decode("\xf5\x80", 2, &cp) == 1 && cp == SAFETEXT_REPLACEMENT, "F5");
    CHECK(safetext_decode("\x80", 1, &cp) == 1 && cp == SAFETEXT_REPLACEMENT, "lone continuation");

    test_text("file name", "photo\x1b[2J\x07\xc2\x9b\xe2\x80\xae.png\xff\n", SIZE_MAX, 0,
              "photo^[[2J^G<U+009B><U+202E>.png\xEF\xBF\xBD^J");
    test_text("OSC 52", "\x1b]52;c;aGk=\x07", 12, 0, "^[]52;c;aGk=^G");
    test_text("newline and tab kept", "a\nb\tc\r\n", 7, SAFETEXT_KEEP_NEWLINE | SAFETEXT_KEEP_TAB,
              "a\nb\tc^M\n");
    test_text("NUL and DEL", "a\0b\x7f", 4, 0, "a^@b^?");
    test_text("isolates", "\xe2\x81\xa6x\xe2\x81\xa9", 7, 0, "<U+2066>x<U+2069>");
    test_text("cut off at the end", "ok\xe4\xb8", 4, 0, "ok\xEF\xBF\xBD");
    test_text("surrogate bytes", "\xed\xa0\x80", 3, 0, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    test_text("kitty placeholder", "\xf4\x8e\xbb\xae", 4, 0, "\xEF\xBF\xBD");
    test_text("plain UTF-8", "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80", SIZE_MAX, 0,
              "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80");
}

/* Random bytes in random chunks: the same as the whole, inside the size bound, no controls. */
static void
test_random(void)
{
    static const unsigned char pool[] = {0x1b, 0x07, 0x9b, 0xc2, 0xe2, 0x80, 0xae, 0xf0, 0x9f,
                                         0x98, 0xed, 0xa0, 0xff, 'a', '\n', '\t', 0x7f, 0xf4};
    char buf[64];
    int bad = 0;
    for (int t = 0; t < 3000 && !bad; t++) {
        size_t len = testutil_random() % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)(testutil_random() % 3 == 0 ? testutil_random() & 0xFF
                                                        : pool[testutil_random() % sizeof pool]);
        int flags = (int)(testutil_random() % 4);
        char *whole = safetext_new(buf, len, flags);
        char *parts = test_stream(buf, len, flags, 1 + testutil_random() % 5);
        if (strcmp(whole, parts) != 0 || test_has_controls(whole) ||
            ((flags & SAFETEXT_KEEP_NEWLINE) == 0 && strchr(whole, '\n') != NULL)) {
            bad = 1;
            CHECK(0, "random case %d: whole \"%s\", in chunks \"%s\"", t, whole, parts);
        }
        free(whole);
        free(parts);
    }
    CHECK(!bad, "3000 random byte strings: same in chunks, no control left");
}

/* A stdio stream over the sanitizer: pieces written with fprintf and fputc come out escaped. */
static void
test_fopen(void)
{
    char *mem = NULL;
    size_t size = 0;
    FILE *to = open_memstream(&mem, &size);
    FILE *f = safetext_fopen(to, SAFETEXT_KEEP_NEWLINE);
    CHECK(f != NULL, "safetext_fopen");
    if (f == NULL)
        return;
    fputs("reply \xe2\x80", f);
    fflush(f);
    fputc(0xae, f);
    fprintf(f, " \x1b]0;%s\x07\n", "t");
    fputs("cut \xf0\x9f", f);
    CHECK(fclose(f) == 0, "closing the stream");
    fclose(to);
    CHECK(strcmp(mem, "reply <U+202E> ^[]0;t^G\ncut \xEF\xBF\xBD") == 0, "stream gave \"%s\"", mem);
    free(mem);
}

/* log_error's line on stderr, captured in a file. New string. */
static char *
test_log_capture(const char *fmt, const char *arg)
{
    const char *dir = testutil_tmpdir("test_safetext");
    char path[4096];
    snprintf(path, sizeof path, "%s/stderr", dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    close(fd);
    log_error(fmt, arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    return testutil_read_file(path, NULL);
}

static void
test_log(void)
{
    char *got = test_log_capture("%s: No such file", "/tmp/a\x1b]0;x\x07\xc2\x85\nb");
    CHECK(got != NULL && strcmp(got, "imp-chat: /tmp/a^[]0;x^G<U+0085>^Jb: No such file\n") == 0,
          "log_error escapes what it quotes: \"%s\"", got != NULL ? got : "(nothing)");
    free(got);
    /* longer than the message buffer */
    char *long_name = xmalloc(3001);
    for (int i = 0; i < 3000; i++)
        long_name[i] = i % 100 == 50 ? '\x1b' : 'x';
    long_name[3000] = '\0';
    got = test_log_capture("tensor %s", long_name);
    CHECK(got != NULL && strlen(got) == strlen("imp-chat: tensor ") + 3000 + 30 + 1 &&
              !test_has_controls(got),
          "a long message is escaped whole (%zu bytes)", got != NULL ? strlen(got) : 0);
    free(got);
    free(long_name);
}

/* regfile refuses what is not a regular file, naming it; expect "" means accepted. */
static void
test_regfile_case(const char *what, const char *path, const char *expect, int err)
{
    char *cause = NULL;
    int fd = regfile_open(path, "test input", &cause);
    if (*expect == '\0') {
        CHECK(fd >= 0, "%s: accepted (%s)", what, cause != NULL ? cause : "");
        if (fd >= 0) {
            CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0, "%s: blocking reads", what);
            close(fd);
        }
    } else {
        int e = errno;
        CHECK(fd < 0 && cause != NULL && strstr(cause, path) != NULL &&
                  strstr(cause, expect) != NULL && strstr(cause, "(test input)") != NULL,
              "%s: refused with \"%s\"", what, cause != NULL ? cause : "(no cause)");
        CHECK(err == 0 || e == err, "%s: errno %d, want %d", what, e, err);
    }
    free(cause);
}

static void
test_regfile(void)
{
    const char *dir = testutil_tmpdir("test_safetext_files");
    char file[4096], fifo[4096], sock[4096], missing[4096];
    snprintf(file, sizeof file, "%s/file.txt", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(sock, sizeof sock, "%s/s", dir);
    snprintf(missing, sizeof missing, "%s/missing", dir);
    testutil_write_file(file, "hello\n", 6);
    CHECK(mkfifo(fifo, 0644) == 0, "mkfifo");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    int bound = strlen(sock) < sizeof sa.sun_path && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0;

    test_regfile_case("regular file", file, "", 0);
    test_regfile_case("FIFO", fifo, "a named pipe (FIFO), not a regular file", EINVAL);
    test_regfile_case("folder", dir, "a directory, not a regular file", EISDIR);
    test_regfile_case("character device", "/dev/null", "a character device, not a regular file",
                      EINVAL);
    test_regfile_case("missing", missing, "No such file or directory", ENOENT);
    if (bound)
        test_regfile_case("socket", sock, "a socket, not a regular file", EINVAL);
    close(s);

    char *cause = NULL;
    FILE *f = regfile_fopen(file, NULL, &cause);
    char line[16] = "";
    CHECK(f != NULL && fgets(line, sizeof line, f) != NULL && strcmp(line, "hello\n") == 0,
          "regfile_fopen reads a regular file");
    if (f != NULL)
        fclose(f);
    int rc = regfile_check(fifo, NULL, &cause);
    size_t clen = cause != NULL ? strlen(cause) : 0;
    CHECK(rc == -1 && clen > 12 && strcmp(cause + clen - 12, "regular file") == 0,
          "without what, nothing after the reason: %s", cause);
    free(cause);

    /* a theme file that is a FIFO is refused with its path, not waited on */
    char themes[4096], theme_fifo[4096];
    snprintf(themes, sizeof themes, "%s/imp-chat/themes", dir);
    snprintf(theme_fifo, sizeof theme_fifo, "%s/pipe.theme", themes);
    char mk[8192];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", themes);
    CHECK(system(mk) == 0 && mkfifo(theme_fifo, 0644) == 0, "theme FIFO made");
    setenv("XDG_CONFIG_HOME", dir, 1);
    char *notices = NULL;
    cause = NULL;
    theme *t = theme_load_new("pipe", &notices, &cause);
    CHECK(t == NULL && cause != NULL && strstr(cause, "pipe.theme: a named pipe (FIFO)") != NULL,
          "a FIFO theme is refused: %s", cause != NULL ? cause : "(loaded)");
    theme_free(t);
    free(cause);
    free(notices);
}

int
main(void)
{
    test_rules();
    test_random();
    test_fopen();
    test_log();
    test_regfile();
    return testutil_finish("test_safetext");
}
