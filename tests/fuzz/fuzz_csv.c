/* fuzz_csv: the contact import of `rapport contact import FILE` over
 * arbitrary bytes: the CSV reader (services/cli/csv.c), the header mapped
 * to Contact fields and each value parsed into its field as the CLI does
 * (reflect_set_text), then the contact packed and decoded with the
 * workers' request checks (wire_decode). The reader must keep its
 * contract: fields NUL-terminated and within the limits, lines ascending,
 * an error sticky. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "reflect.h"
#include "wire.h"

#include "rapport/v1/interaction.pb-c.h"

#define MAX_FIELDS    16
#define MAX_FIELD_LEN 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_fail(const char *what, size_t a)
{
    fprintf(stderr, "fuzz_csv: %s (%zu)\n", what, a);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_limits_t lim = {MAX_FIELDS, MAX_FIELD_LEN, 1000};
    csv_reader_t r;
    csv_record_t rec;
    csv_error_t err;
    const ProtobufCFieldDescriptor *cols[MAX_FIELDS];
    size_t n_cols = 0, last_line = 0;
    wire_arena_t *a = wire_arena_new();
    bool header = true;
    rp_err rc;

    if (!a)
        return 0;
    csv_reader_init(&r, (const char *)data, size, &lim);
    while ((rc = csv_reader_next(&r, &rec, &err)) == RP_OK) {
        if (rec.n_fields < 1 || rec.n_fields > MAX_FIELDS)
            s_fail("field count outside the limits", rec.n_fields);
        if (rec.line < last_line || rec.line < 1)
            s_fail("line numbers go back", rec.line);
        last_line = rec.line;
        for (size_t j = 0; j < rec.n_fields; j++)
            if (strlen(rec.fields[j]) > MAX_FIELD_LEN)
                s_fail("a field longer than the limit", strlen(rec.fields[j]));
        if (header) {
            header = false;
            n_cols = rec.n_fields;
            for (size_t j = 0; j < n_cols; j++) {
                cols[j] = protobuf_c_message_descriptor_get_field_by_name(
                    &rapport__v1__contact__descriptor, rec.fields[j]);
            }
            continue;
        }
        {
            Rapport__V1__Contact ct = RAPPORT__V1__CONTACT__INIT;
            char why[320];
            uint8_t *buf;
            size_t len;
            ProtobufCMessage *back = NULL;
            wire_error_t werr;

            for (size_t j = 0; j < n_cols && j < rec.n_fields; j++)
                if (cols[j] && rec.fields[j][0])
                    (void)reflect_set_text(a, &ct.base, cols[j], rec.fields[j], why, sizeof(why));
            if (wire_encode(&ct.base, &buf, &len) != RP_OK)
                s_fail("encode", 0);
            (void)wire_decode(&rapport__v1__contact__descriptor, buf, len, 1 << 20, WIRE_NORMALIZE,
                              &back, &werr);
            wire_free(back);
            free(buf);
        }
        if (r.records > 200) /* enough for one input */
            break;
    }
    if (rc != RP_OK && rc != RP_ENOTFOUND) {
        if (rc != RP_EINVAL && rc != RP_ERANGE && rc != RP_ENOMEM)
            s_fail("unexpected error", (size_t)rc);
        if (csv_reader_next(&r, &rec, &err) != RP_EINVAL)
            s_fail("an error is not sticky", 0);
    }
    csv_reader_fini(&r);
    wire_arena_destroy(&a);
    return 0;
}
