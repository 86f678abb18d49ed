/* pbscan: the protobuf wire format (varints, tags, lengths), read and
 * written field by field. See pbscan.h for why. */
#include "pbscan.h"

#include <string.h>

#define FIELD_MAX ((1u << 29) - 1)

void pbscan_init(pbscan_t *s, const void *data, size_t len)
{
    s->p = data;
    s->end = s->p + len;
}

size_t pbscan_varint(const uint8_t *p, size_t avail, uint64_t *ret_value)
{
    uint64_t v = 0;

    for (size_t i = 0; i < avail && i < 10; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            /* The tenth byte carries one bit of a 64-bit value. */
            if (i == 9 && p[i] > 1)
                return 0;
            *ret_value = v;
            return i + 1;
        }
    }
    return 0;
}

int pbscan_next(pbscan_t *s, pbscan_field_t *f)
{
    uint64_t tag, v;
    size_t n, avail = (size_t)(s->end - s->p);

    if (avail == 0)
        return 0;
    n = pbscan_varint(s->p, avail, &tag);
    if (n == 0 || (tag >> 3) == 0 || (tag >> 3) > FIELD_MAX)
        return -1;
    s->p += n;
    avail -= n;
    f->field = (uint32_t)(tag >> 3);
    f->type = (unsigned)(tag & 7);
    f->data = NULL;
    f->len = 0;
    f->value = 0;
    switch (f->type) {
    case PBSCAN_VARINT:
        n = pbscan_varint(s->p, avail, &f->value);
        if (n == 0)
            return -1;
        s->p += n;
        return 1;
    case PBSCAN_FIXED64:
    case PBSCAN_FIXED32:
        n = f->type == PBSCAN_FIXED64 ? 8 : 4;
        if (avail < n)
            return -1;
        for (size_t i = 0; i < n; i++)
            f->value |= (uint64_t)s->p[i] << (8 * i);
        s->p += n;
        return 1;
    case PBSCAN_BYTES:
        n = pbscan_varint(s->p, avail, &v);
        if (n == 0 || v > avail - n)
            return -1;
        f->data = s->p + n;
        f->len = (size_t)v;
        s->p += n + (size_t)v;
        return 1;
    default:
        return -1; /* groups (3, 4) and 6, 7 do not occur in proto3 */
    }
}

size_t pbscan_put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

size_t pbscan_put_uint(uint8_t *out, uint32_t field, uint64_t v)
{
    size_t n = pbscan_put_varint(out, (uint64_t)field << 3 | PBSCAN_VARINT);
    return n + pbscan_put_varint(out + n, v);
}

size_t pbscan_put_bytes(uint8_t *out, uint32_t field, const void *data, size_t len)
{
    size_t n = pbscan_put_varint(out, (uint64_t)field << 3 | PBSCAN_BYTES);
    n += pbscan_put_varint(out + n, len);
    if (len)
        memcpy(out + n, data, len);
    return n + len;
}
