/* catalog_cmds: the master data commands of rapport-interaction (docs/domain.md
 * section 2): interaction groups, templates and their language rows,
 * contacts (with the CSV import), salespeople, campaigns, and the
 * statistics per template and per group.
 *
 * All but the import are tables only; the import reads the CSV with csv.c
 * and sends ImportContacts in batches of at most CLI_BULK_BATCH contacts
 * (fewer when the encoded batch would pass the message size limit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "json.h"
#include "reflect.h"
#include "wire.h"

#include "rapport/v1/interaction.pb-c.h"

#define CSV_MAX_BYTES ((size_t)1 << 31)

/* ---- option tables ------------------------------------------------------ */

static const cli_opt_t s_group_opts[] = {
    {.name = "--description", .path = "description"},
    {0},
};

static const cli_opt_t s_template_opts[] = {
    {.name = "--group", .path = "interaction_group_code", .required = true},
    {.name = "--description", .path = "description"},
    {.name = "--unit-cost", .path = "unit_cost_cents"},
    {.name = "--unit-duration", .path = "unit_duration_min"},
    {.name = "--flow", .path = "information_flow"},
    {.name = "--initiated-by", .path = "initiated_by"},
    {.name = "--corr-type", .path = "correspondence_type"},
    {.name = "--language", .path = "language_code"},
    {.name = "--ignore-contact-corr-type", .path = "ignore_contact_corr_type"},
    {.name = "--campaign", .path = "campaign_no"},
    {.name = "--campaign-target", .path = "campaign_target", .requires = "--campaign"},
    {.name = "--campaign-response", .path = "campaign_response", .requires = "--campaign"},
    {0},
};

static const cli_opt_t s_template_language_opts[] = {
    {.name = "--description", .path = "description"},
    {0},
};

static const cli_opt_t s_contact_opts[] = {
    {.name = "--name", .path = "name"},
    {.name = "--type", .path = "type"},
    {.name = "--company", .path = "company_no"},
    {.name = "--salesperson", .path = "salesperson_code"},
    {.name = "--language", .path = "language_code"},
    {.name = "--corr-type", .path = "correspondence_type"},
    {.name = "--email", .path = "email"},
    {.name = "--privacy-blocked", .path = "privacy_blocked"},
    {0},
};

static const cli_opt_t s_contact_list_opts[] = {
    {.name = "--company", .path = "company_no"},
    {.name = "--salesperson", .path = "salesperson_code"},
    {0},
};

static const cli_opt_t s_salesperson_opts[] = {
    {.name = "--name", .path = "name"},
    {.name = "--email", .path = "email"},
    {.name = "--blocked", .path = "blocked"},
    {0},
};

static const cli_opt_t s_campaign_opts[] = {
    {.name = "--description", .path = "description"},
    {0},
};

static const cli_opt_t s_stats_opts[] = {
    {.name = "--from", .path = "date_from"},
    {.name = "--to", .path = "date_to"},
    {0},
};

#define STATS_COLUMNS                                                                         \
    "code,description,no_of_interactions:INTERACTIONS,cost_cents:COST,duration_min:DURATION " \
    "(MIN)"

/* ---- contact import ------------------------------------------------------- */

/* Columns of the import file, by header name, and the Contact field each
 * fills. */
static const char *const s_import_columns[] = {
    "no",
    "name",
    "type",
    "company_no",
    "salesperson_code",
    "language_code",
    "correspondence_type",
    "email",
    "privacy_blocked",
};

#define N_IMPORT_COLUMNS (sizeof(s_import_columns) / sizeof(s_import_columns[0]))

typedef struct {
    cli_ctx_t *ctx;
    const char *path;
    bool connected;
    wire_arena_t *arena; /* strings of the current batch */
    Rapport__V1__Contact *contacts;
    Rapport__V1__Contact **ptrs;
    size_t *lines; /* CSV line of each contact of the batch */
    size_t n, batch_bytes, max_bytes, batch_no, imported;
    int col_field[N_IMPORT_COLUMNS]; /* s_import_columns index of each column */
    size_t n_cols;
} import_t;

/* Trimmed header name in buf. */
static void s_header_name(const char *in, char *buf, size_t size)
{
    size_t len;

    while (*in == ' ' || *in == '\t')
        in++;
    snprintf(buf, size, "%s", in);
    len = strlen(buf);
    while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        buf[--len] = '\0';
}

/* The line of the contact a refusal's field names ("...contacts[12]..."). */
static size_t s_refused_line(const import_t *im, const char *field)
{
    const char *p = field ? strstr(field, "contacts[") : NULL;
    uint64_t idx;
    char num[24];
    size_t len = 0;

    if (!p)
        return 0;
    p += strlen("contacts[");
    while (p[len] >= '0' && p[len] <= '9' && len + 1 < sizeof(num))
        len++;
    memcpy(num, p, len);
    num[len] = '\0';
    if (reflect_parse_uint(num, SIZE_MAX, &idx) != RP_OK || idx >= im->n)
        return 0;
    return im->lines[idx];
}

static int s_import_flush(import_t *im)
{
    Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
    Rapport__V1__ImportContacts ic = RAPPORT__V1__IMPORT_CONTACTS__INIT;
    ProtobufCMessage *reply = NULL;
    const ProtobufCMessage *refusal;
    int rc;

    if (im->n == 0)
        return CLI_EXIT_OK;
    if (im->imported)
        snprintf(im->ctx->note, sizeof(im->ctx->note),
                 "%zu contacts were imported before the error", im->imported);
    cli_request_renumber(im->ctx, &req.base, ++im->batch_no);
    ic.n_contacts = im->n;
    ic.contacts = im->ptrs;
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_IMPORT_CONTACTS;
    req.import_contacts = &ic;
    /* Connected at the first batch: a bad line near the top is reported
     * (exit 2) whether or not the worker runs. */
    if (!im->connected && (rc = cli_connect(im->ctx, CLI_SVC_INTERACTION)) != CLI_EXIT_OK)
        return rc;
    im->connected = true;
    rc = cli_call_raw(im->ctx, CLI_SVC_INTERACTION, &req.base, &reply);
    if (rc != CLI_EXIT_OK)
        return rc;
    refusal = cli_reply_refusal(reply);
    if (refusal) {
        char what[CONFIG_PATH_MAX + 64];
        size_t line =
            s_refused_line(im, ((const Rapport__V1__Status *)(const void *)refusal)->field);
        if (line)
            snprintf(what, sizeof(what), "%s:%zu", im->path, line);
        else
            snprintf(what, sizeof(what), "%s: lines %zu..%zu", im->path, im->lines[0],
                     im->lines[im->n - 1]);
        rc = cli_report_status(im->ctx, refusal, what);
        wire_free(reply);
        return rc;
    }
    wire_free(reply);
    im->imported += im->n;
    im->n = 0;
    im->batch_bytes = 0;
    wire_arena_reset(im->arena);
    return CLI_EXIT_OK;
}

/* Fill contact number im->n from one CSV record. */
static int s_import_record(import_t *im, const csv_record_t *rec)
{
    Rapport__V1__Contact *ct = &im->contacts[im->n];
    char why[320];

    rapport__v1__contact__init(ct);
    ct->type = RAPPORT__V1__CONTACT_TYPE__CONTACT_TYPE_PERSON;
    if (rec->n_fields != im->n_cols)
        return cli_input_error("%s:%zu: %zu fields, the header has %zu", im->path, rec->line,
                               rec->n_fields, im->n_cols);
    for (size_t j = 0; j < im->n_cols; j++) {
        const ProtobufCFieldDescriptor *fd;
        const char *v = rec->fields[j];
        size_t limit;

        if (!*v)
            continue;
        fd = protobuf_c_message_descriptor_get_field_by_name(&rapport__v1__contact__descriptor,
                                                             s_import_columns[im->col_field[j]]);
        limit = fd->type == PROTOBUF_C_TYPE_STRING ? wire_string_limit(fd->name, NULL) : 0;
        if (limit && wire_utf8_chars(v) > limit)
            return cli_input_error("%s:%zu: %s is longer than %zu characters", im->path, rec->line,
                                   fd->name, limit);
        if (reflect_set_text(im->arena, &ct->base, fd, v, why, sizeof(why)) != RP_OK)
            return cli_input_error("%s:%zu: %s: %s", im->path, rec->line, fd->name, why);
    }
    if (!*ct->no)
        return cli_input_error("%s:%zu: no is blank", im->path, rec->line);
    im->lines[im->n] = rec->line;
    return CLI_EXIT_OK;
}

static void s_import_progress(const import_t *im, const csv_reader_t *r, bool done)
{
    if (!cli_stderr_is_tty())
        return;
    if (done)
        fputs("\r\033[K", stderr);
    else
        fprintf(stderr, "\rimporting: %zu contacts sent (%.0f%%)\033[K", im->imported,
                100.0 * csv_reader_progress(r));
    fflush(stderr);
}

/* Map the header's columns to Contact fields. */
static int s_import_header(import_t *im, const csv_record_t *rec)
{
    bool has_no = false;

    if (rec->n_fields > N_IMPORT_COLUMNS)
        return cli_input_error("%s:%zu: %zu columns, at most %zu are known", im->path, rec->line,
                               rec->n_fields, N_IMPORT_COLUMNS);
    im->n_cols = rec->n_fields;
    for (size_t j = 0; j < im->n_cols; j++) {
        char name[64];
        int field = -1;

        s_header_name(rec->fields[j], name, sizeof(name));
        for (size_t k = 0; k < N_IMPORT_COLUMNS; k++)
            if (strcmp(name, s_import_columns[k]) == 0)
                field = (int)k;
        if (field < 0)
            return cli_input_error("%s:%zu: unknown column '%s' (expected %s)", im->path, rec->line,
                                   name,
                                   "no,name,type,company_no,salesperson_code,language_code,"
                                   "correspondence_type,email[,privacy_blocked]");
        for (size_t k = 0; k < j; k++)
            if (im->col_field[k] == field)
                return cli_input_error("%s:%zu: column '%s' twice", im->path, rec->line, name);
        im->col_field[j] = field;
        has_no = has_no || field == 0;
    }
    if (!has_no)
        return cli_input_error("%s:%zu: the header has no 'no' column", im->path, rec->line);
    return CLI_EXIT_OK;
}

/* Add one CSV record to the batch, sending the batch first when the record
 * would not fit in a message, and after it when it is full. */
static int s_import_add(import_t *im, const csv_record_t *rec, const csv_reader_t *r)
{
    size_t size;
    int rc = s_import_record(im, rec);

    if (rc != CLI_EXIT_OK)
        return rc;
    size = protobuf_c_message_get_packed_size(&im->contacts[im->n].base) + 8;
    if (im->n > 0 && im->batch_bytes + size > im->max_bytes) {
        /* The flush resets the arena that holds this record's strings:
         * parse it again, into slot 0. */
        rc = s_import_flush(im);
        if (rc == CLI_EXIT_OK)
            rc = s_import_record(im, rec);
        if (rc != CLI_EXIT_OK)
            return rc;
        s_import_progress(im, r, false);
    }
    im->batch_bytes += size;
    im->n++;
    if (im->n < CLI_BULK_BATCH)
        return CLI_EXIT_OK;
    rc = s_import_flush(im);
    s_import_progress(im, r, false);
    return rc;
}

static int s_contact_import(cli_ctx_t *ctx)
{
    import_t im = {.ctx = ctx, .path = ctx->local[CLI_LOCAL_FILE]};
    size_t max_msg = (size_t)ctx->cfg.max_msg_size;
    csv_reader_t r;
    csv_record_t rec;
    csv_error_t cerr;
    char *buf = NULL;
    size_t len;
    rp_err err;
    int rc;

    /* Room for the envelope beside the contacts. */
    im.max_bytes = max_msg > 131072 ? max_msg - 65536 : max_msg / 2;
    rc = cli_read_file(im.path, CSV_MAX_BYTES, &buf, &len);
    if (rc != CLI_EXIT_OK)
        return rc;
    csv_reader_init(&r, buf, len, NULL);
    err = csv_reader_next(&r, &rec, &cerr);
    if (err == RP_ENOTFOUND)
        rc = cli_input_error("%s: empty file (expected a header line)", im.path);
    else if (err != RP_OK)
        rc = cli_input_error("%s:%zu: %s", im.path, cerr.line, cerr.message);
    else
        rc = s_import_header(&im, &rec);
    if (rc != CLI_EXIT_OK)
        goto out_fini;
    im.contacts = calloc(CLI_BULK_BATCH, sizeof(*im.contacts));
    im.ptrs = calloc(CLI_BULK_BATCH, sizeof(*im.ptrs));
    im.lines = calloc(CLI_BULK_BATCH, sizeof(*im.lines));
    im.arena = wire_arena_new();
    if (!im.contacts || !im.ptrs || !im.lines || !im.arena) {
        cli_warn("out of memory");
        rc = CLI_EXIT_USAGE;
        goto out_free;
    }
    for (size_t i = 0; i < CLI_BULK_BATCH; i++)
        im.ptrs[i] = &im.contacts[i];
    while (rc == CLI_EXIT_OK && (err = csv_reader_next(&r, &rec, &cerr)) != RP_ENOTFOUND) {
        if (err != RP_OK)
            rc = cli_input_error("%s:%zu: %s", im.path, cerr.line, cerr.message);
        else if (!(rec.n_fields == 1 && rec.fields[0][0] == '\0')) /* not an empty line */
            rc = s_import_add(&im, &rec, &r);
    }
    if (rc == CLI_EXIT_OK)
        rc = s_import_flush(&im);
    s_import_progress(&im, &r, true);
    if (rc == CLI_EXIT_USAGE && im.imported) /* a bad line after some batches went */
        cli_warn("%zu contacts were imported before the error", im.imported);
    if (rc == CLI_EXIT_OK) {
        Rapport__V1__Count count = RAPPORT__V1__COUNT__INIT;
        count.count = im.imported;
        rc = cli_output(ctx, &count.base);
    }
out_free:
    wire_arena_destroy(&im.arena);
    free(im.contacts);
    free(im.ptrs);
    free(im.lines);
out_fini:
    csv_reader_fini(&r);
    free(buf);
    return rc;
}

/* ---- the commands --------------------------------------------------------- */

#define LIST_OPTS cli_paging_opts

static const cli_confirm_t s_confirm_delete_group = {.verb = "delete",
                                                     .what = "interaction group",
                                                     .service = CLI_SVC_INTERACTION,
                                                     .command = "get_group",
                                                     .copy = "*"};
static const cli_confirm_t s_confirm_delete_template = {.verb = "delete",
                                                        .what = "interaction template",
                                                        .service = CLI_SVC_INTERACTION,
                                                        .command = "get_template",
                                                        .copy = "*"};
static const cli_confirm_t s_confirm_delete_contact = {.verb = "delete",
                                                       .what = "contact",
                                                       .service = CLI_SVC_INTERACTION,
                                                       .command = "get_contact",
                                                       .copy = "*"};
static const cli_confirm_t s_confirm_delete_salesperson = {.verb = "delete",
                                                           .what = "salesperson",
                                                           .service = CLI_SVC_INTERACTION,
                                                           .command = "get_salesperson",
                                                           .copy = "*"};
static const cli_confirm_t s_confirm_delete_campaign = {.verb = "delete",
                                                        .what = "campaign",
                                                        .service = CLI_SVC_INTERACTION,
                                                        .command = "get_campaign",
                                                        .copy = "*"};

const cli_cmd_t cli_catalog_cmds[] = {
    /* Interaction groups. */
    {.group = "group",
     .name = "put",
     .usage = "CODE [--description TEXT]",
     .summary = "create or replace an interaction group",
     .service = CLI_SVC_INTERACTION,
     .command = "put_group",
     .pos = {{.name = "CODE", .path = "code"}},
     .opts = {s_group_opts}},
    {.group = "group",
     .name = "list",
     .usage = "[--after CODE] [--limit K] [--all]",
     .summary = "list interaction groups",
     .service = CLI_SVC_INTERACTION,
     .command = "list_groups",
     .opts = {LIST_OPTS},
     .out = CLI_OUT_TABLE,
     .out_field = "groups",
     .columns = "code,description"},
    {.group = "group",
     .name = "show",
     .usage = "CODE",
     .summary = "show an interaction group",
     .service = CLI_SVC_INTERACTION,
     .command = "get_group",
     .pos = {{.name = "CODE", .path = "code"}}},
    {.group = "group",
     .name = "delete",
     .usage = "CODE",
     .summary = "delete an interaction group",
     .service = CLI_SVC_INTERACTION,
     .command = "delete_group",
     .pos = {{.name = "CODE", .path = "code"}},
     .opts = {cli_confirm_opts},
     .confirm = &s_confirm_delete_group},
    {.group = "group",
     .name = "stats",
     .usage = "[--from DATE] [--to DATE]",
     .summary = "interactions, cost and duration per group (not canceled, not postponed)",
     .service = CLI_SVC_INTERACTION,
     .command = "group_statistics",
     .opts = {s_stats_opts},
     .out = CLI_OUT_TABLE,
     .out_field = "rows",
     .columns = STATS_COLUMNS},

    /* Interaction templates. */
    {.group = "template",
     .name = "put",
     .usage = "CODE --group CODE [--description T] [--unit-cost N] [--unit-duration MIN]\n"
              "        [--flow outbound|inbound|none] [--initiated-by us|them|none]\n"
              "        [--corr-type email|hard-copy|none] [--language CODE]\n"
              "        [--ignore-contact-corr-type]\n"
              "        [--campaign NO [--campaign-target] [--campaign-response]]",
     .summary = "create or replace an interaction template (without --corr-type the server\n"
                "      applies its default, email)",
     .service = CLI_SVC_INTERACTION,
     .command = "put_template",
     .pos = {{.name = "CODE", .path = "code"}},
     .opts = {s_template_opts}},
    {.group = "template",
     .name = "language",
     .usage = "CODE LANG [--description TEXT]",
     .summary = "create or replace a template's language row",
     .service = CLI_SVC_INTERACTION,
     .command = "put_template_language",
     .pos = {{.name = "CODE", .path = "template_code"}, {.name = "LANG", .path = "language_code"}},
     .opts = {s_template_language_opts}},
    {.group = "template",
     .name = "delete-language",
     .usage = "CODE LANG",
     .summary = "delete a template's language row",
     .service = CLI_SVC_INTERACTION,
     .command = "delete_template_language",
     .pos = {{.name = "CODE", .path = "template_code"}, {.name = "LANG", .path = "language_code"}}},
    {.group = "template",
     .name = "list",
     .usage = "[--after CODE] [--limit K] [--all]",
     .summary = "list interaction templates",
     .service = CLI_SVC_INTERACTION,
     .command = "list_templates",
     .opts = {LIST_OPTS},
     .out = CLI_OUT_TABLE,
     .out_field = "templates",
     .columns = "code,description,interaction_group_code:GROUP,unit_cost_cents:UNIT COST,"
                "unit_duration_min:UNIT MIN,information_flow:FLOW,initiated_by:INITIATED BY,"
                "correspondence_type:CORR. TYPE,language_code:LANGUAGE,campaign_no:CAMPAIGN"},
    {.group = "template",
     .name = "show",
     .usage = "CODE",
     .summary = "show an interaction template with its language rows",
     .service = CLI_SVC_INTERACTION,
     .command = "get_template",
     .pos = {{.name = "CODE", .path = "code"}}},
    {.group = "template",
     .name = "delete",
     .usage = "CODE",
     .summary = "delete an interaction template",
     .service = CLI_SVC_INTERACTION,
     .command = "delete_template",
     .pos = {{.name = "CODE", .path = "code"}},
     .opts = {cli_confirm_opts},
     .confirm = &s_confirm_delete_template},
    {.group = "template",
     .name = "stats",
     .usage = "[--from DATE] [--to DATE]",
     .summary = "interactions, cost and duration per template (not canceled, not postponed)",
     .service = CLI_SVC_INTERACTION,
     .command = "template_statistics",
     .opts = {s_stats_opts},
     .out = CLI_OUT_TABLE,
     .out_field = "rows",
     .columns = STATS_COLUMNS},

    /* Contacts. */
    {.group = "contact",
     .name = "put",
     .usage = "NO [--name T] [--type person|company] [--company NO] [--salesperson CODE]\n"
              "        [--language CODE] [--corr-type email|hard-copy|none] [--email ADDR]\n"
              "        [--privacy-blocked]",
     .summary = "create or replace a contact (default type: person)",
     .service = CLI_SVC_INTERACTION,
     .command = "put_contact",
     .pos = {{.name = "NO", .path = "no"}},
     .opts = {s_contact_opts},
     .presets = {"type=person"}},
    {.group = "contact",
     .name = "import",
     .usage = "FILE.csv",
     .summary = "import contacts from CSV (RFC 4180) with the header\n"
                "      no,name,type,company_no,salesperson_code,language_code,"
                "correspondence_type,email\n"
                "      (columns in any order, privacy_blocked optional; blank type = person);\n"
                "      sent in batches of 10,000, each all or nothing; prints the count",
     .service = CLI_SVC_INTERACTION,
     .command = "import_contacts",
     .pos = {{.name = "FILE.csv", .local = CLI_LOCAL_FILE}},
     .run = s_contact_import},
    {.group = "contact",
     .name = "list",
     .usage = "[--company NO] [--salesperson CODE] [--after NO] [--limit K] [--all]",
     .summary = "list contacts",
     .service = CLI_SVC_INTERACTION,
     .command = "list_contacts",
     .opts = {s_contact_list_opts, LIST_OPTS},
     .out = CLI_OUT_TABLE,
     .out_field = "contacts",
     .columns = "no,name,type,company_no:COMPANY,salesperson_code:SALESPERSON,"
                "language_code:LANGUAGE,correspondence_type:CORR. TYPE,email,"
                "privacy_blocked:BLOCKED"},
    {.group = "contact",
     .name = "show",
     .usage = "NO",
     .summary = "show a contact",
     .service = CLI_SVC_INTERACTION,
     .command = "get_contact",
     .pos = {{.name = "NO", .path = "no"}}},
    {.group = "contact",
     .name = "delete",
     .usage = "NO",
     .summary = "delete a contact",
     .service = CLI_SVC_INTERACTION,
     .command = "delete_contact",
     .pos = {{.name = "NO", .path = "no"}},
     .opts = {cli_confirm_opts},
     .confirm = &s_confirm_delete_contact},

    /* Salespeople. */
    {.group = "salesperson",
     .name = "put",
     .usage = "CODE [--name T] [--email ADDR] [--blocked]",
     .summary = "create or replace a salesperson",
     .service = CLI_SVC_INTERACTION,
     .command = "put_salesperson",
     .pos = {{.name = "CODE", .path = "code"}},
     .opts = {s_salesperson_opts}},
    {.group = "salesperson",
     .name = "list",
     .usage = "[--after CODE] [--limit K] [--all]",
     .summary = "list salespeople",
     .service = CLI_SVC_INTERACTION,
     .command = "list_salespeople",
     .opts = {LIST_OPTS},
     .out = CLI_OUT_TABLE,
     .out_field = "salespeople",
     .columns = "code,name,email,blocked"},
    {.group = "salesperson",
     .name = "show",
     .usage = "CODE",
     .summary = "show a salesperson",
     .service = CLI_SVC_INTERACTION,
     .command = "get_salesperson",
     .pos = {{.name = "CODE", .path = "code"}}},
    {.group = "salesperson",
     .name = "delete",
     .usage = "CODE",
     .summary = "delete a salesperson",
     .service = CLI_SVC_INTERACTION,
     .command = "delete_salesperson",
     .pos = {{.name = "CODE", .path = "code"}},
     .opts = {cli_confirm_opts},
     .confirm = &s_confirm_delete_salesperson},

    /* Campaigns. */
    {.group = "campaign",
     .name = "put",
     .usage = "NO [--description T]",
     .summary = "create or replace a campaign",
     .service = CLI_SVC_INTERACTION,
     .command = "put_campaign",
     .pos = {{.name = "NO", .path = "no"}},
     .opts = {s_campaign_opts}},
    {.group = "campaign",
     .name = "list",
     .usage = "[--after NO] [--limit K] [--all]",
     .summary = "list campaigns",
     .service = CLI_SVC_INTERACTION,
     .command = "list_campaigns",
     .opts = {LIST_OPTS},
     .out = CLI_OUT_TABLE,
     .out_field = "campaigns",
     .columns = "no,description"},
    {.group = "campaign",
     .name = "show",
     .usage = "NO",
     .summary = "show a campaign",
     .service = CLI_SVC_INTERACTION,
     .command = "get_campaign",
     .pos = {{.name = "NO", .path = "no"}}},
    {.group = "campaign",
     .name = "delete",
     .usage = "NO",
     .summary = "delete a campaign",
     .service = CLI_SVC_INTERACTION,
     .command = "delete_campaign",
     .pos = {{.name = "NO", .path = "no"}},
     .opts = {cli_confirm_opts},
     .confirm = &s_confirm_delete_campaign},
    {0},
};
