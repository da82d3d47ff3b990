#include "config.h"

#include "demo.h"

/*
 * Plain words about things in pictures: colours, shapes, nature, everyday objects, animals. No
 * words about people, bodies or anything a random string of words could turn into an insult.
 */
static const char *const demo_word_list[] = {
    "the",    "a",       "and",    "of",      "in",      "on",      "with",    "near",
    "is",     "has",     "shows",  "there",   "this",    "it",      "some",    "two",
    "three",  "many",    "one",    "very",    "also",    "here",    "under",   "above",
    "red",    "blue",    "green",  "yellow",  "orange",  "purple",  "pink",    "gray",
    "brown",  "gold",    "silver", "bright",  "soft",    "round",   "square",  "small",
    "large",  "tall",    "long",   "short",   "wide",    "quiet",   "calm",    "sunny",
    "warm",   "cool",    "clear",  "clean",   "new",     "old",     "little",  "happy",
    "cat",    "dog",     "bird",   "fish",    "horse",   "rabbit",  "duck",    "sheep",
    "tree",   "flower",  "leaf",   "grass",   "garden",  "park",    "field",   "forest",
    "sky",    "cloud",   "sun",    "moon",    "star",    "rain",    "snow",    "wind",
    "river",  "lake",    "sea",    "beach",   "hill",    "mountain", "stone",  "sand",
    "house",  "window",  "door",   "roof",    "wall",    "road",    "bridge",  "street",
    "car",    "bus",     "train",  "boat",    "bike",    "plane",   "ship",    "truck",
    "table",  "chair",   "cup",    "plate",   "book",    "lamp",    "clock",   "box",
    "ball",   "kite",    "apple",  "bread",   "cake",    "tea",     "milk",    "cheese",
    "picture", "photo",  "image",  "color",   "light",   "shape",   "corner",  "center",
    "left",   "right",   "top",    "bottom",  "front",   "back",    "side",    "middle",
    "sits",   "stands",  "looks",  "flies",   "grows",   "shines",  "rests",   "waits",
};

const char *const *
demo_words(size_t *n)
{
    *n = sizeof demo_word_list / sizeof demo_word_list[0];
    return demo_word_list;
}
