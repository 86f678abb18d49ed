/* event_cmds: `rapport events`, the log writer's event stream, through
 * librapport's subscriber.
 *
 * History comes from the durable event log (the subscriber's first run
 * reads it from --from up to the newest seq). With --follow the subscriber
 * goes on with live events, each printed once and in order (it fills any
 * gap in the seqs from the log). segment.log.progress events are not
 * durable (seq 0) and only a live subscriber sees them. */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "json.h"
#include "wire.h"

#include "rapport/v1/common.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"

#define EVENTS_SUMMARY_SZ 512
#define EVENTS_WAKE_MS    500 /* how often a follower looks at cli_stop */

static const cli_opt_t s_event_opts[] = {
    {.name = "--from", .path = "from_seq"},
    {.name = "--type", .path = "type_prefix"},
    {.name = "--follow", .local = CLI_LOCAL_FOLLOW},
    {.name = "--from-start", .local = CLI_LOCAL_FROM_START},
    {0},
};

typedef struct {
    cli_ctx_t *ctx;
    bool follow;
    bool write_failed; /* stdout failed: stop rather than lose events silently */
    json_writer_t doc; /* --json without --follow: the one document */
} events_t;

/* ---- summaries -------------------------------------------------------------- */

/* Bounded appends to a summary line. */
typedef struct {
    char *buf;
    size_t size, used;
} line_t;

static void s_add(line_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_add(line_t *l, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (l->used + 1 >= l->size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(l->buf + l->used, l->size - l->used, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    l->used += (size_t)n;
    if (l->used >= l->size) {
        l->used = l->size - 1;
        if (l->size > 4)
            memcpy(l->buf + l->size - 4, "...", 4);
    }
}

static void s_add_list(line_t *l, const char *what, const uint64_t *v, size_t n)
{
    if (n == 0)
        return;
    s_add(l, "%s%s", l->used ? "; " : "", what);
    for (size_t i = 0; i < n; i++)
        s_add(l, "%s%" PRIu64, i ? "," : " ", v[i]);
}

static void s_summary(const Rapport__V1__Event *e, char *buf, size_t size)
{
    line_t l = {buf, size, 0};

    buf[0] = '\0';
    switch (e->body_case) {
    case RAPPORT__V1__EVENT__BODY_ENTRY: {
        const Rapport__V1__Entry *en = e->entry;
        char date[16];
        clock_date_format(en->date, date, sizeof(date));
        s_add(&l, "entry %" PRIu64 " contact %s template %s %s", en->entry_no, en->contact_no,
              en->interaction_template_code, date);
        if (en->description && *en->description)
            s_add(&l, " \"%s\"", en->description);
        if (en->postponed)
            s_add(&l, " (postponed)");
        break;
    }
    case RAPPORT__V1__EVENT__BODY_ENTRIES: {
        const Rapport__V1__EntryNos *en = e->entries;
        for (size_t i = 0; i < en->n_ranges; i++) {
            const Rapport__V1__EntryRange *r = en->ranges[i];
            s_add(&l, "%s", i ? "," : "entries ");
            if (r->first == r->last)
                s_add(&l, "%" PRIu64, r->first);
            else
                s_add(&l, "%" PRIu64 "..%" PRIu64, r->first, r->last);
        }
        s_add_list(&l, "campaign entries", en->campaign_entry_nos, en->n_campaign_entry_nos);
        s_add_list(&l, "logged segments", en->logged_segment_nos, en->n_logged_segment_nos);
        break;
    }
    case RAPPORT__V1__EVENT__BODY_SEGMENT_LOGGED: {
        const Rapport__V1__SegmentLogged *sl = e->segment_logged;
        s_add(&l,
              "logged segment %" PRIu64 " segment %s entries %" PRIu64 "..%" PRIu64 " (%" PRIu64
              ")",
              sl->logged_segment_no, sl->segment_no, sl->first_entry_no, sl->last_entry_no,
              sl->entry_count);
        if (sl->n_campaign_entries)
            s_add(&l, " campaign entries %zu", sl->n_campaign_entries);
        if (sl->follow_up_segment_no && *sl->follow_up_segment_no)
            s_add(&l, " follow-up %s", sl->follow_up_segment_no);
        break;
    }
    case RAPPORT__V1__EVENT__BODY_LOGGED_SEGMENTS:
        s_add_list(&l, "logged segments", e->logged_segments->logged_segment_nos,
                   e->logged_segments->n_logged_segment_nos);
        s_add_list(&l, "campaign entries", e->logged_segments->campaign_entry_nos,
                   e->logged_segments->n_campaign_entry_nos);
        break;
    case RAPPORT__V1__EVENT__BODY_PROGRESS:
        s_add(&l, "segment %s %" PRIu64 "/%" PRIu64, e->progress->segment_no, e->progress->done,
              e->progress->total);
        break;
    default:
        break;
    }
    /* One event, one line. */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
}

/* ---- printing ----------------------------------------------------------------- */

/* Following into a stdout that fails would print into the void forever:
 * stop instead, and let the exit code tell. */
static void s_write_failed(events_t *ev)
{
    ev->write_failed = true;
    cli_stop = 1;
}

/* The subscriber's callback: one event, printed. */
static int s_print(void *arg, const Rapport__V1__Event *e)
{
    events_t *ev = arg;

    if (ev->ctx->json && !ev->follow) {
        json_message(&ev->doc, &e->base);
        return 0;
    }
    if (ev->ctx->json) {
        json_writer_t w;
        json_writer_init(&w, stdout, false);
        json_message(&w, &e->base);
        if (json_writer_end(&w) != 0)
            s_write_failed(ev);
    } else {
        char summary[EVENTS_SUMMARY_SZ];
        s_summary(e, summary, sizeof(summary));
        printf("%" PRIu64 " %s %s\n", e->seq, e->type, summary);
        if (ev->follow && (fflush(stdout) != 0 || ferror(stdout)))
            s_write_failed(ev);
    }
    return cli_stop ? 1 : 0;
}

/* ---- following -------------------------------------------------------------------- */

static void s_on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

static void s_signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* One run of the subscriber; DATA_LOSS (events no longer kept) is a
 * warning, anything else but a signal is reported. */
static int s_run(events_t *ev, rapport_subscriber *sub, int timeout_ms)
{
    rapport_error e;
    int code = rapport_subscriber_run(sub, timeout_ms, s_print, ev, &e);

    if (code == RAPPORT__V1__STATUS_CODE__DATA_LOSS)
        cli_warn("%s", e.message);
    else if (code == RAPPORT__V1__STATUS_CODE__CANCELLED && cli_stop)
        return CLI_EXIT_OK;
    else if (code != 0)
        return e.source == RAPPORT_ERR_SERVER ? (cli_warn("%s", e.message), CLI_EXIT_REFUSED)
                                              : cli_report_error(ev->ctx, &e);
    return CLI_EXIT_OK;
}

static int s_events(cli_ctx_t *ctx)
{
    const Rapport__V1__ReadEvents *read = (const Rapport__V1__ReadEvents *)(void *)ctx->cmd_msg;
    events_t ev = {.ctx = ctx, .follow = ctx->local[CLI_LOCAL_FOLLOW] != NULL};
    const char *prefix = read->type_prefix && *read->type_prefix ? read->type_prefix : NULL;
    uint64_t from = read->from_seq ? read->from_seq : 1;
    rapport_subscriber *sub;
    rapport_error e;
    int rc;

    rc = cli_connect(ctx, CLI_SVC_LOGWRITER);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* --follow without --from or --from-start: from now on. */
    if (ev.follow && !read->from_seq && !ctx->local[CLI_LOCAL_FROM_START])
        from = 0;
    if (rapport_subscriber_new(ctx->client, from, prefix, ev.follow ? RAPPORT_SUB_PROGRESS : 0,
                               &sub, &e) != 0) {
        cli_warn("%s", e.message);
        return CLI_EXIT_UNREACHABLE;
    }
    if (ev.follow) {
        s_signals_install();
        while (rc == CLI_EXIT_OK && !cli_stop)
            rc = s_run(&ev, sub, EVENTS_WAKE_MS);
        if (ev.write_failed) {
            cli_warn("write error on stdout");
            rc = CLI_EXIT_REFUSED;
        }
        rapport_subscriber_destroy(&sub);
        return rc;
    }
    if (ctx->json) {
        json_writer_init(&ev.doc, stdout, true);
        json_object_begin(&ev.doc);
        json_key(&ev.doc, "events");
        json_array_begin(&ev.doc);
    }
    /* The history: the first run reads the log up to the newest seq. */
    rc = s_run(&ev, sub, 0);
    if (ctx->json) {
        /* Close the document even after an error: stdout stays valid JSON. */
        json_array_end(&ev.doc);
        json_key(&ev.doc, "last_seq");
        json_uint(&ev.doc, rapport_subscriber_next_seq(sub) - 1);
        json_object_end(&ev.doc);
        if (json_writer_end(&ev.doc) != 0 && rc == CLI_EXIT_OK) {
            cli_warn("write error on stdout");
            rc = CLI_EXIT_REFUSED;
        }
    } else if (rc == CLI_EXIT_OK) {
        rc = cli_stdout_status();
    }
    rapport_subscriber_destroy(&sub);
    return rc;
}

const cli_cmd_t cli_event_cmds[] = {
    {.group = "events",
     .usage = "[--from SEQ] [--type PREFIX] [--follow [--from-start]]",
     .summary = "print events from SEQ (default 1): one line \"seq type summary\" each; with\n"
                "      --json one document {\"events\":[...],\"last_seq\":N}. --follow prints\n"
                "      the events from now on (segment.log.progress too, seq 0) until Ctrl-C,\n"
                "      after replaying from SEQ with --from or from 1 with --from-start; with\n"
                "      --json then one JSON object per line (NDJSON)",
     .service = CLI_SVC_LOGWRITER,
     .command = "read_events",
     .opts = {s_event_opts},
     .run = s_events},
    {0},
};
