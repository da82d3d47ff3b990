/* Image decoding and the exact preprocessing of MODEL.md B5 (PIL convert("RGB") + 8-bit bicubic). */
#ifndef IMP_IMAGE_H
#define IMP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Limits checked from the file's header before any pixel is decoded (imagecheck_size). */
#define IMAGE_MAX_SIDE 16384
#define IMAGE_MAX_PIXELS (64L * 1024 * 1024)

/* An 8-bit RGB image, row-major, 3 bytes a pixel. */
typedef struct {
    int width;
    int height;
    uint8_t *rgb; /* (height, width, 3) */
} image_rgb;

/*
 * Read and decode an image file to RGB exactly as PIL's Image.open + ImageOps.exif_transpose +
 * convert("RGB") would (grey replicated, alpha dropped without compositing, EXIF orientation
 * applied; 16-bit samples keep their high byte). Refuses a missing, unreadable, empty, non-image,
 * unsupported, truncated, directory or too-large file with *cause naming the path and the reason.
 * Returns 0 or -1.
 */
int image_load(image_rgb *img, const char *path, char **cause);
/* Decode from memory (name is used in messages). Same rules as image_load. */
int image_load_memory(image_rgb *img, const void *data, size_t len, const char *name, char **cause);
/* Free the pixels of img. */
void image_free(image_rgb *img);
/* Resize src to (width, height) with PIL's 8-bit fixed-point bicubic; dst gets new pixels. */
void image_resize_bicubic(image_rgb *dst, const image_rgb *src, int width, int height);
/* Normalise an RGB image to channel-first floats: out (3, height, width) = (u8/255 - 0.5)/0.5. */
void image_normalize(const image_rgb *img, float *out);
/* Write an RGB image as PNG; -1 with *cause on failure. */
int image_write_png(const image_rgb *img, const char *path, char **cause);
/*
 * Load path, resize it to size x size and normalise it into out (3, size, size); when resized is not
 * NULL it receives the resized 8-bit image (free with image_free). Returns 0 or -1 with *cause.
 */
int image_load_pixels(float *out, image_rgb *resized, const char *path, int size, char **cause);

#endif
