/*
 * The sessions folder ($XDG_DATA_HOME/imp-chat/sessions, by default ~/.local/share/...): session
 * files NAME.json, and the image store images/SHA256 holding each attached picture's bytes once.
 * Every write is atomic (a temporary file in the same folder, fsync, rename, fsync of the folder),
 * so a failed write leaves the old file as it was and nothing half-written behind.
 */
#ifndef IMP_SESSIONSTORE_H
#define IMP_SESSIONSTORE_H

#include <stddef.h>
#include <time.h>

/* One saved session, for listing. */
typedef struct {
    char *name;  /* NAME of NAME.json */
    char *path;
    time_t mtime;
    long mtime_ns; /* for the order of files written in the same second */
} sessionstore_entry;

/* The sessions folder (new string; not created). */
char *sessionstore_dir_new(void);
/* Create folder and its parents (mode 0700 for new ones); -1 with *cause naming it. */
int sessionstore_mkdirs(const char *folder, char **cause);
/*
 * Write len bytes to path atomically. -1 with *cause naming path when anything fails (a missing or
 * read-only folder, a full disk, path not a regular file): path is then unchanged and no temporary
 * file is left.
 */
int sessionstore_write_atomic(const char *path, const void *data, size_t len, char **cause);
/*
 * Read a whole regular file of at most max bytes (others are refused without being opened:
 * FIFOs, devices, folders; regfile.h). -1 with *cause naming path.
 */
int sessionstore_read(const char *path, size_t max, char **data, size_t *len, char **cause);
/* The store's file for an image's SHA-256 (new string). */
char *sessionstore_blob_path_new(const char *dir, const char *sha256);
/* Store an image's bytes under its SHA-256 unless they are there; -1 with *cause. */
int sessionstore_put_blob(const char *dir, const char *sha256, const void *data, size_t len,
                          char **cause);
/* The lower-case hex SHA-256 of len bytes into hex (65 bytes). */
void sessionstore_sha256_hex(const void *data, size_t len, char hex[65]);
/*
 * The file a /load or --resume argument names: a PATH (with a '/' or ending in .json) as given
 * (~ expanded), else NAME.json in dir. New string.
 */
char *sessionstore_resolve_new(const char *dir, const char *arg);
/* Whether path is NAME.json directly in dir. */
int sessionstore_in_dir(const char *dir, const char *path);
/* The sessions in dir, newest first (empty when the folder is missing); free with _list_free. */
int sessionstore_list(const char *dir, sessionstore_entry **entries);
/* Free a listing. */
void sessionstore_list_free(sessionstore_entry *entries, int n);
/* A NAME is a plain file name: no '/', not starting with '.', at most 100 bytes. */
int sessionstore_name_ok(const char *name);

#endif
