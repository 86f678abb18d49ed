/* segment_cmds: segments on rapport-segment (docs/domain.md section 6), logging
 * them (section 7), and the logged segments and campaign entries that
 * logging leaves on rapport-logwriter (section 8).
 *
 * Two commands need more than a table: `segment add` sends a long contact
 * list (arguments and/or a file) in requests of CLI_BULK_BATCH, and
 * `segment log` draws a progress bar on a terminal from the writer's
 * segment.log.progress events while it waits for the (long) answer. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "clock.h"
#include "reflect.h"
#include "wire.h"

#include "rapport/v1/common.pb-c.h"
#include "rapport/v1/segment.pb-c.h"

#define CONTACT_FILE_MAX ((size_t)1 << 30)
#define PROGRESS_BAR     30

/* ---- option tables ------------------------------------------------------ */

static const cli_opt_t s_numbering_opts[] = {
    {.name = "--prefix", .path = "prefix"},
    {.name = "--next", .path = "next"},
    {.name = "--width", .path = "width"},
    {0},
};

/* Header fields named on create (campaign flags only with a campaign). */
static const cli_opt_t s_create_opts[] = {
    {.name = "--description", .path = "fields.description"},
    {.name = "--salesperson", .path = "fields.salesperson_code"},
    {.name = "--date", .path = "fields.date"},
    {.name = "--campaign", .path = "fields.campaign_no"},
    {.name = "--campaign-target", .path = "fields.campaign_target", .requires = "--campaign"},
    {.name = "--campaign-response", .path = "fields.campaign_response", .requires = "--campaign"},
    {0},
};

/* The same fields on set, where the header may already have a campaign. */
static const cli_opt_t s_set_opts[] = {
    {.name = "--description", .path = "fields.description"},
    {.name = "--salesperson", .path = "fields.salesperson_code"},
    {.name = "--date", .path = "fields.date"},
    {.name = "--campaign", .path = "fields.campaign_no"},
    {.name = "--campaign-target", .path = "fields.campaign_target"},
    {.name = "--campaign-response", .path = "fields.campaign_response"},
    {.name = "--no-update-lines", .path = "update_lines", .value = "false"},
    {0},
};

/* The header's interaction section, on create and set. */
static const cli_opt_t s_header_opts[] = {
    {.name = "--template", .path = "fields.interaction_template_code"},
    {.name = "--unit-cost", .path = "fields.unit_cost_cents"},
    {.name = "--unit-duration", .path = "fields.unit_duration_min"},
    {.name = "--flow", .path = "fields.information_flow"},
    {.name = "--initiated-by", .path = "fields.initiated_by"},
    {.name = "--subject", .path = "fields.subject"},
    {.name = "--language", .path = "fields.language_code"},
    {.name = "--corr-type", .path = "fields.correspondence_type"},
    {.name = "--ignore-contact-corr-type", .path = "fields.ignore_contact_corr_type"},
    {.name = "--no-ignore-contact-corr-type",
     .path = "fields.ignore_contact_corr_type",
     .value = "false"},
    {0},
};

static const cli_opt_t s_add_opts[] = {
    {.name = "--file", .local = CLI_LOCAL_FILE},
    {.name = "--company", .path = "company_no"},
    {.name = "--salesperson", .path = "salesperson_code"},
    {0},
};

static const cli_opt_t s_line_opts[] = {
    {.name = "--template", .path = "fields.interaction_template_code"},
    {.name = "--description", .path = "fields.description"},
    {.name = "--subject", .path = "fields.subject"},
    {.name = "--language", .path = "fields.language_code"},
    {.name = "--cost", .path = "fields.cost_cents"},
    {.name = "--duration", .path = "fields.duration_min"},
    {.name = "--evaluation", .path = "fields.evaluation"},
    {.name = "--salesperson", .path = "fields.salesperson_code"},
    {.name = "--date", .path = "fields.date"},
    {.name = "--time", .path = "fields.time_of_interaction"},
    {.name = "--flow", .path = "fields.information_flow"},
    {.name = "--initiated-by", .path = "fields.initiated_by"},
    {.name = "--corr-type", .path = "fields.correspondence_type"},
    {0},
};

static const cli_opt_t s_log_opts[] = {
    {.name = "--follow-up", .path = "create_follow_up"},
    {.name = "--when-durable", .path = "reply_when_durable"},
    {0},
};

static const cli_opt_t s_logged_list_opts[] = {
    {.name = "--segment", .path = "segment_no"},
    {0},
};

static const cli_opt_t s_campaign_entry_list_opts[] = {
    {.name = "--campaign", .path = "campaign_no"},
    {0},
};

#define HEADER_USAGE                                                                       \
    "[--template C] [--unit-cost N] [--unit-duration MIN]\n"                               \
    "        [--flow outbound|inbound|none] [--initiated-by us|them|none] [--subject T]\n" \
    "        [--language C] [--corr-type email|hard-copy|none]\n"                          \
    "        [--ignore-contact-corr-type|--no-ignore-contact-corr-type]"

/* ---- segment numbering ---------------------------------------------------- */

/* Without options `segment numbering` shows the numbering; with them it
 * sets all three. */
static int s_numbering_prepare(cli_ctx_t *ctx, ProtobufCMessage *cmd)
{
    int given = 0;

    (void)cmd;
    for (const cli_opt_t *o = s_numbering_opts; o->name; o++)
        given += cli_opt_given(ctx, o->name);
    if (given == 0) {
        ctx->req = cli_request_new(ctx, CLI_SVC_SEGMENT, "get_numbering", "-", &ctx->cmd_msg);
        return CLI_EXIT_OK;
    }
    if (given != 3)
        return cli_usage_error(ctx, "give --prefix, --next and --width together");
    return CLI_EXIT_OK;
}

/* ---- segment add ---------------------------------------------------------- */

/* Append the contact numbers of a file (one a line; blank lines and lines
 * starting with '#' are skipped) to *list. */
static int s_add_read_file(const char *path, char **buf, char ***list, size_t *n, size_t *cap)
{
    size_t len, line = 0;
    char *p, *end;
    int rc = cli_read_file(path, CONTACT_FILE_MAX, buf, &len);

    if (rc != CLI_EXIT_OK)
        return rc;
    for (p = *buf, end = *buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *e;
        char *next = nl ? nl + 1 : end;

        line++;
        e = nl ? nl : end;
        *e = '\0';
        while (p < e && isspace((unsigned char)*p))
            p++;
        while (e > p && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (p < e && *p != '#') {
            if (wire_utf8_chars(p) > 20)
                return cli_input_error("%s:%zu: contact no. longer than 20 characters", path, line);
            if (*n == *cap) {
                size_t ncap = *cap ? *cap * 2 : 1024;
                char **grown = realloc(*list, ncap * sizeof(*grown));
                if (!grown) {
                    cli_warn("out of memory");
                    return CLI_EXIT_USAGE;
                }
                *list = grown;
                *cap = ncap;
            }
            (*list)[(*n)++] = p;
        }
        p = next;
    }
    return CLI_EXIT_OK;
}

static void s_add_progress(size_t done, size_t total, bool finished)
{
    if (!cli_stderr_is_tty() || total <= CLI_BULK_BATCH)
        return;
    if (finished)
        fputs("\r\033[K", stderr);
    else
        fprintf(stderr, "\radding: %zu/%zu contacts sent\033[K", done, total);
    fflush(stderr);
}

static int s_segment_add(cli_ctx_t *ctx)
{
    Rapport__V1__AddContacts *ac = (Rapport__V1__AddContacts *)(void *)ctx->cmd_msg;
    Rapport__V1__AddedContacts sum = RAPPORT__V1__ADDED_CONTACTS__INIT;
    char **list = NULL, *filebuf = NULL;
    size_t n = 0, cap = 0, sent = 0, batch_no = 0;
    int rc = CLI_EXIT_OK;

    /* The arguments first, then the file. */
    for (size_t i = 0; i < ac->n_contact_nos && rc == CLI_EXIT_OK; i++) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **grown = realloc(list, ncap * sizeof(*grown));
            if (!grown) {
                cli_warn("out of memory");
                rc = CLI_EXIT_USAGE;
                break;
            }
            list = grown;
            cap = ncap;
        }
        list[n++] = ac->contact_nos[i];
    }
    if (rc == CLI_EXIT_OK && ctx->local[CLI_LOCAL_FILE])
        rc = s_add_read_file(ctx->local[CLI_LOCAL_FILE], &filebuf, &list, &n, &cap);
    if (rc != CLI_EXIT_OK)
        goto out_free;
    if (n == 0 && !*ac->company_no && !*ac->salesperson_code) {
        rc = cli_usage_error(ctx, "name contacts, a --file, --company or --salesperson");
        goto out_free;
    }
    rc = cli_connect(ctx, CLI_SVC_SEGMENT);
    if (rc != CLI_EXIT_OK)
        goto out_free;
    /* One request, or several with derived request ids; the company and
     * salesperson filters travel with the first. */
    do {
        size_t k = n - sent < CLI_BULK_BATCH ? n - sent : CLI_BULK_BATCH;
        ProtobufCMessage *reply;
        const Rapport__V1__SegmentReply *sr;

        ac->contact_nos = list ? list + sent : NULL;
        ac->n_contact_nos = k;
        if (n > CLI_BULK_BATCH)
            cli_request_renumber(ctx, ctx->req, ++batch_no);
        if (sent)
            snprintf(ctx->note, sizeof(ctx->note),
                     "the first %zu contacts were sent before the error", sent);
        rc = cli_call(ctx, CLI_SVC_SEGMENT, ctx->req, NULL, &reply);
        if (rc != CLI_EXIT_OK)
            break;
        sr = (const Rapport__V1__SegmentReply *)(const void *)reply;
        if (sr->result_case == RAPPORT__V1__SEGMENT_REPLY__RESULT_ADDED) {
            sum.added += sr->added->added;
            sum.skipped += sr->added->skipped;
            sum.no_of_lines = sr->added->no_of_lines;
        }
        wire_free(reply);
        sent += k;
        ac->company_no = wire_str("");
        ac->salesperson_code = wire_str("");
        s_add_progress(sent, n, false);
    } while (sent < n);
    s_add_progress(sent, n, true);
    if (rc == CLI_EXIT_OK)
        rc = cli_output(ctx, &sum.base);
out_free:
    free(list);
    free(filebuf);
    return rc;
}

/* ---- segment log ---------------------------------------------------------- */

typedef struct {
    const char *segment_no;
    bool drawn;
    int64_t first_ms;
    uint64_t first_done;
} progress_t;

static void s_progress_draw(progress_t *p, uint64_t done, uint64_t total)
{
    int64_t now = clock_mono_ms();
    double rate = 0, frac = total ? (double)done / (double)total : 0;
    char bar[PROGRESS_BAR + 1];
    size_t fill;

    if (!p->first_ms) {
        p->first_ms = now;
        p->first_done = done;
    }
    if (now > p->first_ms && done >= p->first_done)
        rate = (double)(done - p->first_done) * 1000.0 / (double)(now - p->first_ms);
    if (frac > 1)
        frac = 1;
    fill = (size_t)(frac * PROGRESS_BAR);
    memset(bar, '#', fill);
    memset(bar + fill, '-', PROGRESS_BAR - fill);
    bar[PROGRESS_BAR] = '\0';
    fprintf(stderr, "\r[%s] %3.0f%% %" PRIu64 "/%" PRIu64, bar, frac * 100, done, total);
    if (rate > 0)
        fprintf(stderr, " %.0f/s", rate);
    fputs("\033[K", stderr);
    fflush(stderr);
    p->drawn = true;
}

/* A segment.log.progress event: draw it when it is our segment's. */
static int s_on_progress(void *arg, const Rapport__V1__Event *ev)
{
    progress_t *p = arg;

    if (ev->body_case == RAPPORT__V1__EVENT__BODY_PROGRESS &&
        strcasecmp(ev->progress->segment_no, p->segment_no) == 0)
        s_progress_draw(p, ev->progress->done, ev->progress->total);
    return 0;
}

static int s_segment_log(cli_ctx_t *ctx)
{
    const Rapport__V1__LogSegment *ls = (const Rapport__V1__LogSegment *)(void *)ctx->cmd_msg;
    progress_t progress = {.segment_no = ls->segment_no};
    ProtobufCMessage *reply = NULL;
    rapport_subscriber *sub = NULL;
    int rc;

    rc = cli_connect(ctx, CLI_SVC_SEGMENT);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* Without a subscription, no progress bar; the log itself goes on. */
    if (cli_stderr_is_tty() && ctx->cfg.events_endpoint[0] &&
        rapport_subscriber_new(ctx->client, 0, "segment.log.progress", RAPPORT_SUB_PROGRESS, &sub,
                               NULL) == 0)
        rc = cli_call_watch(ctx, CLI_SVC_SEGMENT, ctx->req, sub, s_on_progress, &progress, &reply);
    else
        rc = cli_call(ctx, CLI_SVC_SEGMENT, ctx->req, NULL, &reply);
    if (progress.drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_output(ctx, cli_reply_result(reply));
        wire_free(reply);
    }
    rapport_subscriber_destroy(&sub);
    return rc;
}

/* "deleted segment SEG00001 and its 299 lines" */
static void s_print_deleted(cli_ctx_t *ctx, const ProtobufCMessage *result)
{
    const char *no = reflect_get_string(ctx->cmd_msg, "segment_no");
    uint64_t n = result && result->descriptor == &rapport__v1__count__descriptor
                     ? ((const Rapport__V1__Count *)(const void *)result)->count
                     : 0;

    printf("deleted segment %s and its %" PRIu64 " line%s\n", no ? no : "", n, n == 1 ? "" : "s");
}

/* "logged segment: 3 / entries: 10..20 (11) / follow-up segment: SEG2" */
static void s_print_logged(cli_ctx_t *ctx, const ProtobufCMessage *result)
{
    const Rapport__V1__SegmentLogged *sl = (const Rapport__V1__SegmentLogged *)(const void *)result;

    (void)ctx;
    if (!result || result->descriptor != &rapport__v1__segment_logged__descriptor)
        return;
    printf("logged segment: %" PRIu64 "\n", sl->logged_segment_no);
    printf("entries: %" PRIu64 "..%" PRIu64 " (%" PRIu64 ")\n", sl->first_entry_no,
           sl->last_entry_no, sl->entry_count);
    if (sl->follow_up_segment_no && *sl->follow_up_segment_no)
        printf("follow-up segment: %s\n", sl->follow_up_segment_no);
}

/* ---- the commands --------------------------------------------------------- */

static const cli_confirm_t s_confirm_segment = {.verb = "delete",
                                                .what = "segment",
                                                .service = CLI_SVC_SEGMENT,
                                                .command = "get_segment",
                                                .copy = "*"};
static const cli_confirm_t s_confirm_logged_cancel = {
    .verb = "cancel",
    .what = "logged segment (with its entries and campaign entries)",
    .service = CLI_SVC_LOGWRITER,
    .command = "get_logged_segment",
    .copy = "entry_no"};
static const cli_confirm_t s_confirm_logged_delete = {
    .verb = "delete",
    .what = "canceled logged segments",
    .service = CLI_SVC_LOGWRITER,
    .command = "list_logged_segments",
    .list_field = "logged_segments",
    .keep = "canceled",
    .columns = "entry_no:NO.,segment_no:SEGMENT,description,creation_date:CREATED,user_id:USER"};
static const cli_confirm_t s_confirm_ce_delete = {
    .verb = "delete",
    .what = "canceled campaign entries (with their entries)",
    .service = CLI_SVC_LOGWRITER,
    .command = "list_campaign_entries",
    .list_field = "campaign_entries",
    .keep = "canceled",
    .columns = "entry_no:NO.,campaign_no:CAMPAIGN,description,date,user_id:USER"};

const cli_cmd_t cli_segment_cmds[] = {
    {.group = "segment",
     .name = "numbering",
     .usage = "[--prefix SEG --next N --width W]",
     .summary = "show the segment numbering, or set it (SEG + next zero-padded to width)",
     .service = CLI_SVC_SEGMENT,
     .command = "set_numbering",
     .opts = {s_numbering_opts},
     .prepare = s_numbering_prepare},
    {.group = "segment",
     .name = "create",
     .usage = "[NO] [--description T] [--salesperson C] [--date D]\n"
              "        [--campaign NO [--campaign-target] [--campaign-response]] " HEADER_USAGE,
     .summary = "create a segment (no NO: numbered from segment numbering); prints its No.\n"
                "      The description may come later (segment set), but logging needs one",
     .service = CLI_SVC_SEGMENT,
     .command = "create_segment",
     .pos = {{.name = "NO", .path = "no", .flags = CLI_POS_OPTIONAL}},
     .opts = {s_create_opts, s_header_opts},
     .out = CLI_OUT_FIELD,
     .out_field = "no"},
    {.group = "segment",
     .name = "set",
     .usage = "NO [--description T] [--salesperson C] [--date D] [--campaign NO]\n"
              "        [--campaign-target] [--campaign-response] " HEADER_USAGE
              "\n        [--no-update-lines]",
     .summary = "change header fields; they reach the lines unless --no-update-lines",
     .service = CLI_SVC_SEGMENT,
     .command = "update_segment",
     .pos = {{.name = "NO", .path = "segment_no"}},
     .opts = {s_set_opts, s_header_opts}},
    {.group = "segment",
     .name = "add",
     .usage = "NO [CONTACT...] [--file F] [--company NO] [--salesperson C]",
     .summary = "add contacts: listed, from a file (one No. a line), all persons of a\n"
                "      company, or all contacts of a salesperson; sent 10,000 a request",
     .service = CLI_SVC_SEGMENT,
     .command = "add_contacts",
     .pos = {{.name = "NO", .path = "segment_no"},
             {.name = "CONTACT", .path = "contact_nos", .flags = CLI_POS_MANY | CLI_POS_OPTIONAL}},
     .opts = {s_add_opts},
     .run = s_segment_add},
    {.group = "segment",
     .name = "line",
     .usage = "NO LINE [--template C] [--description T] [--subject T] [--language C]\n"
              "        [--cost N] [--duration MIN] [--evaluation ..] [--salesperson C]\n"
              "        [--date D] [--time HH:MM] [--flow ..] [--initiated-by ..] [--corr-type ..]",
     .summary = "personalize a line (another template re-derives it)",
     .service = CLI_SVC_SEGMENT,
     .command = "update_line",
     .pos = {{.name = "NO", .path = "segment_no"}, {.name = "LINE", .path = "line_no"}},
     .opts = {s_line_opts}},
    {.group = "segment",
     .name = "remove",
     .usage = "NO LINE...",
     .summary = "remove lines",
     .service = CLI_SVC_SEGMENT,
     .command = "remove_lines",
     .pos = {{.name = "NO", .path = "segment_no"},
             {.name = "LINE", .path = "line_nos", .flags = CLI_POS_MANY}}},
    {.group = "segment",
     .name = "show",
     .usage = "NO",
     .summary = "show a segment header",
     .service = CLI_SVC_SEGMENT,
     .command = "get_segment",
     .pos = {{.name = "NO", .path = "segment_no"}}},
    {.group = "segment",
     .name = "lines",
     .usage = "NO [--after LINE] [--limit K] [--all]",
     .summary = "list a segment's lines",
     .service = CLI_SVC_SEGMENT,
     .command = "list_lines",
     .pos = {{.name = "NO", .path = "segment_no"}},
     .opts = {cli_paging_opts},
     .out = CLI_OUT_TABLE,
     .out_field = "lines",
     .columns = "line_no:LINE,contact_no:CONTACT,contact_company_no:COMPANY,"
                "salesperson_code:SALESPERSON,interaction_template_code:TEMPLATE,description,"
                "subject,language_code:LANG,cost_cents:COST,duration_min:MIN,date,"
                "correspondence_type:CORR. TYPE,evaluation,personalized:UNIQUE"},
    {.group = "segment",
     .name = "list",
     .usage = "[--after NO] [--limit K] [--all]",
     .summary = "list segments",
     .service = CLI_SVC_SEGMENT,
     .command = "list_segments",
     .opts = {cli_paging_opts},
     .out = CLI_OUT_TABLE,
     .out_field = "segments",
     .columns = "no,description,salesperson_code:SALESPERSON,date,campaign_no:CAMPAIGN,"
                "interaction_template_code:TEMPLATE,no_of_lines:LINES,total_cost_cents:COST,"
                "total_duration_min:MIN,logging"},
    {.group = "segment",
     .name = "delete",
     .usage = "NO",
     .summary = "delete a segment and its lines",
     .service = CLI_SVC_SEGMENT,
     .command = "delete_segment",
     .pos = {{.name = "NO", .path = "segment_no"}},
     .opts = {cli_confirm_opts},
     .confirm = &s_confirm_segment,
     .print = s_print_deleted},
    {.group = "segment",
     .name = "log",
     .usage = "NO [--follow-up] [--when-durable]",
     .summary = "log the segment (all or nothing); prints the logged segment No., the entry\n"
                "      range and the follow-up segment No.; a progress bar on a terminal;\n"
                "      --when-durable answers once the log is durable, before it is visible",
     .service = CLI_SVC_SEGMENT,
     .command = "log_segment",
     .pos = {{.name = "NO", .path = "segment_no"}},
     .opts = {s_log_opts},
     .timeout_ms = CLI_LOG_TIMEOUT_MS,
     .run = s_segment_log,
     .print = s_print_logged},

    {.group = "logged-segment",
     .name = "list",
     .usage = "[--segment NO] [--after N] [--limit K] [--all]",
     .summary = "list logged segments",
     .service = CLI_SVC_LOGWRITER,
     .command = "list_logged_segments",
     .opts = {s_logged_list_opts, cli_paging_opts},
     .out = CLI_OUT_TABLE,
     .out_field = "logged_segments",
     .columns = "entry_no:NO.,segment_no:SEGMENT,description,creation_date:CREATED,user_id:USER,"
                "no_of_interactions:INTERACTIONS,no_of_campaign_entries:CAMPAIGN ENTRIES,"
                "first_entry_no:FIRST,last_entry_no:LAST,canceled"},
    {.group = "logged-segment",
     .name = "show",
     .usage = "N",
     .summary = "show a logged segment",
     .service = CLI_SVC_LOGWRITER,
     .command = "get_logged_segment",
     .pos = {{.name = "N", .path = "entry_no"}}},
    {.group = "logged-segment",
     .name = "cancel",
     .usage = "N",
     .summary = "cancel a logged segment with its entries and campaign entries",
     .service = CLI_SVC_LOGWRITER,
     .command = "set_logged_segment_canceled",
     .pos = {{.name = "N", .path = "entry_no"}},
     .opts = {cli_confirm_opts},
     .presets = {"canceled=true"},
     .confirm = &s_confirm_logged_cancel},
    {.group = "logged-segment",
     .name = "uncancel",
     .usage = "N",
     .summary = "un-cancel a logged segment with its entries and campaign entries",
     .service = CLI_SVC_LOGWRITER,
     .command = "set_logged_segment_canceled",
     .pos = {{.name = "N", .path = "entry_no"}},
     .presets = {"canceled=false"}},
    {.group = "logged-segment",
     .name = "delete-canceled",
     .summary = "delete canceled logged segments (their entries stay); prints the count",
     .service = CLI_SVC_LOGWRITER,
     .command = "delete_canceled_logged_segments",
     .opts = {cli_confirm_opts},
     .confirm = &s_confirm_logged_delete},

    {.group = "campaign-entry",
     .name = "list",
     .usage = "[--campaign NO] [--after N] [--limit K] [--all]",
     .summary = "list campaign entries",
     .service = CLI_SVC_LOGWRITER,
     .command = "list_campaign_entries",
     .opts = {s_campaign_entry_list_opts, cli_paging_opts},
     .out = CLI_OUT_TABLE,
     .out_field = "campaign_entries",
     .columns = "entry_no:NO.,campaign_no:CAMPAIGN,description,date,user_id:USER,"
                "segment_no:SEGMENT,register_no:REGISTER,salesperson_code:SALESPERSON,"
                "no_of_entries:ENTRIES,canceled"},
    {.group = "campaign-entry",
     .name = "cancel",
     .usage = "N",
     .summary = "cancel a campaign entry with its interaction log entries",
     .service = CLI_SVC_LOGWRITER,
     .command = "set_campaign_entry_canceled",
     .pos = {{.name = "N", .path = "entry_no"}},
     .presets = {"canceled=true"}},
    {.group = "campaign-entry",
     .name = "uncancel",
     .usage = "N",
     .summary = "un-cancel a campaign entry with its interaction log entries",
     .service = CLI_SVC_LOGWRITER,
     .command = "set_campaign_entry_canceled",
     .pos = {{.name = "N", .path = "entry_no"}},
     .presets = {"canceled=false"}},
    {.group = "campaign-entry",
     .name = "delete-canceled",
     .summary = "delete canceled campaign entries and their entries; prints the count",
     .service = CLI_SVC_LOGWRITER,
     .command = "delete_canceled_campaign_entries",
     .opts = {cli_confirm_opts},
     .confirm = &s_confirm_ce_delete},
    {0},
};
