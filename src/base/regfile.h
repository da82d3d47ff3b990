/*
 * Files read as input (model files, images, config, scripts, themes, sessions) must be regular
 * files: a FIFO would block the read forever, a device could be endless or have side effects, a
 * folder or socket cannot be read. These functions refuse them before anything is opened for
 * reading, with a message that names the file.
 */
#ifndef IMP_REGFILE_H
#define IMP_REGFILE_H

#include <stdio.h>

/*
 * 0 when path is a regular file (symbolic links followed); else -1 with *cause
 * "PATH: a named pipe (FIFO), not a regular file (WHAT)" or "PATH: No such file or directory
 * (WHAT)" (what may be NULL) and errno set (ENOENT when it does not exist, EISDIR for a folder,
 * EINVAL for the other kinds).
 */
int regfile_check(const char *path, const char *what, char **cause);
/*
 * Open path read-only after regfile_check; the open itself cannot block (a regular file swapped
 * for a FIFO after the check is refused too). Returns the descriptor, or -1 with *cause and errno.
 */
int regfile_open(const char *path, const char *what, char **cause);
/* regfile_open as a stdio stream (mode "r"). NULL with *cause and errno. */
FILE *regfile_fopen(const char *path, const char *what, char **cause);

#endif
