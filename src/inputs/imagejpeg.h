/* JPEG decoding through libjpeg-turbo with the settings PIL uses, so pixels match it exactly. */
#ifndef IMP_IMAGEJPEG_H
#define IMP_IMAGEJPEG_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/*
 * Progressive JPEGs with more scans than this are refused: each scan passes over the whole image
 * (a scan can cover every block in a few bytes), so large images get fewer. Ordinary files have
 * about 10 scans.
 */
#define IMAGEJPEG_MAX_SCANS 500
/* Scans times megapixels allowed: 50 scans at the 64-megapixel limit, 500 up to 6.4 megapixels. */
#define IMAGEJPEG_MAX_SCAN_MEGAPIXELS 3200

/*
 * Decode a JPEG held in memory to RGB as PIL's convert("RGB") does (accurate integer IDCT, fancy
 * upsampling, CMYK taken as Adobe-inverted). The size limit is checked after the header and before
 * any pixel is decoded. Returns 0 or -1 with *cause naming name and the reason.
 */
int imagejpeg_decode(image_rgb *img, const uint8_t *data, size_t len, const char *name,
                     char **cause);

#endif
