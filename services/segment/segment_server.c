/* segment_server: rapport-segment's command table, links and start-up.
 *
 * The worker owns segments, their lines, segment numbering and the
 * segments being logged. It asks rapport-interaction for catalog records
 * (in batches) and streams logged segments to rapport-logwriter. */
#include "segment_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "segment.h"

enum {
    CMD_SET_NUMBERING = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_SET_NUMBERING,
    CMD_GET_NUMBERING = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_GET_NUMBERING,
    CMD_CREATE = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_CREATE_SEGMENT,
    CMD_GET = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_GET_SEGMENT,
    CMD_LIST = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_LIST_SEGMENTS,
    CMD_DELETE = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_DELETE_SEGMENT,
    CMD_UPDATE = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_UPDATE_SEGMENT,
    CMD_ADD = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_ADD_CONTACTS,
    CMD_REMOVE = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_REMOVE_LINES,
    CMD_LIST_LINES = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_LIST_LINES,
    CMD_UPDATE_LINE = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_UPDATE_LINE,
    CMD_LOG = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_LOG_SEGMENT,
    CMD_STATS = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_STATS,
    CMD_COUNT
};

static const server_command_t s_commands[CMD_COUNT] = {
    [CMD_SET_NUMBERING] = {"set_numbering", segments_set_numbering, ROLE_ADMIN, true},
    [CMD_GET_NUMBERING] = {"get_numbering", segments_get_numbering, ROLE_READER, false},
    [CMD_CREATE] = {"create_segment", segments_create, ROLE_WRITER, true},
    [CMD_GET] = {"get_segment", segments_get, ROLE_READER, false},
    [CMD_LIST] = {"list_segments", segments_list, ROLE_READER, false},
    [CMD_DELETE] = {"delete_segment", segments_delete, ROLE_ADMIN, true},
    [CMD_UPDATE] = {"update_segment", segments_update, ROLE_WRITER, true},
    [CMD_ADD] = {"add_contacts", segments_add_contacts, ROLE_WRITER, true},
    [CMD_REMOVE] = {"remove_lines", segments_remove_lines, ROLE_WRITER, true},
    [CMD_LIST_LINES] = {"list_lines", segments_list_lines, ROLE_READER, false},
    [CMD_UPDATE_LINE] = {"update_line", segments_update_line, ROLE_WRITER, true},
    [CMD_LOG] = {"log_segment", fanout_log_segment, ROLE_WRITER, true},
    [CMD_STATS] = {"stats", NULL, ROLE_READER, false},
};

static const store_dbi_spec_t s_dbis[SEG_DB_COUNT] = {
    [SEG_DB_META] = {"meta", 0},
    [SEG_DB_SEGMENTS] = {"segments", 0},
    [SEG_DB_LINES] = {"segment_lines", 0},
    [SEG_DB_LINE_CONTACT] = {"segment_line_by_contact", 0},
    [SEG_DB_LOGS] = {"segments_logging", 0},
    [SEG_DB_DEDUP] = {"dedup", 0},
    [SEG_DB_DEDUP_TIME] = {"dedup_by_time", 0},
    [SEG_DB_TRASH] = {"segment_trash", 0},
};

static bool s_background(void *ctx)
{
    return fanout_background(ctx);
}

static void s_tick(void *ctx)
{
    segsrv_t *s = ctx;
    link_tick(s->interaction);
    link_tick(s->writer);
    fanout_tick(s);
    /* A little of the trash each turn while there is no segment log going
     * on, so deleting a huge segment never blocks the loop for long. */
    if (s->trash_pending && !fanout_busy(s))
        seg_trash_clean(s, 20000);
}

/* A graceful stop also waits for the requests out to the peers: each is
 * answered or times out within request_timeout_ms, and its callback frees
 * what it carries (link_destroy would drop them without a callback). */
static bool s_busy(void *ctx)
{
    segsrv_t *s = ctx;
    return fanout_busy(s) || link_pending(s->interaction) > 0 || link_pending(s->writer) > 0;
}

static void s_stats(void *ctx, wire_arena_t *a, Rapport__V1__WorkerStats *st)
{
    segsrv_t *s = ctx;

    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_segment_logs_running",
                                        "Segment logs in flight (LOGGING)",
                                        (double)fanout_count(s)));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_segment_logs_done",
                                        "Segments logged since start", (double)s->logs_done));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_segment_logs_failed",
                                        "Segment logs refused or given up since start",
                                        (double)s->logs_failed));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_segment_entries_streamed",
                                        "Entries sent to the log writer since start",
                                        (double)s->entries_streamed));
    server_stats_add_gauge(
        a, st,
        server_gauge(a, "rapport_peer_requests_pending",
                     "Requests to rapport-interaction and rapport-logwriter "
                     "awaiting a reply",
                     (double)(link_pending(s->interaction) + link_pending(s->writer))));
    server_stats_add_hist(a, st,
                          server_hist_export(a, &s->log_seconds, "rapport_segment_log_seconds",
                                             "Time from LogSegment to its reply", NULL, NULL));
    server_stats_add_store(a, st, s->store);
}

rp_err segsrv_new(const config_t *cfg, void *zctx, segsrv_t **ret, char *errbuf, size_t errlen)
{
    segsrv_t *s = calloc(1, sizeof(*s));
    char dir[CONFIG_PATH_MAX + 16];
    server_spec_t spec = {
        .worker = "segment",
        .request_desc = &rapport__v1__segment_request__descriptor,
        .reply_desc = &rapport__v1__segment_reply__descriptor,
        .commands = s_commands,
        .n_commands = CMD_COUNT,
        .stats_command = CMD_STATS,
        .stats_result = RAPPORT__V1__SEGMENT_REPLY__RESULT_STATS,
        .stats_fn = s_stats,
        .tick_fn = s_tick,
        .background_fn = s_background,
        .busy_fn = s_busy,
    };
    rp_err rc;

    if (!s)
        return RP_ENOMEM;
    s->cfg = cfg;
    snprintf(dir, sizeof(dir), "%s/segment", cfg->state_dir);
    rc = store_open(dir, s_dbis, SEG_DB_COUNT, (uint64_t)cfg->map_size, cfg->sync_mode, &s->store,
                    errbuf, errlen);
    if (rc != RP_OK)
        goto out_free;
    for (int i = 0; i < SEG_DB_COUNT; i++)
        s->db[i] = store_dbi(s->store, (size_t)i);
    rc =
        link_new(zctx, cfg->interaction_endpoint, "interaction",
                 &rapport__v1__interaction_reply__descriptor, cfg, &s->interaction, errbuf, errlen);
    if (rc == RP_OK)
        rc = link_new(zctx, cfg->logwriter_endpoint, "logwriter",
                      &rapport__v1__log_reply__descriptor, cfg, &s->writer, errbuf, errlen);
    if (rc != RP_OK)
        goto out_free;
    spec.ctx = s;
    spec.dedup_store = s->store;
    spec.dedup_dbi = s->db[SEG_DB_DEDUP];
    spec.dedup_time_dbi = s->db[SEG_DB_DEDUP_TIME];
    rc = server_new(&spec, cfg, zctx, cfg->segment_endpoint, &s->server, errbuf, errlen);
    if (rc != RP_OK)
        goto out_free;
    server_add_socket(s->server, link_socket(s->interaction), link_on_readable, s->interaction);
    server_add_socket(s->server, link_socket(s->writer), link_on_readable, s->writer);
    s->trash_pending = true; /* find out at the first tick */
    fanout_recover(s);
    *ret = s;
    return RP_OK;
out_free:
    segsrv_destroy(&s);
    return rc;
}

void segsrv_destroy(segsrv_t **self_p)
{
    segsrv_t *s;
    if (!self_p || !*self_p)
        return;
    s = *self_p;
    fanout_destroy_all(s);
    server_destroy(&s->server);
    link_destroy(&s->interaction);
    link_destroy(&s->writer);
    store_close(&s->store);
    free(s);
    *self_p = NULL;
}

int segsrv_run(segsrv_t *s)
{
    return server_run(s->server);
}
