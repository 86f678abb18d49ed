/* hash: FNV-1a (see hash.h). */
#include "hash.h"

#define FNV_PRIME 1099511628211ull

uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * FNV_PRIME;
    return h;
}
