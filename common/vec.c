/* vec: the doubling array of vec.h. */
#include "vec.h"

#include <stdint.h>
#include <stdlib.h>

rp_err vec_reserve(vec_t *v, size_t more)
{
    size_t need, cap;
    void *grown;

    if (more > SIZE_MAX / v->size - v->n)
        return RP_ETOOBIG;
    need = v->n + more;
    if (v->max && need > v->max)
        return RP_ETOOBIG;
    if (need <= v->cap)
        return RP_OK;
    cap = v->cap ? v->cap : 16;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 / v->size ? need : cap * 2;
    if (v->max && cap > v->max)
        cap = v->max;
    grown = realloc(v->data, cap * v->size);
    if (!grown)
        return RP_ENOMEM;
    v->data = grown;
    v->cap = cap;
    return RP_OK;
}

void *vec_push(vec_t *v, size_t count)
{
    void *p;

    if (vec_reserve(v, count) != RP_OK)
        return NULL;
    p = (uint8_t *)v->data + v->n * v->size;
    v->n += count;
    return p;
}

void vec_clear(vec_t *v)
{
    v->n = 0;
}

void vec_free(vec_t *v)
{
    free(v->data);
    v->data = NULL;
    v->n = v->cap = 0;
}
