/* wire: protobuf messages in and out, with limits.
 *
 * Decoding checks, before and after protobuf-c's unpack: the size cap,
 * every string field (valid UTF-8, no NUL, at most its size class in
 * characters, see the name rules in common.proto), bytes fields' lengths,
 * enum values within their enum, repeated fields at most WIRE_MAX_REPEATED
 * items. With WIRE_NORMALIZE, code fields (Code10/Code20) are upper-cased.
 * wire.c alone calls protobuf-c's pack/unpack. */
#ifndef RAPPORT_WIRE_H
#define RAPPORT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "err.h"

#define WIRE_MAX_REPEATED   100000
#define WIRE_REQUEST_ID_MAX 64
/* Largest amount (`*_cents` fields, either sign) a request may carry:
 * 10,000,000,000.00. */
#define WIRE_MAX_CENTS 1000000000000LL
/* Longest duration (`*_min` fields, whole minutes) a request may carry:
 * 1,000,000 minutes, about 694 days. */
#define WIRE_MAX_MINUTES 1000000u

enum {
    WIRE_NORMALIZE = 1 << 0, /* upper-case code fields (requests) */
};

/* What was wrong with a message, for the error reply. */
typedef struct {
    char message[320];
    char field[128];
} wire_error_t;

/* Decode `len` bytes as a `desc` message. On success *ret_msg is owned by
 * the caller (wire_free). Errors: RP_ETOOBIG over max_size, RP_EPROTO for a
 * malformed message, RP_EINVAL for a field out of its limits; *err says
 * which, *ret_msg untouched. */
rp_err wire_decode(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
                   size_t max_size, unsigned flags, ProtobufCMessage **ret_msg, wire_error_t *err);

/* Free a decoded message; NULL is fine. */
void wire_free(ProtobufCMessage *msg);

/* Encode into a new malloc'd buffer owned by the caller. RP_ENOMEM. */
rp_err wire_encode(const ProtobufCMessage *msg, uint8_t **ret_buf, size_t *ret_len);

/* Encoded size of msg. */
size_t wire_size(const ProtobufCMessage *msg);

/* Encode into buf, which must hold wire_size(msg) bytes; returns the size. */
size_t wire_encode_to(const ProtobufCMessage *msg, uint8_t *buf);

/* The size class (maximum characters) of a string field by its name and
 * whether it is a code (upper-cased); 0 if the name follows no rule. */
size_t wire_string_limit(const char *field_name, bool *ret_is_code);

/* Checks UTF-8 (no overlongs, no surrogates, <= U+10FFFF, no NUL): the
 * number of characters in len bytes at data, or SIZE_MAX when invalid. */
size_t wire_utf8_check(const void *data, size_t len);

/* Number of UTF-8 characters in a valid UTF-8 string. */
size_t wire_utf8_chars(const char *s);

/* Whether a request_id is usable: 1..64 bytes. */
bool wire_request_id_valid(const ProtobufCBinaryData *id);

/* An arena: many small allocations freed at once. Request decoding and
 * reply building allocate from the request's arena, so a handler never
 * frees message parts one by one. */
typedef struct wire_arena wire_arena_t;

/* New arena; NULL when out of memory. */
wire_arena_t *wire_arena_new(void);

/* Free every allocation and the arena; accepts NULL, NULLs the pointer. */
void wire_arena_destroy(wire_arena_t **self_p);

/* Free every allocation but keep the first block for reuse. */
void wire_arena_reset(wire_arena_t *a);

/* Zeroed, 16-byte aligned memory living as long as the arena; aborts on
 * out of memory (a worker cannot answer anything sensible then). */
void *wire_arena_alloc(wire_arena_t *a, size_t size);

/* Copy of s (NULL gives ""). */
char *wire_arena_strdup(wire_arena_t *a, const char *s);

/* printf into the arena. */
char *wire_arena_printf(wire_arena_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A new `desc` message initialised with its defaults, in the arena. */
ProtobufCMessage *wire_arena_message(wire_arena_t *a, const ProtobufCMessageDescriptor *desc);

/* Array of n pointers in the arena (for repeated message fields). */
void **wire_arena_ptrs(wire_arena_t *a, size_t n);

/* wire_decode into the arena (nothing to free). */
rp_err wire_decode_arena(wire_arena_t *a, const ProtobufCMessageDescriptor *desc, const void *data,
                         size_t len, size_t max_size, unsigned flags, ProtobufCMessage **ret_msg,
                         wire_error_t *err);

/* request_id of an undecodable request, found by scanning for field 1 at
 * the top level; empty when there is none. */
ProtobufCBinaryData wire_peek_request_id(const void *data, size_t len);

/* Common envelope fields of every request and reply: request_id (1),
 * user_id (2) and, in replies, status (3). */
const ProtobufCBinaryData *wire_msg_request_id(const ProtobufCMessage *msg);
const char *wire_msg_user_id(const ProtobufCMessage *msg);
void wire_msg_set_envelope(ProtobufCMessage *msg, ProtobufCBinaryData request_id,
                           const char *user_id);
void wire_msg_set_status(ProtobufCMessage *reply, ProtobufCMessage *status);
/* The Status of a reply, or NULL when it has none (OK). */
const ProtobufCMessage *wire_msg_status(const ProtobufCMessage *reply);

/* The size of one element of a repeated field in its C array (protobuf-c
 * lays a repeated field out as n_<field> and a plain array). */
size_t wire_elem_size(const ProtobufCFieldDescriptor *fd);

/* The case (field number) of the first oneof of msg, 0 if unset: the
 * `command` of a request, the `result` of a reply. */
uint32_t wire_oneof_case(const ProtobufCMessage *msg);

/* protobuf-c declares string fields `char *` although packing never writes
 * through them; this puts a constant string into such a field without a
 * cast that -Wcast-qual would flag. */
static inline char *wire_str(const char *s)
{
    union {
        const char *c;
        char *m;
    } u = {.c = s};
    return u.m;
}

/* A decoded string field into a fixed buffer dst[size] (size > 0), cut to
 * fit and always terminated: snprintf "%s" without the format machinery,
 * for per-line loops. */
static inline void wire_copy_str(char *dst, size_t size, const char *src)
{
    size_t n = src ? strnlen(src, size - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Decode bytes this process wrote itself (store records) into the arena,
 * without the request checks. RP_ECORRUPT when they do not decode. */
rp_err wire_decode_trusted(wire_arena_t *a, const ProtobufCMessageDescriptor *desc,
                           const void *data, size_t len, ProtobufCMessage **ret_msg);

/* Same, allocating with malloc (free with wire_free). */
rp_err wire_decode_trusted_heap(const ProtobufCMessageDescriptor *desc, const void *data,
                                size_t len, ProtobufCMessage **ret_msg);

#endif
