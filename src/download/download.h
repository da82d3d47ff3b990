/*
 * Downloading a model from the Hugging Face hub (libcurl). The plan comes from the model API: the
 * revision's commit and file list, then the tree listing for sizes and hashes. Each file goes
 * through its resolve URL (redirects followed) into a temporary name in the destination folder,
 * is resumed with a Range request after an interruption, retried with back-off after transient
 * failures, checked (size always; SHA-256 for LFS files, the git blob id for the others) and only
 * then renamed into place. HF_ENDPOINT and HF_TOKEN are honoured.
 */
#ifndef IMP_DOWNLOAD_H
#define IMP_DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct download_plan download_plan;

typedef enum {
    DOWNLOAD_START,   /* a file begins (resumed_from > 0: a partial file is continued) */
    DOWNLOAD_DATA,    /* bytes arrived */
    DOWNLOAD_CHECK,   /* bytes already on disk are being hashed */
    DOWNLOAD_DONE,    /* the file was downloaded, verified and renamed into place */
    DOWNLOAD_PRESENT, /* the file was already in place and verified */
    DOWNLOAD_NOTE,    /* a message in note: a retry, a file fetched again */
} download_event;

/* What a progress callback receives. */
typedef struct {
    download_event event;
    int index; /* 1-based */
    int count;
    const char *name;
    uint64_t file_done, file_size;
    uint64_t total_done, total_size;
    uint64_t resumed_from; /* bytes of this file that were already on disk */
    const char *note;
} download_progress;

typedef void (*download_progress_fn)(void *ctx, const download_progress *p);

/*
 * Ask the hub (HF_ENDPOINT, default https://huggingface.co) which files revision rev of id needs:
 * config, tokenizer files, index and shards. cancel is polled during every transfer. Returns NULL
 * with *cause (what failed, where, and what to do) when the hub cannot be reached or refuses.
 */
download_plan *download_plan_new(const char *id, const char *rev, volatile int *cancel,
                                 char **cause);
/* Total size in bytes of the files to download. */
uint64_t download_plan_bytes(const download_plan *p);
/* Number of files. */
size_t download_plan_count(const download_plan *p);
/* The commit the revision resolved to. */
const char *download_plan_commit(const download_plan *p);
/*
 * Download every file into dir (created when missing), skipping files already there that verify
 * and fetching again those that do not. Returns 0, or -1 with *cause; after a cancel or a write
 * failure the partial file is kept so that the next run resumes it.
 */
int download_plan_run(download_plan *p, const char *dir, download_progress_fn fn, void *ctx,
                      char **cause);
/* Free the plan. */
void download_plan_free(download_plan *p);
/*
 * Whether the hub (HF_ENDPOINT) answers a connection within timeout_ms: 0, or -1 with *cause
 * "ENDPOINT cannot be reached: REASON". One try, no retries: for a quick answer when offline.
 */
int download_hub_probe(int timeout_ms, char **cause);
/* Format a byte count for people ("6.4 GB", decimal units as the hub shows them) into buf. */
const char *download_format_bytes(char *buf, size_t cap, uint64_t bytes);

#endif
