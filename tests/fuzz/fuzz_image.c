/* The image loader on arbitrary bytes: every format it accepts, through the public from-memory call. */
#include "config.h"

#include <stdlib.h>

#include "fuzztarget.h"
#include "image.h"

FUZZ_TARGET(image, data, size)
{
    image_rgb img = {0};
    char *cause = NULL;
    if (image_load_memory(&img, data, size, "fuzz-input", &cause) == 0) {
        FUZZ_CHECK(img.width > 0 && img.height > 0 && img.rgb != NULL);
        FUZZ_CHECK(img.width <= IMAGE_MAX_SIDE && img.height <= IMAGE_MAX_SIDE);
        image_free(&img);
    } else {
        FUZZ_CHECK(cause != NULL);
    }
    free(cause);
    return 0;
}
