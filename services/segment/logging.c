/* logging: LogSegment, the fan-out (docs/domain.md section 7, docs/design.md
 * "Logging a segment").
 *
 * A run goes through these phases:
 *   CHECK    ask the writer whether the segment No. was logged already
 *   LOOKUP   one pass over the lines: ask rapport-interaction for their
 *            contacts, templates, salespeople and campaigns in batches and
 *            check the lines in line order as the answers come in
 *   (persist LOGGING with the log_id and the follow-up No., one txn)
 *   BEGIN    reserve numbers at the writer
 *   STREAM   batches of entries, credit-based: at most `credit` unanswered;
 *            the follow-up's lines are written meanwhile, hidden
 *   COMMIT   the writer makes the whole segment visible and answers
 *   (finish, one txn: the follow-up's header appears, the segment's header
 *   goes and its lines to the trash, the reply is recorded under the
 *   request_id; then reply)
 * At start-up every segment left in LOGGING gets a run that skips the
 * checks (they passed before) and sends Begin again: the writer answers a
 * committed log_id from its record, or starts the log over on the same
 * reservation. A run whose peer is down answers UNAVAILABLE and retries by
 * itself. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "pbscan.h"
#include "segment.h"
#include "vec.h"

/* rapport-interaction answers lookups of up to 10,000 keys; a line adds at
 * most four (its contact, template, salesperson and campaign). */
#define LOOKUP_KEYS       10000
#define LOOKUP_BATCH      LOOKUP_KEYS
#define LOOKUPS_IN_FLIGHT 4
#define RETRY_MS          2000
#define MAX_ATTEMPTS      8

/* Field numbers read and written as bytes (common.proto, interaction.proto). */
enum {
    ENTRY_CONTACT_NO = 2,
    ENTRY_CONTACT_COMPANY_NO = 3,
    ENTRY_DATE = 4,
    ENTRY_TEMPLATE_CODE = 16,
    ENTRY_SALESPERSON_CODE = 18,
    ENTRY_CAMPAIGN_NO = 19,
    ENTRY_CORRESPONDENCE_TYPE = 27,
    CONTACT_NO = 1,
    CONTACT_SALESPERSON_CODE = 5,
    CONTACT_CORRESPONDENCE_TYPE = 7,
    CONTACT_EMAIL = 8,
};

typedef enum {
    RUN_CHECK,
    RUN_LOOKUP,
    RUN_BEGIN,
    RUN_STREAM,
    RUN_COMMIT,
    RUN_WAIT, /* waiting to start over from BEGIN (or LOOKUP) */
    RUN_PARKED,
} phase_t;

/* What the log needs of a line's contact: kept per counted line, in line
 * order, so the k-th entry streamed finds its contact at index k. */
typedef struct {
    char salesperson[11];
    uint8_t corr;
    bool has_email;
    bool found;
} cinfo_t;

struct logrun {
    logrun_t *next;
    segsrv_t *s;
    uint64_t id, gen;  /* replies carry a ticket (id, gen); stale ones are dropped */
    server_req_t *req; /* the client waiting, or NULL */
    phase_t phase, wait_phase;
    bool recovering; /* checks passed in an earlier life */
    bool persisted;  /* LOGGING is in the store: the run must end it */
    char segment_no[SEG_NO_MAX + 1];
    uint8_t request_id[WIRE_REQUEST_ID_MAX];
    size_t request_id_len;
    char user_id[256];
    uint8_t log_id[2 * WIRE_REQUEST_ID_MAX];
    size_t log_id_len;
    bool follow_up;
    char follow_up_no[SEG_NO_MAX + 1];
    uint64_t fu_seg_id; /* the follow-up's lines, built while streaming */
    uint32_t fu_date;
    char campaign_no[SEG_NO_MAX + 1];
    struct fu_line *fu;    /* follow-up lines not yet written */
    size_t n_fu, fu_index; /* pending count; entry index of fu[0] */
    uint64_t seg_id;
    /* header snapshot for Begin */
    char description[512];
    char salesperson[16];
    uint32_t date;
    /* lookup */
    uint64_t scan_after, counted;
    bool scan_done;
    struct chunk *chunks, **chunks_tail; /* looked up, oldest first */
    size_t n_chunks;
    uint64_t chunk_seq;
    cinfo_t *cinfo; /* per counted line, in line order */
    size_t cinfo_cap;
    seg_map_t *codes;                  /* "T:code", "S:code", "C:no" -> CODE_ASKED / CODE_FOUND */
    char last_code[3][SEG_NO_MAX + 1]; /* the template, salesperson, campaign noted last */
    char **campaigns;                  /* distinct campaigns of the lines */
    size_t n_campaigns;
    /* stream */
    uint64_t stream_after, sent, acked;
    uint32_t credit, inflight;
    int attempts;
    int64_t retry_at;
    uint64_t t0_ns, t_checked_ns, t_begun_ns, t_streamed_ns;
    vec_t packed; /* a batch's entries, reused from batch to batch */
};

/* ---- run lifetime ---- */

static void s_chunks_free(logrun_t *r);

static void s_run_free(logrun_t *r)
{
    s_chunks_free(r);
    vec_free(&r->packed);
    free(r->fu);
    free(r->cinfo);
    seg_map_destroy(&r->codes);
    for (size_t i = 0; i < r->n_campaigns; i++)
        free(r->campaigns[i]);
    free(r->campaigns);
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

static logrun_t *s_run_find(segsrv_t *s, const char *segment_no)
{
    for (logrun_t *r = s->runs; r; r = r->next)
        if (strcmp(r->segment_no, segment_no) == 0)
            return r;
    return NULL;
}

/* A reply may come back after its run ended or started over: callbacks get
 * a ticket, not the run. */
typedef struct {
    segsrv_t *s;
    uint64_t id, gen;
    uint64_t tag; /* which chunk a lookup was for */
} ticket_t;

static ticket_t *s_ticket(logrun_t *r)
{
    ticket_t *t = malloc(sizeof(*t));
    if (t) {
        t->s = r->s;
        t->id = r->id;
        t->gen = r->gen;
        t->tag = 0;
    }
    return t;
}

static logrun_t *s_redeem(void *ctx)
{
    ticket_t *t = ctx;
    logrun_t *r;
    for (r = t->s->runs; r; r = r->next)
        if (r->id == t->id)
            break;
    if (r && r->gen != t->gen)
        r = NULL;
    free(t);
    return r;
}

/* The contact info of the counted line at `index`, growing the array. */
static cinfo_t *s_cinfo_at(logrun_t *r, uint64_t index)
{
    if (index >= r->cinfo_cap) {
        size_t cap = r->cinfo_cap ? r->cinfo_cap * 2 : 16384;
        cinfo_t *g;
        while (cap <= index)
            cap *= 2;
        g = realloc(r->cinfo, cap * sizeof(*g));
        if (!g)
            return NULL;
        memset(g + r->cinfo_cap, 0, (cap - r->cinfo_cap) * sizeof(*g));
        r->cinfo = g;
        r->cinfo_cap = cap;
    }
    return &r->cinfo[index];
}

/* Answer the waiting client (if any) with the request's reply as set. */
static void s_reply_client(logrun_t *r)
{
    if (r->req) {
        server_req_finish(r->req);
        r->req = NULL;
    }
}

/* End the run with an error for its client; the segment stays as it is. */
static void s_run_fail(logrun_t *r, rp_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_run_fail(logrun_t *r, rp_err err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r->req)
        server_req_fail(r->req, err, NULL, "%s", msg);
    s_reply_client(r);
    s_run_unlink(r);
    r->s->logs_failed++;
    s_run_free(r);
}

/* The client's request ends with the status already set on it. */
static void s_run_refuse(logrun_t *r)
{
    s_reply_client(r);
    s_run_unlink(r);
    s_run_free(r);
}

static void s_begin(logrun_t *r);
static void s_lookup_pump(logrun_t *r);

/* A peer did not answer or lost our log: tell the client, then try again
 * later by ourselves. */
static void s_run_retry_later(logrun_t *r, phase_t from, const char *why)
{
    if (!r->persisted) {
        /* Nothing is stored yet: the client retries, not us. */
        s_run_fail(r, RP_EUNAVAIL, "cannot log segment %s now: %s", r->segment_no, why);
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
        r->phase = RUN_PARKED;
        return;
    }
    log_warnx("segment %s: %s; retrying in %d ms", r->segment_no, why, RETRY_MS);
    r->phase = RUN_WAIT;
    r->wait_phase = from;
    r->retry_at = clock_mono_ms() + RETRY_MS;
}

/* ---- requests to the peers ---- */

static bool s_status(const ProtobufCMessage *reply, const Rapport__V1__Status **ret)
{
    const Rapport__V1__Status *st = (const Rapport__V1__Status *)wire_msg_status(reply);
    *ret = st;
    return !st || st->code == RAPPORT__V1__STATUS_CODE__OK;
}

static rp_err s_to_writer(logrun_t *r, Rapport__V1__LogRequest *lr, link_fn fn)
{
    ticket_t *t = s_ticket(r);
    rp_err rc;

    if (!t)
        return RP_ENOMEM;
    lr->user_id = r->user_id;
    rc = link_send(r->s->writer, NULL, &lr->base, fn, t);
    if (rc != RP_OK)
        free(t);
    return rc;
}

/* ---- CHECK: was this segment No. logged already? ---- */

static void s_after_checks(logrun_t *r);

static void s_on_check(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a)
{
    logrun_t *r = s_redeem(ctx);
    const Rapport__V1__Status *st;
    Rapport__V1__LogReply *rep = (Rapport__V1__LogReply *)reply;
    (void)req;
    (void)a;
    if (!r)
        return;
    if (!s_status(reply, &st)) {
        if (r->req)
            server_req_status(r->req, (int)st->code, st->field, "%s", st->message);
        s_run_refuse(r);
        return;
    }
    if (rep->result_case == RAPPORT__V1__LOG_REPLY__RESULT_LOGGED_SEGMENTS &&
        rep->logged_segments->n_logged_segments > 0) {
        server_req_fail(r->req, RP_EEXIST, "segment_no",
                        "Logged Segment for Segment No. %s already exists.", r->segment_no);
        s_run_refuse(r);
        return;
    }
    s_after_checks(r);
}

/* ---- LOOKUP and the checks of docs/domain.md section 7 ----
 *
 * One pass over the lines: read a chunk of up to LOOKUP_BATCH counted
 * lines, ask rapport-interaction for their contacts and for every
 * template, salesperson and campaign not asked before, keep up to
 * LOOKUPS_IN_FLIGHT chunks out, and check the chunks in line order as their
 * answers come in: the first failing line is the reply. A code first seen
 * in a chunk is asked with that chunk, so it is known when the chunk is
 * checked. */

/* What the checks need of a counted line, read from its stored bytes
 * without decoding them. */
typedef struct {
    uint64_t line_no;
    uint32_t date;
    char contact[SEG_NO_MAX + 1];
    char salesperson[11];
    char template[11];
    char campaign[SEG_NO_MAX + 1];
} facts_t;

typedef struct chunk {
    struct chunk *next;
    uint64_t seq;
    wire_arena_t *arena;
    facts_t *lines; /* the chunk's counted lines */
    size_t n;
    uint64_t first; /* counted-line index of lines[0] */
    bool answered;
} chunk_t;

#define CODE_ASKED ((void *)1)
#define CODE_FOUND ((void *)2)

static void s_chunk_free(chunk_t *ch)
{
    wire_arena_destroy(&ch->arena);
    free(ch);
}

static void s_chunks_free(logrun_t *r)
{
    while (r->chunks) {
        chunk_t *n = r->chunks->next;
        s_chunk_free(r->chunks);
        r->chunks = n;
    }
    r->chunks_tail = &r->chunks;
    r->n_chunks = 0;
}

/* "K:code" without printf: this runs for three codes of every line. */
static bool s_code_key(char kind, const char *code, char out[SEG_MAP_KEY_MAX + 1])
{
    size_t n = strlen(code);
    if (n + 2 > SEG_MAP_KEY_MAX)
        return false;
    out[0] = kind;
    out[1] = ':';
    memcpy(out + 2, code, n + 1);
    return true;
}

/* Note a code of a line; the first time, put it into this chunk's lookup.
 * False when out of memory. */
static bool s_code_note(logrun_t *r, char kind, const char *code, wire_arena_t *a,
                        Rapport__V1__Lookup *lk)
{
    char key[SEG_MAP_KEY_MAX + 1], *last;
    void **slot;

    if (!*code)
        return true;
    /* Most lines repeat the previous line's codes. */
    last = r->last_code[kind == 'T' ? 0 : kind == 'S' ? 1 : 2];
    if (strcmp(last, code) == 0)
        return true;
    wire_copy_str(last, sizeof(r->last_code[0]), code);
    if (!s_code_key(kind, code, key))
        return true;
    slot = seg_map_slot(r->codes, key, true);
    if (!slot)
        return false;
    if (*slot)
        return true;
    *slot = CODE_ASKED;
    if (kind == 'C') {
        char **g = realloc(r->campaigns, sizeof(char *) * (r->n_campaigns + 1));
        if (!g)
            return false;
        r->campaigns = g;
        r->campaigns[r->n_campaigns] = strdup(code);
        if (!r->campaigns[r->n_campaigns])
            return false;
        r->n_campaigns++;
    }
#define ADD(arr, n)                                         \
    do {                                                    \
        char **g_ = (char **)wire_arena_ptrs(a, lk->n + 1); \
        if (lk->n)                                          \
            memcpy(g_, lk->arr, sizeof(char *) * lk->n);    \
        g_[lk->n++] = wire_str(code);                       \
        lk->arr = g_;                                       \
    } while (0)
    if (kind == 'T')
        ADD(template_codes, n_template_codes);
    else if (kind == 'S')
        ADD(salesperson_codes, n_salesperson_codes);
    else
        ADD(campaign_nos, n_campaign_nos);
#undef ADD
    return true;
}

static bool s_code_found(logrun_t *r, char kind, const char *code)
{
    char key[SEG_MAP_KEY_MAX + 1];
    void **slot;
    if (!s_code_key(kind, code, key))
        return false;
    slot = seg_map_slot(r->codes, key, false);
    return slot && *slot == CODE_FOUND;
}

/* Copy a length-delimited field into a NUL-terminated buffer (cut to it). */
static void s_take_str(char *dst, size_t cap, const pbscan_field_t *f)
{
    size_t n = f->len < cap - 1 ? f->len : cap - 1;
    memcpy(dst, f->data, n);
    dst[n] = '\0';
}

/* The facts of a stored line: from its Entry bytes, or for a line of the
 * first format from the decoded SegmentLine. False when it is unreadable. */
static bool s_line_facts(wire_arena_t *a, uint64_t line_no, const store_val_t *v, facts_t *f)
{
    const uint8_t *eb;
    size_t elen;
    pbscan_t sc;
    pbscan_field_t fld;
    int rc;

    memset(f, 0, sizeof(*f));
    f->line_no = line_no;
    if (!seg_line_entry_bytes(v->data, v->len, &eb, &elen)) {
        Rapport__V1__SegmentLine *l;
        if (seg_line_decode(a, "", line_no, v->data, v->len, &l) != RP_OK)
            return false;
        f->date = l->date;
        wire_copy_str(f->contact, sizeof(f->contact), l->contact_no);
        wire_copy_str(f->salesperson, sizeof(f->salesperson), l->salesperson_code);
        wire_copy_str(f->template, sizeof(f->template), l->interaction_template_code);
        wire_copy_str(f->campaign, sizeof(f->campaign), l->campaign_no);
        return true;
    }
    pbscan_init(&sc, eb, elen);
    while ((rc = pbscan_next(&sc, &fld)) == 1) {
        switch (fld.field) {
        case ENTRY_CONTACT_NO:
            s_take_str(f->contact, sizeof(f->contact), &fld);
            break;
        case ENTRY_DATE:
            f->date = (uint32_t)fld.value;
            break;
        case ENTRY_SALESPERSON_CODE:
            s_take_str(f->salesperson, sizeof(f->salesperson), &fld);
            break;
        case ENTRY_TEMPLATE_CODE:
            s_take_str(f->template, sizeof(f->template), &fld);
            break;
        case ENTRY_CAMPAIGN_NO:
            s_take_str(f->campaign, sizeof(f->campaign), &fld);
            break;
        default:
            break;
        }
    }
    return rc == 0;
}

/* Read the next chunk of lines into ch and its lookup into lk. */
static rp_err s_read_chunk(logrun_t *r, chunk_t *ch, Rapport__V1__Lookup *lk)
{
    segsrv_t *s = r->s;
    store_txn_t *txn = NULL;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t key[16];
    rp_err rc = store_txn_begin(s->store, false, &txn);

    if (rc == RP_OK)
        rc = store_cursor_open(txn, s->db[DB_LINES], &cur);
    if (rc != RP_OK)
        goto out;
    ch->first = r->counted;
    ch->lines = wire_arena_alloc(ch->arena, sizeof(*ch->lines) * LOOKUP_BATCH);
    lk->contact_nos = (char **)wire_arena_ptrs(ch->arena, LOOKUP_BATCH);
    lk->packed = true;
    seg_line_key(r->seg_id, r->scan_after + 1, key);
    k.data = key;
    k.len = 16;
    rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
    while (rc == RP_OK && lk->n_contact_nos + lk->n_template_codes + lk->n_salesperson_codes +
                                  lk->n_campaign_nos + 4 <=
                              LOOKUP_KEYS) {
        facts_t *f = &ch->lines[ch->n];
        if (k.len != 16 || memcmp(k.data, key, 8) != 0) {
            rc = RP_ENOTFOUND; /* past this segment's lines */
            break;
        }
        if (!s_line_facts(ch->arena, store_key_u64((const uint8_t *)k.data + 8), &v, f)) {
            rc = RP_ECORRUPT;
            break;
        }
        r->scan_after = f->line_no;
        if (f->contact[0]) {
            r->counted++;
            ch->n++;
            lk->contact_nos[lk->n_contact_nos++] = f->contact;
            if (!s_code_note(r, 'T', f->template, ch->arena, lk) ||
                !s_code_note(r, 'S', f->salesperson, ch->arena, lk) ||
                !s_code_note(r, 'C', f->campaign, ch->arena, lk)) {
                rc = RP_ENOMEM;
                break;
            }
        }
        rc = store_cursor_get(cur, STORE_NEXT, &k, &v);
    }
out:
    store_cursor_close(cur);
    store_txn_abort(txn);
    if (rc == RP_ENOTFOUND) {
        r->scan_done = true;
        rc = RP_OK;
    }
    return rc;
}

/* Check the lines of an answered chunk in order (docs/domain.md 7.4). Returns
 * false with the client's reply set at the first failing line. */
static bool s_check_chunk(logrun_t *r, const chunk_t *ch)
{
    server_req_t *req = r->req;

    for (size_t i = 0; i < ch->n; i++) {
        const facts_t *l = &ch->lines[i];
        unsigned long long no = (unsigned long long)l->line_no;
        if (!l->date) {
            server_req_fail(
                req, RP_EPRECOND, "segment_no",
                "Date must have a value in Segment Line: Segment No.=%s, Line No.=%llu.",
                r->segment_no, no);
        } else if (!r->cinfo[ch->first + i].found) {
            server_req_fail(req, RP_ENOTFOUND, "segment_no",
                            "The Contact does not exist. Identification fields and values: "
                            "No.='%s'",
                            l->contact);
        } else if (!l->salesperson[0]) {
            server_req_fail(req, RP_EPRECOND, "segment_no",
                            "Salesperson Code must have a value in Segment Line: Segment No.=%s, "
                            "Line No.=%llu.",
                            r->segment_no, no);
        } else if (!s_code_found(r, 'S', l->salesperson)) {
            server_req_fail(req, RP_ENOTFOUND, "segment_no",
                            "The Salesperson/Purchaser does not exist. Identification fields and "
                            "values: Code='%s'",
                            l->salesperson);
        } else if (!l->template[0]) {
            server_req_fail(req, RP_EPRECOND, "segment_no",
                            "Interaction Template Code must have a value in Segment Line: Segment "
                            "No.=%s, Line No.=%llu.",
                            r->segment_no, no);
        } else if (!s_code_found(r, 'T', l->template)) {
            server_req_fail(req, RP_ENOTFOUND, "segment_no",
                            "The Interaction Template does not exist. Identification fields and "
                            "values: Code='%s'",
                            l->template);
        } else if (l->campaign[0] && !s_code_found(r, 'C', l->campaign)) {
            server_req_fail(req, RP_ENOTFOUND, "segment_no",
                            "The Campaign does not exist. Identification fields and values: "
                            "No.='%s'",
                            l->campaign);
        } else {
            continue;
        }
        return false;
    }
    return true;
}

static void s_persist_and_begin(logrun_t *r);

/* Every line scanned, looked up and checked. */
static void s_lookup_done(logrun_t *r)
{
    r->t_checked_ns = clock_mono_ns();
    if (r->recovering) {
        s_begin(r);
        return;
    }
    if (r->counted == 0) {
        server_req_fail(r->req, RP_EPRECOND, "segment_no", "Segment %s is empty.", r->segment_no);
        s_run_refuse(r);
        return;
    }
    s_persist_and_begin(r);
}

/* Check the chunks answered so far, oldest first, then read more. */
static void s_drain_chunks(logrun_t *r)
{
    while (r->chunks && r->chunks->answered) {
        chunk_t *ch = r->chunks;
        if (!r->recovering && !s_check_chunk(r, ch)) {
            s_run_refuse(r);
            return;
        }
        r->chunks = ch->next;
        if (!r->chunks)
            r->chunks_tail = &r->chunks;
        r->n_chunks--;
        s_chunk_free(ch);
    }
    s_lookup_pump(r);
}

/* What a line needs of its contact, from the contact's stored bytes. */
static bool s_contact_facts(const uint8_t *p, size_t len, char no[SEG_NO_MAX + 1], cinfo_t *ci)
{
    pbscan_t sc;
    pbscan_field_t f;
    int rc;

    no[0] = '\0';
    memset(ci, 0, sizeof(*ci));
    pbscan_init(&sc, p, len);
    while ((rc = pbscan_next(&sc, &f)) == 1) {
        if (f.field == CONTACT_NO && f.type == PBSCAN_BYTES)
            s_take_str(no, SEG_NO_MAX + 1, &f);
        else if (f.field == CONTACT_SALESPERSON_CODE && f.type == PBSCAN_BYTES)
            s_take_str(ci->salesperson, sizeof(ci->salesperson), &f);
        else if (f.field == CONTACT_CORRESPONDENCE_TYPE)
            ci->corr = (uint8_t)f.value;
        else if (f.field == CONTACT_EMAIL && f.type == PBSCAN_BYTES)
            ci->has_email = f.len > 0;
    }
    ci->found = true;
    return rc == 0;
}

/* Found contacts come back in the order asked (interaction.proto): walk
 * them beside the chunk's lines. */
static bool s_contacts_found(logrun_t *r, const chunk_t *ch, const ProtobufCBinaryData *packed)
{
    const uint8_t *p = packed->data, *end = p + packed->len;
    char no[SEG_NO_MAX + 1] = "";
    cinfo_t next;
    bool have = false;

    for (size_t i = 0; i < ch->n; i++) {
        cinfo_t *ci = s_cinfo_at(r, ch->first + i);
        if (!ci)
            return false;
        if (!have && p < end) {
            uint64_t len;
            size_t n = pbscan_varint(p, (size_t)(end - p), &len);
            if (n == 0 || len > (uint64_t)(end - p) - n ||
                !s_contact_facts(p + n, (size_t)len, no, &next))
                return false;
            p += n + len;
            have = true;
        }
        if (have && strcmp(no, ch->lines[i].contact) == 0) {
            *ci = next;
            have = false;
        } else {
            ci->found = false;
        }
    }
    return true;
}

static void s_on_chunk(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a)
{
    uint64_t seq = ((ticket_t *)ctx)->tag;
    logrun_t *r = s_redeem(ctx);
    Rapport__V1__InteractionReply *ir = (Rapport__V1__InteractionReply *)reply;
    const Rapport__V1__Status *st;
    chunk_t *ch;
    (void)req;
    (void)a;
    if (!r || r->phase != RUN_LOOKUP)
        return; /* the run ended or started over while this was out */
    for (ch = r->chunks; ch && ch->seq != seq; ch = ch->next)
        ;
    if (!ch)
        return;
    if (!s_status(reply, &st) || ir->result_case != RAPPORT__V1__INTERACTION_REPLY__RESULT_LOOKUP) {
        if (st && st->code == RAPPORT__V1__STATUS_CODE__UNAVAILABLE) {
            s_run_retry_later(r, RUN_LOOKUP, st->message);
            return;
        }
        s_run_fail(r, RP_EINTERNAL, "rapport-interaction refused a lookup: %s",
                   st ? st->message : "no lookup result");
        return;
    }
    if (!s_contacts_found(r, ch, &ir->lookup->packed_contacts)) {
        s_run_fail(r, RP_EINTERNAL,
                   "rapport-interaction answered a lookup with malformed contacts");
        return;
    }
#define FOUND(kind, arr, n, field)                                 \
    for (size_t i = 0; i < ir->lookup->n; i++) {                   \
        char key_[SEG_MAP_KEY_MAX + 1];                            \
        void **slot_;                                              \
        if (s_code_key(kind, ir->lookup->arr[i]->field, key_) &&   \
            (slot_ = seg_map_slot(r->codes, key_, false)) != NULL) \
            *slot_ = CODE_FOUND;                                   \
    }
    FOUND('T', templates, n_templates, code)
    FOUND('S', salespeople, n_salespeople, code)
    FOUND('C', campaigns, n_campaigns, no)
#undef FOUND
    ch->answered = true;
    s_drain_chunks(r);
}

/* Keep up to LOOKUPS_IN_FLIGHT chunks out until the lines are scanned. */
static void s_lookup_pump(logrun_t *r)
{
    while (r->phase == RUN_LOOKUP && !r->scan_done && r->n_chunks < LOOKUPS_IN_FLIGHT) {
        Rapport__V1__InteractionRequest ir = RAPPORT__V1__INTERACTION_REQUEST__INIT;
        chunk_t *ch = calloc(1, sizeof(*ch));
        Rapport__V1__Lookup *lk;
        ticket_t *t;
        rp_err rc;

        if (!ch || !(ch->arena = wire_arena_new())) {
            free(ch);
            s_run_fail(r, RP_ENOMEM, "out of memory");
            return;
        }
        lk = (Rapport__V1__Lookup *)wire_arena_message(ch->arena, &rapport__v1__lookup__descriptor);
        rc = s_read_chunk(r, ch, lk);
        if (rc != RP_OK) {
            s_chunk_free(ch);
            s_run_fail(r, rc, "cannot read segment %s: %s", r->segment_no, rp_strerror(rc));
            return;
        }
        if (ch->n == 0 && !lk->n_template_codes && !lk->n_salesperson_codes &&
            !lk->n_campaign_nos) {
            s_chunk_free(ch);
            continue;
        }
        ch->seq = ++r->chunk_seq;
        t = s_ticket(r);
        if (t)
            t->tag = ch->seq;
        ir.user_id = r->user_id;
        ir.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_LOOKUP;
        ir.lookup = lk;
        rc = t ? link_send(r->s->interaction, NULL, &ir.base, s_on_chunk, t) : RP_ENOMEM;
        if (rc != RP_OK) {
            free(t);
            s_chunk_free(ch);
            s_run_retry_later(r, RUN_LOOKUP, "cannot reach rapport-interaction");
            return;
        }
        *r->chunks_tail = ch;
        r->chunks_tail = &ch->next;
        r->n_chunks++;
    }
    if (r->phase == RUN_LOOKUP && r->scan_done && r->n_chunks == 0)
        s_lookup_done(r);
}

/* ---- the LOGGING record ---- */

/* DB_LOGS[segment no.] = fields, each u32 length + bytes: log_id,
 * request_id, user_id, follow-up No.; then one byte: follow-up asked; then
 * the follow-up's internal segment id (u64) and date (u32). */
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
    uint8_t buf[1024];
    size_t pos = 0;

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        uint32_t n = (uint32_t)f[i].n;
        memcpy(buf + pos, &n, 4);
        memcpy(buf + pos + 4, f[i].p, n);
        pos += 4 + n;
    }
    buf[pos++] = r->follow_up;
    memcpy(buf + pos, &r->fu_seg_id, 8);
    memcpy(buf + pos + 8, &r->fu_date, 4);
    pos += 12;
    return store_put(txn, r->s->db[DB_LOGS], r->segment_no, strlen(r->segment_no), buf, pos, 0);
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
    if (v->len - pos != 13)
        return false;
    r->follow_up = p[pos] != 0;
    memcpy(&r->fu_seg_id, p + pos + 1, 8);
    memcpy(&r->fu_date, p + pos + 9, 4);
    return true;
}

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
        /* The follow-up's lines are written under this id while the
         * segment streams, and become visible with its header at the end. */
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

static void s_persist_and_begin(logrun_t *r)
{
    persist_t p = {r, false, false};
    rp_err rc = store_write(r->s->store, s_apply_persist, &p, NULL);

    if (p.numbering_unset) {
        server_req_fail(r->req, RP_EPRECOND, "create_follow_up",
                        "Segment Nos. must have a value in Marketing Setup.");
        s_run_refuse(r);
        return;
    }
    if (p.logging) {
        seg_fail_logging(r->req, r->segment_no);
        s_run_refuse(r);
        return;
    }
    if (rc != RP_OK) {
        if (r->req)
            seg_fail_store(r->req, rc);
        s_run_refuse(r);
        return;
    }
    r->persisted = true;
    daemon_fault_point("segment.before_stream");
    s_begin(r);
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
        rc = store_del(txn, r->s->db[DB_LOGS], r->segment_no, strlen(r->segment_no), NULL, 0);
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    if (rc == RP_OK && r->fu_seg_id)
        rc = seg_trash_put(r->s, txn, r->fu_seg_id);
    wire_arena_destroy(&a);
    return rc;
}

/* ---- BEGIN, STREAM, COMMIT ---- */

static void s_on_begin(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a);
static void s_on_batch(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a);
static void s_on_commit(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a);
static void s_finish(logrun_t *r, const Rapport__V1__SegmentLogged *logged);

static void s_begin(logrun_t *r)
{
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__SegmentLogBegin b = RAPPORT__V1__SEGMENT_LOG_BEGIN__INIT;

    r->gen++;
    r->phase = RUN_BEGIN;
    r->sent = r->acked = r->stream_after = 0;
    r->inflight = 0;
    r->n_fu = r->fu_index = 0;
    b.log_id.data = r->log_id;
    b.log_id.len = r->log_id_len;
    b.segment_no = r->segment_no;
    b.description = r->description;
    b.creation_date = clock_work_date();
    b.line_count = r->counted;
    b.campaign_nos = r->campaigns;
    b.n_campaign_nos = r->n_campaigns;
    b.date = r->date;
    b.salesperson_code = r->salesperson;
    b.follow_up_segment_no = r->follow_up_no;
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_BEGIN;
    lr.log_begin = &b;
    if (s_to_writer(r, &lr, s_on_begin) != RP_OK)
        s_run_retry_later(r, RUN_BEGIN, "cannot reach rapport-logwriter");
}

/* The writer refused for good: undo LOGGING and tell the client. */
static void s_refused_by_writer(logrun_t *r, const Rapport__V1__Status *st)
{
    rp_err rc = store_write(r->s->store, s_apply_unlog, r, NULL);
    if (rc != RP_OK)
        log_errx("segment %s: cannot clear LOGGING: %s", r->segment_no, rp_strerror(rc));
    log_warnx("segment %s: the log writer refused the log: %s", r->segment_no, st->message);
    if (r->req)
        server_req_status(r->req, (int)st->code, st->field, "%s", st->message);
    r->s->logs_failed++;
    s_run_refuse(r);
}

/* A reply that is not OK during BEGIN / STREAM / COMMIT. */
static void s_stream_trouble(logrun_t *r, const Rapport__V1__Status *st)
{
    switch (st->code) {
    case RAPPORT__V1__STATUS_CODE__UNAVAILABLE:
    case RAPPORT__V1__STATUS_CODE__RESOURCE_EXHAUSTED:
        s_run_retry_later(r, RUN_BEGIN, st->message);
        return;
    case RAPPORT__V1__STATUS_CODE__ABORTED:
        /* The writer restarted, or a batch went missing: start over. */
        if (++r->attempts > MAX_ATTEMPTS) {
            s_run_retry_later(r, RUN_BEGIN, st->message);
            return;
        }
        log_info("segment %s: %s; starting the stream over", r->segment_no, st->message);
        s_begin(r);
        return;
    default:
        if (r->phase == RUN_BEGIN) {
            s_refused_by_writer(r, st);
            return;
        }
        log_errx("segment %s: the log writer refused a batch: %s", r->segment_no, st->message);
        s_run_retry_later(r, RUN_BEGIN, st->message);
    }
}

/* The follow-up's header (docs/domain.md 7.9): "Follow-up on segment <no>" cut
 * to 50 characters, the same campaign, the work date, no template. */
static void s_fu_header(logrun_t *r, Rapport__V1__SegmentHeader *h, char desc[64])
{
    rapport__v1__segment_header__init(h);
    snprintf(desc, 64, "Follow-up on segment %s", r->segment_no);
    desc[50] = '\0';
    h->no = r->follow_up_no;
    h->description = desc;
    h->campaign_no = r->campaign_no;
    h->date = r->fu_date;
}

/* ---- the follow-up, built while the segment streams ----
 *
 * Follow-up line k (k-th logged entry) is written under the follow-up's
 * internal id with line no. (k + 1) * 10000, in transactions of
 * FU_FLUSH lines; a restarted stream writes the same keys again. All are
 * written before Commit is sent, so a committed log always has its
 * follow-up lines; the header appears in the finishing transaction. */

#define FU_FLUSH 32768

struct fu_line {
    char contact[SEG_NO_MAX + 1];
    char company[SEG_NO_MAX + 1];
    char salesperson[11];
    uint8_t corr;
};

static bool s_fu_add(logrun_t *r, const char *contact, const char *company, uint64_t index)
{
    const cinfo_t *ci = index < r->cinfo_cap && r->cinfo[index].found ? &r->cinfo[index] : NULL;
    struct fu_line *f;

    if (!r->fu) {
        /* Room for a flush's worth plus one batch (see s_send_batch). */
        r->fu = malloc(sizeof(*r->fu) * (FU_FLUSH + (size_t)r->s->cfg->log_batch_entries));
        if (!r->fu)
            return false;
    }
    f = &r->fu[r->n_fu++];
    wire_copy_str(f->contact, sizeof(f->contact), contact);
    wire_copy_str(f->company, sizeof(f->company), company);
    wire_copy_str(f->salesperson, sizeof(f->salesperson), ci ? ci->salesperson : "");
    f->corr = ci ? ci->corr : 0;
    return true;
}

static rp_err s_apply_fu(store_txn_t *txn, void *ctx)
{
    logrun_t *r = ctx;
    Rapport__V1__SegmentHeader h;
    char desc[64];
    rp_err rc = RP_OK;

    s_fu_header(r, &h, desc);
    for (size_t i = 0; i < r->n_fu && rc == RP_OK; i++) {
        Rapport__V1__SegmentLine l = RAPPORT__V1__SEGMENT_LINE__INIT;
        Rapport__V1__Contact c = RAPPORT__V1__CONTACT__INIT;
        /* One line per logged entry, the contact re-validated. */
        c.no = r->fu[i].contact;
        c.company_no = r->fu[i].company;
        c.salesperson_code = r->fu[i].salesperson;
        c.correspondence_type = (Rapport__V1__CorrespondenceType)r->fu[i].corr;
        seg_line_from_header(&h, NULL, &c, &l);
        l.line_no = (r->fu_index + i + 1) * LINE_STEP;
        rc = seg_line_save(r->s, txn, r->fu_seg_id, &l, 0);
        if (rc == RP_OK)
            rc = seg_contact_index_put(r->s, txn, r->fu_seg_id, l.contact_no, l.line_no);
    }
    return rc;
}

/* Write the pending follow-up lines; false (and the run retries) when the
 * store refuses. The last flush before Commit syncs fully (and with it the
 * earlier ones); the others may skip the meta sync, since a stream that
 * restarts writes them again. */
static bool s_fu_flush(logrun_t *r, bool last)
{
    rp_err rc;
    if (!r->n_fu)
        rc = last ? store_sync(r->s->store) : RP_OK;
    else
        rc = store_write_flags(r->s->store, s_apply_fu, r, last ? 0 : STORE_WRITE_NOMETASYNC, NULL);
    if (rc != RP_OK) {
        s_run_retry_later(r, RUN_BEGIN, "cannot write the follow-up segment");
        return false;
    }
    r->fu_index += r->n_fu;
    r->n_fu = 0;
    return true;
}

/* One line forwarded as its entry: its stored bytes as they are, plus the
 * one field the log may change (docs/domain.md: an Email line whose
 * contact has no e-mail is logged with a blank correspondence type), behind
 * their length. Returns whether the line is counted (has a contact); on
 * false with *ret_rc set the bytes are unreadable. */
static bool s_forward_line(logrun_t *r, wire_arena_t *a, const store_val_t *v, uint64_t index,
                           vec_t *out, rp_err *ret_rc)
{
    const cinfo_t *ci = index < r->cinfo_cap && r->cinfo[index].found ? &r->cinfo[index] : NULL;
    char contact[SEG_NO_MAX + 1] = "", company[SEG_NO_MAX + 1] = "";
    uint8_t patch[PBSCAN_FIELD_MAX], *dst;
    size_t elen, plen = 0, total;
    const uint8_t *eb;
    uint64_t corr = 0;
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
            s_take_str(contact, sizeof(contact), &f);
        else if (f.field == ENTRY_CONTACT_COMPANY_NO && f.type == PBSCAN_BYTES)
            s_take_str(company, sizeof(company), &f);
        else if (f.field == ENTRY_CORRESPONDENCE_TYPE)
            corr = f.value;
    }
    if (rc != 0) {
        *ret_rc = RP_ECORRUPT;
        return false;
    }
    if (!contact[0])
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
    if (r->fu_seg_id && !s_fu_add(r, contact, company, index))
        *ret_rc = RP_ENOMEM;
    return *ret_rc == RP_OK;
}

/* Send the next batch; false when there was nothing to send. */
static bool s_send_batch(logrun_t *r)
{
    segsrv_t *s = r->s;
    size_t max = (size_t)s->cfg->log_batch_entries, n = 0;
    wire_arena_t *a = wire_arena_new();
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__SegmentLogBatch b = RAPPORT__V1__SEGMENT_LOG_BATCH__INIT;
    vec_t *packed = &r->packed;
    store_txn_t *txn = NULL;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t key[16];
    uint64_t last = r->stream_after;
    rp_err rc;

    if (!a)
        return false;
    if (r->n_fu >= FU_FLUSH && !s_fu_flush(r, false)) {
        wire_arena_destroy(&a);
        return false;
    }
    vec_clear(packed);
    rc = store_txn_begin(s->store, false, &txn);
    if (rc == RP_OK)
        rc = store_cursor_open(txn, s->db[DB_LINES], &cur);
    seg_line_key(r->seg_id, r->stream_after + 1, key);
    k.data = key;
    k.len = 16;
    if (rc == RP_OK)
        rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
    while (rc == RP_OK && n < max && k.len == 16 && memcmp(k.data, key, 8) == 0) {
        last = store_key_u64((const uint8_t *)k.data + 8);
        if (s_forward_line(r, a, &v, r->sent + n, packed, &rc))
            n++;
        else if (rc != RP_OK)
            break;
        rc = store_cursor_get(cur, STORE_NEXT, &k, &v);
    }
    store_cursor_close(cur);
    store_txn_abort(txn);
    if (n == 0)
        goto out;
    b.log_id.data = r->log_id;
    b.log_id.len = r->log_id_len;
    b.index = r->sent;
    b.packed_entries.data = packed->data;
    b.packed_entries.len = packed->n;
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_BATCH;
    lr.log_batch = &b;
    if (s_to_writer(r, &lr, s_on_batch) != RP_OK) {
        wire_arena_destroy(&a);
        s_run_retry_later(r, RUN_BEGIN, "cannot reach rapport-logwriter");
        return false;
    }
    r->sent += n;
    r->stream_after = last;
    r->inflight++;
    s->entries_streamed += n;
out:
    wire_arena_destroy(&a);
    return n > 0;
}

static void s_pump(logrun_t *r)
{
    while (r->phase == RUN_STREAM && r->inflight < r->credit && r->sent < r->counted)
        if (!s_send_batch(r))
            break;
    if (r->phase == RUN_STREAM && r->inflight == 0 && r->sent < r->counted) {
        /* Nothing out and nothing more could be read: without this the run
         * would wait for an answer that never comes. */
        s_run_retry_later(r, RUN_BEGIN, "the segment's lines could not be read");
        return;
    }
    if (r->phase == RUN_STREAM && r->inflight == 0 && r->acked >= r->counted) {
        Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
        Rapport__V1__SegmentLogCommit c = RAPPORT__V1__SEGMENT_LOG_COMMIT__INIT;
        /* The follow-up's lines are all stored before the log can commit. */
        if (r->fu_seg_id && !s_fu_flush(r, true))
            return;
        r->t_streamed_ns = clock_mono_ns();
        c.log_id.data = r->log_id;
        c.log_id.len = r->log_id_len;
        c.count = r->counted;
        lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_COMMIT;
        lr.log_commit = &c;
        r->phase = RUN_COMMIT;
        if (s_to_writer(r, &lr, s_on_commit) != RP_OK)
            s_run_retry_later(r, RUN_BEGIN, "cannot reach rapport-logwriter");
    } else if (r->phase == RUN_STREAM && r->inflight == 0 && r->sent >= r->counted &&
               r->acked < r->counted) {
        s_run_retry_later(r, RUN_BEGIN, "the segment changed while it was being logged");
    }
}

static void s_on_begin(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a)
{
    logrun_t *r = s_redeem(ctx);
    Rapport__V1__LogReply *rep = (Rapport__V1__LogReply *)reply;
    const Rapport__V1__Status *st;
    (void)req;
    (void)a;
    if (!r)
        return;
    if (!s_status(reply, &st)) {
        s_stream_trouble(r, st);
        return;
    }
    if (rep->result_case != RAPPORT__V1__LOG_REPLY__RESULT_LOG_STARTED) {
        s_run_fail(r, RP_EINTERNAL, "rapport-logwriter answered Begin oddly");
        return;
    }
    if (rep->log_started->committed) {
        s_finish(r, rep->log_started->logged);
        return;
    }
    r->credit = rep->log_started->credit ? rep->log_started->credit : 1;
    r->phase = RUN_STREAM;
    r->t_begun_ns = clock_mono_ns();
    s_pump(r);
}

static void s_on_batch(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a)
{
    logrun_t *r = s_redeem(ctx);
    Rapport__V1__LogReply *rep = (Rapport__V1__LogReply *)reply;
    const Rapport__V1__Status *st;
    (void)req;
    (void)a;
    if (!r || r->phase != RUN_STREAM)
        return;
    r->inflight--;
    if (!s_status(reply, &st)) {
        s_stream_trouble(r, st);
        return;
    }
    if (rep->result_case == RAPPORT__V1__LOG_REPLY__RESULT_LOG_BATCH_ACK &&
        rep->log_batch_ack->received > r->acked)
        r->acked = rep->log_batch_ack->received;
    daemon_fault_point("segment.mid_stream");
    s_pump(r);
}

static void s_on_commit(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a)
{
    logrun_t *r = s_redeem(ctx);
    Rapport__V1__LogReply *rep = (Rapport__V1__LogReply *)reply;
    const Rapport__V1__Status *st;
    (void)req;
    (void)a;
    if (!r)
        return;
    if (!s_status(reply, &st)) {
        s_stream_trouble(r, st);
        return;
    }
    if (rep->result_case != RAPPORT__V1__LOG_REPLY__RESULT_SEGMENT_LOGGED) {
        s_run_fail(r, RP_EINTERNAL, "rapport-logwriter answered Commit oddly");
        return;
    }
    daemon_fault_point("segment.after_commit");
    s_finish(r, rep->segment_logged);
}

/* ---- finish: delete the segment, create the follow-up, record the reply ---- */

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
        /* Its lines were written while the segment streamed: show them. */
        Rapport__V1__SegmentHeader h;
        char desc[64];
        seg_t fu = {r->fu_seg_id, r->counted * LINE_STEP, &h};
        s_fu_header(r, &h, desc);
        h.no_of_lines = r->counted;
        rc = seg_save(s, txn, &fu);
    }
    /* The old lines go to the trash, emptied in the background. */
    if (rc == RP_OK)
        rc = seg_trash_put(s, txn, seg.seg_id);
    if (rc == RP_OK)
        rc = store_del(txn, s->db[DB_SEGMENTS], r->segment_no, strlen(r->segment_no), NULL, 0);
    if (rc == RP_ENOTFOUND)
        rc = RP_OK; /* finished before: only the records below are left */
    if (rc == RP_OK) {
        rc = store_del(txn, s->db[DB_LOGS], r->segment_no, strlen(r->segment_no), NULL, 0);
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    if (rc == RP_OK && rid.len)
        rc = server_dedup_put(s->server, txn, r->user_id, &rid, f->reply, f->reply_len);
    wire_arena_destroy(&a);
    return rc;
}

static void s_finish(logrun_t *r, const Rapport__V1__SegmentLogged *logged)
{
    Rapport__V1__SegmentReply rep = RAPPORT__V1__SEGMENT_REPLY__INIT;
    finish_t f = {r, NULL, 0};
    uint8_t *bytes;
    size_t len;
    rp_err rc;

    rep.request_id.data = r->request_id;
    rep.request_id.len = r->request_id_len;
    rep.user_id = r->user_id;
    rep.result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_LOGGED;
    rep.logged = (Rapport__V1__SegmentLogged *)(uintptr_t)logged;
    rc = wire_encode(&rep.base, &bytes, &len);
    if (rc != RP_OK) {
        s_run_retry_later(r, RUN_BEGIN, "out of memory");
        return;
    }
    f.reply = bytes;
    f.reply_len = len;
    rc = store_write(r->s->store, s_apply_finish, &f, NULL);
    if (rc != RP_OK) {
        free(bytes);
        log_errx("segment %s: logged as %llu but cannot delete it: %s", r->segment_no,
                 (unsigned long long)logged->logged_segment_no, rp_strerror(rc));
        s_run_retry_later(r, RUN_BEGIN, "the segment worker cannot write its store");
        return;
    }
    {
        uint64_t now = clock_mono_ns();
        /* Phases of this life of the run (a recovered run has no checks). */
        double checks = r->t_checked_ns ? (double)(r->t_checked_ns - r->t0_ns) / 1e9 : 0;
        double stream = r->t_streamed_ns && r->t_begun_ns
                            ? (double)(r->t_streamed_ns - r->t_begun_ns) / 1e9
                            : 0;
        double commit = r->t_streamed_ns ? (double)(now - r->t_streamed_ns) / 1e9 : 0;
        log_info("segment %s logged as %llu: %llu entries (%llu..%llu) in %.3f s (checks %.3f, "
                 "stream %.3f, commit and finish %.3f)%s%s",
                 r->segment_no, (unsigned long long)logged->logged_segment_no,
                 (unsigned long long)logged->entry_count,
                 (unsigned long long)logged->first_entry_no,
                 (unsigned long long)logged->last_entry_no, (double)(now - r->t0_ns) / 1e9, checks,
                 stream, commit, r->follow_up_no[0] ? ", follow-up " : "", r->follow_up_no);
    }
    server_hist_observe(&r->s->log_seconds, (double)(clock_mono_ns() - r->t0_ns) / 1e9);
    r->s->logs_done++;
    if (r->req)
        server_req_reply_raw(r->req, bytes, len);
    free(bytes);
    s_reply_client(r);
    s_run_unlink(r);
    s_run_free(r);
}

/* ---- starting runs ---- */

static logrun_t *s_run_new(segsrv_t *s, const char *segment_no)
{
    static uint64_t next_id;
    logrun_t *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->s = s;
    r->id = ++next_id;
    r->t0_ns = clock_mono_ns();
    snprintf(r->segment_no, sizeof(r->segment_no), "%s", segment_no);
    r->chunks_tail = &r->chunks;
    r->packed = (vec_t)VEC_INIT(1, 0);
    r->codes = seg_map_new(16);
    if (!r->codes) {
        s_run_free(r);
        return NULL;
    }
    r->next = s->runs;
    s->runs = r;
    return r;
}

static void s_snapshot(logrun_t *r, const seg_t *seg)
{
    r->seg_id = seg->seg_id;
    snprintf(r->description, sizeof(r->description), "%s", seg->h->description);
    snprintf(r->salesperson, sizeof(r->salesperson), "%s", seg->h->salesperson_code);
    snprintf(r->campaign_no, sizeof(r->campaign_no), "%s", seg->h->campaign_no);
    r->date = seg->h->date;
}

/* Start (or restart) the lookup phase from a clean slate. */
static void s_start_lookup(logrun_t *r)
{
    r->gen++;
    r->phase = RUN_LOOKUP;
    r->scan_after = 0;
    r->counted = 0;
    r->scan_done = false;
    s_chunks_free(r);
    seg_map_destroy(&r->codes);
    memset(r->last_code, 0, sizeof(r->last_code));
    for (size_t i = 0; i < r->n_campaigns; i++)
        free(r->campaigns[i]);
    r->n_campaigns = 0;
    if (r->cinfo)
        memset(r->cinfo, 0, r->cinfo_cap * sizeof(*r->cinfo));
    r->codes = seg_map_new(16);
    if (!r->codes) {
        s_run_fail(r, RP_ENOMEM, "out of memory");
        return;
    }
    s_lookup_pump(r);
}

static void s_after_checks(logrun_t *r)
{
    if (!r->description[0]) {
        server_req_fail(r->req, RP_EPRECOND, "segment_no",
                        "Description must have a value in Segment Header: No.=%s.", r->segment_no);
        s_run_refuse(r);
        return;
    }
    s_start_lookup(r);
}

void logging_log_segment(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    Rapport__V1__LogSegment *ls = seg_request(req)->log_segment;
    const ProtobufCBinaryData *rid = wire_msg_request_id(req->request);
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ListLoggedSegments ll = RAPPORT__V1__LIST_LOGGED_SEGMENTS__INIT;
    store_txn_t *txn;
    store_val_t v;
    logrun_t *r;
    seg_t seg;
    rp_err rc;

    rc = store_txn_begin(s->store, false, &txn);
    if (rc == RP_OK)
        rc = seg_load(s, txn, req->arena, ls->segment_no, &seg);
    if (rc == RP_OK && seg.h->logging) {
        logrun_t probe;
        bool same = false;
        memset(&probe, 0, sizeof(probe));
        if (store_get(txn, s->db[DB_LOGS], ls->segment_no, strlen(ls->segment_no), &v) == RP_OK &&
            s_logrec_get(&v, &probe))
            same = probe.request_id_len == rid->len &&
                   memcmp(probe.request_id, rid->data, rid->len) == 0;
        store_txn_abort(txn);
        r = s_run_find(s, ls->segment_no);
        if (!same || (r && r->req)) {
            seg_fail_logging(req, ls->segment_no);
            return;
        }
        /* A retry of the request being logged: wait for its run. */
        if (!r) {
            logging_recover(s);
            r = s_run_find(s, ls->segment_no);
        }
        if (!r) {
            server_req_fail(req, RP_EUNAVAIL, NULL, "segment %s cannot be resumed now",
                            ls->segment_no);
            return;
        }
        r->req = req;
        req->deferred = true;
        if (r->phase == RUN_PARKED || r->phase == RUN_WAIT) {
            r->attempts = 0;
            r->retry_at = 0;
            r->phase = RUN_WAIT;
        }
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
    /* log_id: derived from the request_id, unique per segment. */
    r->log_id_len = (size_t)snprintf((char *)r->log_id, sizeof(r->log_id), "%s/%.*s",
                                     ls->segment_no, (int)rid->len, (const char *)rid->data);
    s_snapshot(r, &seg);
    /* Check 1 first: does a logged segment exist for this No.? */
    r->phase = RUN_CHECK;
    ll.segment_no = r->segment_no;
    ll.limit = 1;
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_LOGGED_SEGMENTS;
    lr.list_logged_segments = &ll;
    if (s_to_writer(r, &lr, s_on_check) != RP_OK) {
        req->deferred = false;
        r->req = NULL;
        server_req_fail(req, RP_EUNAVAIL, NULL, "cannot reach rapport-logwriter");
        s_run_unlink(r);
        s_run_free(r);
    }
}

void logging_recover(segsrv_t *s)
{
    store_txn_t *txn;
    store_cursor_t *cur;
    store_val_t k, v;
    wire_arena_t *a = wire_arena_new();
    rp_err rc;

    if (!a)
        return;
    rc = store_txn_begin(s->store, false, &txn);
    if (rc != RP_OK) {
        wire_arena_destroy(&a);
        return;
    }
    rc = store_cursor_open(txn, s->db[DB_LOGS], &cur);
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
            s_run_unlink(r);
            s_run_free(r);
            continue;
        }
        r->recovering = true;
        r->persisted = true;
        s_snapshot(r, &seg);
        log_info("segment %s was being logged: resuming", no);
        /* Started from the tick, outside this read transaction. */
        r->phase = RUN_WAIT;
        r->wait_phase = RUN_LOOKUP;
        r->retry_at = 0;
    }
    store_cursor_close(cur);
    store_txn_abort(txn);
    wire_arena_destroy(&a);
}

void logging_tick(segsrv_t *s)
{
    int64_t now = clock_mono_ms();
    logrun_t *r = s->runs;
    while (r) {
        logrun_t *next = r->next;
        if (r->phase == RUN_WAIT && now >= r->retry_at) {
            /* The contact data is needed again after a restart of ours. */
            if (r->wait_phase == RUN_LOOKUP || !r->scan_done)
                s_start_lookup(r);
            else
                s_begin(r);
        }
        r = next;
    }
}

bool logging_busy(const segsrv_t *s)
{
    for (const logrun_t *r = s->runs; r; r = r->next)
        if (r->phase != RUN_WAIT && r->phase != RUN_PARKED)
            return true;
    return false;
}

bool logging_active(const segsrv_t *s, const char *no)
{
    for (const logrun_t *r = s->runs; r; r = r->next)
        if (strcmp(r->segment_no, no) == 0)
            return true;
    return false;
}

rp_err logging_reserves(segsrv_t *s, store_txn_t *txn, const char *no, bool *ret_reserved)
{
    store_cursor_t *cur;
    store_val_t k, v;
    logrun_t *probe = calloc(1, sizeof(*probe));
    bool reserved = false;
    rp_err rc;

    if (!probe)
        return RP_ENOMEM;
    rc = store_cursor_open(txn, s->db[DB_LOGS], &cur);
    if (rc != RP_OK) {
        free(probe);
        return rc;
    }
    for (rc = store_cursor_get(cur, STORE_FIRST, &k, &v); rc == RP_OK && !reserved;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v))
        reserved = s_logrec_get(&v, probe) && strcmp(probe->follow_up_no, no) == 0;
    store_cursor_close(cur);
    free(probe);
    if (rc != RP_OK && rc != RP_ENOTFOUND)
        return rc;
    *ret_reserved = reserved;
    return RP_OK;
}

size_t logging_count(const segsrv_t *s)
{
    size_t n = 0;
    for (const logrun_t *r = s->runs; r; r = r->next)
        n++;
    return n;
}

void logging_destroy_all(segsrv_t *s)
{
    while (s->runs) {
        logrun_t *r = s->runs;
        s->runs = r->next;
        s_run_free(r);
    }
}
