/* human: "field: value" records and aligned tables, driven by descriptors.
 *
 * Like the JSON printer, nothing here knows a message type: the contract's
 * naming rules (json.h) decide how a value is spelled. Tables keep their
 * cells until flushed so that column widths can be measured first. */
#include "human.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "wire.h"

#define HUMAN_CELL_MAX     4096
#define HUMAN_MAX_COLUMNS  32
#define HUMAN_MAX_DEPTH    8
#define HUMAN_LABEL_MAX    64
#define HUMAN_ITEM_PREFIX  "- "
#define HUMAN_ITEM_PADDING "  "

void human_format_cents(int64_t cents, char *buf, size_t size)
{
    uint64_t mag = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
    snprintf(buf, size, "%s%" PRIu64 ".%02u", cents < 0 ? "-" : "", mag / 100,
             (unsigned)(mag % 100));
}

void human_field_label(const ProtobufCFieldDescriptor *fd, char *buf, size_t size)
{
    size_t n = strlen(fd->name);

    /* A segment line's `personalized` is Business Central's "Unique": the
     * line has a template of its own, so header changes skip it. Its
     * personalized_fields are another matter (fields set one by one). */
    if (strcmp(fd->name, "personalized") == 0) {
        snprintf(buf, size, "unique (own template)");
        return;
    }

    if (json_field_is_cents(fd))
        n -= strlen("_cents");
    if (n >= size)
        n = size - 1;
    memcpy(buf, fd->name, n);
    buf[n] = '\0';
}

/* Copy text into buf with control characters as spaces. */
static void s_copy_clean(char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o + 1 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    buf[o] = '\0';
}

void human_format_value(const ProtobufCFieldDescriptor *fd, const void *p, char *buf, size_t size)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(buf, size, "%" PRId32, *(const int32_t *)p);
        return;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (json_field_is_date(fd))
            clock_date_format(*(const uint32_t *)p, buf, size);
        else if (json_field_is_time(fd))
            clock_time_format(*(const uint32_t *)p, buf, size);
        else
            snprintf(buf, size, "%" PRIu32, *(const uint32_t *)p);
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (json_field_is_cents(fd))
            human_format_cents(*(const int64_t *)p, buf, size);
        else
            snprintf(buf, size, "%" PRId64, *(const int64_t *)p);
        return;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, size, "%" PRIu64, *(const uint64_t *)p);
        return;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d =
            fd->type == PROTOBUF_C_TYPE_FLOAT ? (double)*(const float *)p : *(const double *)p;
        if (isfinite(d))
            json_format_double(d, buf, size);
        else
            snprintf(buf, size, "%s", isnan(d) ? "NaN" : (d > 0 ? "+Inf" : "-Inf"));
        return;
    }
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(buf, size, "%s", *(const protobuf_c_boolean *)p ? "yes" : "no");
        return;
    case PROTOBUF_C_TYPE_ENUM:
        json_enum_name(fd->descriptor, *(const int *)p, buf, size);
        return;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        s_copy_clean(buf, size, s ? s : "", s ? strlen(s) : 0);
        return;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        static const char hex[] = "0123456789abcdef";
        const ProtobufCBinaryData *b = p;
        bool printable = true;
        size_t o = 0;

        for (size_t i = 0; i < b->len && printable; i++)
            printable = b->data[i] >= 0x20 && b->data[i] < 0x7f;
        if (printable) {
            s_copy_clean(buf, size, (const char *)b->data, b->len);
            return;
        }
        for (size_t i = 0; i < b->len && o + 2 < size; i++) {
            buf[o++] = hex[b->data[i] >> 4];
            buf[o++] = hex[b->data[i] & 15];
        }
        buf[o] = '\0';
        return;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        snprintf(buf, size, "%s", *(const ProtobufCMessage *const *)p ? "{...}" : "");
        return;
    }
    buf[0] = '\0';
}

static size_t s_repeated(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                         const char **ret_arr)
{
    *ret_arr = *(const char *const *)json_field_member(msg, fd);
    return *(const size_t *)(const void *)((const char *)msg + fd->quantifier_offset);
}

/* A repeated scalar field as "a, b, c". */
static void s_format_list(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                          char *buf, size_t size)
{
    const char *arr;
    size_t n = s_repeated(msg, fd, &arr), used = 0, sz = wire_elem_size(fd);

    buf[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < size; i++) {
        char one[HUMAN_CELL_MAX];
        int w;

        human_format_value(fd, arr + i * sz, one, sizeof(one));
        w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", one);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Display width of UTF-8 text: its code points. */
static size_t s_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static void s_pad(FILE *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc(' ', out);
}

static void s_show(FILE *out, const ProtobufCMessage *msg, int indent, const char *first_prefix,
                   int depth)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    size_t label_w = 0;
    bool first = true;

    for (unsigned i = 0; i < d->n_fields; i++) {
        char label[HUMAN_LABEL_MAX];
        if (!json_field_present(msg, &d->fields[i]))
            continue;
        human_field_label(&d->fields[i], label, sizeof(label));
        if (strlen(label) > label_w)
            label_w = strlen(label);
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const void *member = json_field_member(msg, fd);
        char label[HUMAN_LABEL_MAX], value[HUMAN_CELL_MAX];
        bool is_msg = fd->type == PROTOBUF_C_TYPE_MESSAGE;

        if (!json_field_present(msg, fd))
            continue;
        human_field_label(fd, label, sizeof(label));
        if (first && first_prefix) {
            s_pad(out, (size_t)indent - strlen(first_prefix));
            fputs(first_prefix, out);
        } else {
            s_pad(out, (size_t)indent);
        }
        first = false;
        fprintf(out, "%s:", label);
        if (is_msg && fd->label == PROTOBUF_C_LABEL_REPEATED) {
            const char *arr;
            size_t n = s_repeated(msg, fd, &arr);
            if (n == 0 || depth >= HUMAN_MAX_DEPTH) {
                fputs(n ? " ...\n" : " (none)\n", out);
                continue;
            }
            fputc('\n', out);
            for (size_t k = 0; k < n; k++)
                s_show(out, ((const ProtobufCMessage *const *)(const void *)arr)[k], indent + 4,
                       HUMAN_ITEM_PADDING HUMAN_ITEM_PREFIX, depth + 1);
            continue;
        }
        if (is_msg) {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)member;
            if (!sub || depth >= HUMAN_MAX_DEPTH) {
                fputs(sub ? " ...\n" : " (none)\n", out);
                continue;
            }
            fputc('\n', out);
            s_show(out, sub, indent + 2, NULL, depth + 1);
            continue;
        }
        if (fd->label == PROTOBUF_C_LABEL_REPEATED)
            s_format_list(msg, fd, value, sizeof(value));
        else
            human_format_value(fd, member, value, sizeof(value));
        if (value[0]) {
            s_pad(out, label_w - strlen(label) + 1);
            fputs(value, out);
        }
        fputc('\n', out);
    }
    if (first && first_prefix) {
        /* An empty item still shows as one. */
        s_pad(out, (size_t)indent - strlen(first_prefix));
        fprintf(out, "%s\n", first_prefix);
    }
}

void human_show(FILE *out, const ProtobufCMessage *msg, int indent)
{
    s_show(out, msg, indent, NULL, 0);
}

struct human_table {
    const ProtobufCMessageDescriptor *row;
    size_t n_cols;
    const ProtobufCFieldDescriptor *cols[HUMAN_MAX_COLUMNS];
    char headers[HUMAN_MAX_COLUMNS][HUMAN_LABEL_MAX];
    size_t widths[HUMAN_MAX_COLUMNS];
    bool right[HUMAN_MAX_COLUMNS];
    bool header_done;
    char **cells; /* n_rows * n_cols */
    size_t n_rows, cap_rows;
};

static bool s_numeric(const ProtobufCFieldDescriptor *fd)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return !json_field_is_date(fd) && !json_field_is_time(fd);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return true;
    default:
        return false;
    }
}

rp_err human_table_new(const ProtobufCMessageDescriptor *row, const char *columns,
                       human_table_t **ret_table)
{
    human_table_t *t = calloc(1, sizeof(*t));
    const char *p = columns;

    if (!t)
        return RP_ENOMEM;
    t->row = row;
    while (*p && t->n_cols < HUMAN_MAX_COLUMNS) {
        const char *end = strchr(p, ','), *colon;
        size_t len = end ? (size_t)(end - p) : strlen(p), nlen;
        char name[HUMAN_LABEL_MAX];
        const ProtobufCFieldDescriptor *fd;
        size_t c = t->n_cols;

        colon = memchr(p, ':', len);
        nlen = colon ? (size_t)(colon - p) : len;
        if (nlen == 0 || nlen >= sizeof(name))
            goto out_bad_column;
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        fd = protobuf_c_message_descriptor_get_field_by_name(row, name);
        if (!fd)
            goto out_bad_column;
        t->cols[c] = fd;
        t->right[c] = s_numeric(fd) && fd->label != PROTOBUF_C_LABEL_REPEATED;
        if (colon) {
            size_t hl = len - nlen - 1;
            if (hl >= HUMAN_LABEL_MAX)
                hl = HUMAN_LABEL_MAX - 1;
            memcpy(t->headers[c], colon + 1, hl);
            t->headers[c][hl] = '\0';
        } else {
            human_field_label(fd, t->headers[c], HUMAN_LABEL_MAX);
            for (char *h = t->headers[c]; *h; h++)
                *h = *h == '_' ? ' ' : (char)toupper((unsigned char)*h);
        }
        t->widths[c] = s_width(t->headers[c]);
        t->n_cols++;
        p = end ? end + 1 : p + len;
    }
    *ret_table = t;
    return RP_OK;

out_bad_column:
    human_table_destroy(&t);
    return RP_ENOTFOUND;
}

rp_err human_table_add(human_table_t *t, const ProtobufCMessage *row)
{
    char buf[HUMAN_CELL_MAX];

    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 64;
        char **cells = realloc(t->cells, cap * t->n_cols * sizeof(*cells));
        if (!cells)
            return RP_ENOMEM;
        t->cells = cells;
        t->cap_rows = cap;
    }
    for (size_t c = 0; c < t->n_cols; c++) {
        const ProtobufCFieldDescriptor *fd = t->cols[c];
        char *cell;
        size_t w;

        if (!json_field_present(row, fd))
            buf[0] = '\0';
        else if (fd->label == PROTOBUF_C_LABEL_REPEATED)
            s_format_list(row, fd, buf, sizeof(buf));
        else
            human_format_value(fd, json_field_member(row, fd), buf, sizeof(buf));
        /* Blank rather than "no" keeps boolean columns readable. */
        if (fd->type == PROTOBUF_C_TYPE_BOOL && strcmp(buf, "no") == 0)
            buf[0] = '\0';
        cell = strdup(buf);
        if (!cell) {
            for (size_t k = 0; k < c; k++)
                free(t->cells[t->n_rows * t->n_cols + k]);
            return RP_ENOMEM;
        }
        t->cells[t->n_rows * t->n_cols + c] = cell;
        w = s_width(cell);
        if (w > t->widths[c])
            t->widths[c] = w;
    }
    t->n_rows++;
    return RP_OK;
}

static void s_row(const human_table_t *t, FILE *out, const char *const *cells)
{
    size_t end = t->n_cols;

    /* Blank trailing cells print nothing: no trailing spaces. */
    while (end > 0 && cells[end - 1][0] == '\0')
        end--;
    for (size_t c = 0; c < end; c++) {
        size_t w = s_width(cells[c]), pad = t->widths[c] > w ? t->widths[c] - w : 0;

        if (c)
            fputs("  ", out);
        if (t->right[c])
            s_pad(out, pad);
        fputs(cells[c], out);
        if (!t->right[c] && c + 1 < end)
            s_pad(out, pad);
    }
    fputc('\n', out);
}

void human_table_flush(human_table_t *t, FILE *out)
{
    if (!t->header_done) {
        const char *hdr[HUMAN_MAX_COLUMNS];
        for (size_t c = 0; c < t->n_cols; c++)
            hdr[c] = t->headers[c];
        s_row(t, out, hdr);
        t->header_done = true;
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        char **cells = &t->cells[r * t->n_cols];
        s_row(t, out, (const char *const *)cells);
        for (size_t c = 0; c < t->n_cols; c++)
            free(cells[c]);
    }
    t->n_rows = 0;
}

void human_table_destroy(human_table_t **self_p)
{
    human_table_t *t;

    if (!self_p || !*self_p)
        return;
    t = *self_p;
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
    *self_p = NULL;
}
