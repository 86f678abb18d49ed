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
void pbscan_init(pbscan_t *s, const void *data, size_t len);

/* The next field into *ret_field: 1 when one was read, 0 at the end of the
 * buffer, -1 when the bytes are malformed (the scan cannot go on). */
int pbscan_next(pbscan_t *s, pbscan_field_t *ret_field);

/* Read a varint at p (at most `avail` bytes): its length, or 0 when it is
 * malformed or runs past avail. */
size_t pbscan_varint(const uint8_t *p, size_t avail, uint64_t *ret_value);

/* Write a varint; returns its length (at most 10). */
size_t pbscan_put_varint(uint8_t *out, uint64_t v);

/* Append a varint field (tag and value) at out; returns the bytes written
 * (at most PBSCAN_FIELD_MAX). */
size_t pbscan_put_uint(uint8_t *out, uint32_t field, uint64_t v);

/* Append a length-delimited field: tag, length and `len` bytes; returns the
 * bytes written (at most PBSCAN_FIELD_MAX + len). */
size_t pbscan_put_bytes(uint8_t *out, uint32_t field, const void *data, size_t len);

#endif
