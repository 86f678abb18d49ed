/* events: the durable event log (outbox) and its publication.
 *
 * Every state change appends an Event under a gapless seq in the same
 * transaction as the change. After the commit the staged events are
 * published on PUB as topic + Event; a subscriber that sees a gap in seq
 * replays from the log with ReadEvents. Progress notifications of a
 * segment log are published only (seq 0): they are not state. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "writer.h"

#define READ_DEFAULT     1000
#define READ_MAX         10000
#define READ_MAX_BYTES   (3u << 20)
#define READ_SCAN_BUDGET 200000
#define RANGES_PER_EVENT 10000
#define PRUNE_BUDGET     10000

static void s_event_id(const writer_t *w, uint64_t seq, uint8_t out[16])
{
    memcpy(out, w->stream_id, 8);
    store_u64_key(seq, out + 8);
}

static void s_set_body(Rapport__V1__Event *ev, uint32_t body_case, ProtobufCMessage *body)
{
    ev->body_case = (Rapport__V1__Event__BodyCase)body_case;
    switch (body_case) {
    case RAPPORT__V1__EVENT__BODY_ENTRY:
        ev->entry = (Rapport__V1__Entry *)body;
        break;
    case RAPPORT__V1__EVENT__BODY_ENTRIES:
        ev->entries = (Rapport__V1__EntryNos *)body;
        break;
    case RAPPORT__V1__EVENT__BODY_SEGMENT_LOGGED:
        ev->segment_logged = (Rapport__V1__SegmentLogged *)body;
        break;
    case RAPPORT__V1__EVENT__BODY_LOGGED_SEGMENTS:
        ev->logged_segments = (Rapport__V1__LoggedSegmentNos *)body;
        break;
    case RAPPORT__V1__EVENT__BODY_PROGRESS:
        ev->progress = (Rapport__V1__SegmentLogProgress *)body;
        break;
    default:
        ev->body_case = RAPPORT__V1__EVENT__BODY__NOT_SET;
    }
}

/* Stage an event of `len` bytes for publication after the commit; the
 * caller writes its bytes. NULL when out of memory. */
static writer_event_t *s_stage(writer_txn_t *t, uint64_t seq, const char *type, size_t len)
{
    writer_event_t *staged = malloc(sizeof(*staged) + len);

    if (!staged)
        return NULL;
    staged->len = len;
    staged->seq = seq;
    staged->next = NULL;
    snprintf(staged->topic, sizeof(staged->topic), "%s", type);
    *t->events_tail = staged;
    t->events_tail = &staged->next;
    return staged;
}

/* Put a staged event in the durable log. */
static rp_err s_store(writer_txn_t *t, const writer_event_t *staged)
{
    uint8_t k[8];
    store_u64_key(staged->seq, k);
    return store_put(t->txn, t->w->db[WRITER_DB_EVENTS], k, 8, staged->data, staged->len,
                     STORE_PUT_APPEND);
}

rp_err events_append(writer_txn_t *t, const char *type, uint32_t body_case, ProtobufCMessage *body)
{
    Rapport__V1__Event ev = RAPPORT__V1__EVENT__INIT;
    uint8_t id[16];
    writer_event_t *staged;
    size_t len;
    rp_err rc;

    rc = writer_take(t, "seq", 1, &ev.seq);
    if (rc != RP_OK)
        return rc;
    s_event_id(t->w, ev.seq, id);
    ev.event_id.data = id;
    ev.event_id.len = sizeof(id);
    ev.occurred_at_ms = clock_now_ms();
    if (t->req) {
        ev.request_id = *wire_msg_request_id(t->req->request);
        ev.user_id = wire_str(t->req->user_id);
    } else if (t->cause_user_id) {
        ev.request_id = t->cause_request_id;
        ev.user_id = wire_str(t->cause_user_id);
    }
    ev.type = wire_str(type);
    s_set_body(&ev, body_case, body);
    len = wire_size(&ev.base);
    staged = s_stage(t, ev.seq, type, len);
    if (!staged)
        return RP_ENOMEM;
    wire_encode_to(&ev.base, staged->data);
    return s_store(t, staged);
}

rp_err events_put(writer_txn_t *t, uint64_t seq, const char *type, const uint8_t *data, size_t len)
{
    writer_event_t *staged = s_stage(t, seq, type, len);

    if (!staged)
        return RP_ENOMEM;
    memcpy(staged->data, data, len);
    return s_store(t, staged);
}

rp_err events_append_entry_nos(writer_txn_t *t, const char *type, const uint64_t *nos, size_t n,
                               const uint64_t *ce_nos, size_t n_ce, const uint64_t *lse_nos,
                               size_t n_lse)
{
    size_t i = 0;
    bool first = true;
    rp_err rc = RP_OK;

    while (first || i < n) {
        Rapport__V1__EntryNos body = RAPPORT__V1__ENTRY_NOS__INIT;
        Rapport__V1__EntryRange *ranges = NULL, **ptrs = NULL;
        size_t nr = 0;

        ranges = malloc(sizeof(*ranges) * RANGES_PER_EVENT);
        ptrs = malloc(sizeof(*ptrs) * RANGES_PER_EVENT);
        if (!ranges || !ptrs) {
            free(ranges);
            free(ptrs);
            return RP_ENOMEM;
        }
        while (i < n && nr < RANGES_PER_EVENT) {
            Rapport__V1__EntryRange *r = &ranges[nr];
            rapport__v1__entry_range__init(r);
            r->first = r->last = nos[i++];
            while (i < n && nos[i] == r->last + 1)
                r->last = nos[i++];
            ptrs[nr++] = r;
        }
        body.ranges = ptrs;
        body.n_ranges = nr;
        if (first) {
            body.campaign_entry_nos = (uint64_t *)(uintptr_t)ce_nos;
            body.n_campaign_entry_nos = n_ce;
            body.logged_segment_nos = (uint64_t *)(uintptr_t)lse_nos;
            body.n_logged_segment_nos = n_lse;
        }
        first = false;
        rc = events_append(t, type, RAPPORT__V1__EVENT__BODY_ENTRIES, &body.base);
        free(ranges);
        free(ptrs);
        if (rc != RP_OK)
            break;
    }
    return rc;
}

void events_publish_staged(writer_t *w, writer_event_t *events)
{
    for (writer_event_t *e = events; e; e = e->next) {
        if (bus_publish(w->pub, e->topic, e->data, e->len) == RP_OK)
            w->events_published++;
        else
            w->events_dropped++;
        w->last_seq = e->seq;
    }
}

void events_publish_progress(writer_t *w, const ProtobufCBinaryData *log_id, const char *segment_no,
                             uint64_t done, uint64_t total)
{
    Rapport__V1__Event ev = RAPPORT__V1__EVENT__INIT;
    Rapport__V1__SegmentLogProgress p = RAPPORT__V1__SEGMENT_LOG_PROGRESS__INIT;
    uint8_t buf[512];
    size_t len;

    p.log_id = *log_id;
    p.segment_no = wire_str(segment_no);
    p.done = done;
    p.total = total;
    ev.occurred_at_ms = clock_now_ms();
    ev.type = wire_str("segment.log.progress");
    s_set_body(&ev, RAPPORT__V1__EVENT__BODY_PROGRESS, &p.base);
    len = wire_size(&ev.base);
    if (len > sizeof(buf))
        return;
    wire_encode_to(&ev.base, buf);
    if (bus_publish(w->pub, "segment.log.progress", buf, len) == RP_OK)
        w->events_published++;
}

rp_err events_read(writer_t *w, store_txn_t *txn, server_req_t *req)
{
    Rapport__V1__ReadEvents *re = writer_request(req)->read_events;
    Rapport__V1__EventBatch *out;
    size_t max = re->max ? re->max : READ_DEFAULT, n = 0, bytes = 0, scanned = 0;
    uint64_t from = re->from_seq ? re->from_seq : 1, next;
    size_t plen = strlen(re->type_prefix);
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t key[8];
    rp_err rc;

    if (max > READ_MAX)
        max = READ_MAX;
    out = (Rapport__V1__EventBatch *)wire_arena_message(req->arena,
                                                        &rapport__v1__event_batch__descriptor);
    out->events = (Rapport__V1__Event **)wire_arena_ptrs(req->arena, max);
    rc = writer_meta_get(txn, w, "seq", &out->last_seq);
    if (rc != RP_OK)
        return rc;
    rc = store_cursor_open(txn, w->db[WRITER_DB_EVENTS], &cur);
    if (rc != RP_OK)
        return rc;
    rc = store_cursor_get(cur, STORE_FIRST, &k, &v);
    out->first_seq = rc == RP_OK ? store_key_u64(k.data) : out->last_seq + 1;
    next = from;
    store_u64_key(from, key);
    k.data = key;
    k.len = 8;
    for (rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v); rc == RP_OK && n < max;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        Rapport__V1__Event *ev;
        uint64_t seq = store_key_u64(k.data);
        if (bytes + v.len > READ_MAX_BYTES || ++scanned > READ_SCAN_BUDGET)
            break;
        next = seq + 1;
        rc = wire_decode_trusted(req->arena, &rapport__v1__event__descriptor, v.data, v.len,
                                 (ProtobufCMessage **)&ev);
        if (rc != RP_OK)
            break;
        if (plen && strncmp(ev->type, re->type_prefix, plen) != 0)
            continue;
        out->events[n++] = ev;
        bytes += v.len;
    }
    store_cursor_close(cur);
    if (rc != RP_OK && rc != RP_ENOTFOUND)
        return rc;
    if (rc == RP_ENOTFOUND)
        next = out->last_seq + 1 > next ? out->last_seq + 1 : next;
    out->n_events = n;
    out->next_seq = next;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_EVENTS;
    writer_reply(req)->events = out;
    return RP_OK;
}

/* One pruning pass; the events pruned before rapport-relay confirmed
 * them (relay_hold_max_days) are counted once the pass has committed. */
typedef struct {
    writer_t *w;
    uint64_t unrelayed, first_unrelayed, last_unrelayed;
} prune_t;

static rp_err s_prune(store_txn_t *txn, void *ctx)
{
    prune_t *pr = ctx;
    writer_t *w = pr->w;
    int64_t cutoff = clock_now_ms() - w->cfg->event_retention_days * 86400000LL;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    size_t n = 0;
    rp_err rc = store_cursor_open(txn, w->db[WRITER_DB_EVENTS], &cur);

    pr->unrelayed = 0;
    if (rc != RP_OK)
        return rc;
    for (rc = store_cursor_get(cur, STORE_FIRST, &k, &v); rc == RP_OK && n < PRUNE_BUDGET;) {
        Rapport__V1__Event *ev;
        uint64_t seq = store_key_u64(k.data);
        bool old, unrelayed = false;
        /* Keep the newest event: ReadEvents reports the oldest retained. */
        if (seq >= w->last_seq)
            break;
        if (wire_decode_trusted_heap(&rapport__v1__event__descriptor, v.data, v.len,
                                     (ProtobufCMessage **)&ev) != RP_OK)
            break;
        old = ev->occurred_at_ms < cutoff &&
              changes_event_prunable(txn, w, seq, ev->occurred_at_ms, &unrelayed);
        wire_free(&ev->base);
        if (!old)
            break;
        rc = store_cursor_del(cur, false);
        if (rc != RP_OK)
            break;
        if (unrelayed && pr->unrelayed++ == 0)
            pr->first_unrelayed = seq;
        if (unrelayed)
            pr->last_unrelayed = seq;
        n++;
        /* Re-seek rather than trust the cursor after a delete (LMDB
         * 0.9.24 cursor-delete quirks, ITS#9376). */
        rc = store_cursor_get(cur, STORE_FIRST, &k, &v);
    }
    store_cursor_close(cur);
    if (rc != RP_OK && rc != RP_ENOTFOUND)
        return rc;
    rc = changes_prune_held(txn, w, PRUNE_BUDGET);
    if (rc != RP_OK)
        return rc;
    return intake_prune(w, txn, w->cfg->dedup_retention_days * 86400000LL, PRUNE_BUDGET);
}

void events_prune(writer_t *w)
{
    prune_t pr = {.w = w};
    rp_err rc = store_write(w->store, s_prune, &pr, NULL);
    if (rc != RP_OK) {
        log_warnx("pruning old events failed: %s", rp_strerror(rc));
        return;
    }
    if (pr.unrelayed) {
        w->events_pruned_unrelayed += pr.unrelayed;
        log_errx("pruned %llu events (seq %llu to %llu) that rapport-relay has not published: "
                 "they are older than relay_hold_max_days = %lld; the stream will have a gap",
                 (unsigned long long)pr.unrelayed, (unsigned long long)pr.first_unrelayed,
                 (unsigned long long)pr.last_unrelayed, (long long)w->cfg->relay_hold_max_days);
    }
}
