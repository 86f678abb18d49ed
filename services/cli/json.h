/* json: a small streaming JSON writer and a generic, descriptor-driven
 * printer of protobuf-c messages, plus the CLI's spelling of field values
 * (enum names, dates, times) shared with the human output.
 *
 * Depends only on protobuf-c and common/clock, so it can be unit-tested and
 * fuzzed on its own. The writer never allocates except for the default
 * instance of an unset sub-message. */
#ifndef RAPPORT_CLI_JSON_H
#define RAPPORT_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#define JSON_MAX_DEPTH 48

/* A writer onto a stdio stream. `pretty` indents by two spaces; otherwise
 * everything goes on one line (NDJSON). */
typedef struct json_writer {
    FILE *out;
    bool pretty;
    int depth;
    bool after_key;
    bool has_items[JSON_MAX_DEPTH];
} json_writer_t;

/* Start writing one document onto out. */
void json_writer_init(json_writer_t *w, FILE *out, bool pretty);

/* End the document: a newline, a flush; 0 on success, -1 when the stream
 * had a write error. */
int json_writer_end(json_writer_t *w);

void json_object_begin(json_writer_t *w);
void json_object_end(json_writer_t *w);
void json_array_begin(json_writer_t *w);
void json_array_end(json_writer_t *w);

/* An object key; the next value call writes its value. */
void json_key(json_writer_t *w, const char *key);

/* Values. Strings are escaped; invalid UTF-8 becomes U+FFFD. A non-finite
 * double is written as null (JSON has no NaN or Infinity). */
void json_string(json_writer_t *w, const char *s);
void json_string_len(json_writer_t *w, const char *s, size_t len);
void json_uint(json_writer_t *w, uint64_t v);
void json_int(json_writer_t *w, int64_t v);
void json_double(json_writer_t *w, double v);
void json_bool(json_writer_t *w, bool v);
void json_null(json_writer_t *w);

/* A whole message as an object: keys are the proto field names, every
 * field is present (zero values too; an unset sub-message prints as its
 * default), oneof members only when set, repeated fields as arrays. See
 * json_field_value for the spelling of scalars. */
void json_message(json_writer_t *w, const ProtobufCMessage *msg);

/* Only the fields of msg from field index `first` to `last` inclusive (in
 * descriptor order), without the braces: for documents that stream a
 * repeated field page by page. */
void json_message_fields(json_writer_t *w, const ProtobufCMessage *msg, unsigned first,
                         unsigned last);

/* One value of field fd stored at `member` (for a repeated field, one
 * element). Enums: json_enum_name; uint32 date fields: "YYYY-MM-DD" (""
 * when 0); time_of_interaction: "HH:MM:SS"; 64-bit integers: numbers; bytes:
 * the text when all printable ASCII, else lower-case hex. */
void json_field_value(json_writer_t *w, const ProtobufCFieldDescriptor *fd, const void *member);

/* Write s as a quoted, escaped JSON string onto out. */
void json_escape(FILE *out, const char *s, size_t len);

/* The CLI's name of an enum value: the value name without the enum type's
 * prefix (InformationFlow -> INFORMATION_FLOW_), lower case, '_' -> '-':
 * INFORMATION_FLOW_OUTBOUND -> "outbound", StatusCode INVALID_ARGUMENT ->
 * "invalid-argument". false (and the number in buf) for a value outside the
 * enum. */
bool json_enum_name(const ProtobufCEnumDescriptor *ed, int value, char *buf, size_t size);

/* Inverse of json_enum_name, case-insensitive, '_' and '-' alike; the full
 * value name is accepted too. false when text names no value. */
bool json_enum_parse(const ProtobufCEnumDescriptor *ed, const char *text, int *ret_value);

/* Field naming conventions of the contract: a uint32 `date`, `*_date`,
 * `date_from` or `date_to` is a YYYYMMDD date; `time_of_interaction` is
 * seconds after midnight; an int64 `*_cents` is an amount in hundredths. */
bool json_field_is_date(const ProtobufCFieldDescriptor *fd);
bool json_field_is_time(const ProtobufCFieldDescriptor *fd);
bool json_field_is_cents(const ProtobufCFieldDescriptor *fd);

/* Shortest "%g" text of v that reads back as v (finite v only). */
void json_format_double(double v, char *buf, size_t size);

/* Address of a field's storage in msg, and whether it is set: a oneof
 * member only when its case is selected; anything else always. */
const void *json_field_member(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd);
bool json_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd);

#endif
