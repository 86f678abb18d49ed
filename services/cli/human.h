/* human: readable output of protobuf-c messages for a terminal.
 *
 * Two shapes: a record as aligned "field: value" lines (nested messages
 * indented, repeated messages as "- " items), and a list as an aligned
 * table with a header. Values are spelled as in json.h, except that amounts
 * in hundredths (`*_cents`) print as decimals ("12.50") under the field
 * name without its `_cents` suffix, and booleans as yes/no. Control
 * characters inside values print as spaces so that one value stays on one
 * line. */
#ifndef RAPPORT_CLI_HUMAN_H
#define RAPPORT_CLI_HUMAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "err.h"

/* Format one value of field fd stored at member (one element of a
 * repeated field) into buf; truncated to size. */
void human_format_value(const ProtobufCFieldDescriptor *fd, const void *member, char *buf,
                        size_t size);

/* "12.50" / "-0.05" for an amount in hundredths. */
void human_format_cents(int64_t cents, char *buf, size_t size);

/* The label of a field: its name without a `_cents` suffix. */
void human_field_label(const ProtobufCFieldDescriptor *fd, char *buf, size_t size);

/* Print msg as "field: value" lines, indented by `indent` spaces. */
void human_show(FILE *out, const ProtobufCMessage *msg, int indent);

typedef struct human_table human_table_t;

/* A table of `row` messages with the columns named in `columns`:
 * "field[:Header],..." (the header defaults to the field's label in upper
 * case). RP_ENOTFOUND when a column names no field of row, RP_ENOMEM. The
 * table is owned by the caller (human_table_destroy). */
rp_err human_table_new(const ProtobufCMessageDescriptor *row, const char *columns,
                       human_table_t **ret_table);

/* Add one row (its cells are formatted and copied now). */
rp_err human_table_add(human_table_t *t, const ProtobufCMessage *row);

/* Print the header (the first time) and the rows added since the last
 * flush, then drop them. Column widths are the widest cell seen so far, so
 * a listing printed page by page stays aligned as long as later pages are
 * not wider. */
void human_table_flush(human_table_t *t, FILE *out);

/* Accepts NULL; NULLs the caller's pointer. */
void human_table_destroy(human_table_t **self_p);

#endif
