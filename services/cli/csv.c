/* csv: RFC 4180 record reader (see csv.h for the accepted dialect).
 *
 * A small state machine over the bytes of one record: fields are copied,
 * unquoted, into a growable text buffer separated by NULs, and the field
 * pointers are built once the record ends (the buffer may move while it
 * grows). Every growth is bounded by the limits. */
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_DEFAULT_MAX_FIELDS    256
#define CSV_DEFAULT_MAX_FIELD_LEN 65536

void csv_reader_init(csv_reader_t *r, const char *buf, size_t len, const csv_limits_t *lim)
{
    memset(r, 0, sizeof(*r));
    r->buf = buf;
    r->len = len;
    r->line = 1;
    if (lim)
        r->lim = *lim;
    if (!r->lim.max_fields)
        r->lim.max_fields = CSV_DEFAULT_MAX_FIELDS;
    if (!r->lim.max_field_len)
        r->lim.max_field_len = CSV_DEFAULT_MAX_FIELD_LEN;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        r->pos = 3;
}

void csv_reader_fini(csv_reader_t *r)
{
    free(r->text);
    free(r->starts);
    free(r->fields);
    r->text = NULL;
    r->starts = NULL;
    r->fields = NULL;
    r->text_cap = r->fields_cap = 0;
}

double csv_reader_progress(const csv_reader_t *r)
{
    return r->len ? (double)r->pos / (double)r->len : 1.0;
}

static rp_err s_fail(csv_error_t *err, size_t line, rp_err rc, const char *msg)
{
    if (err) {
        err->line = line;
        snprintf(err->message, sizeof(err->message), "%s", msg);
    }
    return rc;
}

static rp_err s_putc(csv_reader_t *r, size_t *used, char c)
{
    if (*used + 1 > r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap * 2 : 256;
        char *t = realloc(r->text, cap);
        if (!t)
            return RP_ENOMEM;
        r->text = t;
        r->text_cap = cap;
    }
    r->text[(*used)++] = c;
    return RP_OK;
}

/* Begin field number n at text offset `at`. */
static rp_err s_field_start(csv_reader_t *r, size_t n, size_t at)
{
    if (n >= r->fields_cap) {
        size_t cap = r->fields_cap ? r->fields_cap * 2 : 16;
        size_t *s;
        const char **f;

        if (cap > r->lim.max_fields)
            cap = r->lim.max_fields;
        s = realloc(r->starts, cap * sizeof(*s));
        if (!s)
            return RP_ENOMEM;
        r->starts = s;
        f = realloc(r->fields, cap * sizeof(*f));
        if (!f)
            return RP_ENOMEM;
        r->fields = f;
        r->fields_cap = cap;
    }
    r->starts[n] = at;
    return RP_OK;
}

typedef enum { ST_FIELD_START, ST_UNQUOTED, ST_QUOTED, ST_QUOTE_IN_QUOTED } csv_state_t;

static rp_err s_next(csv_reader_t *r, csv_record_t *ret_record, csv_error_t *err)
{
    csv_state_t st = ST_FIELD_START;
    size_t used = 0, n = 0, field_len = 0, start_line = r->line;
    bool done = false;
    rp_err rc;

    if (r->pos >= r->len)
        return RP_ENOTFOUND;
    if (r->lim.max_records && r->records >= r->lim.max_records)
        return s_fail(err, r->line, RP_ERANGE, "too many records");
    rc = s_field_start(r, 0, 0);
    if (rc != RP_OK)
        return rc;
    n = 1;
    while (!done) {
        char c;

        if (r->pos >= r->len) {
            if (st == ST_QUOTED)
                return s_fail(err, start_line, RP_EINVAL, "quoted field not closed at the end");
            break;
        }
        c = r->buf[r->pos];
        if (c == '\0')
            return s_fail(err, r->line, RP_EINVAL, "NUL byte in the input");
        if (st == ST_QUOTED) {
            r->pos++;
            if (c == '"') {
                st = ST_QUOTE_IN_QUOTED;
                continue;
            }
            /* A line break inside quotes is data; CRLF counts once. */
            if (c == '\n' || (c == '\r' && !(r->pos < r->len && r->buf[r->pos] == '\n')))
                r->line++;
            if (++field_len > r->lim.max_field_len)
                return s_fail(err, r->line, RP_ERANGE, "field too long");
            rc = s_putc(r, &used, c);
            if (rc != RP_OK)
                return rc;
            continue;
        }
        if (st == ST_QUOTE_IN_QUOTED && c == '"') {
            /* A doubled quote inside quotes stands for one quote. */
            r->pos++;
            st = ST_QUOTED;
            if (++field_len > r->lim.max_field_len)
                return s_fail(err, r->line, RP_ERANGE, "field too long");
            rc = s_putc(r, &used, '"');
            if (rc != RP_OK)
                return rc;
            continue;
        }
        if (c == ',') {
            r->pos++;
            if (n >= r->lim.max_fields)
                return s_fail(err, r->line, RP_ERANGE, "too many fields");
            rc = s_putc(r, &used, '\0');
            if (rc == RP_OK)
                rc = s_field_start(r, n, used);
            if (rc != RP_OK)
                return rc;
            n++;
            field_len = 0;
            st = ST_FIELD_START;
            continue;
        }
        if (c == '\r' || c == '\n') {
            r->pos++;
            if (c == '\r' && r->pos < r->len && r->buf[r->pos] == '\n')
                r->pos++;
            r->line++;
            done = true;
            continue;
        }
        if (st == ST_QUOTE_IN_QUOTED)
            return s_fail(err, r->line, RP_EINVAL, "text after a closing quote");
        if (c == '"') {
            if (st == ST_UNQUOTED)
                return s_fail(err, r->line, RP_EINVAL, "quote inside an unquoted field");
            r->pos++;
            st = ST_QUOTED;
            continue;
        }
        r->pos++;
        st = ST_UNQUOTED;
        if (++field_len > r->lim.max_field_len)
            return s_fail(err, r->line, RP_ERANGE, "field too long");
        rc = s_putc(r, &used, c);
        if (rc != RP_OK)
            return rc;
    }
    rc = s_putc(r, &used, '\0');
    if (rc != RP_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        r->fields[i] = r->text + r->starts[i];
    r->records++;
    ret_record->line = start_line;
    ret_record->n_fields = n;
    ret_record->fields = r->fields;
    return RP_OK;
}

rp_err csv_reader_next(csv_reader_t *r, csv_record_t *ret_record, csv_error_t *err)
{
    rp_err rc;

    if (r->failed)
        return s_fail(err, r->line, RP_EINVAL, "reading stopped at an earlier error");
    rc = s_next(r, ret_record, err);
    if (rc != RP_OK && rc != RP_ENOTFOUND)
        r->failed = true;
    return rc;
}
