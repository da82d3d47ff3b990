/*
 * Checks on an image file's bytes before any pixel is decoded: which format it is (and whether it
 * is one imp-chat accepts), whether its declared size is within the limits, and whether the file
 * holds all the data its header promises.
 */
#ifndef IMP_IMAGECHECK_H
#define IMP_IMAGECHECK_H

#include <stddef.h>
#include <stdint.h>

/* The formats imp-chat decodes. */
typedef enum {
    IMAGECHECK_PNG,
    IMAGECHECK_JPEG,
    IMAGECHECK_WEBP,
    IMAGECHECK_GIF,
    IMAGECHECK_BMP,
    IMAGECHECK_TGA,
    IMAGECHECK_PNM,
} imagecheck_format;

/* The list of accepted formats, as named in messages. */
#define IMAGECHECK_SUPPORTED "PNG, JPEG, WebP, GIF, BMP, TGA, PNM (P5/P6)"

/* Refuse a width x height outside the limits of image.h, naming the size; 0 or -1 with *cause. */
int imagecheck_size(const char *name, long width, long height, char **cause);
/*
 * Tell the format from the first bytes. Formats that are not accepted (Radiance HDR, PSD, PIC,
 * PNM other than 8/16-bit P5/P6, anything unknown) are refused naming the accepted ones.
 * Returns 0 or -1 with *cause.
 */
int imagecheck_sniff(const uint8_t *p, size_t n, const char *name, imagecheck_format *format,
                     char **cause);
/*
 * For the formats whose pixels stb_image decodes (PNG, GIF, BMP, TGA, PNM) and for JPEG: check
 * the size the header declares and that the file reaches the end of the pixel data (stb_image
 * fills missing data silently). Returns 0 or -1 with *cause.
 */
int imagecheck_complete(imagecheck_format format, const uint8_t *p, size_t n, const char *name,
                        char **cause);
/* A P5/P6 header: its size, samples a pixel, maximum value and where the samples start. */
typedef struct {
    long width, height, maxval;
    int channels;
    size_t data;
} imagecheck_pnm;

/* Parse a P5/P6 header (maximum value 255 or 65535 only); 0, or -1 with *cause. */
int imagecheck_pnm_header(const uint8_t *p, size_t n, const char *name, imagecheck_pnm *h,
                          char **cause);
/* Where a GIF's first frame lies on its screen, and the colour PIL gives the rest of the screen. */
typedef struct {
    int x, y, width, height;
    uint8_t fill[3]; /* palette colour of the transparent index, or of index 0 */
} imagecheck_gif_frame;

/* Find the first frame of a GIF (checked by imagecheck_complete); 0, or -1 when there is none. */
int imagecheck_gif_first_frame(const uint8_t *p, size_t n, imagecheck_gif_frame *frame);
/*
 * A copy of a GIF whose first frame has its transparency flag cleared, so the decoder gives the
 * transparent index its palette colour as PIL does; NULL when nothing needs clearing.
 */
uint8_t *imagecheck_gif_opaque_new(const uint8_t *p, size_t n);

#endif
