/* WebP decoding through libwebp (lossy, lossless, and the first frame of an animation). */
#ifndef IMP_IMAGEWEBP_H
#define IMP_IMAGEWEBP_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/*
 * Decode a WebP file held in memory to RGB (alpha dropped without compositing, as PIL's
 * convert("RGB")); for an animation, its first frame. The size limit is checked before decoding.
 * Returns 0 or -1 with *cause naming name and the reason.
 */
int imagewebp_decode(image_rgb *img, const uint8_t *data, size_t len, const char *name,
                     char **cause);

#endif
