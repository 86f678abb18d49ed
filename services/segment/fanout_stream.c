/* fanout_stream: BEGIN, STREAM and COMMIT to the log writer, the
 * follow-up's lines, and waiting for the writer to show the log.
 *
 * The stream forwards each counted line's stored bytes as its entry
 * (segstore.c keeps a line as the Entry it will be), appending only what the
 * log may change, and at most `credit` batches are unanswered at once. The
 * follow-up's lines (one per logged entry, the contact re-validated:
 * docs/domain.md 7.9) are written after the commit, FU_CHUNK per loop turn
 * so that the worker keeps serving, under the follow-up's own id: they
 * become visible with its header at the finish. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "fanout.h"
#include "log.h"

#define FU_CHUNK 16384

/* ---- BEGIN ---- */

void stream_enter_begin(logrun_t *r)
{
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__SegmentLogBegin b = RAPPORT__V1__SEGMENT_LOG_BEGIN__INIT;

    r->sent = r->acked = r->stream_after = 0;
    r->inflight = 0;
    b.log_id.data = r->log_id;
    b.log_id.len = r->log_id_len;
    b.segment_no = r->segment_no;
    b.description = r->description;
    b.creation_date = clock_work_date();
    b.line_count = r->counted;
    b.campaign_nos = r->campaigns.data;
    b.n_campaign_nos = r->campaigns.n;
    b.date = r->date;
    b.salesperson_code = r->salesperson;
    b.follow_up_segment_no = r->follow_up_no;
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_BEGIN;
    lr.log_begin = &b;
    if (fanout_to_writer(r, &lr, 0) != RP_OK)
        fanout_retry_later(r, RUN_BEGIN, "cannot reach rapport-logwriter");
}

/* A reply that is not OK during BEGIN / STREAM / COMMIT. */
static void s_stream_trouble(logrun_t *r, const Rapport__V1__Status *st)
{
    switch (st->code) {
    case RAPPORT__V1__STATUS_CODE__UNAVAILABLE:
    case RAPPORT__V1__STATUS_CODE__RESOURCE_EXHAUSTED:
        fanout_retry_later(r, RUN_BEGIN, st->message);
        return;
    case RAPPORT__V1__STATUS_CODE__ABORTED:
        /* The writer restarted, or a batch went missing: start over. */
        if (++r->attempts > 8) {
            fanout_retry_later(r, RUN_BEGIN, st->message);
            return;
        }
        log_info("segment %s: %s; starting the stream over", r->segment_no, st->message);
        fanout_enter(r, RUN_BEGIN);
        return;
    default:
        if (r->phase == RUN_BEGIN) {
            fanout_abandon(r, st);
            return;
        }
        log_errx("segment %s: the log writer refused a batch: %s", r->segment_no, st->message);
        fanout_retry_later(r, RUN_BEGIN, st->message);
    }
}

static void s_pump(logrun_t *r);

/* The writer's answer to Begin or Commit when it is OK and of the kind
 * expected; otherwise NULL, the trouble handled. */
static const Rapport__V1__LogReply *s_answer(logrun_t *r, const ProtobufCMessage *reply,
                                             uint32_t result_case, const char *what)
{
    const Rapport__V1__LogReply *rep = (const Rapport__V1__LogReply *)reply;
    const Rapport__V1__Status *st;

    if (!fanout_status_ok(reply, &st)) {
        s_stream_trouble(r, st);
        return NULL;
    }
    if (rep->result_case != result_case) {
        fanout_fail(r, RP_EINTERNAL, "rapport-logwriter answered %s oddly", what);
        return NULL;
    }
    return rep;
}

void stream_on_begin(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag)
{
    const Rapport__V1__LogReply *rep =
        s_answer(r, reply, RAPPORT__V1__LOG_REPLY__RESULT_LOG_STARTED, "Begin");

    (void)tag;
    if (!rep)
        return;
    if (rep->log_started->committed) {
        fanout_committed(r, rep->log_started->logged);
        return;
    }
    r->credit = rep->log_started->credit ? rep->log_started->credit : 1;
    r->t_begun_ns = clock_mono_ns();
    fanout_enter(r, RUN_STREAM);
}

/* ---- STREAM ---- */

/* One line forwarded as its entry: its stored bytes as they are, plus the
 * one field the log may change (docs/domain.md 7.4: an Email line whose
 * contact has no e-mail is logged with a blank correspondence type), behind
 * their length. Returns whether the line is counted (has a contact); on
 * false with *ret_rc set the bytes are unreadable. */
static bool s_forward_line(logrun_t *r, wire_arena_t *a, const store_val_t *v, uint64_t index,
                           vec_t *out, rp_err *ret_rc)
{
    const cinfo_t *ci = fanout_cinfo(r, index);
    uint8_t patch[PBSCAN_FIELD_MAX], *dst;
    size_t elen, plen = 0, total;
    const uint8_t *eb;
    uint64_t corr = 0;
    bool counted = false;
    pbscan_t sc;
    pbscan_field_t f;
    int rc;

    *ret_rc = RP_OK;
    if (!seg_line_entry_bytes(v->data, v->len, &eb, &elen)) {
        /* A line of the first format: put it into today's. */
        Rapport__V1__SegmentLine *l;
        uint8_t *conv;
        if ((*ret_rc = seg_line_decode(a, "", 0, v->data, v->len, &l)) != RP_OK)
            return false;
        conv = wire_arena_alloc(a, seg_line_size(l));
        seg_line_encode(l, conv);
        seg_line_entry_bytes(conv, seg_line_size(l), &eb, &elen);
    }
    pbscan_init(&sc, eb, elen);
    while ((rc = pbscan_next(&sc, &f)) == 1) {
        if (f.field == ENTRY_CONTACT_NO && f.type == PBSCAN_BYTES)
            counted = f.len > 0;
        else if (f.field == ENTRY_CORRESPONDENCE_TYPE)
            corr = f.value;
    }
    if (rc != 0)
        *ret_rc = RP_ECORRUPT;
    if (rc != 0 || !counted)
        return false;
    if (corr == RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_EMAIL && ci && !ci->has_email)
        plen = pbscan_put_uint(patch, ENTRY_CORRESPONDENCE_TYPE, 0);
    total = elen + plen;
    if (vec_reserve(out, 10 + total) != RP_OK) {
        *ret_rc = RP_ENOMEM;
        return false;
    }
    dst = (uint8_t *)out->data + out->n;
    dst += pbscan_put_varint(dst, total);
    memcpy(dst, eb, elen);
    memcpy(dst + elen, patch, plen);
    out->n = (size_t)(dst + total - (uint8_t *)out->data);
    return true;
}

/* Send the next batch; false when there was nothing to send. */
static bool s_send_batch(logrun_t *r)
{
    segsrv_t *s = r->s;
    size_t max = (size_t)s->cfg->log_batch_entries, n = 0;
    wire_arena_t *a = wire_arena_new();
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__SegmentLogBatch b = RAPPORT__V1__SEGMENT_LOG_BATCH__INIT;
    store_txn_t *txn = NULL;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t key[16];
    uint64_t last = r->stream_after;
    rp_err rc;

    if (!a)
        return false;
    vec_clear(&r->packed);
    rc = store_txn_begin(s->store, false, &txn);
    if (rc == RP_OK)
        rc = store_cursor_open(txn, s->db[SEG_DB_LINES], &cur);
    seg_line_key(r->seg_id, r->stream_after + 1, key);
    k.data = key;
    k.len = 16;
    if (rc == RP_OK)
        rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
    while (rc == RP_OK && n < max && k.len == 16 && memcmp(k.data, key, 8) == 0) {
        last = store_key_u64((const uint8_t *)k.data + 8);
        if (s_forward_line(r, a, &v, r->sent + n, &r->packed, &rc))
            n++;
        else if (rc != RP_OK)
            break;
        rc = store_cursor_get(cur, STORE_NEXT, &k, &v);
    }
    store_cursor_close(cur);
    store_txn_abort(txn);
    wire_arena_destroy(&a);
    if (n == 0)
        return false;
    b.log_id.data = r->log_id;
    b.log_id.len = r->log_id_len;
    b.index = r->sent;
    b.packed_entries.data = r->packed.data;
    b.packed_entries.len = r->packed.n;
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_BATCH;
    lr.log_batch = &b;
    if (fanout_to_writer(r, &lr, 0) != RP_OK) {
        fanout_retry_later(r, RUN_BEGIN, "cannot reach rapport-logwriter");
        return false;
    }
    r->sent += n;
    r->stream_after = last;
    r->inflight++;
    s->entries_streamed += n;
    return true;
}

void stream_enter_stream(logrun_t *r)
{
    s_pump(r);
}

static void s_pump(logrun_t *r)
{
    while (r->phase == RUN_STREAM && r->inflight < r->credit && r->sent < r->counted)
        if (!s_send_batch(r))
            break;
    if (r->phase != RUN_STREAM || r->inflight > 0)
        return;
    if (r->sent < r->counted)
        /* Nothing out and nothing more could be read: without this the run
         * would wait for an answer that never comes. */
        fanout_retry_later(r, RUN_BEGIN, "the segment's lines could not be read");
    else if (r->acked < r->counted)
        fanout_retry_later(r, RUN_BEGIN, "the segment changed while it was being logged");
    else
        fanout_enter(r, RUN_COMMIT);
}

void stream_on_batch(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag)
{
    const Rapport__V1__LogReply *rep = (const Rapport__V1__LogReply *)reply;
    const Rapport__V1__Status *st;

    (void)tag;
    r->inflight--;
    if (!fanout_status_ok(reply, &st)) {
        s_stream_trouble(r, st);
        return;
    }
    if (rep->result_case == RAPPORT__V1__LOG_REPLY__RESULT_LOG_BATCH_ACK &&
        rep->log_batch_ack->received > r->acked)
        r->acked = rep->log_batch_ack->received;
    daemon_fault_point("segment.mid_stream");
    s_pump(r);
}

/* ---- COMMIT ---- */

void stream_enter_commit(logrun_t *r)
{
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__SegmentLogCommit c = RAPPORT__V1__SEGMENT_LOG_COMMIT__INIT;

    r->t_streamed_ns = clock_mono_ns();
    c.log_id.data = r->log_id;
    c.log_id.len = r->log_id_len;
    c.count = r->counted;
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_COMMIT;
    lr.log_commit = &c;
    if (fanout_to_writer(r, &lr, 0) != RP_OK)
        fanout_retry_later(r, RUN_BEGIN, "cannot reach rapport-logwriter");
}

void stream_on_commit(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag)
{
    const Rapport__V1__LogReply *rep =
        s_answer(r, reply, RAPPORT__V1__LOG_REPLY__RESULT_SEGMENT_LOGGED, "Commit");

    (void)tag;
    if (rep)
        fanout_committed(r, rep->segment_logged);
}

/* ---- FOLLOW_UP ---- */

void stream_fu_header(const logrun_t *r, Rapport__V1__SegmentHeader *h, char desc[64])
{
    rapport__v1__segment_header__init(h);
    snprintf(desc, 64, "Follow-up on segment %s", r->segment_no);
    desc[50] = '\0';
    h->no = (char *)(uintptr_t)r->follow_up_no;
    h->description = desc;
    h->campaign_no = (char *)(uintptr_t)r->campaign_no;
    h->date = r->fu_date;
}

void stream_enter_follow_up(logrun_t *r)
{
    r->fu_after = 0;
    r->fu_done = 0;
}

/* The follow-up's lines differ only by their contact: the rest is one
 * encoding, made once per chunk, and each line appends its contact's
 * fields (a stored line is an Entry: appended fields are its own). */
typedef struct {
    Rapport__V1__SegmentHeader h;
    char desc[64];
    uint8_t *base;
    size_t base_len;
} fu_base_t;

static rp_err s_fu_base(const logrun_t *r, fu_base_t *fb)
{
    Rapport__V1__Contact none = RAPPORT__V1__CONTACT__INIT;
    Rapport__V1__SegmentLine l = RAPPORT__V1__SEGMENT_LINE__INIT;

    stream_fu_header(r, &fb->h, fb->desc);
    seg_line_from_header(&fb->h, NULL, &none, &l);
    l.contact_no = l.contact_company_no = l.salesperson_code = wire_str("");
    l.correspondence_type = RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_NONE;
    fb->base_len = seg_line_size(&l);
    fb->base = malloc(fb->base_len);
    if (!fb->base)
        return RP_ENOMEM;
    seg_line_encode(&l, fb->base);
    return RP_OK;
}

/* A source line's contact and company, as a follow-up line needs them. */
typedef struct {
    char contact[SEG_NO_MAX + 1];
    char company[SEG_NO_MAX + 1];
} fu_src_t;

/* The contact and company of a stored line (empty contact: not counted). */
static rp_err s_fu_source(const store_val_t *v, fu_src_t *out)
{
    const uint8_t *eb;
    size_t elen;
    pbscan_t sc;
    pbscan_field_t f;

    out->contact[0] = out->company[0] = '\0';
    if (!seg_line_entry_bytes(v->data, v->len, &eb, &elen)) {
        Rapport__V1__SegmentLine *l = NULL;
        wire_arena_t *a = wire_arena_new();
        rp_err rc = a ? seg_line_decode(a, "", 0, v->data, v->len, &l) : RP_ENOMEM;
        if (rc == RP_OK) {
            wire_copy_str(out->contact, sizeof(out->contact), l->contact_no);
            wire_copy_str(out->company, sizeof(out->company), l->contact_company_no);
        }
        wire_arena_destroy(&a);
        return rc;
    }
    pbscan_init(&sc, eb, elen);
    while (pbscan_next(&sc, &f) == 1)
        if (f.field == ENTRY_CONTACT_NO && f.type == PBSCAN_BYTES)
            fanout_take_str(out->contact, sizeof(out->contact), &f);
        else if (f.field == ENTRY_CONTACT_COMPANY_NO && f.type == PBSCAN_BYTES)
            fanout_take_str(out->company, sizeof(out->company), &f);
    return RP_OK;
}

/* Read the next chunk's counted source lines (a read transaction of its
 * own, so that the writing one need not walk what it writes beside). */
static rp_err s_fu_read(logrun_t *r, fu_src_t *src, size_t *ret_n, uint64_t *ret_after)
{
    store_txn_t *txn = NULL;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t key[16];
    size_t n = 0;
    rp_err rc = store_txn_begin(r->s->store, false, &txn);

    *ret_after = r->fu_after;
    if (rc == RP_OK)
        rc = store_cursor_open(txn, r->s->db[SEG_DB_LINES], &cur);
    seg_line_key(r->seg_id, r->fu_after + 1, key);
    k.data = key;
    k.len = 16;
    if (rc == RP_OK)
        rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
    while (rc == RP_OK && n < FU_CHUNK && k.len == 16 && memcmp(k.data, key, 8) == 0) {
        rc = s_fu_source(&v, &src[n]);
        if (rc != RP_OK)
            break;
        *ret_after = store_key_u64((const uint8_t *)k.data + 8);
        if (src[n].contact[0])
            n++;
        rc = store_cursor_get(cur, STORE_NEXT, &k, &v);
    }
    store_cursor_close(cur);
    store_txn_abort(txn);
    *ret_n = n;
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

/* Write the follow-up line of counted line `index`. */
static rp_err s_fu_line(logrun_t *r, store_txn_t *txn, const fu_base_t *fb, const fu_src_t *src,
                        uint64_t index)
{
    uint8_t k[16], *dst, tail[4 * PBSCAN_FIELD_MAX + 2 * SEG_NO_MAX + 16], *q = tail;
    Rapport__V1__Contact c = RAPPORT__V1__CONTACT__INIT;
    const cinfo_t *ci = fanout_cinfo(r, index);
    uint64_t line_no = (index + 1) * LINE_STEP;
    size_t len;
    uint32_t corr;
    rp_err rc;

    c.correspondence_type = ci ? (Rapport__V1__CorrespondenceType)ci->corr
                               : RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_NONE;
    corr = (uint32_t)seg_line_corr_type(&fb->h, NULL, &c);
    q += pbscan_put_bytes(q, ENTRY_CONTACT_NO, src->contact, strlen(src->contact));
    if (src->company[0])
        q += pbscan_put_bytes(q, ENTRY_CONTACT_COMPANY_NO, src->company, strlen(src->company));
    if (ci && ci->salesperson[0])
        q += pbscan_put_bytes(q, ENTRY_SALESPERSON_CODE, ci->salesperson, strlen(ci->salesperson));
    if (corr)
        q += pbscan_put_uint(q, ENTRY_CORRESPONDENCE_TYPE, corr);
    len = fb->base_len + (size_t)(q - tail);
    seg_line_key(r->fu_seg_id, line_no, k);
    rc = store_reserve(txn, r->s->db[SEG_DB_LINES], k, 16, len, STORE_PUT_APPEND, (void **)&dst);
    if (rc == RP_EEXIST) /* not the last key (written before a restart, or a newer segment) */
        rc = store_reserve(txn, r->s->db[SEG_DB_LINES], k, 16, len, 0, (void **)&dst);
    if (rc != RP_OK)
        return rc;
    memcpy(dst, fb->base, fb->base_len);
    memcpy(dst + fb->base_len, tail, (size_t)(q - tail));
    return seg_contact_index_put(r->s, txn, r->fu_seg_id, src->contact, line_no);
}

typedef struct {
    logrun_t *r;
    const fu_base_t *fb;
    const fu_src_t *src;
    size_t n;
} fu_step_t;

static rp_err s_apply_fu(store_txn_t *txn, void *ctx)
{
    fu_step_t *st = ctx;
    rp_err rc = RP_OK;

    for (size_t i = 0; i < st->n && rc == RP_OK; i++)
        rc = s_fu_line(st->r, txn, st->fb, &st->src[i], st->r->fu_done + i);
    return rc;
}

bool stream_follow_up_step(logrun_t *r)
{
    fu_base_t fb = {.base = NULL};
    fu_src_t *src = malloc(sizeof(*src) * FU_CHUNK);
    fu_step_t st = {r, &fb, src, 0};
    uint64_t after = r->fu_after;
    bool last;
    rp_err rc = src ? s_fu_read(r, src, &st.n, &after) : RP_ENOMEM;

    if (rc == RP_OK && st.n)
        rc = s_fu_base(r, &fb);
    /* The last chunk syncs fully (and with it the others); the others may
     * skip the meta sync: a run that restarts writes them again. */
    last = r->fu_done + st.n >= r->counted;
    if (rc == RP_OK && st.n)
        rc = store_write_flags(r->s->store, s_apply_fu, &st, last ? 0 : STORE_WRITE_NOMETASYNC,
                               NULL);
    free(fb.base);
    free(src);
    if (rc != RP_OK) {
        fanout_retry_later(r, RUN_FOLLOW_UP, "cannot write the follow-up segment");
        return false;
    }
    r->fu_after = after;
    r->fu_done += st.n;
    if (st.n == 0 || r->fu_done >= r->counted) {
        r->fu_done = r->counted;
        fanout_after_commit(r);
        return false;
    }
    return true;
}

/* ---- VISIBLE ---- */

void stream_enter_visible(logrun_t *r)
{
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__SegmentLogVisible v = RAPPORT__V1__SEGMENT_LOG_VISIBLE__INIT;

    v.log_id.data = r->log_id;
    v.log_id.len = r->log_id_len;
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_VISIBLE;
    lr.log_visible = &v;
    if (fanout_to_writer(r, &lr, 0) != RP_OK)
        fanout_retry_later(r, RUN_FOLLOW_UP, "cannot reach rapport-logwriter");
}

void stream_on_visible(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag)
{
    const Rapport__V1__Status *st;

    (void)tag;
    if (!fanout_status_ok(reply, &st)) {
        fanout_retry_later(r, RUN_FOLLOW_UP, st->message);
        return;
    }
    fanout_finish(r);
}
