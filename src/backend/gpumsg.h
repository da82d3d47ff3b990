/*
 * What the CUDA backend says, as pure C so that machines without a GPU test it: the architectures
 * a build covers, whether a card is covered, the one-line report of a device failure, and the
 * failure injection read from IMP_CHAT_CUDA_FAIL.
 */
#ifndef IMP_GPUMSG_H
#define IMP_GPUMSG_H

/*
 * Architecture lists are numbers separated by spaces ("75 80 86 89 90"), each major*10+minor of a
 * compute capability (120 is 12.0); sass lists the machine code built, ptx the one PTX embedded
 * ("" for none). sass "native" means the GPU of the build machine.
 */

/* "sm_75 sm_80 + PTX compute_90" (or "native (the build machine's GPU)"). New string. */
char *gpumsg_archs_text(const char *sass, const char *ptx);

/*
 * 1 when a build runs on a card of compute capability major.minor: machine code for the same major
 * and a minor at or below the card's, or PTX at or below it; "native" is always taken as covered
 * (the device probe decides).
 */
int gpumsg_covers(const char *sass, const char *ptx, int major, int minor);

/*
 * Why a card is not covered, naming it (sanitized), its sm_XY, what the build has and the configure
 * line that adds it. New string.
 */
char *gpumsg_uncovered(const char *card, int major, int minor, const char *sass, const char *ptx);

/*
 * The one line a device failure gives: "CUDA error in OP (SIZES) on CARD: ERROR; HINT". sizes and
 * hint may be NULL; card is sanitized. New string.
 */
char *gpumsg_failure(const char *op, const char *sizes, const char *card, const char *error,
                     const char *hint);

/* Failures that IMP_CHAT_CUDA_FAIL injects, to test the paths without a faulty device. */
typedef enum {
    GPUMSG_FAIL_NONE,
    GPUMSG_FAIL_ALLOC,  /* every device allocation reports out of memory */
    GPUMSG_FAIL_CUBLAS, /* every cuBLAS product reports an execution failure */
    GPUMSG_FAIL_KERNEL, /* every kernel launch reports a launch failure */
} gpumsg_fail;

/*
 * Parse IMP_CHAT_CUDA_FAIL's value (NULL or "" is none): KIND, failing from the start, or KIND@N,
 * failing from the Nth token sampled on (*from_token N, else 0), so that a failure can come in
 * the middle of a conversation. -1 with *cause when unknown.
 */
int gpumsg_parse_fail(const char *s, gpumsg_fail *fail, long *from_token, char **cause);

#endif
