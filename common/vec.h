/* vec: a growable array that doubles (curl's dynbuf, Redis's sds), for
 * anything input can grow: appending n items costs O(n) however they come,
 * and a cap says where growth stops.
 *
 *     vec_t v = VEC_INIT(sizeof(uint64_t), 1u << 20);
 *     uint64_t *slot = vec_push(&v, 1);   // NULL: out of memory or at the cap
 *     ...
 *     vec_free(&v);
 */
#ifndef RAPPORT_VEC_H
#define RAPPORT_VEC_H

#include <stddef.h>

#include "err.h"

typedef struct {
    void *data;
    size_t n;    /* items in use */
    size_t cap;  /* items allocated */
    size_t size; /* bytes an item */
    size_t max;  /* items at most (0: no cap) */
} vec_t;

#define VEC_INIT(item_size, max_items)       \
    {                                        \
        NULL, 0, 0, (item_size), (max_items) \
    }

/* Room for `more` items after the n in use, doubling the allocation.
 * RP_ENOMEM; RP_ETOOBIG past the cap. */
rp_err vec_reserve(vec_t *v, size_t more);

/* Append `count` uninitialised items and return the first, or NULL (out
 * of memory, or the cap reached). The pointer is valid until the next
 * growth. */
void *vec_push(vec_t *v, size_t count);

/* Forget the items, keep the allocation. */
void vec_clear(vec_t *v);

/* Free the allocation; the vector is empty (and reusable) afterwards. */
void vec_free(vec_t *v);

#endif
