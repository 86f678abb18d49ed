/* csv: an RFC 4180 reader over a buffer in memory, with limits.
 *
 * Pure: no I/O, no globals, so it can be unit-tested and fuzzed. Records
 * end with CRLF, LF or CR; a field in double quotes may hold commas, line
 * breaks and doubled quotes (""); a UTF-8 byte order mark at the start is
 * skipped; the last record need not end with a line break. A NUL byte, a
 * quote inside an unquoted field, text after a closing quote and a quote
 * left open at the end are errors naming the line. */
#ifndef RAPPORT_CLI_CSV_H
#define RAPPORT_CLI_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct {
    size_t max_fields;    /* per record; 0: 256 */
    size_t max_field_len; /* bytes of one field; 0: 65536 */
    size_t max_records;   /* 0: no limit */
} csv_limits_t;

/* One record. Fields are NUL-terminated and owned by the reader; they stay
 * valid until the next csv_reader_next or csv_reader_fini. */
typedef struct {
    size_t line; /* 1-based line where the record starts */
    size_t n_fields;
    const char *const *fields;
} csv_record_t;

typedef struct {
    size_t line; /* 1-based line of the error */
    char message[160];
} csv_error_t;

typedef struct csv_reader {
    const char *buf;
    size_t len, pos;
    size_t line;
    size_t records;
    csv_limits_t lim;
    char *text; /* the current record's fields, NUL-separated */
    size_t text_cap;
    size_t *starts; /* offsets of the fields in text */
    const char **fields;
    size_t fields_cap;
    bool failed;
} csv_reader_t;

/* Prepare to read buf[0..len); the buffer must outlive the reader. lim may
 * be NULL (defaults). */
void csv_reader_init(csv_reader_t *r, const char *buf, size_t len, const csv_limits_t *lim);

/* Free what the reader holds; the reader may be initialised again. */
void csv_reader_fini(csv_reader_t *r);

/* The next record into *ret_record. RP_OK with a record; RP_ENOTFOUND at
 * the end of the buffer; RP_EINVAL for malformed input and RP_ERANGE for a
 * limit exceeded, with *err filled; RP_ENOMEM. After an error every further call fails
 * with RP_EINVAL. An empty line is a record of one empty field. */
rp_err csv_reader_next(csv_reader_t *r, csv_record_t *ret_record, csv_error_t *err);

/* Fraction of the buffer consumed so far, 0..1 (for progress displays). */
double csv_reader_progress(const csv_reader_t *r);

#endif
