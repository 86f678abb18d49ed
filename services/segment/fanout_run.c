/* fanout_run: a segment log's run, from LogSegment to the finish (the
 * phases are in fanout.h).
 *
 * A run changes phase only through fanout_enter(), which looks up what
 * entering the phase does in one table; a peer's reply reaches the handler
 * of the phase the run is in, through one dispatcher, or is dropped when
 * the run ended or started over since it was sent. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "fanout.h"
#include "log.h"

#define RETRY_MS     2000
#define MAX_ATTEMPTS 8

static void (*const s_enter_fn[RUN_PHASES])(logrun_t *r) = {
    [RUN_CHECK] = checks_enter_check,     [RUN_LOOKUP] = checks_enter_lookup,
    [RUN_BEGIN] = stream_enter_begin,     [RUN_STREAM] = stream_enter_stream,
    [RUN_COMMIT] = stream_enter_commit,   [RUN_FOLLOW_UP] = stream_enter_follow_up,
    [RUN_VISIBLE] = stream_enter_visible,
};

static void (*const s_reply_fn[RUN_PHASES])(logrun_t *r, const ProtobufCMessage *reply,
                                            uint64_t tag) = {
    [RUN_CHECK] = checks_on_check,   [RUN_LOOKUP] = checks_on_lookup,
    [RUN_BEGIN] = stream_on_begin,   [RUN_STREAM] = stream_on_batch,
    [RUN_COMMIT] = stream_on_commit, [RUN_VISIBLE] = stream_on_visible,
};

static const char *const s_phase_names[RUN_PHASES] = {
    [RUN_CHECK] = "check",   [RUN_LOOKUP] = "lookup",        [RUN_BEGIN] = "begin",
    [RUN_STREAM] = "stream", [RUN_COMMIT] = "commit",        [RUN_FOLLOW_UP] = "follow-up",
    [RUN_WAIT] = "wait",     [RUN_VISIBLE] = "wait visible", [RUN_PARKED] = "parked",
};

/* ---- run lifetime ---- */

static void s_run_free(logrun_t *r)
{
    checks_reset(r);
    seg_map_destroy(&r->codes);
    vec_free(&r->packed);
    free(r->cinfo);
    vec_free(&r->campaigns);
    free(r->logged);
    free(r);
}

static void s_run_unlink(logrun_t *r)
{
    logrun_t **pp = &r->s->runs;
    while (*pp && *pp != r)
        pp = &(*pp)->next;
    if (*pp)
        *pp = r->next;
}

static void s_run_end(logrun_t *r)
{
    s_run_unlink(r);
    s_run_free(r);
}

static logrun_t *s_run_find(segsrv_t *s, const char *segment_no)
{
    for (logrun_t *r = s->runs; r; r = r->next)
        if (strcmp(r->segment_no, segment_no) == 0)
            return r;
    return NULL;
}

static logrun_t *s_run_new(segsrv_t *s, const char *segment_no)
{
    logrun_t *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->s = s;
    r->id = ++s->next_run_id;
    r->t0_ns = clock_mono_ns();
    snprintf(r->segment_no, sizeof(r->segment_no), "%s", segment_no);
    r->chunks_tail = &r->chunks;
    r->packed = (vec_t)VEC_INIT(1, 0);
    r->campaigns = (vec_t)VEC_INIT(sizeof(char *), 0);
    r->next = s->runs;
    s->runs = r;
    return r;
}

void fanout_enter(logrun_t *r, phase_t next)
{
    log_debug("segment %s: %s -> %s", r->segment_no, s_phase_names[r->phase], s_phase_names[next]);
    /* Starting over: what was asked before no longer concerns the run. */
    if (next == RUN_LOOKUP || next == RUN_BEGIN || next == RUN_CHECK)
        r->gen++;
    r->phase = next;
    if (s_enter_fn[next])
        s_enter_fn[next](r);
}

/* ---- replies to the peers' answers ---- */

typedef struct {
    segsrv_t *s;
    uint64_t id, gen, tag;
} ticket_t;

static void s_on_reply(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a)
{
    ticket_t t = *(ticket_t *)ctx;
    logrun_t *r;

    (void)req;
    (void)a;
    free(ctx);
    for (r = t.s->runs; r && r->id != t.id; r = r->next)
        ;
    if (!r || r->gen != t.gen || !s_reply_fn[r->phase])
        return; /* the run ended or started over while this was out */
    s_reply_fn[r->phase](r, reply, t.tag);
}

static rp_err s_send(logrun_t *r, link_t *l, ProtobufCMessage *msg, uint64_t tag)
{
    ticket_t *t = malloc(sizeof(*t));
    rp_err rc;

    if (!t)
        return RP_ENOMEM;
    *t = (ticket_t){r->s, r->id, r->gen, tag};
    rc = link_send(l, NULL, msg, s_on_reply, t);
    if (rc != RP_OK)
        free(t);
    return rc;
}

rp_err fanout_to_writer(logrun_t *r, Rapport__V1__LogRequest *msg, uint64_t tag)
{
    msg->user_id = r->user_id;
    return s_send(r, r->s->writer, &msg->base, tag);
}

rp_err fanout_to_interaction(logrun_t *r, Rapport__V1__InteractionRequest *msg, uint64_t tag)
{
    msg->user_id = r->user_id;
    return s_send(r, r->s->interaction, &msg->base, tag);
}

bool fanout_status_ok(const ProtobufCMessage *reply, const Rapport__V1__Status **ret)
{
    const Rapport__V1__Status *st = (const Rapport__V1__Status *)wire_msg_status(reply);
    *ret = st;
    return !st || st->code == RAPPORT__V1__STATUS_CODE__OK;
}

/* ---- ending a run ---- */

/* Answer the waiting client (if any) with the request's reply as set. */
static void s_reply_client(logrun_t *r)
{
    if (r->req) {
        server_req_finish(r->req);
        r->req = NULL;
    }
}

void fanout_fail(logrun_t *r, rp_err err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r->req)
        server_req_fail(r->req, err, NULL, "%s", msg);
    s_reply_client(r);
    r->s->logs_failed++;
    s_run_end(r);
}

void fanout_refuse(logrun_t *r)
{
    s_reply_client(r);
    s_run_end(r);
}

void fanout_retry_later(logrun_t *r, phase_t from, const char *why)
{
    if (!r->persisted) {
        /* Nothing is stored yet: the client retries, not us. */
        fanout_fail(r, RP_EUNAVAIL, "cannot log segment %s now: %s", r->segment_no, why);
        return;
    }
    if (r->req) {
        server_req_reset_reply(r->req);
        server_req_fail(r->req, RP_EUNAVAIL, NULL,
                        "segment %s is being logged; %s; it will be retried (retry this request "
                        "to get its result)",
                        r->segment_no, why);
        s_reply_client(r);
    }
    if (++r->attempts > MAX_ATTEMPTS) {
        log_errx("segment %s: giving up for now after %d attempts (%s); it stays in LOGGING "
                 "and is retried at the next start or client retry",
                 r->segment_no, r->attempts - 1, why);
        fanout_enter(r, RUN_PARKED);
        return;
    }
    log_warnx("segment %s: %s; retrying in %d ms", r->segment_no, why, RETRY_MS);
    r->wait_phase = from;
    r->retry_at = clock_mono_ms() + RETRY_MS;
    fanout_enter(r, RUN_WAIT);
}

/* ---- the LOGGING record ----
 *
 * SEG_DB_LOGS[segment no.] = fields, each u32 length + bytes: log_id,
 * request_id, user_id, follow-up No.; then one byte: follow-up asked; then
 * the follow-up's internal segment id (u64) and date (u32); then, since the
 * log may be committed before the run finishes, one byte of flags (1: the
 * writer committed the log, 2: the client's reply is recorded) and the
 * SegmentLogged (u32 length + bytes). A record without the last part (an
 * earlier version) is a log in flight. */

#define LOGREC_COMMITTED 1u
#define LOGREC_ANSWERED  2u

static rp_err s_logrec_put(store_txn_t *txn, logrun_t *r)
{
    const struct {
        const void *p;
        size_t n;
    } f[] = {
        {r->log_id, r->log_id_len},
        {r->request_id, r->request_id_len},
        {r->user_id, strlen(r->user_id)},
        {r->follow_up_no, strlen(r->follow_up_no)},
    };
    size_t pos = 0, cap = 1024 + r->logged_len;
    uint8_t *buf = malloc(cap);
    uint32_t n;
    rp_err rc;

    if (!buf)
        return RP_ENOMEM;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        n = (uint32_t)f[i].n;
        memcpy(buf + pos, &n, 4);
        memcpy(buf + pos + 4, f[i].p, n);
        pos += 4 + n;
    }
    buf[pos++] = r->follow_up;
    memcpy(buf + pos, &r->fu_seg_id, 8);
    memcpy(buf + pos + 8, &r->fu_date, 4);
    pos += 12;
    buf[pos++] =
        (uint8_t)((r->committed ? LOGREC_COMMITTED : 0) | (r->answered ? LOGREC_ANSWERED : 0));
    n = (uint32_t)r->logged_len;
    memcpy(buf + pos, &n, 4);
    if (n)
        memcpy(buf + pos + 4, r->logged, n);
    pos += 4 + n;
    rc = store_put(txn, r->s->db[SEG_DB_LOGS], r->segment_no, strlen(r->segment_no), buf, pos, 0);
    free(buf);
    return rc;
}

/* The committed part of a record: flags and the SegmentLogged. */
static bool s_logrec_get_result(const uint8_t *p, size_t left, logrun_t *r)
{
    uint32_t n;

    if (left == 0)
        return true; /* an earlier version's record: in flight */
    if (left < 5)
        return false;
    r->committed = (p[0] & LOGREC_COMMITTED) != 0;
    r->answered = (p[0] & LOGREC_ANSWERED) != 0;
    memcpy(&n, p + 1, 4);
    if (left - 5 != n)
        return false;
    if (n) {
        r->logged = malloc(n);
        if (!r->logged)
            return false;
        memcpy(r->logged, p + 5, n);
        r->logged_len = n;
    }
    return true;
}

static bool s_logrec_get(const store_val_t *v, logrun_t *r)
{
    struct {
        void *p;
        size_t cap, *len;
    } f[] = {
        {r->log_id, sizeof(r->log_id), &r->log_id_len},
        {r->request_id, sizeof(r->request_id), &r->request_id_len},
        {r->user_id, sizeof(r->user_id) - 1, NULL},
        {r->follow_up_no, sizeof(r->follow_up_no) - 1, NULL},
    };
    const uint8_t *p = v->data;
    size_t pos = 0;

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        uint32_t n;
        if (v->len - pos < 4)
            return false;
        memcpy(&n, p + pos, 4);
        if (n > f[i].cap || v->len - pos - 4 < n)
            return false;
        memcpy(f[i].p, p + pos + 4, n);
        if (f[i].len)
            *f[i].len = n;
        else
            ((char *)f[i].p)[n] = '\0';
        pos += 4 + n;
    }
    if (v->len - pos < 13)
        return false;
    r->follow_up = p[pos] != 0;
    memcpy(&r->fu_seg_id, p + pos + 1, 8);
    memcpy(&r->fu_date, p + pos + 9, 4);
    pos += 13;
    return s_logrec_get_result(p + pos, v->len - pos, r);
}

/* ---- persist LOGGING, then BEGIN ---- */

typedef struct {
    logrun_t *r;
    bool numbering_unset, logging;
} persist_t;

static rp_err s_apply_persist(store_txn_t *txn, void *ctx)
{
    persist_t *p = ctx;
    logrun_t *r = p->r;
    wire_arena_t *a = wire_arena_new();
    seg_t seg;
    rp_err rc;

    if (!a)
        return RP_ENOMEM;
    p->numbering_unset = p->logging = false;
    r->follow_up_no[0] = '\0';
    rc = seg_load(r->s, txn, a, r->segment_no, &seg);
    if (rc == RP_OK && seg.h->logging) {
        p->logging = true;
        goto out;
    }
    if (rc == RP_OK && r->follow_up) {
        rc = seg_numbering_take(r->s, txn, r->follow_up_no);
        if (rc == RP_EPRECOND || rc == RP_ERANGE) {
            p->numbering_unset = true;
            rc = RP_EABORTED; /* nothing is written */
            goto out;
        }
        /* The follow-up's lines are written under this id after the
         * commit, and become visible with its header at the finish. */
        if (rc == RP_OK)
            rc = seg_new_id(r->s, txn, &r->fu_seg_id);
        r->fu_date = clock_work_date();
    }
    if (rc == RP_OK) {
        seg.h->logging = true;
        rc = seg_save(r->s, txn, &seg);
    }
    if (rc == RP_OK)
        rc = s_logrec_put(txn, r);
out:
    wire_arena_destroy(&a);
    return rc;
}

void fanout_persist_and_begin(logrun_t *r)
{
    persist_t p = {r, false, false};
    rp_err rc = store_write(r->s->store, s_apply_persist, &p, NULL);

    if (p.numbering_unset) {
        server_req_fail(r->req, RP_EPRECOND, "create_follow_up",
                        "Segment Nos. must have a value in Marketing Setup.");
        fanout_refuse(r);
        return;
    }
    if (p.logging) {
        seg_fail_logging(r->req, r->segment_no);
        fanout_refuse(r);
        return;
    }
    if (rc != RP_OK) {
        if (r->req)
            seg_fail_store(r->req, rc);
        fanout_refuse(r);
        return;
    }
    r->persisted = true;
    daemon_fault_point("segment.before_stream");
    fanout_enter(r, RUN_BEGIN);
}

/* Undo LOGGING after the writer refused the log for good. */
static rp_err s_apply_unlog(store_txn_t *txn, void *ctx)
{
    logrun_t *r = ctx;
    wire_arena_t *a = wire_arena_new();
    seg_t seg;
    rp_err rc;

    if (!a)
        return RP_ENOMEM;
    rc = seg_load(r->s, txn, a, r->segment_no, &seg);
    if (rc == RP_OK) {
        seg.h->logging = false;
        rc = seg_save(r->s, txn, &seg);
    }
    if (rc == RP_OK || rc == RP_ENOTFOUND) {
        rc = store_del(txn, r->s->db[SEG_DB_LOGS], r->segment_no, strlen(r->segment_no), NULL, 0);
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    if (rc == RP_OK && r->fu_seg_id)
        rc = seg_trash_put(r->s, txn, r->fu_seg_id);
    wire_arena_destroy(&a);
    return rc;
}

void fanout_abandon(logrun_t *r, const Rapport__V1__Status *st)
{
    rp_err rc = store_write(r->s->store, s_apply_unlog, r, NULL);
    if (rc != RP_OK)
        log_errx("segment %s: cannot clear LOGGING: %s", r->segment_no, rp_strerror(rc));
    log_warnx("segment %s: the log writer refused the log: %s", r->segment_no, st->message);
    if (r->req)
        server_req_status(r->req, (int)st->code, st->field, "%s", st->message);
    r->s->logs_failed++;
    fanout_refuse(r);
}

/* ---- committed, and the finish ---- */

/* The client's reply: the SegmentLogged under the request's envelope. */
static rp_err s_reply_bytes(const logrun_t *r, uint8_t **ret, size_t *ret_len)
{
    Rapport__V1__SegmentReply rep = RAPPORT__V1__SEGMENT_REPLY__INIT;
    Rapport__V1__SegmentLogged *logged = NULL;
    rp_err rc;

    rc = wire_decode_trusted_heap(&rapport__v1__segment_logged__descriptor, r->logged,
                                  r->logged_len, (ProtobufCMessage **)&logged);
    if (rc != RP_OK)
        return rc;
    rep.request_id.data = (uint8_t *)(uintptr_t)r->request_id;
    rep.request_id.len = r->request_id_len;
    rep.user_id = (char *)(uintptr_t)r->user_id;
    rep.result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_LOGGED;
    rep.logged = logged;
    rc = wire_encode(&rep.base, ret, ret_len);
    wire_free(&logged->base);
    return rc;
}

typedef struct {
    logrun_t *r;
    const uint8_t *reply;
    size_t reply_len;
    bool record_reply;
} record_t;

static rp_err s_apply_committed(store_txn_t *txn, void *ctx)
{
    record_t *c = ctx;
    ProtobufCBinaryData rid = {c->r->request_id_len, c->r->request_id};
    rp_err rc = s_logrec_put(txn, c->r);

    if (rc == RP_OK && c->record_reply && rid.len)
        rc = server_dedup_put(c->r->s->server, txn, c->r->user_id, &rid, c->reply, c->reply_len);
    return rc;
}

void fanout_after_commit(logrun_t *r)
{
    if (r->follow_up && r->follow_up_no[0] && r->fu_done < r->counted)
        fanout_enter(r, RUN_FOLLOW_UP);
    else if (r->req && !r->answered)
        fanout_enter(r, RUN_VISIBLE);
    else
        fanout_finish(r);
}

void fanout_committed(logrun_t *r, const Rapport__V1__SegmentLogged *logged)
{
    record_t c = {r, NULL, 0, false};
    uint8_t *reply = NULL;
    rp_err rc;

    r->t_committed_ns = clock_mono_ns();
    free(r->logged);
    r->logged_len = 0;
    rc = wire_encode(&logged->base, &r->logged, &r->logged_len);
    c.record_reply = r->reply_when_durable && !r->answered;
    if (rc == RP_OK && c.record_reply)
        rc = s_reply_bytes(r, &reply, &c.reply_len);
    c.reply = reply;
    r->committed = true;
    r->answered = r->answered || c.record_reply;
    if (rc == RP_OK)
        rc = store_write(r->s->store, s_apply_committed, &c, NULL);
    if (rc != RP_OK) {
        free(reply);
        r->committed = false;
        r->answered = false;
        fanout_retry_later(r, RUN_BEGIN, "the segment worker cannot write its store");
        return;
    }
    if (c.record_reply && r->req) {
        server_req_reply_raw(r->req, reply, c.reply_len);
        s_reply_client(r);
    }
    free(reply);
    daemon_fault_point("segment.after_commit");
    fanout_after_commit(r);
}

typedef struct {
    logrun_t *r;
    const uint8_t *reply;
    size_t reply_len;
} finish_t;

static rp_err s_apply_finish(store_txn_t *txn, void *ctx)
{
    finish_t *f = ctx;
    logrun_t *r = f->r;
    segsrv_t *s = r->s;
    wire_arena_t *a = wire_arena_new();
    ProtobufCBinaryData rid = {r->request_id_len, r->request_id};
    seg_t seg;
    rp_err rc;

    if (!a)
        return RP_ENOMEM;
    rc = seg_load(s, txn, a, r->segment_no, &seg);
    if (rc == RP_OK && r->follow_up && r->follow_up_no[0]) {
        /* Its lines were written after the commit: show them. */
        Rapport__V1__SegmentHeader h;
        char desc[64];
        seg_t fu = {r->fu_seg_id, r->counted * LINE_STEP, &h};
        stream_fu_header(r, &h, desc);
        h.no_of_lines = r->counted;
        rc = seg_save(s, txn, &fu);
    }
    /* The old lines go to the trash, emptied in the background. */
    if (rc == RP_OK)
        rc = seg_trash_put(s, txn, seg.seg_id);
    if (rc == RP_OK)
        rc = store_del(txn, s->db[SEG_DB_SEGMENTS], r->segment_no, strlen(r->segment_no), NULL, 0);
    if (rc == RP_ENOTFOUND)
        rc = RP_OK; /* finished before: only the records below are left */
    if (rc == RP_OK) {
        rc = store_del(txn, s->db[SEG_DB_LOGS], r->segment_no, strlen(r->segment_no), NULL, 0);
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    if (rc == RP_OK && rid.len && !r->answered)
        rc = server_dedup_put(s->server, txn, r->user_id, &rid, f->reply, f->reply_len);
    wire_arena_destroy(&a);
    return rc;
}

static void s_log_done(const logrun_t *r)
{
    uint64_t now = clock_mono_ns();
    /* Phases of this life of the run (a recovered run has no checks). */
    double checks = r->t_checked_ns ? (double)(r->t_checked_ns - r->t0_ns) / 1e9 : 0;
    double stream =
        r->t_streamed_ns && r->t_begun_ns ? (double)(r->t_streamed_ns - r->t_begun_ns) / 1e9 : 0;
    double commit = r->t_committed_ns && r->t_streamed_ns
                        ? (double)(r->t_committed_ns - r->t_streamed_ns) / 1e9
                        : 0;
    double after = r->t_committed_ns ? (double)(now - r->t_committed_ns) / 1e9 : 0;

    log_info("segment %s logged: %llu entries in %.3f s (checks %.3f, stream %.3f, commit %.3f, "
             "follow-up and finish %.3f)%s%s",
             r->segment_no, (unsigned long long)r->counted, (double)(now - r->t0_ns) / 1e9, checks,
             stream, commit, after, r->follow_up_no[0] ? ", follow-up " : "", r->follow_up_no);
}

void fanout_finish(logrun_t *r)
{
    finish_t f = {r, NULL, 0};
    uint8_t *bytes = NULL;
    size_t len = 0;
    rp_err rc = s_reply_bytes(r, &bytes, &len);

    f.reply = bytes;
    f.reply_len = len;
    if (rc == RP_OK)
        rc = store_write(r->s->store, s_apply_finish, &f, NULL);
    if (rc != RP_OK) {
        free(bytes);
        log_errx("segment %s: logged but cannot finish: %s", r->segment_no, rp_strerror(rc));
        fanout_retry_later(r, RUN_FOLLOW_UP, "the segment worker cannot write its store");
        return;
    }
    s_log_done(r);
    server_hist_observe(&r->s->log_seconds, (double)(clock_mono_ns() - r->t0_ns) / 1e9);
    r->s->logs_done++;
    if (r->req)
        server_req_reply_raw(r->req, bytes, len);
    free(bytes);
    s_reply_client(r);
    s_run_end(r);
}

/* ---- starting runs ---- */

static void s_snapshot(logrun_t *r, const seg_t *seg)
{
    r->seg_id = seg->seg_id;
    snprintf(r->description, sizeof(r->description), "%s", seg->h->description);
    snprintf(r->salesperson, sizeof(r->salesperson), "%s", seg->h->salesperson_code);
    snprintf(r->campaign_no, sizeof(r->campaign_no), "%s", seg->h->campaign_no);
    r->date = seg->h->date;
}

/* A LogSegment for a segment in LOGGING: the retry of the request being
 * logged waits for its run (or starts it again); anything else is
 * refused. */
static void s_join(segsrv_t *s, server_req_t *req, const store_val_t *rec)
{
    Rapport__V1__LogSegment *ls = seg_request(req)->log_segment;
    const ProtobufCBinaryData *rid = wire_msg_request_id(req->request);
    logrun_t *probe = calloc(1, sizeof(*probe)), *r;
    bool same = false;

    if (probe && rec && s_logrec_get(rec, probe))
        same = probe->request_id_len == rid->len &&
               memcmp(probe->request_id, rid->data, rid->len) == 0;
    if (probe)
        free(probe->logged);
    free(probe);
    r = s_run_find(s, ls->segment_no);
    if (!same || (r && r->req)) {
        seg_fail_logging(req, ls->segment_no);
        return;
    }
    if (!r) {
        fanout_recover(s);
        r = s_run_find(s, ls->segment_no);
    }
    if (!r) {
        server_req_fail(req, RP_EUNAVAIL, NULL, "segment %s cannot be resumed now", ls->segment_no);
        return;
    }
    r->req = req;
    req->deferred = true;
    if (r->phase == RUN_PARKED || r->phase == RUN_WAIT) {
        r->attempts = 0;
        r->retry_at = 0;
        fanout_enter(r, RUN_WAIT);
    }
}

void fanout_log_segment(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    Rapport__V1__LogSegment *ls = seg_request(req)->log_segment;
    const ProtobufCBinaryData *rid = wire_msg_request_id(req->request);
    store_txn_t *txn = NULL;
    store_val_t v;
    logrun_t *r;
    seg_t seg;
    rp_err rc = store_txn_begin(s->store, false, &txn);

    if (rc == RP_OK)
        rc = seg_load(s, txn, req->arena, ls->segment_no, &seg);
    if (rc == RP_OK && seg.h->logging) {
        bool have =
            store_get(txn, s->db[SEG_DB_LOGS], ls->segment_no, strlen(ls->segment_no), &v) == RP_OK;
        /* s_join reads the record before the transaction ends. */
        s_join(s, req, have ? &v : NULL);
        store_txn_abort(txn);
        return;
    }
    store_txn_abort(txn);
    if (rc == RP_ENOTFOUND) {
        seg_fail_no_segment(req, ls->segment_no);
        return;
    }
    if (rc != RP_OK) {
        seg_fail_store(req, rc);
        return;
    }
    if (s_run_find(s, ls->segment_no)) {
        /* Another request is still checking this segment. */
        seg_fail_logging(req, ls->segment_no);
        return;
    }
    r = s_run_new(s, ls->segment_no);
    if (!r) {
        server_req_fail(req, RP_ENOMEM, NULL, "out of memory");
        return;
    }
    r->req = req;
    req->deferred = true;
    memcpy(r->request_id, rid->data, rid->len);
    r->request_id_len = rid->len;
    snprintf(r->user_id, sizeof(r->user_id), "%s", req->user_id);
    r->follow_up = ls->create_follow_up;
    r->reply_when_durable = ls->reply_when_durable;
    /* log_id: derived from the request_id, unique per segment. */
    r->log_id_len = (size_t)snprintf((char *)r->log_id, sizeof(r->log_id), "%s/%.*s",
                                     ls->segment_no, (int)rid->len, (const char *)rid->data);
    s_snapshot(r, &seg);
    fanout_enter(r, RUN_CHECK);
}

void fanout_recover(segsrv_t *s)
{
    store_txn_t *txn = NULL;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    wire_arena_t *a = wire_arena_new();
    rp_err rc = a ? store_txn_begin(s->store, false, &txn) : RP_ENOMEM;

    if (rc == RP_OK)
        rc = store_cursor_open(txn, s->db[SEG_DB_LOGS], &cur);
    for (rc = rc == RP_OK ? store_cursor_get(cur, STORE_FIRST, &k, &v) : rc; rc == RP_OK;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        char no[SEG_NO_MAX + 1];
        logrun_t *r;
        seg_t seg;
        if (k.len > SEG_NO_MAX)
            continue;
        memcpy(no, k.data, k.len);
        no[k.len] = '\0';
        if (s_run_find(s, no) || seg_load(s, txn, a, no, &seg) != RP_OK)
            continue;
        r = s_run_new(s, no);
        if (!r)
            break;
        if (!s_logrec_get(&v, r)) {
            log_errx("segment %s: unreadable log record", no);
            s_run_end(r);
            continue;
        }
        r->recovering = true;
        r->persisted = true;
        s_snapshot(r, &seg);
        log_info("segment %s was being logged: resuming%s", no,
                 r->committed ? " after its commit" : "");
        /* Started from the tick, outside this read transaction: the lookup
         * again first, for the contact data the stream and the follow-up
         * need. */
        r->wait_phase = RUN_LOOKUP;
        r->retry_at = 0;
        fanout_enter(r, RUN_WAIT);
    }
    store_cursor_close(cur);
    store_txn_abort(txn);
    wire_arena_destroy(&a);
}

void fanout_looked_up(logrun_t *r)
{
    r->t_checked_ns = clock_mono_ns();
    if (r->recovering && r->committed) {
        fanout_after_commit(r);
        return;
    }
    if (r->recovering) {
        fanout_enter(r, RUN_BEGIN);
        return;
    }
    if (r->counted == 0) {
        server_req_fail(r->req, RP_EPRECOND, "segment_no", "Segment %s is empty.", r->segment_no);
        fanout_refuse(r);
        return;
    }
    fanout_persist_and_begin(r);
}

void fanout_tick(segsrv_t *s)
{
    int64_t now = clock_mono_ms();
    logrun_t *r = s->runs;
    while (r) {
        logrun_t *next = r->next;
        if (r->phase == RUN_WAIT && now >= r->retry_at) {
            /* The contact data is needed again after a restart of ours. */
            if (r->wait_phase == RUN_LOOKUP || !r->scan_done)
                fanout_enter(r, RUN_LOOKUP);
            else if (r->committed)
                fanout_after_commit(r);
            else
                fanout_enter(r, RUN_BEGIN);
        }
        r = next;
    }
}

bool fanout_background(segsrv_t *s)
{
    bool more = false;
    logrun_t *r = s->runs;
    while (r) {
        logrun_t *next = r->next;
        if (r->phase == RUN_FOLLOW_UP && stream_follow_up_step(r))
            more = true;
        r = next;
    }
    return more;
}

bool fanout_busy(const segsrv_t *s)
{
    for (const logrun_t *r = s->runs; r; r = r->next)
        if (r->phase != RUN_WAIT && r->phase != RUN_PARKED)
            return true;
    return false;
}

bool fanout_active(const segsrv_t *s, const char *no)
{
    return s_run_find((segsrv_t *)(uintptr_t)s, no) != NULL;
}

rp_err fanout_reserves(segsrv_t *s, store_txn_t *txn, const char *no, bool *ret_reserved)
{
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    logrun_t *probe = calloc(1, sizeof(*probe));
    bool reserved = false;
    rp_err rc = probe ? store_cursor_open(txn, s->db[SEG_DB_LOGS], &cur) : RP_ENOMEM;

    for (rc = rc == RP_OK ? store_cursor_get(cur, STORE_FIRST, &k, &v) : rc;
         rc == RP_OK && !reserved; rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        reserved = s_logrec_get(&v, probe) && strcmp(probe->follow_up_no, no) == 0;
        free(probe->logged);
        probe->logged = NULL;
    }
    store_cursor_close(cur);
    free(probe);
    if (rc != RP_OK && rc != RP_ENOTFOUND)
        return rc;
    *ret_reserved = reserved;
    return RP_OK;
}

size_t fanout_count(const segsrv_t *s)
{
    size_t n = 0;
    for (const logrun_t *r = s->runs; r; r = r->next)
        n++;
    return n;
}

void fanout_destroy_all(segsrv_t *s)
{
    while (s->runs) {
        logrun_t *r = s->runs;
        s->runs = r->next;
        s_run_free(r);
    }
}
