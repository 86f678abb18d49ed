/* pbscan: walk the fields of an encoded protobuf message without decoding
 * it, and append fields to one.
 *
 * The segment log forwards entries as the bytes they are stored in: the
 * segment worker reads a few fields of each line (its contact, its codes)
 * and the log writer the few it indexes and sums, and both add the fields
 * they assign (entry numbers, user id) by appending them, since a later
 * occurrence of a scalar or string field wins when a message is decoded
 * (the protobuf encoding rules). Everything else about an entry travels as
 * bytes; protobuf-c decodes them where a whole message is needed.
 *
 * The scanner checks the framing as it goes: tags with a field number of
 * 1..2^29-1, wire types 0, 1, 2 and 5 only, varints of at most ten bytes,
 * lengths within the buffer. It does not look inside length-delimited
 * fields. */
#ifndef RAPPORT_PBSCAN_H
#define RAPPORT_PBSCAN_H

#include <stddef.h>
#include <stdint.h>

enum {
    PBSCAN_VARINT = 0,
    PBSCAN_FIXED64 = 1,
    PBSCAN_BYTES = 2,
    PBSCAN_FIXED32 = 5,
};

/* Most bytes pbscan_put_* may write for one field: a tag and a varint. */
#define PBSCAN_FIELD_MAX 20

typedef struct {
    uint32_t field;      /* field number */
    unsigned type;       /* wire type */
    uint64_t value;      /* varint and fixed values */
    const uint8_t *data; /* length-delimited: the bytes (inside the scanned buffer) */
    size_t len;
} pbscan_field_t;

typedef struct {
    const uint8_t *p, *end;
} pbscan_t;

/* Start scanning `len` bytes at `data` (which must outlive the scan). */
static inline void pbscan_init(pbscan_t *s, const void *data, size_t len)
{
    s->p = data;
    s->end = s->p + len;
}

/* Read a varint at p (at most `avail` bytes): its length, or 0 when it is
 * malformed or runs past avail. Inline, like the scan: an entry has some
 * twenty fields, most of whose tags and values are one byte. */
static inline size_t pbscan_varint(const uint8_t *p, size_t avail, uint64_t *ret_value)
{
    uint64_t v = 0;

    if (avail > 0 && p[0] < 0x80) {
        *ret_value = p[0];
        return 1;
    }
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

#define PBSCAN_FIELD_NO_MAX ((1u << 29) - 1)

/* The next field into *ret_field: 1 when one was read, 0 at the end of the
 * buffer, -1 when the bytes are malformed (the scan cannot go on). */
static inline int pbscan_next(pbscan_t *s, pbscan_field_t *f)
{
    uint64_t tag, v;
    size_t n, avail = (size_t)(s->end - s->p);

    if (avail == 0)
        return 0;
    n = pbscan_varint(s->p, avail, &tag);
    if (n == 0 || (tag >> 3) == 0 || (tag >> 3) > PBSCAN_FIELD_NO_MAX)
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

/* Write a varint; returns its length (at most 10). */
size_t pbscan_put_varint(uint8_t *out, uint64_t v);

/* Append a varint field (tag and value) at out; returns the bytes written
 * (at most PBSCAN_FIELD_MAX). */
size_t pbscan_put_uint(uint8_t *out, uint32_t field, uint64_t v);

/* Append a length-delimited field: tag, length and `len` bytes; returns the
 * bytes written (at most PBSCAN_FIELD_MAX + len). */
size_t pbscan_put_bytes(uint8_t *out, uint32_t field, const void *data, size_t len);

#endif
