/* The CUDA backend's messages and decisions, tested without a GPU (gpumsg.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gpumsg.h"
#include "testutil.h"

#define DEFAULT_SASS "75 80 86 89 90"

static void
check_text(char *got, const char *want, const char *what)
{
    CHECK(strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", what, got, want);
    free(got);
}

static void
check_contains(const char *got, const char *part, const char *what)
{
    CHECK(strstr(got, part) != NULL, "%s: \"%s\" lacks \"%s\"", what, got, part);
}

static void
test_archs_text(void)
{
    check_text(gpumsg_archs_text(DEFAULT_SASS, "90"),
               "sm_75 sm_80 sm_86 sm_89 sm_90 + PTX compute_90", "default list");
    check_text(gpumsg_archs_text("80", ""), "sm_80", "no PTX");
    check_text(gpumsg_archs_text("120", "120"), "sm_120 + PTX compute_120", "Blackwell");
    check_text(gpumsg_archs_text("native", ""), "native (the build machine's GPU)", "native");
}

static void
test_covers(void)
{
    static const struct {
        const char *sass, *ptx;
        int major, minor, want;
        const char *card;
    } cases[] = {
        {DEFAULT_SASS, "90", 7, 5, 1, "T4"},
        {DEFAULT_SASS, "90", 8, 0, 1, "A100"},
        {DEFAULT_SASS, "90", 8, 7, 1, "Orin: sm_86 runs on 8.7"},
        {DEFAULT_SASS, "90", 9, 0, 1, "H100"},
        {DEFAULT_SASS, "90", 10, 0, 1, "B200 through the PTX"},
        {DEFAULT_SASS, "90", 12, 0, 1, "RTX 5090 through the PTX"},
        {DEFAULT_SASS, "90", 7, 0, 0, "V100: older than every entry"},
        {DEFAULT_SASS, "90", 6, 1, 0, "GTX 1080"},
        {"80 86", "", 7, 5, 0, "T4 on a build without sm_75"},
        {"80 86", "", 9, 0, 0, "H100 without PTX: sm_86 does not run on 9.0"},
        {"86", "", 8, 0, 0, "A100 with only sm_86: no earlier minor"},
        {"80", "80", 9, 0, 1, "H100 through compute_80"},
        {"native", "", 5, 0, 1, "native: the probe decides"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = gpumsg_covers(cases[i].sass, cases[i].ptx, cases[i].major, cases[i].minor);
        CHECK(got == cases[i].want, "covers(\"%s\", \"%s\", %d.%d) [%s] = %d, want %d",
              cases[i].sass, cases[i].ptx, cases[i].major, cases[i].minor, cases[i].card, got,
              cases[i].want);
    }
}

static void
test_uncovered(void)
{
    char *m = gpumsg_uncovered("Tesla V100-SXM2-16GB", 7, 0, DEFAULT_SASS, "90");
    check_contains(m, "Tesla V100-SXM2-16GB", "uncovered card name");
    check_contains(m, "sm_70", "uncovered arch");
    check_contains(m, "sm_75 sm_80 sm_86 sm_89 sm_90 + PTX compute_90", "uncovered build list");
    check_contains(m, "./configure --with-cuda-arch=\"75 80 86 89 90 70\"", "uncovered fix");
    free(m);
    /* a card name comes from the driver: escapes must not reach the terminal */
    m = gpumsg_uncovered("Evil\033[2JCard", 6, 1, "80", "");
    CHECK(strchr(m, '\033') == NULL, "uncovered: escape byte in \"%s\"", m);
    check_contains(m, "--with-cuda-arch=\"80 61\"", "uncovered fix without PTX");
    free(m);
    /* a native build moved to another machine: the list to give is the card's own */
    m = gpumsg_uncovered("NVIDIA L4", 8, 9, "native", "");
    check_contains(m, "sm_89", "native uncovered arch");
    check_contains(m, "--with-cuda-arch=\"89\"", "native uncovered fix");
    CHECK(strstr(m, "native 89") == NULL, "native kept in the list: %s", m);
    free(m);
}

static void
test_failure(void)
{
    check_text(gpumsg_failure("allocating weight lm_head.weight", "51200 x 2560 fp16, 250.0 MiB",
                              "Tesla T4", "out of memory (cudaErrorMemoryAllocation)", NULL),
               "CUDA error in allocating weight lm_head.weight (51200 x 2560 fp16, 250.0 MiB) on "
               "Tesla T4: out of memory (cudaErrorMemoryAllocation)",
               "alloc failure");
    check_text(gpumsg_failure("cublasGemmEx", NULL, "NVIDIA H100", "execution failed", "hint"),
               "CUDA error in cublasGemmEx on NVIDIA H100: execution failed; hint", "no sizes");
    char *m = gpumsg_failure("the gelu kernel", "", "Bad\x1b]0;x\x07", "fault", "");
    CHECK(strchr(m, '\033') == NULL && strchr(m, '\a') == NULL, "failure: control bytes in \"%s\"",
          m);
    CHECK(strstr(m, "()") == NULL && m[strlen(m) - 1] != ' ', "failure: empty parts in \"%s\"", m);
    free(m);
}

static void
test_parse_fail(void)
{
    gpumsg_fail f = GPUMSG_FAIL_KERNEL;
    long from = -1;
    char *cause = NULL;
    CHECK(gpumsg_parse_fail(NULL, &f, &from, &cause) == 0 && f == GPUMSG_FAIL_NONE && from == 0,
          "unset");
    CHECK(gpumsg_parse_fail("", &f, &from, &cause) == 0 && f == GPUMSG_FAIL_NONE, "empty");
    CHECK(gpumsg_parse_fail("alloc", &f, &from, &cause) == 0 && f == GPUMSG_FAIL_ALLOC, "alloc");
    CHECK(gpumsg_parse_fail("cublas", &f, &from, &cause) == 0 && f == GPUMSG_FAIL_CUBLAS, "cublas");
    CHECK(gpumsg_parse_fail("kernel", &f, &from, &cause) == 0 && f == GPUMSG_FAIL_KERNEL &&
              from == 0,
          "kernel");
    CHECK(gpumsg_parse_fail("kernel@12", &f, &from, &cause) == 0 && f == GPUMSG_FAIL_KERNEL &&
              from == 12,
          "kernel@12 gave %d from %ld", (int)f, from);
    CHECK(gpumsg_parse_fail("cublas@1", &f, &from, &cause) == 0 && f == GPUMSG_FAIL_CUBLAS &&
              from == 1,
          "cublas@1 gave %d from %ld", (int)f, from);
    static const char *const bad[] = {"kernel@", "kernel@0", "kernel@-3", "kernel@5x",
                                      "kern@5",  "kernel5",  "@5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(gpumsg_parse_fail(bad[i], &f, &from, &cause) == -1 && cause != NULL,
              "\"%s\" accepted", bad[i]);
        free(cause);
        cause = NULL;
    }
    CHECK(gpumsg_parse_fail("oom\033", &f, &from, &cause) == -1 && cause != NULL,
          "unknown accepted");
    if (cause != NULL) {
        check_contains(cause, "IMP_CHAT_CUDA_FAIL=oom", "unknown cause");
        check_contains(cause, "alloc, cublas or kernel", "unknown cause");
        CHECK(strchr(cause, '\033') == NULL, "escape in \"%s\"", cause);
    }
    free(cause);
}

int
main(void)
{
    test_archs_text();
    test_covers();
    test_uncovered();
    test_failure();
    test_parse_fail();
    return testutil_finish("test_gpumsg");
}
