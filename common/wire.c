/* wire: decode with limits, encode, and the field name rules.
 *
 * Strings are checked on the raw bytes before unpacking because protobuf-c
 * turns a string with an embedded NUL into a shorter C string and does not
 * check UTF-8; enums and repeated counts are checked on the unpacked tree
 * because protobuf-c accepts any enum number for proto3 enums. */
#include "wire.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIRE_MAX_DEPTH 16

/* Name rules: the contract's field names carry their size class
 * (common.proto): exact names, and suffixes. */
typedef struct {
    const char *name;
    size_t max;
    bool code;
    size_t len; /* of a suffix */
} name_rule_t;

static const name_rule_t s_exact[] = {
    {"no", 20, true, 0},
    {"code", 10, true, 0},
    {"after", 20, true, 0},
    /* Paging: a listing continues after a record key (Code10/20). */
    {"next_after", 20, true, 0},
    {"prefix", 20, true, 0},
    {"description", 100, false, 0},
    {"subject", 100, false, 0},
    {"name", 100, false, 0},
    {"comment", 250, false, 0},
    {"comments", 250, false, 0},
    {"user_id", 50, false, 0},
    {"email", 80, false, 0},
    {"message", 1024, false, 0},
    {"field", 128, false, 0},
    {"help", 1024, false, 0},
    {"value", 1024, false, 0},
    {"type", 64, false, 0},
    {"type_prefix", 64, false, 0},
    {"worker", 32, false, 0},
    {"missing", 40, false, 0},
    {"personalized_fields", 64, false, 0},
};

static const name_rule_t s_suffix[] = {
    {"_code", 10, true, 5},
    {"_codes", 10, true, 6},
    {"_no", 20, true, 3},
    {"_nos", 20, true, 4},
};

size_t wire_string_limit(const char *name, bool *ret_is_code)
{
    size_t len = strlen(name);

    /* Called for every string of every message: suffixes first (most
     * fields), then the exact names, compared only when the first letter
     * matches. No exact name ends in a suffix. */
    for (size_t i = 0; i < sizeof(s_suffix) / sizeof(s_suffix[0]); i++) {
        size_t sl = s_suffix[i].len;
        if (len > sl && memcmp(name + len - sl, s_suffix[i].name, sl) == 0) {
            if (ret_is_code)
                *ret_is_code = s_suffix[i].code;
            return s_suffix[i].max;
        }
    }
    for (size_t i = 0; i < sizeof(s_exact) / sizeof(s_exact[0]); i++)
        if (s_exact[i].name[0] == name[0] && strcmp(name, s_exact[i].name) == 0) {
            if (ret_is_code)
                *ret_is_code = s_exact[i].code;
            return s_exact[i].max;
        }
    return 0;
}

static size_t s_bytes_limit(const char *name)
{
    if (strcmp(name, "request_id") == 0)
        return WIRE_REQUEST_ID_MAX;
    if (strcmp(name, "log_id") == 0)
        return 2 * WIRE_REQUEST_ID_MAX;
    if (strcmp(name, "event_id") == 0)
        return 32;
    /* Entries and contacts forwarded as bytes (a segment log batch, a
     * packed lookup): bounded by the message's own size limit. */
    if (strncmp(name, "packed_", 7) == 0)
        return SIZE_MAX;
    return 1024;
}

bool wire_request_id_valid(const ProtobufCBinaryData *id)
{
    return id && id->len >= 1 && id->len <= WIRE_REQUEST_ID_MAX;
}

size_t wire_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

size_t wire_utf8_check(const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t i = 0, chars = 0;
    while (i < len) {
        uint8_t c = p[i];
        size_t n;
        uint32_t cp;
        if (c == 0)
            return SIZE_MAX;
        if (c < 0x80) {
            i++;
            chars++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 1, cp = c & 0x1Fu;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 2, cp = c & 0x0Fu;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 3, cp = c & 0x07u;
        else
            return SIZE_MAX;
        if (i + n >= len)
            return SIZE_MAX;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return SIZE_MAX;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return SIZE_MAX;
        i += n + 1;
        chars++;
    }
    return chars;
}

/* Where a field sits in the message, built only when an error needs it:
 * each level of the walk keeps a node on its stack. */
typedef struct path {
    const struct path *parent;
    const char *name;
} path_t;

static void s_path_format(const path_t *p, char *out, size_t size)
{
    const char *names[WIRE_MAX_DEPTH + 2];
    size_t n = 0, pos = 0;

    for (; p && n < sizeof(names) / sizeof(names[0]); p = p->parent)
        if (p->name)
            names[n++] = p->name;
    out[0] = '\0';
    while (n-- > 0 && pos < size) {
        int w = snprintf(out + pos, size - pos, "%s%s", pos ? "." : "", names[n]);
        if (w < 0)
            break;
        pos += (size_t)w;
    }
}

static void s_set_err(wire_error_t *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_set_err(wire_error_t *err, const char *field, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

static bool s_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *ret)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (*pos >= len)
            return false;
        b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return true;
        }
    }
    return false;
}

#define PATH_ERR(err, node, ...)                     \
    do {                                             \
        char where_[256];                            \
        s_path_format(node, where_, sizeof(where_)); \
        s_set_err(err, where_, __VA_ARGS__);         \
    } while (0)

/* Walk the raw encoding of a `desc` message, checking strings and bytes. */
static rp_err s_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                     int depth, const path_t *path, wire_error_t *err)
{
    size_t pos = 0;

    if (depth > WIRE_MAX_DEPTH) {
        PATH_ERR(err, path, "message nested too deeply");
        return RP_EPROTO;
    }
    while (pos < len) {
        uint64_t tag, l;
        const ProtobufCFieldDescriptor *fd;
        path_t node = {path, NULL};

        if (!s_varint(p, len, &pos, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF) {
            PATH_ERR(err, path, "malformed message: bad tag");
            return RP_EPROTO;
        }
        switch (tag & 7) {
        case 0:
            if (!s_varint(p, len, &pos, &l))
                goto truncated;
            continue;
        case 1:
            if (len - pos < 8)
                goto truncated;
            pos += 8;
            continue;
        case 5:
            if (len - pos < 4)
                goto truncated;
            pos += 4;
            continue;
        case 2:
            break;
        default:
            PATH_ERR(err, path, "malformed message: unsupported wire type %u", (unsigned)(tag & 7));
            return RP_EPROTO;
        }
        if (!s_varint(p, len, &pos, &l) || l > len - pos)
            goto truncated;
        fd = protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
        if (fd) {
            node.name = fd->name;
            if (fd->type == PROTOBUF_C_TYPE_STRING) {
                size_t chars = wire_utf8_check(p + pos, (size_t)l);
                size_t max = wire_string_limit(fd->name, NULL);
                if (chars == SIZE_MAX) {
                    PATH_ERR(err, &node, "%s is not valid UTF-8 text (or contains NUL)", fd->name);
                    return RP_EINVAL;
                }
                if (max == 0)
                    max = 1024;
                if (chars > max) {
                    PATH_ERR(err, &node,
                             "The length of %s is %zu, but it must be less than or equal to "
                             "%zu characters.",
                             fd->name, chars, max);
                    return RP_EINVAL;
                }
            } else if (fd->type == PROTOBUF_C_TYPE_BYTES) {
                size_t max = s_bytes_limit(fd->name);
                if (l > max) {
                    PATH_ERR(err, &node, "%s is %zu bytes, at most %zu are allowed", fd->name,
                             (size_t)l, max);
                    return RP_EINVAL;
                }
            } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                rp_err rc = s_scan(fd->descriptor, p + pos, (size_t)l, depth + 1, &node, err);
                if (rc != RP_OK)
                    return rc;
            }
        }
        pos += (size_t)l;
    }
    return RP_OK;
truncated:
    PATH_ERR(err, path, "malformed message: truncated");
    return RP_EPROTO;
}

static rp_err s_check(ProtobufCMessage *m, int depth, const path_t *path, unsigned flags,
                      wire_error_t *err);

static rp_err s_check_value(const ProtobufCFieldDescriptor *fd, void *member, int depth,
                            const path_t *fpath, unsigned flags, wire_error_t *err)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(int *)member;
        if (!protobuf_c_enum_descriptor_get_value(fd->descriptor, v)) {
            PATH_ERR(err, fpath, "%s: %d is not a valid %s value", fd->name, v,
                     ((const ProtobufCEnumDescriptor *)fd->descriptor)->short_name);
            return RP_EINVAL;
        }
        return RP_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *sub = *(ProtobufCMessage **)member;
        return sub ? s_check(sub, depth + 1, fpath, flags, err) : RP_OK;
    }
    case PROTOBUF_C_TYPE_INT64: {
        /* Amounts are bounded so that sums over millions of entries
         * (statistics, segment totals) cannot overflow. */
        int64_t v = *(int64_t *)member;
        size_t n;
        if (v <= WIRE_MAX_CENTS && v >= -WIRE_MAX_CENTS)
            return RP_OK;
        n = strlen(fd->name);
        if (n > 6 && strcmp(fd->name + n - 6, "_cents") == 0) {
            PATH_ERR(err, fpath, "%s: %lld is out of range (at most %lld)", fd->name, (long long)v,
                     (long long)WIRE_MAX_CENTS);
            return RP_EINVAL;
        }
        return RP_OK;
    }
    case PROTOBUF_C_TYPE_UINT32: {
        /* Durations are bounded like amounts (sums, and sane values). */
        uint32_t v = *(uint32_t *)member;
        size_t n = strlen(fd->name);
        if (v > WIRE_MAX_MINUTES && n > 4 && strcmp(fd->name + n - 4, "_min") == 0) {
            PATH_ERR(err, fpath, "%s: %u is out of range (at most %u minutes)", fd->name, v,
                     WIRE_MAX_MINUTES);
            return RP_EINVAL;
        }
        return RP_OK;
    }
    case PROTOBUF_C_TYPE_STRING: {
        bool code = false;
        char *s = *(char **)member;
        if (s && (flags & WIRE_NORMALIZE) && wire_string_limit(fd->name, &code) && code)
            for (; *s; s++)
                *s = (char)toupper((unsigned char)*s);
        return RP_OK;
    }
    default:
        return RP_OK;
    }
}

size_t wire_elem_size(const ProtobufCFieldDescriptor *fd)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

static rp_err s_check(ProtobufCMessage *m, int depth, const path_t *path, unsigned flags,
                      wire_error_t *err)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    char *base = (char *)m;

    if (depth > WIRE_MAX_DEPTH) {
        PATH_ERR(err, path, "message nested too deeply");
        return RP_EPROTO;
    }
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields[i];
        path_t node = {path, fd->name};
        rp_err rc;

        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)(base + fd->quantifier_offset);
            char *arr = *(char **)(base + fd->offset);
            size_t es = wire_elem_size(fd);
            if (n > WIRE_MAX_REPEATED) {
                PATH_ERR(err, &node, "%s has %zu items, at most %d are allowed", fd->name, n,
                         WIRE_MAX_REPEATED);
                return RP_EINVAL;
            }
            for (size_t k = 0; k < n; k++) {
                rc = s_check_value(fd, arr + k * es, depth, &node, flags, err);
                if (rc != RP_OK)
                    return rc;
            }
            continue;
        }
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(uint32_t *)(base + fd->quantifier_offset);
            if (which != fd->id)
                continue;
        }
        rc = s_check_value(fd, base + fd->offset, depth, &node, flags, err);
        if (rc != RP_OK)
            return rc;
    }
    return RP_OK;
}

/* Decode with checks, allocating with `allocator` (NULL: malloc). On a
 * check failure after unpacking, a malloc'd message is freed; an arena's
 * memory goes with the arena. */
static rp_err s_decode(ProtobufCAllocator *allocator, const ProtobufCMessageDescriptor *desc,
                       const void *data, size_t len, size_t max_size, unsigned flags,
                       ProtobufCMessage **ret_msg, wire_error_t *err)
{
    ProtobufCMessage *m;
    rp_err rc;

    if (len > max_size) {
        s_set_err(err, "", "message of %zu bytes is larger than the limit of %zu bytes", len,
                  max_size);
        return RP_ETOOBIG;
    }
    rc = s_scan(desc, data, len, 0, NULL, err);
    if (rc != RP_OK)
        return rc;
    m = protobuf_c_message_unpack(desc, allocator, len, data);
    if (!m) {
        s_set_err(err, "", "malformed %s message", desc->short_name);
        return RP_EPROTO;
    }
    rc = s_check(m, 0, NULL, flags, err);
    if (rc != RP_OK) {
        if (!allocator)
            protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    *ret_msg = m;
    return RP_OK;
}

rp_err wire_decode(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
                   size_t max_size, unsigned flags, ProtobufCMessage **ret_msg, wire_error_t *err)
{
    return s_decode(NULL, desc, data, len, max_size, flags, ret_msg, err);
}

void wire_free(ProtobufCMessage *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
}

size_t wire_size(const ProtobufCMessage *msg)
{
    return protobuf_c_message_get_packed_size(msg);
}

size_t wire_encode_to(const ProtobufCMessage *msg, uint8_t *buf)
{
    return protobuf_c_message_pack(msg, buf);
}

rp_err wire_encode(const ProtobufCMessage *msg, uint8_t **ret_buf, size_t *ret_len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return RP_ENOMEM;
    *ret_len = protobuf_c_message_pack(msg, buf);
    *ret_buf = buf;
    return RP_OK;
}

/* ---- arena ---- */

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} arena_block_t;

struct wire_arena {
    arena_block_t *head;
    ProtobufCAllocator allocator;
};

#define ARENA_BLOCK 16384

static arena_block_t *s_block_new(size_t min)
{
    size_t size = min > ARENA_BLOCK ? min : ARENA_BLOCK;
    arena_block_t *b = malloc(sizeof(*b) + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

static void *s_pc_alloc(void *data, size_t size)
{
    return wire_arena_alloc(data, size);
}

static void s_pc_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

wire_arena_t *wire_arena_new(void)
{
    wire_arena_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->head = s_block_new(ARENA_BLOCK);
    if (!a->head) {
        free(a);
        return NULL;
    }
    a->allocator.alloc = s_pc_alloc;
    a->allocator.free = s_pc_free;
    a->allocator.allocator_data = a;
    return a;
}

void wire_arena_reset(wire_arena_t *a)
{
    arena_block_t *b = a->head->next;
    /* Keep the last-allocated big first block only if it is the standard
     * size; free the rest. */
    while (b) {
        arena_block_t *n = b->next;
        free(b);
        b = n;
    }
    a->head->next = NULL;
    a->head->used = 0;
    if (a->head->size > ARENA_BLOCK * 64) {
        arena_block_t *nb = s_block_new(ARENA_BLOCK);
        if (nb) {
            free(a->head);
            a->head = nb;
        }
    }
}

void wire_arena_destroy(wire_arena_t **self_p)
{
    wire_arena_t *a;
    if (!self_p || !*self_p)
        return;
    a = *self_p;
    while (a->head) {
        arena_block_t *n = a->head->next;
        free(a->head);
        a->head = n;
    }
    free(a);
    *self_p = NULL;
}

void *wire_arena_alloc(wire_arena_t *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    arena_block_t *b = a->head;
    void *p;

    if (need == 0)
        need = 16;
    if (b->size - b->used < need) {
        arena_block_t *nb = s_block_new(need > ARENA_BLOCK ? need : ARENA_BLOCK);
        if (!nb)
            abort();
        if (need > ARENA_BLOCK / 4) {
            /* A big allocation gets a block of its own behind the head, so
             * the head's free space is not wasted. */
            nb->next = b->next;
            b->next = nb;
            nb->used = need;
            memset(nb->data, 0, need);
            return nb->data;
        }
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    p = b->data + b->used;
    b->used += need;
    memset(p, 0, need);
    return p;
}

char *wire_arena_strdup(wire_arena_t *a, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *d = wire_arena_alloc(a, n + 1);
    if (n)
        memcpy(d, s, n);
    return d;
}

char *wire_arena_printf(wire_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *d;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return wire_arena_strdup(a, "");
    d = wire_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

ProtobufCMessage *wire_arena_message(wire_arena_t *a, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = wire_arena_alloc(a, desc->sizeof_message);
    protobuf_c_message_init(desc, m);
    return m;
}

void **wire_arena_ptrs(wire_arena_t *a, size_t n)
{
    return wire_arena_alloc(a, (n ? n : 1) * sizeof(void *));
}

rp_err wire_decode_arena(wire_arena_t *a, const ProtobufCMessageDescriptor *desc, const void *data,
                         size_t len, size_t max_size, unsigned flags, ProtobufCMessage **ret_msg,
                         wire_error_t *err)
{
    return s_decode(&a->allocator, desc, data, len, max_size, flags, ret_msg, err);
}

ProtobufCBinaryData wire_peek_request_id(const void *data, size_t len)
{
    ProtobufCBinaryData none = {0, NULL};
    const uint8_t *p = data;
    size_t pos = 0;

    while (pos < len) {
        uint64_t tag, v;
        if (!s_varint(p, len, &pos, &tag))
            return none;
        switch (tag & 7) {
        case 0:
            if (!s_varint(p, len, &pos, &v))
                return none;
            break;
        case 1:
            if (len - pos < 8)
                return none;
            pos += 8;
            break;
        case 5:
            if (len - pos < 4)
                return none;
            pos += 4;
            break;
        case 2:
            if (!s_varint(p, len, &pos, &v) || v > len - pos)
                return none;
            if ((tag >> 3) == 1) {
                ProtobufCBinaryData id = {(size_t)v, (uint8_t *)(uintptr_t)(p + pos)};
                return v <= WIRE_REQUEST_ID_MAX ? id : none;
            }
            pos += (size_t)v;
            break;
        default:
            return none;
        }
    }
    return none;
}

static const ProtobufCFieldDescriptor *s_field(const ProtobufCMessage *msg, unsigned id,
                                               const char *name, ProtobufCType type)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(msg->descriptor, id);
    if (!fd || fd->type != type || strcmp(fd->name, name) != 0)
        return NULL;
    return fd;
}

const ProtobufCBinaryData *wire_msg_request_id(const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *fd = s_field(msg, 1, "request_id", PROTOBUF_C_TYPE_BYTES);
    return fd ? (const ProtobufCBinaryData *)((const char *)msg + fd->offset) : NULL;
}

const char *wire_msg_user_id(const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *fd = s_field(msg, 2, "user_id", PROTOBUF_C_TYPE_STRING);
    return fd ? *(const char *const *)((const char *)msg + fd->offset) : "";
}

void wire_msg_set_envelope(ProtobufCMessage *msg, ProtobufCBinaryData request_id,
                           const char *user_id)
{
    const ProtobufCFieldDescriptor *fd = s_field(msg, 1, "request_id", PROTOBUF_C_TYPE_BYTES);
    if (fd)
        *(ProtobufCBinaryData *)((char *)msg + fd->offset) = request_id;
    fd = s_field(msg, 2, "user_id", PROTOBUF_C_TYPE_STRING);
    if (fd)
        *(const char **)((char *)msg + fd->offset) = user_id;
}

void wire_msg_set_status(ProtobufCMessage *reply, ProtobufCMessage *status)
{
    const ProtobufCFieldDescriptor *fd = s_field(reply, 3, "status", PROTOBUF_C_TYPE_MESSAGE);
    if (fd)
        *(ProtobufCMessage **)((char *)reply + fd->offset) = status;
}

const ProtobufCMessage *wire_msg_status(const ProtobufCMessage *reply)
{
    const ProtobufCFieldDescriptor *fd = s_field(reply, 3, "status", PROTOBUF_C_TYPE_MESSAGE);
    return fd ? *(const ProtobufCMessage *const *)((const char *)reply + fd->offset) : NULL;
}

uint32_t wire_oneof_case(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        /* Members of a oneof share one case slot; the first oneof member
         * found belongs to the message's first oneof. */
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            return *(const uint32_t *)((const char *)msg + fd->quantifier_offset);
    }
    return 0;
}

rp_err wire_decode_trusted(wire_arena_t *a, const ProtobufCMessageDescriptor *desc,
                           const void *data, size_t len, ProtobufCMessage **ret_msg)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a->allocator, len, data);
    if (!m)
        return RP_ECORRUPT;
    *ret_msg = m;
    return RP_OK;
}

rp_err wire_decode_trusted_heap(const ProtobufCMessageDescriptor *desc, const void *data,
                                size_t len, ProtobufCMessage **ret_msg)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);
    if (!m)
        return RP_ECORRUPT;
    *ret_msg = m;
    return RP_OK;
}
