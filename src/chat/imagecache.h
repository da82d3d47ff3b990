/*
 * The engine's images: each distinct picture (by the SHA-256 of what the model sees) in a slot,
 * with its normalised pixels until it is encoded and its features on the backend after. Slots are
 * counted references: a staged image, a turn of the conversation. A slot nobody refers to stays
 * cached (the same picture again is not encoded again) until the cache holds more bytes than its
 * limit; then the least recently used unreferenced slots are freed first.
 */
#ifndef IMP_IMAGECACHE_H
#define IMP_IMAGECACHE_H

#include <stddef.h>

#include "backend.h"
#include "image.h"
#include "model_config.h"

/* The default limit: 256 MiB, about 34 encoded images of the real model (7.5 MB each). */
#define IMAGECACHE_DEFAULT_LIMIT ((size_t)256 << 20)

typedef struct imagecache imagecache;

/* What the cache holds, for /stats. */
typedef struct {
    int images;      /* slots holding pixels or features */
    int encoded;     /* of them, encoded */
    int in_use;      /* of them, referred to */
    size_t bytes;    /* pixels on the host plus features on the backend */
    size_t limit;
    int evicted;     /* slots freed to stay under the limit, since creation */
} imagecache_stats;

/* An empty cache for cfg's image size and feature shape on be (borrowed). */
imagecache *imagecache_new(backend *be, const imp_config *cfg, size_t limit);
/* Free every slot. */
void imagecache_free(imagecache *c);
/*
 * Decode the image at path and give its slot with one reference for the caller (the same content
 * is the same slot). -1 with *cause when the file cannot be read as an image.
 */
int imagecache_add(imagecache *c, const char *path, char **cause);
/* The same for an image already decoded (name is kept for messages). */
int imagecache_add_rgb(imagecache *c, const image_rgb *img, const char *name);
/* Take one more reference to slot. */
void imagecache_ref(imagecache *c, int slot);
/* Give one reference back; the slot may then be freed when the cache is over its limit. */
void imagecache_unref(imagecache *c, int slot);
/* Borrow slot's normalised pixels (3, image, image), or NULL once it is encoded (unless kept). */
const float *imagecache_pixels_borrow(const imagecache *c, int slot);
/* Borrow slot's features (patches, hidden) on the backend, or NULL until it is encoded. */
const float *imagecache_features_borrow(imagecache *c, int slot);
/* Store slot's features (taken over; a backend buffer of patches * hidden); the pixels go. */
void imagecache_set_features(imagecache *c, int slot, float *features);
/*
 * Keep every slot's pixels after it is encoded (1.7 MB each for the real model), so that its
 * features can be computed again on another backend.
 */
void imagecache_keep_pixels(imagecache *c);
/*
 * Go on with be (borrowed): the features on the old backend are freed (the slots are encoded
 * again when next used). Only for a cache that keeps its pixels.
 */
void imagecache_move(imagecache *c, backend *be);
/* Borrow the name the slot was added under. */
const char *imagecache_name(const imagecache *c, int slot);
/* Change the byte limit (frees what is over it now). */
void imagecache_set_limit(imagecache *c, size_t limit);
/* What the cache holds. */
void imagecache_get_stats(const imagecache *c, imagecache_stats *st);

#endif
