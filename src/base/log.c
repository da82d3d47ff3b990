#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "xmalloc.h"

static void (*log_restore_hook)(void);
static int log_quiet;
static const char *log_program = "imp-chat";

static void
log_vprint(const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", log_program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
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
