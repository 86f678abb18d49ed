/* event_cmds: `rapport events`, the log writer's event stream.
 *
 * History comes from the durable event log (ReadEvents pages from --from
 * until an empty page). With --follow the command subscribes to the PUB
 * socket *before* reading the history, so nothing published meanwhile is
 * lost; then it prints live events, dropping those already printed (by
 * seq) and filling any gap in the seqs with ReadEvents. Polling the log
 * when the socket has been quiet for a while also recovers events a slow
 * subscriber dropped. segment.log.progress events are not durable (seq 0)
 * and only a live subscriber sees them. */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "cli.h"
#include "clock.h"
#include "json.h"
#include "wire.h"

#include "rapport/v1/common.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"

#define EVENTS_PAGE       1000
#define EVENTS_QUIET_MS   5000
#define EVENTS_SUMMARY_SZ 512

static const cli_opt_t s_event_opts[] = {
    {.name = "--from", .path = "from_seq"},
    {.name = "--type", .path = "type_prefix"},
    {.name = "--follow", .local = CLI_LOCAL_FOLLOW},
    {.name = "--from-start", .local = CLI_LOCAL_FROM_START},
    {0},
};

typedef struct {
    cli_ctx_t *ctx;
    client_t *client;
    Rapport__V1__ReadEvents *read; /* the request's command, reused per page */
    bool follow;
    const char *prefix;
    uint64_t next_seq; /* the next durable seq not printed yet */
    uint64_t last_seq; /* the newest durable seq the writer reported */
    size_t page_no;
    bool warned_retention;
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

static bool s_wanted(const events_t *ev, const Rapport__V1__Event *e)
{
    return !ev->prefix || strncmp(e->type, ev->prefix, strlen(ev->prefix)) == 0;
}

/* Following into a stdout that fails would print into the void forever:
 * stop instead, and let the exit code tell. */
static void s_write_failed(events_t *ev)
{
    ev->write_failed = true;
    cli_stop = 1;
}

static void s_print(events_t *ev, const Rapport__V1__Event *e)
{
    if (!s_wanted(ev, e))
        return;
    if (ev->ctx->json && !ev->follow) {
        json_message(&ev->doc, &e->base);
        return;
    }
    if (ev->ctx->json) {
        json_writer_t w;
        json_writer_init(&w, stdout, false);
        json_message(&w, &e->base);
        if (json_writer_end(&w) != 0)
            s_write_failed(ev);
        return;
    }
    {
        char summary[EVENTS_SUMMARY_SZ];
        s_summary(e, summary, sizeof(summary));
        printf("%" PRIu64 " %s %s\n", e->seq, e->type, summary);
        if (ev->follow && (fflush(stdout) != 0 || ferror(stdout)))
            s_write_failed(ev);
    }
}

/* ---- the durable log -------------------------------------------------------------- */

/* Print durable events from next_seq until the writer has no more. */
static int s_catch_up(events_t *ev)
{
    for (;;) {
        ProtobufCMessage *reply;
        const Rapport__V1__LogReply *lr;
        const Rapport__V1__EventBatch *b;
        int rc;

        ev->read->from_seq = ev->next_seq;
        ev->read->max = EVENTS_PAGE;
        cli_request_renumber(ev->ctx, ev->ctx->req, ++ev->page_no);
        rc = cli_call(ev->ctx, ev->client, CLI_SVC_LOGWRITER, ev->ctx->req, NULL, &reply);
        if (rc != CLI_EXIT_OK)
            return rc;
        lr = (const Rapport__V1__LogReply *)(const void *)reply;
        if (lr->result_case != RAPPORT__V1__LOG_REPLY__RESULT_EVENTS) {
            wire_free(reply);
            cli_warn("rapport-logwriter answered ReadEvents without events");
            return CLI_EXIT_REFUSED;
        }
        b = lr->events;
        if (b->first_seq > ev->next_seq && !ev->warned_retention) {
            cli_warn("events before %" PRIu64 " are no longer kept", b->first_seq);
            ev->warned_retention = true;
        }
        for (size_t i = 0; i < b->n_events; i++) {
            const Rapport__V1__Event *e = b->events[i];
            if (e->seq < ev->next_seq)
                continue;
            s_print(ev, e);
            ev->next_seq = e->seq + 1;
        }
        ev->last_seq = b->last_seq;
        if (b->n_events == 0 || (!ev->prefix && ev->next_seq > b->last_seq)) {
            /* Everything up to last_seq has been scanned. */
            if (b->last_seq + 1 > ev->next_seq)
                ev->next_seq = b->last_seq + 1;
            wire_free(reply);
            return CLI_EXIT_OK;
        }
        wire_free(reply);
        if (cli_stop)
            return CLI_EXIT_OK;
    }
}

/* ---- following -------------------------------------------------------------------- */

/* --follow without --from or --from-start: only what happens from now on.
 * One ReadEvents of one event tells the newest seq; the subscription is
 * already open, so nothing after it is missed. */
static int s_start_now(events_t *ev)
{
    ProtobufCMessage *reply;
    const Rapport__V1__LogReply *lr;
    int rc;

    ev->read->from_seq = 1;
    ev->read->max = 1;
    cli_request_renumber(ev->ctx, ev->ctx->req, ++ev->page_no);
    rc = cli_call(ev->ctx, ev->client, CLI_SVC_LOGWRITER, ev->ctx->req, NULL, &reply);
    if (rc != CLI_EXIT_OK)
        return rc;
    lr = (const Rapport__V1__LogReply *)(const void *)reply;
    if (lr->result_case == RAPPORT__V1__LOG_REPLY__RESULT_EVENTS)
        ev->next_seq = lr->events->last_seq + 1;
    wire_free(reply);
    return CLI_EXIT_OK;
}

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

/* One live event from the SUB socket. */
static void s_live(events_t *ev, const Rapport__V1__Event *e)
{
    if (e->seq == 0) {
        s_print(ev, e); /* progress: not durable, shown live only */
        return;
    }
    if (e->seq < ev->next_seq)
        return; /* printed already */
    if (e->seq > ev->next_seq) {
        /* A gap: the log has everything up to this one. */
        if (s_catch_up(ev) != CLI_EXIT_OK)
            return;
        if (e->seq < ev->next_seq)
            return;
    }
    s_print(ev, e);
    ev->next_seq = e->seq + 1;
}

static int s_follow(events_t *ev, void *sub)
{
    int64_t quiet_since = clock_mono_ms();

    while (!cli_stop) {
        int ready = bus_poll(&sub, 1, EVENTS_QUIET_MS);
        char topic[128];
        zmq_msg_t body;

        if (ready < 0)
            continue;
        if (ready == 0 || clock_mono_ms() - quiet_since >= EVENTS_QUIET_MS) {
            /* Quiet for a while: anything the socket dropped is in the log. */
            s_catch_up(ev);
            quiet_since = clock_mono_ms();
            if (ready == 0)
                continue;
        }
        while (!cli_stop && bus_recv(sub, &body, topic, sizeof(topic)) == RP_OK) {
            ProtobufCMessage *msg = NULL;
            wire_error_t werr;

            if (wire_decode(&rapport__v1__event__descriptor, zmq_msg_data(&body),
                            zmq_msg_size(&body), (size_t)ev->ctx->cfg.max_msg_size, 0, &msg,
                            &werr) == RP_OK) {
                s_live(ev, (const Rapport__V1__Event *)(const void *)msg);
                wire_free(msg);
            }
            zmq_msg_close(&body);
            quiet_since = clock_mono_ms();
        }
    }
    return CLI_EXIT_OK;
}

static int s_events(cli_ctx_t *ctx)
{
    events_t ev = {
        .ctx = ctx,
        .read = (Rapport__V1__ReadEvents *)(void *)ctx->cmd_msg,
        .follow = ctx->local[CLI_LOCAL_FOLLOW] != NULL,
    };
    void *sub = NULL;
    char err[512];
    int rc;

    ev.prefix = ev.read->type_prefix && *ev.read->type_prefix ? ev.read->type_prefix : NULL;
    ev.next_seq = ev.read->from_seq ? ev.read->from_seq : 1;
    rc = cli_connect(ctx, CLI_SVC_LOGWRITER, &ev.client);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (ev.follow) {
        if (bus_socket_connect(ctx->zctx, BUS_SUB, ctx->cfg.events_endpoint, &ctx->cfg, &sub, err,
                               sizeof(err)) != RP_OK) {
            cli_warn("cannot subscribe to %s: %s", ctx->cfg.events_endpoint, err);
            rc = CLI_EXIT_UNREACHABLE;
            goto out_destroy_client;
        }
        s_signals_install();
        rc = ev.read->from_seq || ctx->local[CLI_LOCAL_FROM_START] ? CLI_EXIT_OK : s_start_now(&ev);
        if (rc == CLI_EXIT_OK)
            rc = s_catch_up(&ev);
        if (rc == CLI_EXIT_OK)
            rc = s_follow(&ev, sub);
        if (ev.write_failed) {
            cli_warn("write error on stdout");
            rc = CLI_EXIT_REFUSED;
        }
        zmq_close(sub);
        goto out_destroy_client;
    }
    if (ctx->json) {
        json_writer_init(&ev.doc, stdout, true);
        json_object_begin(&ev.doc);
        json_key(&ev.doc, "events");
        json_array_begin(&ev.doc);
    }
    rc = s_catch_up(&ev);
    if (ctx->json) {
        /* Close the document even after an error: stdout stays valid JSON. */
        json_array_end(&ev.doc);
        json_key(&ev.doc, "last_seq");
        json_uint(&ev.doc, ev.last_seq);
        json_object_end(&ev.doc);
        if (json_writer_end(&ev.doc) != 0 && rc == CLI_EXIT_OK) {
            cli_warn("write error on stdout");
            rc = CLI_EXIT_REFUSED;
        }
    } else if (rc == CLI_EXIT_OK) {
        rc = cli_stdout_status();
    }
out_destroy_client:
    client_destroy(&ev.client);
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
