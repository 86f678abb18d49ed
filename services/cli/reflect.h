/* reflect: descriptor-driven access to protobuf-c message fields by name,
 * used to turn command-line text into request fields.
 *
 * A path names a field below a message with dots ("fields.cost_cents");
 * sub-messages on the way are created in an arena. Setting a field from
 * text parses it by the field's type and the contract's naming rules
 * (json_field_is_date etc.): dates YYYY-MM-DD, times HH:MM[:SS], *_cents as
 * a decimal amount with at most two places, enums by their CLI name, other
 * integers as plain non-negative decimals. A oneof member gets its case
 * set; a repeated field gets the value appended (only to arrays that were
 * empty or grown here: appending keeps spare room in the arena). Messages built here live
 * in the arena: nothing to free one by one. */
#ifndef RAPPORT_CLI_REFLECT_H
#define RAPPORT_CLI_REFLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "err.h"

/* The arena of wire.h (wire_arena_t); only a pointer is needed here. */
struct wire_arena;

/* Resolve `path` below msg: *ret_msg is the message holding the last field
 * and *ret_fd that field. Intermediate sub-messages are created (and
 * oneof cases selected) as needed. RP_ENOTFOUND when a name is unknown or
 * an intermediate field is not a singular message. */
rp_err reflect_path(struct wire_arena *a, ProtobufCMessage *msg, const char *path,
                    ProtobufCMessage **ret_msg, const ProtobufCFieldDescriptor **ret_fd);

/* The sub-message in field fd of msg, created in the arena when unset (a
 * oneof member also gets its case selected). fd must be a message field. */
ProtobufCMessage *reflect_submessage(struct wire_arena *a, ProtobufCMessage *msg,
                                     const ProtobufCFieldDescriptor *fd);

/* Parse text for field fd and store it in msg (append when repeated).
 * RP_EINVAL with a reason in errbuf ("expected a date YYYY-MM-DD") when the
 * text does not fit the field. */
rp_err reflect_set_text(struct wire_arena *a, ProtobufCMessage *msg,
                        const ProtobufCFieldDescriptor *fd, const char *text, char *errbuf,
                        size_t errlen);

/* reflect_path then reflect_set_text. */
rp_err reflect_set_path(struct wire_arena *a, ProtobufCMessage *msg, const char *path,
                        const char *text, char *errbuf, size_t errlen);

/* A whole non-negative decimal number, at most max: digits only, no sign,
 * no spaces. RP_EINVAL otherwise. */
rp_err reflect_parse_uint(const char *text, uint64_t max, uint64_t *ret_value);

/* An amount: digits with at most two decimal places ("12", "12.5",
 * "12.50") into hundredths. Negative amounts are refused. RP_EINVAL. */
rp_err reflect_parse_cents(const char *text, int64_t *ret_cents);

/* A boolean: true/false, yes/no, 1/0, on/off. RP_EINVAL. */
rp_err reflect_parse_bool(const char *text, bool *ret_value);

/* Field `name` of msg (NULL when msg has none). */
const ProtobufCFieldDescriptor *reflect_field(const ProtobufCMessage *msg, const char *name);

/* The set member of msg's first oneof, when it is a message: the
 * `result` of a reply. NULL when unset. *ret_fd (may be NULL) gets its
 * descriptor. */
const ProtobufCMessage *reflect_oneof_message(const ProtobufCMessage *msg,
                                              const ProtobufCFieldDescriptor **ret_fd);

/* Number of elements of repeated field `name` and their array (NULL when
 * msg has no such repeated field). */
size_t reflect_repeated(const ProtobufCMessage *msg, const char *name, const void **ret_array);

/* Copy the scalar (string or integer) field src_name of src into field
 * dst_name of dst. RP_ENOTFOUND when either is missing or the types
 * differ. Strings are copied into the arena. */
rp_err reflect_copy_scalar(struct wire_arena *a, ProtobufCMessage *dst, const char *dst_name,
                           const ProtobufCMessage *src, const char *src_name);

/* Whether scalar field `name` of msg holds its zero value ("" or 0); true
 * when msg has no such field. */
bool reflect_is_zero(const ProtobufCMessage *msg, const char *name);

/* Unsigned integer field `name` of msg (0 when absent). */
uint64_t reflect_get_uint(const ProtobufCMessage *msg, const char *name);

/* String field `name` of msg ("" when absent). */
const char *reflect_get_string(const ProtobufCMessage *msg, const char *name);

#endif
