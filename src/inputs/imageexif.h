/* The EXIF orientation of JPEG, PNG and WebP files, applied as PIL's ImageOps.exif_transpose. */
#ifndef IMP_IMAGEEXIF_H
#define IMP_IMAGEEXIF_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* The EXIF orientation (1..8) recorded in an image file's bytes; 1 when there is none or it is bad.
 */
int imageexif_orientation(const uint8_t *p, size_t n);
/* Turn and flip img in place so that orientation 2..8 becomes 1; other values leave it alone. */
void imageexif_apply(image_rgb *img, int orientation);

#endif
