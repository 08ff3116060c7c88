/*
 * A growable array of pointers, for the list results of the store. Doubling keeps
 * appends amortised O(1).
 */
#ifndef TIA_CORE_VEC_H
#define TIA_CORE_VEC_H

#include <stdlib.h>

/* Appends item to *items (length *n, capacity *cap). 0, or -1 when out of memory. */
static inline int tia__vec_push(void ***items, size_t *n, size_t *cap, void *item)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        void **grown = realloc(*items, c * sizeof *grown);
        if (grown == NULL)
            return -1;
        *items = grown;
        *cap = c;
    }
    (*items)[(*n)++] = item;
    return 0;
}

/*
 * Sorts items[0..n) so that no item comes after one it goes before (before(a, b):
 * a must come first). Insertion: linear on rows that come almost in order, as the
 * store's small lists do, with no comparator called through qsort's pointers.
 */
static inline void tia__vec_sort(void **items, size_t n, int (*before)(const void *, const void *))
{
    for (size_t i = 1; i < n; i++) {
        void *it = items[i];
        size_t j = i;
        for (; j > 0 && before(it, items[j - 1]); j--)
            items[j] = items[j - 1];
        items[j] = it;
    }
}

#endif
