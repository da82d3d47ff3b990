#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "regfile.h"

/* What a file of this mode is, for messages; NULL for a regular file. */
static const char *
regfile_kind(mode_t mode)
{
    if (S_ISREG(mode))
        return NULL;
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a named pipe (FIFO)";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a file";
}

/* -1 with *cause "PATH: REASON (WHAT)" and errno set to err. */
static int
regfile_fail(const char *path, const char *what, const char *reason, int err, char **cause)
{
    if (what != NULL)
        log_cause(cause, "%s: %s (%s)", path, reason, what);
    else
        log_cause(cause, "%s: %s", path, reason);
    errno = err;
    return -1;
}

/* Refuse a file of this mode with a message; 0 for a regular file. */
static int
regfile_refuse(const char *path, const char *what, mode_t mode, char **cause)
{
    const char *kind = regfile_kind(mode);
    if (kind == NULL)
        return 0;
    char reason[64];
    snprintf(reason, sizeof reason, "%s, not a regular file", kind);
    return regfile_fail(path, what, reason, S_ISDIR(mode) ? EISDIR : EINVAL, cause);
}

int
regfile_check(const char *path, const char *what, char **cause)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int err = errno;
        return regfile_fail(path, what, strerror(err), err, cause);
    }
    return regfile_refuse(path, what, st.st_mode, cause);
}

int
regfile_open(const char *path, const char *what, char **cause)
{
    struct stat st;
    if (regfile_check(path, what, cause) != 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int err = errno;
        return regfile_fail(path, what, strerror(err), err, cause);
    }
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return regfile_fail(path, what, strerror(err), err, cause);
    }
    if (regfile_refuse(path, what, st.st_mode, cause) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    /* reads of a regular file never block; clear the flag for code that checks it */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

FILE *
regfile_fopen(const char *path, const char *what, char **cause)
{
    int fd = regfile_open(path, what, cause);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        int err = errno;
        close(fd);
        regfile_fail(path, what, strerror(err), err, cause);
    }
    return f;
}
