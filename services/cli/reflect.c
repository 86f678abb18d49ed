/* reflect: fields by name and text-to-field conversion for the CLI.
 *
 * The option tables of the commands name request fields by path; this
 * module is what makes those tables enough: the field's descriptor says how
 * to parse the text, so no command needs a setter of its own. */
#include "reflect.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "json.h"
#include "wire.h"

const ProtobufCFieldDescriptor *reflect_field(const ProtobufCMessage *msg, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
}

static void *s_member(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    return (char *)msg + fd->offset;
}

static void s_select_oneof(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(void *)((char *)msg + fd->quantifier_offset) = fd->id;
}

ProtobufCMessage *reflect_submessage(wire_arena_t *a, ProtobufCMessage *msg,
                                     const ProtobufCFieldDescriptor *fd)
{
    ProtobufCMessage **slot = s_member(msg, fd);

    if (!json_field_present(msg, fd) || !*slot)
        *slot = wire_arena_message(a, fd->descriptor);
    s_select_oneof(msg, fd);
    return *slot;
}

rp_err reflect_path(wire_arena_t *a, ProtobufCMessage *msg, const char *path,
                    ProtobufCMessage **ret_msg, const ProtobufCFieldDescriptor **ret_fd)
{
    char name[128];

    for (;;) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        const ProtobufCFieldDescriptor *fd;

        if (len == 0 || len >= sizeof(name))
            return RP_ENOTFOUND;
        memcpy(name, path, len);
        name[len] = '\0';
        fd = reflect_field(msg, name);
        if (!fd)
            return RP_ENOTFOUND;
        if (!dot) {
            *ret_msg = msg;
            *ret_fd = fd;
            return RP_OK;
        }
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label == PROTOBUF_C_LABEL_REPEATED)
            return RP_ENOTFOUND;
        msg = reflect_submessage(a, msg, fd);
        path = dot + 1;
    }
}

rp_err reflect_parse_uint(const char *text, uint64_t max, uint64_t *ret_value)
{
    unsigned long long v;
    char *end;

    if (!text || !*text)
        return RP_EINVAL;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9')
            return RP_EINVAL;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return RP_EINVAL;
    *ret_value = (uint64_t)v;
    return RP_OK;
}

rp_err reflect_parse_cents(const char *text, int64_t *ret_cents)
{
    const char *dot;
    uint64_t whole = 0, frac = 0;
    size_t nfrac;
    char intpart[24];
    size_t ilen;

    if (!text || !*text)
        return RP_EINVAL;
    dot = strchr(text, '.');
    ilen = dot ? (size_t)(dot - text) : strlen(text);
    if (ilen == 0 || ilen >= sizeof(intpart))
        return RP_EINVAL;
    memcpy(intpart, text, ilen);
    intpart[ilen] = '\0';
    if (reflect_parse_uint(intpart, (uint64_t)(INT64_MAX / 100 - 1), &whole) != RP_OK)
        return RP_EINVAL;
    if (dot) {
        nfrac = strlen(dot + 1);
        if (nfrac < 1 || nfrac > 2 || reflect_parse_uint(dot + 1, 99, &frac) != RP_OK)
            return RP_EINVAL;
        if (nfrac == 1)
            frac *= 10;
    }
    *ret_cents = (int64_t)(whole * 100 + frac);
    return RP_OK;
}

rp_err reflect_parse_bool(const char *text, bool *ret_value)
{
    static const char *const yes[] = {"true", "yes", "1", "on"};
    static const char *const no[] = {"false", "no", "0", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *ret_value = true;
            return RP_OK;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *ret_value = false;
            return RP_OK;
        }
    }
    return RP_EINVAL;
}

/* "outbound, inbound or none" from the enum's values. */
static void s_enum_choices(const ProtobufCEnumDescriptor *ed, char *buf, size_t size)
{
    size_t used = 0;
    unsigned shown = 0, total = 0;

    for (unsigned i = 0; i < ed->n_values; i++) {
        char name[64];
        json_enum_name(ed, ed->values[i].value, name, sizeof(name));
        if (strcmp(name, "unspecified") != 0)
            total++;
    }
    buf[0] = '\0';
    for (unsigned i = 0; i < ed->n_values && used < size; i++) {
        char name[64];
        int n;

        json_enum_name(ed, ed->values[i].value, name, sizeof(name));
        if (strcmp(name, "unspecified") == 0)
            continue;
        shown++;
        n = snprintf(buf + used, size - used, "%s%s",
                     shown == 1 ? "" : (shown == total ? " or " : ", "), name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Convert text to the value of fd into *out (sized for any scalar). */
static rp_err s_parse(wire_arena_t *a, const ProtobufCFieldDescriptor *fd, const char *text,
                      void *out, char *errbuf, size_t errlen)
{
    uint64_t u;
    bool b;

    switch (fd->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (json_field_is_date(fd)) {
            uint32_t d;
            if (clock_date_parse(text, &d) != RP_OK) {
                snprintf(errbuf, errlen, "expected a date YYYY-MM-DD, got '%s'", text);
                return RP_EINVAL;
            }
            *(uint32_t *)out = d;
            return RP_OK;
        }
        if (json_field_is_time(fd)) {
            uint32_t t;
            if (clock_time_parse(text, &t) != RP_OK) {
                snprintf(errbuf, errlen, "expected a time HH:MM or HH:MM:SS, got '%s'", text);
                return RP_EINVAL;
            }
            *(uint32_t *)out = t;
            return RP_OK;
        }
        if (reflect_parse_uint(text, UINT32_MAX, &u) != RP_OK) {
            snprintf(errbuf, errlen, "expected a whole number 0..%u, got '%s'", UINT32_MAX, text);
            return RP_EINVAL;
        }
        *(uint32_t *)out = (uint32_t)u;
        return RP_OK;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (reflect_parse_uint(text, UINT64_MAX, &u) != RP_OK) {
            snprintf(errbuf, errlen, "expected a whole number, got '%s'", text);
            return RP_EINVAL;
        }
        *(uint64_t *)out = u;
        return RP_OK;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (json_field_is_cents(fd)) {
            int64_t c;
            if (reflect_parse_cents(text, &c) != RP_OK) {
                snprintf(errbuf, errlen,
                         "expected an amount >= 0 with at most 2 decimals (12.50), got '%s'", text);
                return RP_EINVAL;
            }
            *(int64_t *)out = c;
            return RP_OK;
        }
        if (reflect_parse_uint(text, INT64_MAX, &u) != RP_OK) {
            snprintf(errbuf, errlen, "expected a whole number, got '%s'", text);
            return RP_EINVAL;
        }
        *(int64_t *)out = (int64_t)u;
        return RP_OK;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (reflect_parse_uint(text, INT32_MAX, &u) != RP_OK) {
            snprintf(errbuf, errlen, "expected a whole number, got '%s'", text);
            return RP_EINVAL;
        }
        *(int32_t *)out = (int32_t)u;
        return RP_OK;
    case PROTOBUF_C_TYPE_BOOL:
        if (reflect_parse_bool(text, &b) != RP_OK) {
            snprintf(errbuf, errlen, "expected true or false, got '%s'", text);
            return RP_EINVAL;
        }
        *(protobuf_c_boolean *)out = b;
        return RP_OK;
    case PROTOBUF_C_TYPE_ENUM: {
        int v;
        if (!json_enum_parse(fd->descriptor, text, &v)) {
            char choices[256];
            s_enum_choices(fd->descriptor, choices, sizeof(choices));
            snprintf(errbuf, errlen, "unknown value '%s' (expected %s)", text, choices);
            return RP_EINVAL;
        }
        *(int *)out = v;
        return RP_OK;
    }
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        char *end;
        double d;
        errno = 0;
        d = strtod(text, &end);
        if (errno || end == text || *end) {
            snprintf(errbuf, errlen, "expected a number, got '%s'", text);
            return RP_EINVAL;
        }
        if (fd->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)out = (float)d;
        else
            *(double *)out = d;
        return RP_OK;
    }
    case PROTOBUF_C_TYPE_STRING:
        *(char **)out = wire_arena_strdup(a, text);
        return RP_OK;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *bd = out;
        bd->len = strlen(text);
        bd->data = (uint8_t *)wire_arena_strdup(a, text);
        return RP_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    snprintf(errbuf, errlen, "cannot be set from text");
    return RP_EINVAL;
}

rp_err reflect_set_text(wire_arena_t *a, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                        const char *text, char *errbuf, size_t errlen)
{
    union {
        uint64_t u;
        double d;
        void *p;
        ProtobufCBinaryData b;
    } value;
    size_t sz = wire_elem_size(fd);
    rp_err rc;

    memset(&value, 0, sizeof(value));
    rc = s_parse(a, fd, text, &value, errbuf, errlen);
    if (rc != RP_OK)
        return rc;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *n = (size_t *)(void *)((char *)msg + fd->quantifier_offset);
        char **arr = s_member(msg, fd);

        /* Arrays grown here have room for the next power of two (at least
         * 8) elements, so a long argument list costs O(n), not O(n^2). */
        if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0)) {
            size_t cap = *n < 8 ? 8 : *n * 2;
            char *grown = wire_arena_alloc(a, cap * sz);
            if (*n)
                memcpy(grown, *arr, *n * sz);
            *arr = grown;
        }
        memcpy(*arr + *n * sz, &value, sz);
        (*n)++;
        return RP_OK;
    }
    memcpy(s_member(msg, fd), &value, sz);
    s_select_oneof(msg, fd);
    return RP_OK;
}

rp_err reflect_set_path(wire_arena_t *a, ProtobufCMessage *msg, const char *path, const char *text,
                        char *errbuf, size_t errlen)
{
    ProtobufCMessage *parent;
    const ProtobufCFieldDescriptor *fd;

    if (reflect_path(a, msg, path, &parent, &fd) != RP_OK) {
        snprintf(errbuf, errlen, "no field '%s' in %s", path, msg->descriptor->short_name);
        return RP_ENOTFOUND;
    }
    return reflect_set_text(a, parent, fd, text, errbuf, errlen);
}

const ProtobufCMessage *reflect_oneof_message(const ProtobufCMessage *msg,
                                              const ProtobufCFieldDescriptor **ret_fd)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (json_field_present(msg, fd)) {
            if (ret_fd)
                *ret_fd = fd;
            return *(const ProtobufCMessage *const *)json_field_member(msg, fd);
        }
    }
    return NULL;
}

size_t reflect_repeated(const ProtobufCMessage *msg, const char *name, const void **ret_array)
{
    const ProtobufCFieldDescriptor *fd = reflect_field(msg, name);

    if (!fd || fd->label != PROTOBUF_C_LABEL_REPEATED) {
        *ret_array = NULL;
        return 0;
    }
    *ret_array = *(const void *const *)json_field_member(msg, fd);
    return *(const size_t *)(const void *)((const char *)msg + fd->quantifier_offset);
}

static bool s_is_string(const ProtobufCFieldDescriptor *fd)
{
    return fd->type == PROTOBUF_C_TYPE_STRING;
}

static bool s_is_u64(const ProtobufCFieldDescriptor *fd)
{
    return fd->type == PROTOBUF_C_TYPE_UINT64 || fd->type == PROTOBUF_C_TYPE_FIXED64;
}

static bool s_is_u32(const ProtobufCFieldDescriptor *fd)
{
    return fd->type == PROTOBUF_C_TYPE_UINT32 || fd->type == PROTOBUF_C_TYPE_FIXED32;
}

rp_err reflect_copy_scalar(wire_arena_t *a, ProtobufCMessage *dst, const char *dst_name,
                           const ProtobufCMessage *src, const char *src_name)
{
    const ProtobufCFieldDescriptor *dfd = reflect_field(dst, dst_name);
    const ProtobufCFieldDescriptor *sfd = reflect_field(src, src_name);

    if (!dfd || !sfd || dfd->label == PROTOBUF_C_LABEL_REPEATED ||
        sfd->label == PROTOBUF_C_LABEL_REPEATED)
        return RP_ENOTFOUND;
    if (s_is_string(dfd) && s_is_string(sfd)) {
        *(char **)s_member(dst, dfd) = wire_arena_strdup(a, reflect_get_string(src, src_name));
    } else if ((s_is_u64(dfd) || s_is_u32(dfd)) && (s_is_u64(sfd) || s_is_u32(sfd))) {
        uint64_t v = reflect_get_uint(src, src_name);
        if (s_is_u64(dfd))
            *(uint64_t *)s_member(dst, dfd) = v;
        else if (v <= UINT32_MAX)
            *(uint32_t *)s_member(dst, dfd) = (uint32_t)v;
        else
            return RP_ERANGE;
    } else {
        return RP_ENOTFOUND;
    }
    s_select_oneof(dst, dfd);
    return RP_OK;
}

uint64_t reflect_get_uint(const ProtobufCMessage *msg, const char *name)
{
    const ProtobufCFieldDescriptor *fd = reflect_field(msg, name);

    if (!fd || fd->label == PROTOBUF_C_LABEL_REPEATED || !json_field_present(msg, fd))
        return 0;
    if (s_is_u64(fd))
        return *(const uint64_t *)json_field_member(msg, fd);
    if (s_is_u32(fd))
        return *(const uint32_t *)json_field_member(msg, fd);
    return 0;
}

const char *reflect_get_string(const ProtobufCMessage *msg, const char *name)
{
    const ProtobufCFieldDescriptor *fd = reflect_field(msg, name);
    const char *s;

    if (!fd || !s_is_string(fd) || fd->label == PROTOBUF_C_LABEL_REPEATED ||
        !json_field_present(msg, fd))
        return "";
    s = *(const char *const *)json_field_member(msg, fd);
    return s ? s : "";
}

bool reflect_is_zero(const ProtobufCMessage *msg, const char *name)
{
    const ProtobufCFieldDescriptor *fd = reflect_field(msg, name);

    if (!fd)
        return true;
    if (s_is_string(fd))
        return reflect_get_string(msg, name)[0] == '\0';
    return reflect_get_uint(msg, name) == 0;
}
