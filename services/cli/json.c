/* json: streaming JSON writer and the generic protobuf-c message printer.
 *
 * The printer walks ProtobufCMessageDescriptor fields, so every message of
 * the contract prints the same way without per-type code: stable keys for
 * scripts (every field, zero values included), enums by name, dates and
 * times as text. The writer tracks, per nesting level, whether a value was
 * already written there, which is all it needs for commas and indentation. */
#include "json.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "wire.h"

#define JSON_MAX_MESSAGE_DEPTH 16

static void s_indent(json_writer_t *w)
{
    if (!w->pretty)
        return;
    fputc('\n', w->out);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->out);
}

/* Before any value or key: a comma and a new line inside a container,
 * nothing right after a key. */
static void s_before_value(json_writer_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0)
        return;
    if (w->has_items[w->depth])
        fputc(',', w->out);
    w->has_items[w->depth] = true;
    s_indent(w);
}

void json_writer_init(json_writer_t *w, FILE *out, bool pretty)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->pretty = pretty;
}

int json_writer_end(json_writer_t *w)
{
    fputc('\n', w->out);
    fflush(w->out);
    return ferror(w->out) ? -1 : 0;
}

static void s_open(json_writer_t *w, char c)
{
    s_before_value(w);
    fputc(c, w->out);
    if (w->depth + 1 < JSON_MAX_DEPTH)
        w->depth++;
    w->has_items[w->depth] = false;
}

static void s_close(json_writer_t *w, char c)
{
    bool had = w->has_items[w->depth];
    if (w->depth > 0)
        w->depth--;
    if (had)
        s_indent(w);
    fputc(c, w->out);
}

void json_object_begin(json_writer_t *w)
{
    s_open(w, '{');
}

void json_object_end(json_writer_t *w)
{
    s_close(w, '}');
}

void json_array_begin(json_writer_t *w)
{
    s_open(w, '[');
}

void json_array_end(json_writer_t *w)
{
    s_close(w, ']');
}

void json_key(json_writer_t *w, const char *key)
{
    s_before_value(w);
    json_escape(w->out, key, strlen(key));
    fputs(w->pretty ? ": " : ":", w->out);
    w->after_key = true;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t s_utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1fu;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0fu;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07u;
    else
        return 0;
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void json_escape(FILE *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    fputc('"', out);
    while (i < len) {
        unsigned char c = p[i];
        size_t n;

        switch (c) {
        case '"':
            fputs("\\\"", out);
            i++;
            continue;
        case '\\':
            fputs("\\\\", out);
            i++;
            continue;
        case '\n':
            fputs("\\n", out);
            i++;
            continue;
        case '\r':
            fputs("\\r", out);
            i++;
            continue;
        case '\t':
            fputs("\\t", out);
            i++;
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", (unsigned)c);
            i++;
            continue;
        }
        n = s_utf8_seq(p + i, len - i);
        if (n == 0) {
            fputs("\\ufffd", out);
            i++;
            continue;
        }
        fwrite(p + i, 1, n, out);
        i += n;
    }
    fputc('"', out);
}

void json_string(json_writer_t *w, const char *s)
{
    json_string_len(w, s ? s : "", s ? strlen(s) : 0);
}

void json_string_len(json_writer_t *w, const char *s, size_t len)
{
    s_before_value(w);
    json_escape(w->out, s, len);
}

void json_uint(json_writer_t *w, uint64_t v)
{
    s_before_value(w);
    fprintf(w->out, "%" PRIu64, v);
}

void json_int(json_writer_t *w, int64_t v)
{
    s_before_value(w);
    fprintf(w->out, "%" PRId64, v);
}

void json_format_double(double v, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

void json_double(json_writer_t *w, double v)
{
    char buf[40];

    if (!isfinite(v)) {
        json_null(w);
        return;
    }
    json_format_double(v, buf, sizeof(buf));
    s_before_value(w);
    fputs(buf, w->out);
}

void json_bool(json_writer_t *w, bool v)
{
    s_before_value(w);
    fputs(v ? "true" : "false", w->out);
}

void json_null(json_writer_t *w)
{
    s_before_value(w);
    fputs("null", w->out);
}

/* "InformationFlow" -> "INFORMATION_FLOW_" */
static void s_enum_prefix(const char *camel, char *buf, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; camel[i] && o + 2 < size; i++) {
        unsigned char c = (unsigned char)camel[i];
        if (i > 0 && isupper(c) &&
            (islower((unsigned char)camel[i - 1]) || isdigit((unsigned char)camel[i - 1])))
            buf[o++] = '_';
        if (o + 2 < size)
            buf[o++] = (char)toupper(c);
    }
    buf[o++] = '_';
    buf[o] = '\0';
}

/* The value name without the type prefix, when it has it. */
static const char *s_enum_short(const ProtobufCEnumDescriptor *ed, const char *name)
{
    char prefix[96];
    size_t pl;

    s_enum_prefix(ed->short_name, prefix, sizeof(prefix));
    pl = strlen(prefix);
    if (strncmp(name, prefix, pl) == 0 && name[pl])
        return name + pl;
    return name;
}

bool json_enum_name(const ProtobufCEnumDescriptor *ed, int value, char *buf, size_t size)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, value);
    const char *s;
    size_t i;

    if (!ev) {
        snprintf(buf, size, "%d", value);
        return false;
    }
    s = s_enum_short(ed, ev->name);
    for (i = 0; s[i] && i + 1 < size; i++)
        buf[i] = s[i] == '_' ? '-' : (char)tolower((unsigned char)s[i]);
    if (size)
        buf[i] = '\0';
    return true;
}

/* Case-insensitive comparison with '-' and '_' alike. */
static bool s_name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : (char)tolower((unsigned char)*a);
        char y = *b == '-' ? '_' : (char)tolower((unsigned char)*b);
        if (x != y)
            return false;
    }
    return *a == *b;
}

bool json_enum_parse(const ProtobufCEnumDescriptor *ed, const char *text, int *ret_value)
{
    for (unsigned i = 0; i < ed->n_values; i++) {
        const ProtobufCEnumValue *ev = &ed->values[i];
        if (s_name_eq(text, s_enum_short(ed, ev->name)) || s_name_eq(text, ev->name)) {
            *ret_value = ev->value;
            return true;
        }
    }
    return false;
}

static bool s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool json_field_is_date(const ProtobufCFieldDescriptor *fd)
{
    if (fd->type != PROTOBUF_C_TYPE_UINT32 && fd->type != PROTOBUF_C_TYPE_FIXED32)
        return false;
    return strcmp(fd->name, "date") == 0 || s_ends_with(fd->name, "_date") ||
           strcmp(fd->name, "date_from") == 0 || strcmp(fd->name, "date_to") == 0;
}

bool json_field_is_time(const ProtobufCFieldDescriptor *fd)
{
    return (fd->type == PROTOBUF_C_TYPE_UINT32 || fd->type == PROTOBUF_C_TYPE_FIXED32) &&
           strcmp(fd->name, "time_of_interaction") == 0;
}

bool json_field_is_cents(const ProtobufCFieldDescriptor *fd)
{
    return (fd->type == PROTOBUF_C_TYPE_INT64 || fd->type == PROTOBUF_C_TYPE_SINT64 ||
            fd->type == PROTOBUF_C_TYPE_SFIXED64) &&
           s_ends_with(fd->name, "_cents");
}

const void *json_field_member(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    return (const char *)msg + fd->offset;
}

bool json_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return true;
    return *(const uint32_t *)(const void *)((const char *)msg + fd->quantifier_offset) == fd->id;
}

static void s_bytes(json_writer_t *w, const ProtobufCBinaryData *b)
{
    static const char hex[] = "0123456789abcdef";
    bool printable = true;

    for (size_t i = 0; i < b->len && printable; i++)
        printable = b->data[i] >= 0x20 && b->data[i] < 0x7f;
    if (printable) {
        json_string_len(w, (const char *)b->data, b->len);
        return;
    }
    s_before_value(w);
    fputc('"', w->out);
    for (size_t i = 0; i < b->len; i++) {
        fputc(hex[b->data[i] >> 4], w->out);
        fputc(hex[b->data[i] & 15], w->out);
    }
    fputc('"', w->out);
}

static void s_message(json_writer_t *w, const ProtobufCMessage *msg, int depth);

/* A sub-message, or its default instance when unset, within the depth cap
 * (the contract has no recursive types, but a descriptor could). */
static void s_submessage(json_writer_t *w, const ProtobufCFieldDescriptor *fd,
                         const ProtobufCMessage *sub, int depth)
{
    const ProtobufCMessageDescriptor *d = fd->descriptor;
    void *tmp;

    if (depth >= JSON_MAX_MESSAGE_DEPTH) {
        json_null(w);
        return;
    }
    if (sub) {
        s_message(w, sub, depth + 1);
        return;
    }
    tmp = calloc(1, d->sizeof_message);
    if (!tmp) {
        json_null(w);
        return;
    }
    protobuf_c_message_init(d, tmp);
    s_message(w, tmp, depth + 1);
    free(tmp);
}

static void s_value(json_writer_t *w, const ProtobufCFieldDescriptor *fd, const void *p, int depth)
{
    char buf[64];

    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        json_int(w, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (json_field_is_date(fd)) {
            clock_date_format(*(const uint32_t *)p, buf, sizeof(buf));
            json_string(w, buf);
        } else if (json_field_is_time(fd)) {
            clock_time_format(*(const uint32_t *)p, buf, sizeof(buf));
            json_string(w, buf);
        } else {
            json_uint(w, *(const uint32_t *)p);
        }
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        json_int(w, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        json_uint(w, *(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        json_double(w, (double)*(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        json_double(w, *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        json_bool(w, *(const protobuf_c_boolean *)p != 0);
        break;
    case PROTOBUF_C_TYPE_ENUM:
        json_enum_name(fd->descriptor, *(const int *)p, buf, sizeof(buf));
        if (protobuf_c_enum_descriptor_get_value(fd->descriptor, *(const int *)p))
            json_string(w, buf);
        else
            json_int(w, *(const int *)p);
        break;
    case PROTOBUF_C_TYPE_STRING:
        json_string(w, *(const char *const *)p);
        break;
    case PROTOBUF_C_TYPE_BYTES:
        s_bytes(w, (const ProtobufCBinaryData *)p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        s_submessage(w, fd, *(const ProtobufCMessage *const *)p, depth);
        break;
    }
}

void json_field_value(json_writer_t *w, const ProtobufCFieldDescriptor *fd, const void *member)
{
    s_value(w, fd, member, 0);
}

static void s_fields(json_writer_t *w, const ProtobufCMessage *msg, unsigned first, unsigned last,
                     int depth)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;

    for (unsigned i = first; i < d->n_fields && i <= last; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const char *member = (const char *)msg + fd->offset;

        if (!json_field_present(msg, fd))
            continue;
        json_key(w, fd->name);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(const void *)((const char *)msg + fd->quantifier_offset);
            const char *arr = *(const char *const *)(const void *)member;
            size_t sz = wire_elem_size(fd);

            json_array_begin(w);
            for (size_t k = 0; k < n && arr; k++)
                s_value(w, fd, arr + k * sz, depth);
            json_array_end(w);
        } else {
            s_value(w, fd, member, depth);
        }
    }
}

static void s_message(json_writer_t *w, const ProtobufCMessage *msg, int depth)
{
    json_object_begin(w);
    s_fields(w, msg, 0, msg->descriptor->n_fields, depth);
    json_object_end(w);
}

void json_message(json_writer_t *w, const ProtobufCMessage *msg)
{
    s_message(w, msg, 0);
}

void json_message_fields(json_writer_t *w, const ProtobufCMessage *msg, unsigned first,
                         unsigned last)
{
    s_fields(w, msg, first, last, 0);
}
