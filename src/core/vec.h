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

#endif
