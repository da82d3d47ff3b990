#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "safetext.h"
#include "xmalloc.h"

static void (*log_restore_hook)(void);
static int log_quiet;
static const char *log_program = "imp-chat";

/* Write len bytes of a message to stderr sanitised as one line, without allocating. */
static void
log_write_safe(const char *s, size_t len)
{
    safetext_stream st;
    char out[SAFETEXT_STREAM_OUT(256)];
    safetext_stream_init(&st, 0);
    for (size_t i = 0; i < len; i += 256) {
        size_t n = len - i < 256 ? len - i : 256;
        fwrite(out, 1, safetext_stream_feed(&st, s + i, n, out), stderr);
    }
    fwrite(out, 1, safetext_stream_finish(&st, out), stderr);
}

/*
 * Messages quote outside data (paths, tensor names, JSON strings, tokenizer entries), so each is
 * sanitised whole: one line, no control character reaches the terminal. No xmalloc here: an
 * out-of-memory message must not recurse.
 */
static void
log_vprint(const char *fmt, va_list ap)
{
    char buf[1024], *msg = buf;
    va_list copy;
    va_copy(copy, ap);
    int len = vsnprintf(buf, sizeof buf, fmt, ap);
    if (len >= (int)sizeof buf && (msg = malloc((size_t)len + 1)) != NULL)
        vsnprintf(msg, (size_t)len + 1, fmt, copy);
    else if (msg == NULL)
        msg = buf; /* truncated rather than lost */
    va_end(copy);
    fprintf(stderr, "%s: ", log_program);
    log_write_safe(msg, len < 0 ? 0 : strlen(msg));
    fputc('\n', stderr);
    fflush(stderr);
    if (msg != buf)
        free(msg);
}

void
fatal(const char *fmt, ...)
{
    va_list ap;
    void (*hook)(void) = log_restore_hook;
    log_restore_hook = NULL; /* a failure inside the hook must not recurse */
    if (hook != NULL)
        hook();
    va_start(ap, fmt);
    log_vprint(fmt, ap);
    va_end(ap);
    exit(1);
}

void
log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vprint(fmt, ap);
    va_end(ap);
}

void
log_info(const char *fmt, ...)
{
    va_list ap;
    if (log_quiet)
        return;
    va_start(ap, fmt);
    log_vprint(fmt, ap);
    va_end(ap);
}

void
log_set_program(const char *name)
{
    log_program = name;
}

void
log_set_quiet(int quiet)
{
    log_quiet = quiet;
}

void
log_set_restore_hook(void (*hook)(void))
{
    log_restore_hook = hook;
}

int
log_cause(char **cause, const char *fmt, ...)
{
    va_list ap;
    if (cause == NULL)
        return -1;
    va_start(ap, fmt);
    *cause = xvasprintf(fmt, ap);
    va_end(ap);
    return -1;
}
