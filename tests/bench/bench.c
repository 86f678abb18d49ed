/* rapport-bench: the benchmark suite of issue 4.
 *
 * Starts the real workers (release build) on temporary directories, drives
 * them through common/client over ipc, and measures every scenario next
 * to its baseline in the same run, because these machines are noisy and
 * the ratio is the figure that counts:
 *
 *   S1  LogSegment of 10k / 100k / 1M contacts, follow-up on: request to
 *       the durable reply (reply_when_durable), and to the logged segment
 *       visible; the three workers' CPU per entry; single interactions
 *       created every 10 ms meanwhile (their latency is an S2 row).
 *       Baseline: the same number of writer-sized Entry records, already
 *       encoded, put with MDB_APPEND into a bare env in one synced
 *       transaction.
 *   S2  CreateInteraction from 1, 8, 32 concurrent clients, durable acks;
 *       baseline: the writer with group_commit=false. The same load again
 *       through librapport (asynchronous typed calls) against the raw
 *       client path, in alternating slices on the same workers: within 5%
 *       of its rate.
 *   S3  adding 1M contacts to a segment, 10k per request (the add phase of
 *       S1's largest size); baseline: raw LMDB puts of the same lines.
 *   S4  one contact's newest 50 entries out of a 10M-entry log, built
 *       through the writer's own segment log stream.
 *   S5  peak RssAnon of each worker during S1 (sampled by a thread).
 *   S6  the writer's start-up to READY=1 with S4's store.
 *
 * It prints one table per scenario and writes bench.json. Sanity checks
 * (counts that must match) fail the run; unmet targets never do. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <poll.h>
#include <rapport/client.h>
#include <zmq.h>

#include "bench.h"
#include "pbscan.h"
#include "store.h"
#include "wire.h"

#include "rapport/v1/interaction.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"
#include "rapport/v1/segment.pb-c.h"

#define IX_REPLY  (&rapport__v1__interaction_reply__descriptor)
#define SEG_REPLY (&rapport__v1__segment_reply__descriptor)
#define LW_REPLY  (&rapport__v1__log_reply__descriptor)

#define CALL_TIMEOUT_MS  120000
#define LOG_TIMEOUT_MS   1800000
#define IMPORT_CHUNK     10000
#define WORK_DATE        20260615u
#define MIB              (1024.0 * 1024.0)
#define MAX_POINTS       8
#define RSS_INTERVAL_MS  25
#define RSS_TARGET_KB    (256ull * 1024)
#define LOOKUP_BUG_TEXT  "at most 10000 keys"
#define LOOKUP_BUG_CHUNK 9999
#define NO_LEN           24 /* a contact no. buffer */

enum { S1 = 1 << 0, S2 = 1 << 1, S3 = 1 << 2, S4 = 1 << 3, S5 = 1 << 4, S6 = 1 << 5 };

typedef struct {
    char bin_dir[BENCH_PATH_MAX];
    char tmp_dir[BENCH_PATH_MAX];
    char out[BENCH_PATH_MAX];
    unsigned scenarios;
    size_t s1_sizes[MAX_POINTS];
    size_t n_s1;
    size_t s3_lines; /* 0: S1's largest size */
    unsigned s2_clients[MAX_POINTS];
    size_t n_s2;
    double s2_seconds;
    unsigned s2_depth;
    uint64_t s4_entries;
    unsigned s4_logs;
    unsigned s4_per_contact;
    unsigned s4_batch;
    unsigned s4_queries;
    unsigned s6_restarts;
    size_t add_chunk;
    unsigned add_window;
    unsigned import_window;
    bool smoke, quick, keep, verbose;
    const char *mode;
} opts_t;

/* ---- results, for the tables and bench.json ---- */

typedef struct {
    size_t n;
    bool done;
    double import_s, add_s, log_s;
    size_t add_chunk, add_requests;
    double base_s;
    size_t entry_bytes;
    uint64_t first_entry_no, last_entry_no, follow_up_lines;
    uint64_t rss_setup_kb[BW_COUNT], rss_log_kb[BW_COUNT];
    double cpu_log_s[BW_COUNT]; /* each worker's CPU time, request to visible */
    double visible_s;           /* request until the logged segment is visible */
    /* CreateInteraction every PROBE_INTERVAL_S during the LogSegment */
    size_t probe_n;
    uint64_t probe_errors;
    double probe_p50, probe_p99, probe_max;
    /* S3 at this size */
    bool s3_done;
    double s3_base_s;
    size_t line_bytes, s3_base_commits;
} s1_point_t;

typedef struct {
    unsigned clients;
    double seconds, rate, p50, p99, p999, mean, max;
    uint64_t ok, errors;
    double cpu_per_call; /* the client threads' CPU time per acked call (seconds) */
} s2_point_t;

static struct {
    s1_point_t s1[MAX_POINTS];
    size_t n_s1;
    s2_point_t s2[MAX_POINTS], s2_base[MAX_POINTS];
    /* s2's load again, raw and through librapport in alternating slices */
    s2_point_t s2_ab_raw[MAX_POINTS], s2_lib[MAX_POINTS];
    size_t n_s2;
    uint64_t s2_acked[2], s2_entries[2];
    struct {
        bool done;
        uint64_t entries, contacts;
        unsigned logs, batch, queries;
        double build_s, p50, p99, p999, mean, max;
        uint64_t store_bytes, writer_peak_kb;
    } s4;
    struct {
        bool done;
        double ready_s[16];
        unsigned n;
        double worst, median;
    } s6;
    char errors[32][320];
    size_t n_errors;
} R;

static void s_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A failed sanity check or a scenario that could not run: printed, kept
 * for bench.json, and the exit status becomes 1. */
static void s_error(const char *fmt, ...)
{
    va_list ap;
    char buf[320];

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "rapport-bench: FAILED: %s\n", buf);
    if (R.n_errors < sizeof(R.errors) / sizeof(R.errors[0]))
        snprintf(R.errors[R.n_errors++], sizeof(R.errors[0]), "%s", buf);
}

static bool s_verbose;
static char s_load_start[64];

static void s_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void s_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("  ", stdout);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* 1234567.8 -> "1,234,568" */
static const char *s_thousands(char *buf, size_t len, double v)
{
    char raw[64];
    size_t n, o = 0, lead;

    if (!isfinite(v)) {
        snprintf(buf, len, "n/a");
        return buf;
    }
    snprintf(raw, sizeof(raw), "%.0f", v);
    n = strlen(raw);
    lead = raw[0] == '-' ? 1 : 0;
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        buf[o++] = raw[i];
        if (i >= lead && i + 1 < n && (n - i - 1) % 3 == 0)
            buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

/* ---- requests ---- */

/* A fresh request_id and the user id on any request of the contract. */
static void s_envelope(ProtobufCMessage *m, char rid[CLIENT_REQUEST_ID_LEN + 1])
{
    const ProtobufCFieldDescriptor *f1 = protobuf_c_message_descriptor_get_field(m->descriptor, 1);
    const ProtobufCFieldDescriptor *f2 = protobuf_c_message_descriptor_get_field(m->descriptor, 2);
    ProtobufCBinaryData *id = (ProtobufCBinaryData *)(void *)((char *)m + f1->offset);
    char **user = (char **)(void *)((char *)m + f2->offset);

    client_new_request_id(rid);
    id->data = (uint8_t *)rid;
    id->len = CLIENT_REQUEST_ID_LEN;
    *user = wire_str("bench");
}

/* Whether reply's Status is OK; else err says why. */
static bool s_reply_ok(const ProtobufCMessage *reply, char *err, size_t errlen)
{
    const Rapport__V1__Status *st = (const Rapport__V1__Status *)wire_msg_status(reply);
    const ProtobufCEnumValue *ev;

    if (!st || st->code == RAPPORT__V1__STATUS_CODE__OK)
        return true;
    ev = protobuf_c_enum_descriptor_get_value(&rapport__v1__status_code__descriptor, (int)st->code);
    snprintf(err, errlen, "%s: %s%s%s", ev ? ev->name : "?", st->message, st->field[0] ? " @" : "",
             st->field);
    return false;
}

/* Send req with a fresh request_id and wait for its reply (NULL on a
 * transport failure, printed). The reply may carry an error Status. */
static ProtobufCMessage *s_call_raw(client_t *c, ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *rd, int timeout_ms,
                                    const char *what)
{
    char rid[CLIENT_REQUEST_ID_LEN + 1];
    ProtobufCMessage *reply = NULL;
    rp_err rc;

    s_envelope(req, rid);
    rc = client_call(c, req, rd, timeout_ms, 0, &reply);
    if (rc != RP_OK) {
        s_error("%s: %s", what, rp_strerror(rc));
        return NULL;
    }
    return reply;
}

/* Same, and the reply's Status must be OK (else NULL, printed). */
static ProtobufCMessage *s_call(client_t *c, ProtobufCMessage *req,
                                const ProtobufCMessageDescriptor *rd, int timeout_ms,
                                const char *what)
{
    char err[512];
    ProtobufCMessage *reply = s_call_raw(c, req, rd, timeout_ms, what);

    if (reply && !s_reply_ok(reply, err, sizeof(err))) {
        s_error("%s: %s", what, err);
        wire_free(reply);
        return NULL;
    }
    return reply;
}

/* Call and discard an OK reply; 0 or -1. */
static int s_do(client_t *c, ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                const char *what)
{
    ProtobufCMessage *reply = s_call(c, req, rd, CALL_TIMEOUT_MS, what);
    if (!reply)
        return -1;
    wire_free(reply);
    return 0;
}

/* Requests 0..n-1 built by make(), at most `window` in flight, each reply
 * checked by check(). make() builds into storage of its ctx that must stay
 * valid until the next make() (client_send encodes at once). */
typedef struct {
    client_t *c;
    const ProtobufCMessageDescriptor *reply_desc;
    size_t window;
    int timeout_ms;
    ProtobufCMessage *(*make)(void *ctx, size_t i);
    bool (*check)(void *ctx, size_t i, const ProtobufCMessage *reply, char *err, size_t errlen);
    void *ctx;
    const char *what;
} pipe_t;

typedef struct {
    char rid[CLIENT_REQUEST_ID_LEN + 1];
    size_t i;
    bool used;
} slot_t;

static int s_pipeline(const pipe_t *p, size_t first, size_t n)
{
    slot_t slots[64];
    size_t window = p->window < 1 ? 1 : p->window > 64 ? 64 : p->window;
    size_t next = first, in_flight = 0, done = 0;
    char err[512];

    memset(slots, 0, sizeof(slots));
    while (done < n - first) {
        ProtobufCMessage *reply;
        const ProtobufCBinaryData *got;
        slot_t *s = NULL;
        rp_err rc;

        while (next < n && in_flight < window) {
            ProtobufCMessage *req = p->make(p->ctx, next);
            size_t k = 0;
            while (slots[k].used)
                k++;
            s_envelope(req, slots[k].rid);
            rc = client_send(p->c, req);
            if (rc == RP_ENOSPC)
                break;
            if (rc != RP_OK) {
                s_error("%s: send: %s", p->what, rp_strerror(rc));
                return -1;
            }
            slots[k].used = true;
            slots[k].i = next++;
            in_flight++;
        }
        rc = client_recv(p->c, p->reply_desc, p->timeout_ms, &reply);
        if (rc != RP_OK) {
            s_error("%s: %s", p->what, rp_strerror(rc));
            return -1;
        }
        got = client_message_request_id(reply);
        for (size_t k = 0; k < window && got; k++)
            if (slots[k].used && got->len == CLIENT_REQUEST_ID_LEN &&
                memcmp(got->data, slots[k].rid, CLIENT_REQUEST_ID_LEN) == 0)
                s = &slots[k];
        if (!s) {
            wire_free(reply);
            continue;
        }
        if (!s_reply_ok(reply, err, sizeof(err)) ||
            (p->check && !p->check(p->ctx, s->i, reply, err, sizeof(err)))) {
            s_error("%s: request %zu: %s", p->what, s->i, err);
            wire_free(reply);
            return -1;
        }
        wire_free(reply);
        s->used = false;
        in_flight--;
        done++;
    }
    return 0;
}

/* ---- the catalog ---- */

static int s_put_group(client_t *c, const char *code, const char *desc)
{
    Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
    Rapport__V1__InteractionGroup g = RAPPORT__V1__INTERACTION_GROUP__INIT;

    g.code = wire_str(code);
    g.description = wire_str(desc);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_GROUP;
    req.put_group = &g;
    return s_do(c, &req.base, IX_REPLY, "put_group");
}

static int s_put_template(client_t *c, const char *code, const char *desc, const char *group,
                          int64_t cost, uint32_t dur, Rapport__V1__InformationFlow flow,
                          Rapport__V1__InitiatedBy init, Rapport__V1__CorrespondenceType corr)
{
    Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
    Rapport__V1__InteractionTemplate t = RAPPORT__V1__INTERACTION_TEMPLATE__INIT;

    t.code = wire_str(code);
    t.description = wire_str(desc);
    t.interaction_group_code = wire_str(group);
    t.unit_cost_cents = cost;
    t.unit_duration_min = dur;
    t.information_flow = flow;
    t.initiated_by = init;
    t.correspondence_type_opt_case =
        RAPPORT__V1__INTERACTION_TEMPLATE__CORRESPONDENCE_TYPE_OPT_CORRESPONDENCE_TYPE;
    t.correspondence_type = corr;
    t.language_code = wire_str("EN");
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_TEMPLATE;
    req.put_template = &t;
    return s_do(c, &req.base, IX_REPLY, "put_template");
}

/* Groups, a salesperson, a campaign and two templates (MAIL, CALL). */
static int s_seed_catalog(client_t *c)
{
    Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
    Rapport__V1__Salesperson sp = RAPPORT__V1__SALESPERSON__INIT;
    Rapport__V1__Campaign cp = RAPPORT__V1__CAMPAIGN__INIT;

    if (s_put_group(c, "G1", "Letters") < 0 || s_put_group(c, "G2", "Calls") < 0)
        return -1;
    sp.code = wire_str("SP1");
    sp.name = wire_str("Sales One");
    sp.email = wire_str("sales.one@example.com");
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_SALESPERSON;
    req.put_salesperson = &sp;
    if (s_do(c, &req.base, IX_REPLY, "put_salesperson") < 0)
        return -1;
    cp.no = wire_str("CP1");
    cp.description = wire_str("Spring mailing");
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_CAMPAIGN;
    req.put_campaign = &cp;
    if (s_do(c, &req.base, IX_REPLY, "put_campaign") < 0)
        return -1;
    if (s_put_template(c, "MAIL", "Spring mailing letter", "G1", 150, 5,
                       RAPPORT__V1__INFORMATION_FLOW__INFORMATION_FLOW_OUTBOUND,
                       RAPPORT__V1__INITIATED_BY__INITIATED_BY_US,
                       RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_HARD_COPY) < 0)
        return -1;
    return s_put_template(c, "CALL", "Phone call", "G2", 300, 10,
                          RAPPORT__V1__INFORMATION_FLOW__INFORMATION_FLOW_INBOUND,
                          RAPPORT__V1__INITIATED_BY__INITIATED_BY_THEM,
                          RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_EMAIL);
}

/* Contact numbers: prefix + 7 digits, so that they sort in index order. */
static void s_contact_no(char out[NO_LEN], char prefix, size_t i)
{
    snprintf(out, NO_LEN, "%c%07zu", prefix, i);
}

/* Companies (their company no. is their own), 10000 per ImportContacts. */
typedef struct {
    char prefix;
    size_t n;
    Rapport__V1__InteractionRequest req;
    Rapport__V1__ImportContacts im;
    Rapport__V1__Contact *contacts;
    Rapport__V1__Contact **ptrs;
    char (*no)[NO_LEN];
    char (*name)[40];
    char (*email)[48];
} import_t;

static ProtobufCMessage *s_import_make(void *ctx, size_t chunk)
{
    import_t *im = ctx;
    size_t first = chunk * IMPORT_CHUNK;
    size_t k = im->n - first < IMPORT_CHUNK ? im->n - first : IMPORT_CHUNK;

    for (size_t j = 0; j < k; j++) {
        Rapport__V1__Contact *c = &im->contacts[j];
        rapport__v1__contact__init(c);
        s_contact_no(im->no[j], im->prefix, first + j);
        snprintf(im->name[j], sizeof(im->name[j]), "Contact %s Ltd", im->no[j]);
        snprintf(im->email[j], sizeof(im->email[j]), "info.%zu@example.com", first + j);
        c->no = im->no[j];
        c->name = im->name[j];
        c->type = RAPPORT__V1__CONTACT_TYPE__CONTACT_TYPE_COMPANY;
        c->salesperson_code = wire_str("SP1");
        c->language_code = wire_str("EN");
        c->correspondence_type = RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_HARD_COPY;
        c->email = im->email[j];
        im->ptrs[j] = c;
    }
    rapport__v1__interaction_request__init(&im->req);
    rapport__v1__import_contacts__init(&im->im);
    im->im.contacts = im->ptrs;
    im->im.n_contacts = k;
    im->req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_IMPORT_CONTACTS;
    im->req.import_contacts = &im->im;
    return &im->req.base;
}

static int s_import_contacts(client_t *c, char prefix, size_t n, unsigned window)
{
    import_t im;
    pipe_t p = {c, IX_REPLY, window, CALL_TIMEOUT_MS, s_import_make, NULL, &im, "import_contacts"};
    int rc = -1;

    memset(&im, 0, sizeof(im));
    im.prefix = prefix;
    im.n = n;
    im.contacts = calloc(IMPORT_CHUNK, sizeof(*im.contacts));
    im.ptrs = calloc(IMPORT_CHUNK, sizeof(*im.ptrs));
    im.no = calloc(IMPORT_CHUNK, sizeof(*im.no));
    im.name = calloc(IMPORT_CHUNK, sizeof(*im.name));
    im.email = calloc(IMPORT_CHUNK, sizeof(*im.email));
    if (im.contacts && im.ptrs && im.no && im.name && im.email)
        rc = s_pipeline(&p, 0, (n + IMPORT_CHUNK - 1) / IMPORT_CHUNK);
    free(im.contacts);
    free(im.ptrs);
    free(im.no);
    free(im.name);
    free(im.email);
    return rc;
}

/* ---- S1 / S3: a segment of n contacts ---- */

typedef struct {
    const char *segment_no;
    char prefix;
    size_t n, chunk;
    Rapport__V1__SegmentRequest req;
    Rapport__V1__AddContacts ac;
    char **ptrs;
    char (*no)[NO_LEN];
} add_t;

static ProtobufCMessage *s_add_make(void *ctx, size_t i)
{
    add_t *ad = ctx;
    size_t first = i * ad->chunk;
    size_t k = ad->n - first < ad->chunk ? ad->n - first : ad->chunk;

    for (size_t j = 0; j < k; j++) {
        s_contact_no(ad->no[j], ad->prefix, first + j);
        ad->ptrs[j] = ad->no[j];
    }
    rapport__v1__segment_request__init(&ad->req);
    rapport__v1__add_contacts__init(&ad->ac);
    ad->ac.segment_no = wire_str(ad->segment_no);
    ad->ac.contact_nos = ad->ptrs;
    ad->ac.n_contact_nos = k;
    ad->req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_ADD_CONTACTS;
    ad->req.add_contacts = &ad->ac;
    return &ad->req.base;
}

static bool s_add_check(void *ctx, size_t i, const ProtobufCMessage *reply, char *err,
                        size_t errlen)
{
    add_t *ad = ctx;
    const Rapport__V1__SegmentReply *r = (const Rapport__V1__SegmentReply *)reply;
    size_t first = i * ad->chunk;
    size_t k = ad->n - first < ad->chunk ? ad->n - first : ad->chunk;

    if (r->result_case != RAPPORT__V1__SEGMENT_REPLY__RESULT_ADDED || r->added->added != k) {
        snprintf(err, errlen, "added %llu of %zu contacts",
                 r->result_case == RAPPORT__V1__SEGMENT_REPLY__RESULT_ADDED
                     ? (unsigned long long)r->added->added
                     : 0ull,
                 k);
        return false;
    }
    return true;
}

/* Add contacts 0..n-1 to the segment; *ret_s is the time of the adds that
 * succeeded (a first request refused by the known lookup bound is resent
 * as 9,999 per request and not counted). */
static int s_add_contacts(bench_cluster_t *cl, const opts_t *o, const char *segment_no, size_t n,
                          double *ret_s, size_t *ret_chunk, size_t *ret_requests)
{
    add_t ad;
    pipe_t p = {cl->c[BW_SEGMENT], SEG_REPLY,   o->add_window, CALL_TIMEOUT_MS,
                s_add_make,        s_add_check, &ad,           "add_contacts"};
    size_t from = 0;
    double t0;
    int rc = -1;

    memset(&ad, 0, sizeof(ad));
    ad.segment_no = segment_no;
    ad.prefix = 'K';
    ad.n = n;
    ad.chunk = o->add_chunk;
    ad.ptrs = calloc(o->add_chunk, sizeof(*ad.ptrs));
    ad.no = calloc(o->add_chunk, sizeof(*ad.no));
    if (!ad.ptrs || !ad.no)
        goto out_free;
    t0 = bench_now();
    {
        /* The first request alone: it tells whether the worker still
         * refuses 10,000 contacts with a template. */
        char err[512];
        ProtobufCMessage *reply = s_call_raw(cl->c[BW_SEGMENT], s_add_make(&ad, 0), SEG_REPLY,
                                             CALL_TIMEOUT_MS, "add_contacts");
        if (!reply)
            goto out_free;
        if (!s_reply_ok(reply, err, sizeof(err))) {
            if (ad.chunk > LOOKUP_BUG_CHUNK && strstr(err, LOOKUP_BUG_TEXT)) {
                s_note("add_contacts: %zu per request refused (\"%s\"); using %d", ad.chunk, err,
                       LOOKUP_BUG_CHUNK);
                ad.chunk = LOOKUP_BUG_CHUNK;
                t0 = bench_now();
            } else {
                s_error("add_contacts: %s", err);
                wire_free(reply);
                goto out_free;
            }
        } else if (!s_add_check(&ad, 0, reply, err, sizeof(err))) {
            s_error("add_contacts: %s", err);
            wire_free(reply);
            goto out_free;
        } else {
            from = 1;
        }
        wire_free(reply);
    }
    if (s_pipeline(&p, from, (n + ad.chunk - 1) / ad.chunk) < 0)
        goto out_free;
    *ret_s = bench_now() - t0;
    *ret_chunk = ad.chunk;
    *ret_requests = (n + ad.chunk - 1) / ad.chunk;
    rc = 0;
out_free:
    free(ad.ptrs);
    free(ad.no);
    return rc;
}

static int s_segment_create(bench_cluster_t *cl, const char *no)
{
    Rapport__V1__SegmentRequest req = RAPPORT__V1__SEGMENT_REQUEST__INIT;
    Rapport__V1__SegmentNumbering num = RAPPORT__V1__SEGMENT_NUMBERING__INIT;
    Rapport__V1__CreateSegment cs = RAPPORT__V1__CREATE_SEGMENT__INIT;
    Rapport__V1__UpdateSegment us = RAPPORT__V1__UPDATE_SEGMENT__INIT;
    Rapport__V1__SegmentFields f = RAPPORT__V1__SEGMENT_FIELDS__INIT;
    Rapport__V1__SegmentFields tf = RAPPORT__V1__SEGMENT_FIELDS__INIT;

    num.prefix = wire_str("FU");
    num.next = 1;
    num.width = 6;
    req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_SET_NUMBERING;
    req.set_numbering = &num;
    if (s_do(cl->c[BW_SEGMENT], &req.base, SEG_REPLY, "set_numbering") < 0)
        return -1;
    f.description_opt_case = RAPPORT__V1__SEGMENT_FIELDS__DESCRIPTION_OPT_DESCRIPTION;
    f.description = wire_str("Spring mailing 2026");
    f.salesperson_code_opt_case =
        RAPPORT__V1__SEGMENT_FIELDS__SALESPERSON_CODE_OPT_SALESPERSON_CODE;
    f.salesperson_code = wire_str("SP1");
    f.campaign_no_opt_case = RAPPORT__V1__SEGMENT_FIELDS__CAMPAIGN_NO_OPT_CAMPAIGN_NO;
    f.campaign_no = wire_str("CP1");
    cs.no = wire_str(no);
    cs.fields = &f;
    req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_CREATE_SEGMENT;
    req.create_segment = &cs;
    if (s_do(cl->c[BW_SEGMENT], &req.base, SEG_REPLY, "create_segment") < 0)
        return -1;
    tf.interaction_template_code_opt_case =
        RAPPORT__V1__SEGMENT_FIELDS__INTERACTION_TEMPLATE_CODE_OPT_INTERACTION_TEMPLATE_CODE;
    tf.interaction_template_code = wire_str("MAIL");
    us.segment_no = wire_str(no);
    us.fields = &tf;
    req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_UPDATE_SEGMENT;
    req.update_segment = &us;
    return s_do(cl->c[BW_SEGMENT], &req.base, SEG_REPLY, "update_segment (template)");
}

/* The first line of a segment (the shape of every line), heap-owned. */
static Rapport__V1__SegmentReply *s_first_line(bench_cluster_t *cl, const char *no)
{
    Rapport__V1__SegmentRequest req = RAPPORT__V1__SEGMENT_REQUEST__INIT;
    Rapport__V1__ListLines ll = RAPPORT__V1__LIST_LINES__INIT;
    Rapport__V1__SegmentReply *r;

    ll.segment_no = wire_str(no);
    ll.limit = 1;
    req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_LIST_LINES;
    req.list_lines = &ll;
    r = (Rapport__V1__SegmentReply *)s_call(cl->c[BW_SEGMENT], &req.base, SEG_REPLY,
                                            CALL_TIMEOUT_MS, "list_lines");
    if (r &&
        (r->result_case != RAPPORT__V1__SEGMENT_REPLY__RESULT_LINES || r->lines->n_lines != 1)) {
        s_error("list_lines: no line in segment %s", no);
        wire_free(&r->base);
        return NULL;
    }
    return r;
}

static uint64_t s_segment_lines(bench_cluster_t *cl, const char *no)
{
    Rapport__V1__SegmentRequest req = RAPPORT__V1__SEGMENT_REQUEST__INIT;
    Rapport__V1__SegmentRef ref = RAPPORT__V1__SEGMENT_REF__INIT;
    Rapport__V1__SegmentReply *r;
    uint64_t n = 0;

    ref.segment_no = wire_str(no);
    req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_GET_SEGMENT;
    req.get_segment = &ref;
    r = (Rapport__V1__SegmentReply *)s_call(cl->c[BW_SEGMENT], &req.base, SEG_REPLY,
                                            CALL_TIMEOUT_MS, "get_segment");
    if (r && r->result_case == RAPPORT__V1__SEGMENT_REPLY__RESULT_SEGMENT)
        n = r->segment->no_of_lines;
    if (r)
        wire_free(&r->base);
    return n;
}

static Rapport__V1__LogReply *s_get_entry(client_t *c, uint64_t no)
{
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__GetEntry ge = RAPPORT__V1__GET_ENTRY__INIT;
    Rapport__V1__LogReply *r;

    ge.entry_no = no;
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_GET_ENTRY;
    req.get_entry = &ge;
    r = (Rapport__V1__LogReply *)s_call(c, &req.base, LW_REPLY, CALL_TIMEOUT_MS, "get_entry");
    if (r && r->result_case != RAPPORT__V1__LOG_REPLY__RESULT_ENTRY) {
        s_error("get_entry %llu: no entry in the reply", (unsigned long long)no);
        wire_free(&r->base);
        return NULL;
    }
    return r;
}

/* The newest entry no. of the writer (0 for none). */
static int s_last_entry_no(client_t *c, uint64_t *ret)
{
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ListEntries le = RAPPORT__V1__LIST_ENTRIES__INIT;
    Rapport__V1__LogReply *r;

    le.descending = true;
    le.limit = 1;
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_ENTRIES;
    req.list_entries = &le;
    r = (Rapport__V1__LogReply *)s_call(c, &req.base, LW_REPLY, CALL_TIMEOUT_MS, "list_entries");
    if (!r)
        return -1;
    if (r->result_case != RAPPORT__V1__LOG_REPLY__RESULT_ENTRIES) {
        s_error("list_entries: %s", r->status ? r->status->message : "no entries in the reply");
        wire_free(&r->base);
        return -1;
    }
    *ret = r->entries->n_entries ? r->entries->entries[0]->entry_no : 0;
    wire_free(&r->base);
    return 0;
}

/* ---- raw LMDB baselines ---- */

static int s_mdb_fail(const char *what, int rc)
{
    s_error("lmdb %s: %s", what, mdb_strerror(rc));
    return -1;
}

/* A bare env with default flags (full sync) in a fresh directory. */
static int s_mdb_open(const char *dir, size_t map_size, unsigned max_dbs, MDB_env **ret)
{
    MDB_env *env;
    int rc;

    bench_rmtree(dir);
    if (mkdir(dir, 0755) < 0) {
        s_error("mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    rc = mdb_env_create(&env);
    if (rc)
        return s_mdb_fail("env_create", rc);
    rc = mdb_env_set_mapsize(env, map_size);
    if (!rc && max_dbs)
        rc = mdb_env_set_maxdbs(env, max_dbs);
    if (!rc)
        rc = mdb_env_open(env, dir, 0, 0644);
    if (rc) {
        mdb_env_close(env);
        return s_mdb_fail("env_open", rc);
    }
    *ret = env;
    return 0;
}

/* Encoded messages back to back: offsets[i]..offsets[i+1]. */
typedef struct {
    uint8_t *buf;
    size_t *off;
    size_t n;
} packed_t;

static void s_packed_free(packed_t *p)
{
    free(p->buf);
    free(p->off);
    memset(p, 0, sizeof(*p));
}

/* S1's baseline: n entries shaped like the writer's entry `tpl` (entry no.
 * and contact vary as in the segment), encoded first, then put with
 * MDB_APPEND in one transaction and committed with a full sync. */
static int s_baseline_entries(const char *dir, const Rapport__V1__Entry *tpl, size_t n,
                              double *ret_s)
{
    packed_t pk = {NULL, NULL, 0};
    Rapport__V1__Entry e = *tpl;
    char no[NO_LEN];
    size_t total = 0, est = wire_size(&tpl->base) + 16;
    MDB_env *env = NULL;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    double t0;
    int rc = -1, mrc;

    pk.buf = malloc(est * n);
    pk.off = malloc(sizeof(size_t) * (n + 1));
    if (!pk.buf || !pk.off) {
        s_error("out of memory for %zu encoded entries", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        s_contact_no(no, 'K', i);
        e.entry_no = tpl->entry_no + i;
        e.contact_no = no;
        e.contact_company_no = no;
        pk.off[i] = total;
        if (wire_size(&e.base) > est) {
            s_error("an entry outgrew its estimate");
            goto out;
        }
        total += wire_encode_to(&e.base, pk.buf + total);
    }
    pk.off[n] = total;
    pk.n = n;
    if (s_mdb_open(dir, total * 3 + (64u << 20), 0, &env) < 0)
        goto out;
    t0 = bench_now();
    mrc = mdb_txn_begin(env, NULL, 0, &txn);
    if (mrc) {
        s_mdb_fail("txn_begin", mrc);
        goto out;
    }
    mrc = mdb_dbi_open(txn, NULL, 0, &dbi);
    for (size_t i = 0; i < n && !mrc; i++) {
        uint8_t k[8];
        MDB_val key = {8, k}, val = {pk.off[i + 1] - pk.off[i], pk.buf + pk.off[i]};
        store_u64_key(tpl->entry_no + i, k);
        mrc = mdb_put(txn, dbi, &key, &val, MDB_APPEND);
    }
    if (mrc) {
        mdb_txn_abort(txn);
        s_mdb_fail("put", mrc);
        goto out;
    }
    mrc = mdb_txn_commit(txn);
    if (mrc) {
        s_mdb_fail("commit", mrc);
        goto out;
    }
    *ret_s = bench_now() - t0;
    if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        mdb_stat(txn, dbi, &st);
        mdb_txn_abort(txn);
        if (st.ms_entries != n) {
            s_error("baseline: %zu entries in the env, not %zu", (size_t)st.ms_entries, n);
            goto out;
        }
    }
    rc = 0;
out:
    if (env)
        mdb_env_close(env);
    bench_rmtree(dir);
    s_packed_free(&pk);
    return rc;
}

/* S3's baseline: the same lines (shaped like the worker's first line),
 * keyed like the worker's (segment id + line no.), with its contact index
 * (segment id + contact no. -> line no.), one synced commit per chunk of
 * the requests' size. */
static int s_baseline_lines(const char *dir, const Rapport__V1__SegmentLine *tpl, size_t n,
                            size_t chunk, double *ret_s, size_t *ret_commits)
{
    packed_t pk = {NULL, NULL, 0};
    Rapport__V1__SegmentLine l = *tpl;
    char no[NO_LEN];
    size_t total = 0, est = wire_size(&tpl->base) + 16, commits = 0;
    MDB_env *env = NULL;
    MDB_txn *txn;
    MDB_dbi lines, contacts;
    MDB_stat st;
    double t0;
    int rc = -1, mrc;

    pk.buf = malloc(est * n);
    pk.off = malloc(sizeof(size_t) * (n + 1));
    if (!pk.buf || !pk.off) {
        s_error("out of memory for %zu encoded lines", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        s_contact_no(no, 'K', i);
        l.line_no = (uint64_t)(i + 1) * 10000u;
        l.contact_no = no;
        l.contact_company_no = no;
        pk.off[i] = total;
        if (wire_size(&l.base) > est) {
            s_error("a line outgrew its estimate");
            goto out;
        }
        total += wire_encode_to(&l.base, pk.buf + total);
    }
    pk.off[n] = total;
    pk.n = n;
    if (s_mdb_open(dir, total * 4 + (64u << 20), 4, &env) < 0)
        goto out;
    mrc = mdb_txn_begin(env, NULL, 0, &txn);
    if (!mrc)
        mrc = mdb_dbi_open(txn, "lines", MDB_CREATE, &lines);
    if (!mrc)
        mrc = mdb_dbi_open(txn, "line_contact", MDB_CREATE, &contacts);
    if (!mrc)
        mrc = mdb_txn_commit(txn);
    if (mrc) {
        s_mdb_fail("dbi_open", mrc);
        goto out;
    }
    t0 = bench_now();
    for (size_t first = 0; first < n; first += chunk) {
        size_t end = first + chunk < n ? first + chunk : n;
        mrc = mdb_txn_begin(env, NULL, 0, &txn);
        if (mrc) {
            s_mdb_fail("txn_begin", mrc);
            goto out;
        }
        for (size_t i = first; i < end && !mrc; i++) {
            uint8_t k[16], ck[8 + 16], v[8];
            size_t cl;
            MDB_val key = {16, k}, val = {pk.off[i + 1] - pk.off[i], pk.buf + pk.off[i]};
            MDB_val ckey, cval = {8, v};
            store_u64_key(1, k);
            store_u64_key((uint64_t)(i + 1) * 10000u, k + 8);
            mrc = mdb_put(txn, lines, &key, &val, MDB_APPEND);
            s_contact_no(no, 'K', i);
            cl = strlen(no);
            store_u64_key(1, ck);
            memcpy(ck + 8, no, cl);
            store_u64_key((uint64_t)(i + 1) * 10000u, v);
            ckey.mv_size = 8 + cl;
            ckey.mv_data = ck;
            if (!mrc)
                mrc = mdb_put(txn, contacts, &ckey, &cval, 0);
        }
        if (mrc) {
            mdb_txn_abort(txn);
            s_mdb_fail("put", mrc);
            goto out;
        }
        mrc = mdb_txn_commit(txn);
        if (mrc) {
            s_mdb_fail("commit", mrc);
            goto out;
        }
        commits++;
    }
    *ret_s = bench_now() - t0;
    *ret_commits = commits;
    if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        mdb_stat(txn, lines, &st);
        mdb_txn_abort(txn);
        if (st.ms_entries != n) {
            s_error("baseline: %zu lines in the env, not %zu", (size_t)st.ms_entries, n);
            goto out;
        }
    }
    rc = 0;
out:
    if (env)
        mdb_env_close(env);
    bench_rmtree(dir);
    s_packed_free(&pk);
    return rc;
}

extern char **environ;

/* ---- S1's profile: perf record on the three workers during a LogSegment ----
 *
 * With RAPPORT_BENCH_PROFILE=DIR (deploy/bench.sh --profile), each
 * LogSegment runs under `perf record -g -p <the three workers>`, written to
 * DIR/perf-s1-<contacts>.data; deploy/bench.sh prints its split by library.
 * 0 when not asked, -1 when perf would not start (the run goes on). */
static pid_t s_profile_start(const bench_cluster_t *cl, size_t n)
{
    const char *dir = getenv("RAPPORT_BENCH_PROFILE");
    char pids[64], out[4096], log[4096];
    char *argv[] = {wire_str("/usr/bin/perf"),
                    wire_str("record"),
                    wire_str("-q"),
                    wire_str("-g"),
                    wire_str("-o"),
                    out,
                    wire_str("-p"),
                    pids,
                    NULL};
    pid_t pid;

    if (!dir || !*dir)
        return 0;
    snprintf(pids, sizeof(pids), "%d,%d,%d", (int)cl->w[BW_LOGWRITER].pid,
             (int)cl->w[BW_INTERACTION].pid, (int)cl->w[BW_SEGMENT].pid);
    snprintf(out, sizeof(out), "%s/perf-s1-%zu.data", dir, n);
    snprintf(log, sizeof(log), "%s/perf-s1-%zu.log", dir, n);
    pid = bench_spawn(argv, environ, log);
    if (pid > 0)
        usleep(500 * 1000); /* perf attaches to the running workers */
    return pid;
}

/* ---- S1's probe: single interactions during a LogSegment ----
 * One client creates an interaction every PROBE_INTERVAL_S, each waited
 * for, from just before the LogSegment until its segment is visible: do
 * single interactions keep flowing while a large segment is logged? */
#define PROBE_INTERVAL_S 0.01

typedef struct {
    bench_cluster_t *cl;
    size_t n_contacts; /* contacts 'K' 0..n-1 exist */
    atomic_bool stop;
    double *lat;
    size_t n_lat, cap;
    uint64_t errors;
    char err[320];
} probe_t;

static void *s_probe_main(void *arg)
{
    probe_t *p = arg;
    client_t *cli = NULL;
    Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
    Rapport__V1__CreateInteraction ci = RAPPORT__V1__CREATE_INTERACTION__INIT;
    Rapport__V1__InteractionFields f = RAPPORT__V1__INTERACTION_FIELDS__INIT;
    char contact[NO_LEN], err[256];
    double next = bench_now();

    if (client_new(p->cl->zctx, p->cl->cfg.interaction_endpoint, &p->cl->cfg, &cli, err,
                   sizeof(err)) != RP_OK) {
        snprintf(p->err, sizeof(p->err), "connect: %s", err);
        return NULL;
    }
    f.contact_no = contact;
    f.interaction_template_code = wire_str("CALL");
    f.subject = wire_str("Call during a segment log");
    ci.origin = RAPPORT__V1__ORIGIN__ORIGIN_CONTACT;
    ci.fields = &f;
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_CREATE_INTERACTION;
    req.create_interaction = &ci;
    for (size_t i = 0; !atomic_load(&p->stop); i++) {
        double t0, now = bench_now();
        ProtobufCMessage *reply;
        if (now < next)
            usleep((useconds_t)((next - now) * 1e6));
        next += PROBE_INTERVAL_S;
        s_contact_no(contact, 'K', (i * 7919u) % p->n_contacts);
        t0 = bench_now();
        reply = s_call(cli, &req.base, IX_REPLY, CALL_TIMEOUT_MS, "probe create_interaction");
        if (!reply) {
            p->errors++;
            continue;
        }
        wire_free(reply);
        if (p->n_lat == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 1024;
            double *v = realloc(p->lat, cap * sizeof(double));
            if (!v) {
                snprintf(p->err, sizeof(p->err), "out of memory");
                break;
            }
            p->lat = v;
            p->cap = cap;
        }
        p->lat[p->n_lat++] = bench_now() - t0;
    }
    client_destroy(&cli);
    return NULL;
}

/* Send `req` every 2 ms until its reply is OK; false on timeout. */
static bool s_wait_ok(client_t *c, ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                      const char *what, double timeout_s)
{
    double end = bench_now() + timeout_s;

    while (bench_now() < end) {
        char err[256];
        ProtobufCMessage *r = s_call_raw(c, req, rd, CALL_TIMEOUT_MS, what);
        bool ok = r && s_reply_ok(r, err, sizeof(err));
        if (r)
            wire_free(r);
        if (ok)
            return true;
        usleep(2000);
    }
    s_error("%s: not there after %.0f s", what, timeout_s);
    return false;
}

/* Wait until a logged segment is visible at the writer and its follow-up
 * segment (if any) at the segment worker. */
static bool s_wait_visible(bench_cluster_t *cl, const Rapport__V1__SegmentLogged *lg,
                           double timeout_s)
{
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__GetLoggedSegment g = RAPPORT__V1__GET_LOGGED_SEGMENT__INIT;
    Rapport__V1__SegmentRequest sr = RAPPORT__V1__SEGMENT_REQUEST__INIT;
    Rapport__V1__SegmentRef ref = RAPPORT__V1__SEGMENT_REF__INIT;

    g.entry_no = lg->logged_segment_no;
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_GET_LOGGED_SEGMENT;
    lr.get_logged_segment = &g;
    ref.segment_no = lg->follow_up_segment_no;
    sr.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_GET_SEGMENT;
    sr.get_segment = &ref;
    return s_wait_ok(cl->c[BW_LOGWRITER], &lr.base, LW_REPLY, "get_logged_segment", timeout_s) &&
           (!lg->follow_up_segment_no[0] || s_wait_ok(cl->c[BW_SEGMENT], &sr.base, SEG_REPLY,
                                                      "get_segment (follow-up)", timeout_s));
}

/* ---- S1 (with S3 and S5) ---- */

static int s_s1_point(const opts_t *o, void *zctx, size_t n, bool do_log, bool do_s3,
                      s1_point_t *pt)
{
    bench_cluster_t cl;
    bench_rss_t rss;
    char segno[24], tag[32], dir[BENCH_PATH_MAX + 32];
    Rapport__V1__SegmentReply *line = NULL, *logged = NULL;
    Rapport__V1__LogReply *entry = NULL;
    int rc = -1;
    double t0;

    memset(pt, 0, sizeof(*pt));
    memset(&rss, 0, sizeof(rss));
    pt->n = n;
    snprintf(segno, sizeof(segno), "SEG%zu", n);
    snprintf(tag, sizeof(tag), "s1-%zu", n);
    if (bench_cluster_init(&cl, o->tmp_dir, tag, o->bin_dir, 7u, o->keep, zctx) < 0 ||
        bench_cluster_start(&cl) < 0)
        goto out;
    if (bench_rss_start(&rss, &cl, RSS_INTERVAL_MS) < 0)
        goto out;
    if (s_seed_catalog(cl.c[BW_INTERACTION]) < 0)
        goto out;
    t0 = bench_now();
    if (s_import_contacts(cl.c[BW_INTERACTION], 'K', n, o->import_window) < 0)
        goto out;
    pt->import_s = bench_now() - t0;
    if (s_segment_create(&cl, segno) < 0)
        goto out;
    if (s_add_contacts(&cl, o, segno, n, &pt->add_s, &pt->add_chunk, &pt->add_requests) < 0)
        goto out;
    if (s_segment_lines(&cl, segno) != n) {
        s_error("S1 %zu: the segment has %llu lines", n,
                (unsigned long long)s_segment_lines(&cl, segno));
        goto out;
    }
    s_note("%zu contacts: import %.2f s, add %.2f s (%zu per request, window %u)", n, pt->import_s,
           pt->add_s, pt->add_chunk, o->add_window);
    line = s_first_line(&cl, segno);
    if (!line)
        goto out;
    pt->line_bytes = wire_size(&line->lines->lines[0]->base);
    bench_rss_take(&rss, pt->rss_setup_kb);
    if (do_log) {
        Rapport__V1__SegmentRequest req = RAPPORT__V1__SEGMENT_REQUEST__INIT;
        Rapport__V1__LogSegment ls = RAPPORT__V1__LOG_SEGMENT__INIT;
        const Rapport__V1__SegmentLogged *lg;
        probe_t *probe = calloc(1, sizeof(*probe));
        pthread_t probe_th;
        bool probing = false, visible = false;
        pid_t profile;

        ls.segment_no = segno;
        ls.create_follow_up = true;
        ls.reply_when_durable = true;
        req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_LOG_SEGMENT;
        req.log_segment = &ls;
        if (probe) {
            probe->cl = &cl;
            probe->n_contacts = n;
            atomic_init(&probe->stop, false);
            probing = pthread_create(&probe_th, NULL, s_probe_main, probe) == 0;
        }
        profile = s_profile_start(&cl, n);
        for (int w = 0; w < BW_COUNT; w++)
            pt->cpu_log_s[w] = -bench_cpu_seconds(cl.w[w].pid);
        t0 = bench_now();
        logged = (Rapport__V1__SegmentReply *)s_call(cl.c[BW_SEGMENT], &req.base, SEG_REPLY,
                                                     LOG_TIMEOUT_MS, "log_segment");
        pt->log_s = bench_now() - t0;
        if (logged && logged->result_case == RAPPORT__V1__SEGMENT_REPLY__RESULT_LOGGED) {
            visible = s_wait_visible(&cl, logged->logged, LOG_TIMEOUT_MS / 1000.0);
            pt->visible_s = bench_now() - t0;
        }
        for (int w = 0; w < BW_COUNT; w++)
            pt->cpu_log_s[w] += bench_cpu_seconds(cl.w[w].pid);
        if (profile > 0)
            bench_reap(profile, false, 60); /* SIGTERM: perf writes its file */
        bench_rss_take(&rss, pt->rss_log_kb);
        if (probing) {
            atomic_store(&probe->stop, true);
            pthread_join(probe_th, NULL);
            if (probe->err[0])
                s_error("S1 %zu: probe: %s", n, probe->err);
            bench_sort(probe->lat, probe->n_lat);
            pt->probe_n = probe->n_lat;
            pt->probe_errors = probe->errors;
            pt->probe_p50 = bench_percentile(probe->lat, probe->n_lat, 0.50);
            pt->probe_p99 = bench_percentile(probe->lat, probe->n_lat, 0.99);
            pt->probe_max = probe->n_lat ? probe->lat[probe->n_lat - 1] : NAN;
            s_note("%zu contacts: %zu interactions during the log, p50 %.2f ms, p99 %.2f ms, "
                   "max %.2f ms, %llu errors",
                   n, pt->probe_n, pt->probe_p50 * 1e3, pt->probe_p99 * 1e3, pt->probe_max * 1e3,
                   (unsigned long long)pt->probe_errors);
        }
        if (probe)
            free(probe->lat);
        free(probe);
        if (!logged)
            goto out;
        if (logged->result_case != RAPPORT__V1__SEGMENT_REPLY__RESULT_LOGGED) {
            s_error("log_segment: no SegmentLogged in the reply");
            goto out;
        }
        if (!visible)
            goto out;
        lg = logged->logged;
        pt->first_entry_no = lg->first_entry_no;
        pt->last_entry_no = lg->last_entry_no;
        if (lg->entry_count != n || lg->last_entry_no - lg->first_entry_no + 1 != n ||
            lg->n_campaign_entries != 1 || lg->campaign_entries[0]->no_of_entries != n) {
            s_error("S1 %zu: logged %llu entries (%llu..%llu), campaign entries %zu", n,
                    (unsigned long long)lg->entry_count, (unsigned long long)lg->first_entry_no,
                    (unsigned long long)lg->last_entry_no, lg->n_campaign_entries);
            goto out;
        }
        pt->follow_up_lines = s_segment_lines(&cl, lg->follow_up_segment_no);
        if (pt->follow_up_lines != n) {
            s_error("S1 %zu: follow-up segment %s has %llu lines", n, lg->follow_up_segment_no,
                    (unsigned long long)pt->follow_up_lines);
            goto out;
        }
        entry = s_get_entry(cl.c[BW_LOGWRITER], lg->last_entry_no);
        if (!entry)
            goto out;
        {
            char want[NO_LEN];
            s_contact_no(want, 'K', n - 1);
            if (strcmp(entry->entry->contact_no, want) != 0) {
                s_error("S1 %zu: the last entry is for contact %s, not %s", n,
                        entry->entry->contact_no, want);
                goto out;
            }
        }
        wire_free(&entry->base);
        entry = s_get_entry(cl.c[BW_LOGWRITER], lg->first_entry_no);
        if (!entry)
            goto out;
        pt->entry_bytes = wire_size(&entry->entry->base);
        s_note("%zu contacts: LogSegment durable %.3f s = %.0f entries/s, visible %.3f s "
               "(entry %zu bytes)",
               n, pt->log_s, (double)n / pt->log_s, pt->visible_s, pt->entry_bytes);
        s_note("%zu contacts: CPU per entry: segment %.2f us, logwriter %.2f us, interaction "
               "%.2f us",
               n, pt->cpu_log_s[BW_SEGMENT] * 1e6 / (double)n,
               pt->cpu_log_s[BW_LOGWRITER] * 1e6 / (double)n,
               pt->cpu_log_s[BW_INTERACTION] * 1e6 / (double)n);
    }
    bench_rss_stop(&rss);
    bench_cluster_destroy(&cl);

    /* Baselines on a quiet machine, right after. */
    snprintf(dir, sizeof(dir), "%s/rapport-bench-lmdb-%zu", o->tmp_dir, n);
    if (do_log) {
        if (s_baseline_entries(dir, entry->entry, n, &pt->base_s) < 0)
            goto out;
        s_note("%zu contacts: raw LMDB baseline %.3f s = %.0f entries/s", n, pt->base_s,
               (double)n / pt->base_s);
        pt->done = true;
    }
    if (do_s3) {
        if (s_baseline_lines(dir, line->lines->lines[0], n, pt->add_chunk, &pt->s3_base_s,
                             &pt->s3_base_commits) < 0)
            goto out;
        s_note("%zu lines: raw LMDB baseline %.3f s in %zu commits = %.0f lines/s", n,
               pt->s3_base_s, pt->s3_base_commits, (double)n / pt->s3_base_s);
        pt->s3_done = true;
    }
    rc = 0;
out:
    bench_rss_stop(&rss);
    bench_cluster_destroy(&cl);
    if (line)
        wire_free(&line->base);
    if (logged)
        wire_free(&logged->base);
    if (entry)
        wire_free(&entry->base);
    return rc;
}

/* ---- S2: concurrent CreateInteraction ---- */

/* Clients start together when the gate opens. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
} gate_t;

static void s_gate_wait(gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void s_gate_open(gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

typedef struct {
    bench_cluster_t *cl;
    unsigned id, depth;
    size_t n_contacts;
    double start, warm, end;
    gate_t *go;
    double *lat; /* seconds */
    size_t n_lat, cap;
    uint64_t ok, errors, acked;
    size_t in_flight; /* librapport client */
    double cpu;       /* the thread's CPU time from the gate to its end (seconds) */
    char err[320];
} s2_client_t;

static void s2_record(s2_client_t *c, double lat)
{
    if (c->n_lat == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        double *v = realloc(c->lat, cap * sizeof(double));
        if (!v)
            return;
        c->lat = v;
        c->cap = cap;
    }
    c->lat[c->n_lat++] = lat;
}

/* This thread's CPU time (user + system), in seconds. */
static double s_thread_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *s2_client_main(void *arg)
{
    s2_client_t *c = arg;
    client_t *cli = NULL;
    Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
    Rapport__V1__CreateInteraction ci = RAPPORT__V1__CREATE_INTERACTION__INIT;
    Rapport__V1__InteractionFields f = RAPPORT__V1__INTERACTION_FIELDS__INIT;
    struct {
        char rid[CLIENT_REQUEST_ID_LEN + 1];
        double sent;
        bool used;
    } slot[16];
    char contact[NO_LEN];
    size_t in_flight = 0, seq = c->id;
    char err[256];

    memset(slot, 0, sizeof(slot));
    if (client_new(c->cl->zctx, c->cl->cfg.interaction_endpoint, &c->cl->cfg, &cli, err,
                   sizeof(err)) != RP_OK) {
        snprintf(c->err, sizeof(c->err), "connect: %s", err);
        return NULL;
    }
    f.contact_no = contact;
    f.interaction_template_code = wire_str("CALL");
    f.subject = wire_str("Benchmark call");
    ci.origin = RAPPORT__V1__ORIGIN__ORIGIN_CONTACT;
    ci.fields = &f;
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_CREATE_INTERACTION;
    req.create_interaction = &ci;
    s_gate_wait(c->go);
    c->cpu = -s_thread_cpu();
    for (;;) {
        ProtobufCMessage *reply;
        const ProtobufCBinaryData *got;
        double now = bench_now();
        rp_err rc;

        while (now < c->end && in_flight < c->depth) {
            size_t k = 0;
            while (slot[k].used)
                k++;
            s_contact_no(contact, 'B', (seq * 7919u) % c->n_contacts);
            seq += 64;
            s_envelope(&req.base, slot[k].rid);
            slot[k].sent = bench_now();
            rc = client_send(cli, &req.base);
            if (rc != RP_OK) {
                snprintf(c->err, sizeof(c->err), "send: %s", rp_strerror(rc));
                goto out;
            }
            slot[k].used = true;
            in_flight++;
        }
        if (in_flight == 0)
            break;
        rc = client_recv(cli, IX_REPLY, 60000, &reply);
        if (rc != RP_OK) {
            snprintf(c->err, sizeof(c->err), "recv: %s", rp_strerror(rc));
            goto out;
        }
        now = bench_now();
        got = client_message_request_id(reply);
        for (size_t k = 0; k < c->depth; k++) {
            if (!slot[k].used || !got || got->len != CLIENT_REQUEST_ID_LEN ||
                memcmp(got->data, slot[k].rid, CLIENT_REQUEST_ID_LEN) != 0)
                continue;
            slot[k].used = false;
            in_flight--;
            if (!s_reply_ok(reply, err, sizeof(err))) {
                c->errors++;
                if (!c->err[0])
                    snprintf(c->err, sizeof(c->err), "%s", err);
            } else {
                c->acked++;
                if (slot[k].sent >= c->warm && now <= c->end) {
                    c->ok++;
                    s2_record(c, now - slot[k].sent);
                }
            }
        }
        wire_free(reply);
    }
out:
    c->cpu += s_thread_cpu();
    client_destroy(&cli);
    return NULL;
}

/* The same client through librapport: asynchronous typed calls, `depth`
 * in flight, driven by poll() on the client's fd; no resends within the
 * 60 s deadline, as above. */
typedef struct {
    s2_client_t *c;
    double sent;
    bool used;
} s2_lib_slot_t;

static void s2_lib_done(void *arg, int code, ProtobufCMessage *reply, const rapport_error *err)
{
    s2_lib_slot_t *slot = arg;
    s2_client_t *c = slot->c;
    double now = bench_now();

    slot->used = false;
    c->in_flight--;
    if (code != 0) {
        c->errors++;
        if (!c->err[0])
            snprintf(c->err, sizeof(c->err), "%.300s", err->message);
    } else {
        c->acked++;
        if (slot->sent >= c->warm && now <= c->end) {
            c->ok++;
            s2_record(c, now - slot->sent);
        }
    }
    rapport_reply_free(reply);
}

static void *s2_lib_client_main(void *arg)
{
    s2_client_t *c = arg;
    char ep[CONFIG_PATH_MAX + 32], contact[NO_LEN];
    const char *settings[] = {ep, NULL};
    rapport_options opts = {
        .config_path = "", .settings = settings, .user_id = "bench", .zmq_context = c->cl->zctx};
    rapport_call_opts call = {.deadline_ms = 60000, .retry_ms = 60000};
    Rapport__V1__CreateInteraction ci = RAPPORT__V1__CREATE_INTERACTION__INIT;
    Rapport__V1__InteractionFields f = RAPPORT__V1__INTERACTION_FIELDS__INIT;
    s2_lib_slot_t slot[16];
    rapport_client *cli = NULL;
    rapport_error err;
    size_t seq = c->id;
    int fd;

    snprintf(ep, sizeof(ep), "interaction_endpoint=%s", c->cl->cfg.interaction_endpoint);
    if (rapport_client_new(&opts, &cli, &err) != 0) {
        snprintf(c->err, sizeof(c->err), "connect: %.300s", err.message);
        return NULL;
    }
    for (size_t k = 0; k < 16; k++)
        slot[k] = (s2_lib_slot_t){.c = c};
    f.contact_no = contact;
    f.interaction_template_code = wire_str("CALL");
    f.subject = wire_str("Benchmark call");
    ci.origin = RAPPORT__V1__ORIGIN__ORIGIN_CONTACT;
    ci.fields = &f;
    fd = rapport_client_fd(cli);
    s_gate_wait(c->go);
    c->cpu = -s_thread_cpu();
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        while (bench_now() < c->end && c->in_flight < c->depth) {
            size_t k = 0;
            while (slot[k].used)
                k++;
            s_contact_no(contact, 'B', (seq * 7919u) % c->n_contacts);
            seq += 64;
            slot[k].sent = bench_now();
            if (rapport_interaction_create_interaction_async(cli, &ci, &call, s2_lib_done, &slot[k],
                                                             &err) != 0) {
                snprintf(c->err, sizeof(c->err), "send: %.300s", err.message);
                goto out;
            }
            slot[k].used = true;
            c->in_flight++;
        }
        if (c->in_flight == 0)
            break;
        poll(&p, 1, rapport_client_timeout(cli));
        rapport_client_process(cli);
    }
out:
    c->cpu += s_thread_cpu();
    rapport_client_destroy(&cli);
    return NULL;
}

/* Latencies and counts of one or more S2 drives. */
typedef struct {
    double *lat; /* seconds */
    size_t n;
    uint64_t ok, errors, acked;
    double seconds, cpu;
} s2_acc_t;

/* n clients for `seconds` (a tenth of it, at least 0.2 s, warms up), on
 * the raw client path or (lib) through librapport, added to *acc. */
static int s_s2_drive(bench_cluster_t *cl, unsigned n, unsigned depth, double seconds,
                      size_t n_contacts, bool lib, s2_acc_t *acc, uint64_t *acked)
{
    s2_client_t *cs = calloc(n, sizeof(*cs));
    pthread_t *th = calloc(n, sizeof(*th));
    gate_t go = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    unsigned started = 0;
    double warmup = seconds / 10 < 0.2 ? 0.2 : seconds / 10;
    size_t total = 0;
    int rc = -1;

    if (!cs || !th)
        goto out;
    for (unsigned i = 0; i < n; i++) {
        cs[i].cl = cl;
        cs[i].id = i;
        cs[i].depth = depth;
        cs[i].n_contacts = n_contacts;
        cs[i].go = &go;
        if (pthread_create(&th[i], NULL, lib ? s2_lib_client_main : s2_client_main, &cs[i]) != 0)
            break;
        started++;
    }
    {
        /* When a thread did not start, the others end at once and the
         * point fails. */
        double start = bench_now();
        for (unsigned i = 0; i < n; i++) {
            cs[i].start = start;
            cs[i].warm = start + warmup;
            cs[i].end = started == n ? start + warmup + seconds : 0;
        }
        s_gate_open(&go);
    }
    if (started < n)
        s_error("S2: cannot start client thread %u of %u", started, n);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        total += cs[i].n_lat;
        acc->ok += cs[i].ok;
        acc->errors += cs[i].errors;
        acc->acked += cs[i].acked;
        acc->cpu += cs[i].cpu;
        *acked += cs[i].acked;
        if (cs[i].err[0])
            s_error("S2 client %u of %u: %s", i, n, cs[i].err);
    }
    if (started < n)
        goto out;
    {
        double *v = realloc(acc->lat, (acc->n + total + 1) * sizeof(double));
        if (!v)
            goto out;
        acc->lat = v;
    }
    for (unsigned i = 0; i < n; i++)
        for (size_t j = 0; j < cs[i].n_lat; j++)
            acc->lat[acc->n++] = cs[i].lat[j];
    acc->seconds += seconds;
    rc = 0;
out:
    for (unsigned i = 0; cs && i < n; i++)
        free(cs[i].lat);
    free(cs);
    free(th);
    return rc;
}

/* The figures of what acc gathered from n clients; frees acc. */
static int s_s2_point(s2_acc_t *acc, unsigned n, s2_point_t *pt)
{
    double sum = 0;
    int rc;

    memset(pt, 0, sizeof(*pt));
    pt->clients = n;
    pt->ok = acc->ok;
    pt->errors = acc->errors;
    for (size_t i = 0; i < acc->n; i++)
        sum += acc->lat[i];
    bench_sort(acc->lat, acc->n);
    pt->seconds = acc->seconds;
    pt->cpu_per_call = acc->acked ? acc->cpu / (double)acc->acked : NAN;
    pt->rate = acc->seconds > 0 ? (double)pt->ok / acc->seconds : 0;
    pt->p50 = bench_percentile(acc->lat, acc->n, 0.50);
    pt->p99 = bench_percentile(acc->lat, acc->n, 0.99);
    pt->p999 = bench_percentile(acc->lat, acc->n, 0.999);
    pt->mean = acc->n ? sum / (double)acc->n : NAN;
    pt->max = acc->n ? acc->lat[acc->n - 1] : NAN;
    rc = pt->errors == 0 && pt->ok > 0 ? 0 : -1;
    if (rc < 0)
        s_error("S2 %u clients: %llu acked, %llu errors", n, (unsigned long long)pt->ok,
                (unsigned long long)pt->errors);
    free(acc->lat);
    memset(acc, 0, sizeof(*acc));
    return rc;
}

static int s_s2_run(bench_cluster_t *cl, unsigned n, unsigned depth, double seconds,
                    size_t n_contacts, s2_point_t *pt, uint64_t *acked)
{
    s2_acc_t acc = {0};

    if (s_s2_drive(cl, n, depth, seconds, n_contacts, false, &acc, acked) < 0) {
        free(acc.lat);
        return -1;
    }
    return s_s2_point(&acc, n, pt);
}

/* The raw client path and librapport on the same workers, alternating in
 * S2_AB_ROUNDS slices (raw, lib, lib, raw, ...), so that what else runs
 * on the machine weighs on both alike. */
#define S2_AB_ROUNDS 4

static int s_s2_lib(bench_cluster_t *cl, unsigned n, unsigned depth, double seconds,
                    size_t n_contacts, s2_point_t *raw, s2_point_t *lib, uint64_t *acked)
{
    s2_acc_t acc[2] = {{0}};
    int rc = 0;

    for (int r = 0; r < S2_AB_ROUNDS && rc == 0; r++)
        for (int k = 0; k < 2 && rc == 0; k++) {
            bool use_lib = (k == 1) != (r % 2 == 1);
            rc = s_s2_drive(cl, n, depth, seconds / S2_AB_ROUNDS, n_contacts, use_lib,
                            &acc[use_lib], acked);
        }
    if (rc == 0)
        rc = s_s2_point(&acc[0], n, raw) | s_s2_point(&acc[1], n, lib);
    free(acc[0].lat);
    free(acc[1].lat);
    return rc < 0 ? -1 : 0;
}

static int s_s2(const opts_t *o, void *zctx)
{
    bench_cluster_t cl[2];
    size_t n_contacts = o->smoke ? 200 : 10000;
    int rc = -1;

    memset(cl, 0, sizeof(cl));
    /* [0] group commit (the figure), [1] one commit per request (the
     * baseline). Both run at once, idle while the other is driven, so
     * that each point is measured next to its baseline. */
    for (int m = 0; m < 2; m++) {
        if (bench_cluster_init(&cl[m], o->tmp_dir, m ? "s2-base" : "s2", o->bin_dir,
                               (1u << BW_LOGWRITER) | (1u << BW_INTERACTION), o->keep, zctx) < 0)
            goto out;
        if (m == 1) {
            cl[m].w[BW_LOGWRITER].sets[0] = "group_commit=false";
            cl[m].w[BW_LOGWRITER].n_sets = 1;
        }
        if (bench_cluster_start(&cl[m]) < 0 || s_seed_catalog(cl[m].c[BW_INTERACTION]) < 0 ||
            s_import_contacts(cl[m].c[BW_INTERACTION], 'B', n_contacts, o->import_window) < 0)
            goto out;
    }
    for (size_t i = 0; i < o->n_s2; i++) {
        unsigned n = o->s2_clients[i];
        if (s_s2_run(&cl[1], n, o->s2_depth, o->s2_seconds, n_contacts, &R.s2_base[i],
                     &R.s2_acked[1]) < 0)
            goto out;
        if (s_s2_run(&cl[0], n, o->s2_depth, o->s2_seconds, n_contacts, &R.s2[i], &R.s2_acked[0]) <
            0)
            goto out;
        if (s_s2_lib(&cl[0], n, o->s2_depth, o->s2_seconds, n_contacts, &R.s2_ab_raw[i],
                     &R.s2_lib[i], &R.s2_acked[0]) < 0)
            goto out;
        R.n_s2 = i + 1;
        s_note("%3u clients: %8.0f/s p50 %.2f p99 %.2f p999 %.2f ms | group_commit=false "
               "%8.0f/s p99 %.2f ms | librapport %8.0f/s p99 %.2f ms (raw %.0f/s)",
               n, R.s2[i].rate, R.s2[i].p50 * 1e3, R.s2[i].p99 * 1e3, R.s2[i].p999 * 1e3,
               R.s2_base[i].rate, R.s2_base[i].p99 * 1e3, R.s2_lib[i].rate, R.s2_lib[i].p99 * 1e3,
               R.s2_ab_raw[i].rate);
    }
    /* Every ack is an entry: the writers must hold exactly as many. */
    for (int m = 0; m < 2; m++) {
        if (s_last_entry_no(cl[m].c[BW_LOGWRITER], &R.s2_entries[m]) < 0)
            goto out;
        if (R.s2_entries[m] != R.s2_acked[m]) {
            s_error("S2%s: %llu interactions acked, the writer holds %llu entries",
                    m ? " baseline" : "", (unsigned long long)R.s2_acked[m],
                    (unsigned long long)R.s2_entries[m]);
            goto out;
        }
    }
    rc = 0;
out:
    bench_cluster_destroy(&cl[0]);
    bench_cluster_destroy(&cl[1]);
    return rc;
}

/* ---- S4: a 10M-entry log, built through the writer's stream ---- */

typedef struct {
    uint64_t base, contacts;
    char log_id[32];
    Rapport__V1__LogRequest req;
    Rapport__V1__SegmentLogBatch b;
    Rapport__V1__Entry *e;
    uint8_t *packed; /* the batch's entries as the stream carries them */
    char (*no)[NO_LEN];
    size_t batch, count;
} s4_stream_t;

#define S4_ENTRY_MAX 512 /* bytes an encoded entry of S4 takes at most, with its length */

static ProtobufCMessage *s_s4_batch_make(void *ctx, size_t i)
{
    s4_stream_t *s = ctx;
    size_t first = i * s->batch, len = 0;
    size_t k = s->count - first < s->batch ? s->count - first : s->batch;

    for (size_t j = 0; j < k; j++) {
        Rapport__V1__Entry *e = &s->e[j];
        uint64_t g = s->base + first + j; /* global index: contact g % contacts */
        rapport__v1__entry__init(e);
        s_contact_no(s->no[j], 'C', (size_t)(g % s->contacts));
        e->contact_no = s->no[j];
        e->contact_company_no = s->no[j];
        e->date =
            20240000u + (uint32_t)((g / s->contacts) % 12 + 1) * 100u + (uint32_t)(g % 28 + 1);
        e->time_of_interaction = (uint32_t)((g * 37u) % 86400u);
        e->description = wire_str("Quarterly account review");
        e->subject = wire_str("Quarterly account review");
        e->information_flow = RAPPORT__V1__INFORMATION_FLOW__INFORMATION_FLOW_INBOUND;
        e->initiated_by = RAPPORT__V1__INITIATED_BY__INITIATED_BY_THEM;
        e->cost_cents = 300;
        e->duration_min = 10;
        e->user_id = wire_str("bench");
        e->interaction_group_code = wire_str("G2");
        e->interaction_template_code = wire_str("CALL");
        e->interaction_language_code = wire_str("EN");
        e->salesperson_code = wire_str("SP1");
        e->correspondence_type = RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_EMAIL;
        /* Each entry behind its length (logwriter.proto, SegmentLogBatch). */
        len += pbscan_put_varint(s->packed + len, wire_size(&e->base));
        len += wire_encode_to(&e->base, s->packed + len);
    }
    rapport__v1__log_request__init(&s->req);
    rapport__v1__segment_log_batch__init(&s->b);
    s->b.log_id.data = (uint8_t *)s->log_id;
    s->b.log_id.len = strlen(s->log_id);
    s->b.index = first;
    s->b.packed_entries.data = s->packed;
    s->b.packed_entries.len = len;
    s->req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_BATCH;
    s->req.log_batch = &s->b;
    return &s->req.base;
}

/* One segment log of `count` entries whose global indexes start at base. */
static int s_s4_log(bench_cluster_t *cl, s4_stream_t *s, unsigned no)
{
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__SegmentLogBegin b = RAPPORT__V1__SEGMENT_LOG_BEGIN__INIT;
    Rapport__V1__SegmentLogCommit c = RAPPORT__V1__SEGMENT_LOG_COMMIT__INIT;
    Rapport__V1__LogReply *r;
    char segno[24], desc[48];
    pipe_t p = {cl->c[BW_LOGWRITER], LW_REPLY, 8, CALL_TIMEOUT_MS,
                s_s4_batch_make,     NULL,     s, "log_batch"};
    int rc = -1;

    snprintf(s->log_id, sizeof(s->log_id), "bench-history-%u", no);
    snprintf(segno, sizeof(segno), "HIST%04u", no);
    snprintf(desc, sizeof(desc), "Account reviews, part %u", no);
    b.log_id.data = (uint8_t *)s->log_id;
    b.log_id.len = strlen(s->log_id);
    b.segment_no = segno;
    b.description = desc;
    b.creation_date = WORK_DATE;
    b.line_count = s->count;
    b.date = WORK_DATE;
    b.salesperson_code = wire_str("SP1");
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_BEGIN;
    req.log_begin = &b;
    r = (Rapport__V1__LogReply *)s_call(cl->c[BW_LOGWRITER], &req.base, LW_REPLY, CALL_TIMEOUT_MS,
                                        "log_begin");
    if (!r)
        return -1;
    if (r->result_case != RAPPORT__V1__LOG_REPLY__RESULT_LOG_STARTED || r->log_started->committed) {
        s_error("log_begin %s: unexpected reply", s->log_id);
        wire_free(&r->base);
        return -1;
    }
    p.window = r->log_started->credit ? r->log_started->credit : 1;
    wire_free(&r->base);
    if (s_pipeline(&p, 0, (s->count + s->batch - 1) / s->batch) < 0)
        return -1;
    c.log_id.data = (uint8_t *)s->log_id;
    c.log_id.len = strlen(s->log_id);
    c.count = s->count;
    rapport__v1__log_request__init(&req);
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_COMMIT;
    req.log_commit = &c;
    r = (Rapport__V1__LogReply *)s_call(cl->c[BW_LOGWRITER], &req.base, LW_REPLY, LOG_TIMEOUT_MS,
                                        "log_commit");
    if (!r)
        return -1;
    if (r->result_case != RAPPORT__V1__LOG_REPLY__RESULT_SEGMENT_LOGGED ||
        r->segment_logged->entry_count != s->count)
        s_error("log_commit %s: %llu entries logged, not %zu", s->log_id,
                r->result_case == RAPPORT__V1__LOG_REPLY__RESULT_SEGMENT_LOGGED
                    ? (unsigned long long)r->segment_logged->entry_count
                    : 0ull,
                s->count);
    /* The writer indexes a log after its commit; queries see it once done. */
    else if (s_wait_visible(cl, r->segment_logged, LOG_TIMEOUT_MS / 1000.0))
        rc = 0;
    wire_free(&r->base);
    return rc;
}

static int s_s4_build(bench_cluster_t *cl, const opts_t *o, uint64_t contacts)
{
    s4_stream_t s;
    uint64_t per = o->s4_entries / o->s4_logs, done = 0;
    double t0 = bench_now();
    int rc = -1;

    memset(&s, 0, sizeof(s));
    s.batch = o->s4_batch;
    s.contacts = contacts;
    s.e = calloc(s.batch, sizeof(*s.e));
    s.packed = malloc(s.batch * S4_ENTRY_MAX);
    s.no = calloc(s.batch, sizeof(*s.no));
    if (!s.e || !s.packed || !s.no)
        goto out;
    for (unsigned l = 0; l < o->s4_logs; l++) {
        s.base = done;
        s.count = (size_t)(l + 1 == o->s4_logs ? o->s4_entries - done : per);
        if (s_s4_log(cl, &s, l + 1) < 0)
            goto out;
        done += s.count;
        if (s_verbose || o->s4_logs <= 20)
            s_note("history: %llu of %llu entries (%.1f s)", (unsigned long long)done,
                   (unsigned long long)o->s4_entries, bench_now() - t0);
    }
    R.s4.build_s = bench_now() - t0;
    rc = 0;
out:
    free(s.e);
    free(s.packed);
    free(s.no);
    return rc;
}

/* One ListEntries of a contact's newest 50; checks the page. */
static int s_s4_query(client_t *c, uint64_t contact, unsigned want, double *ret_s)
{
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ListEntries le = RAPPORT__V1__LIST_ENTRIES__INIT;
    Rapport__V1__EntryFilter f = RAPPORT__V1__ENTRY_FILTER__INIT;
    Rapport__V1__LogReply *r;
    char no[NO_LEN];
    double t0;
    int rc = 0;

    s_contact_no(no, 'C', (size_t)contact);
    f.contact_no = no;
    le.filter = &f;
    le.descending = true;
    le.limit = 50;
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_ENTRIES;
    req.list_entries = &le;
    t0 = bench_now();
    r = (Rapport__V1__LogReply *)s_call(c, &req.base, LW_REPLY, CALL_TIMEOUT_MS, "list_entries");
    *ret_s = bench_now() - t0;
    if (!r)
        return -1;
    if (r->result_case != RAPPORT__V1__LOG_REPLY__RESULT_ENTRIES || r->entries->n_entries != want) {
        s_error("S4: contact %s: %zu entries, not %u", no,
                r->result_case == RAPPORT__V1__LOG_REPLY__RESULT_ENTRIES ? r->entries->n_entries
                                                                         : (size_t)0,
                want);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < r->entries->n_entries; i++) {
        const Rapport__V1__Entry *e = r->entries->entries[i];
        if (strcmp(e->contact_no, no) != 0 ||
            (i && e->entry_no >= r->entries->entries[i - 1]->entry_no)) {
            s_error("S4: contact %s: entry %llu of contact %s, or not newest first", no,
                    (unsigned long long)e->entry_no, e->contact_no);
            rc = -1;
        }
    }
    wire_free(&r->base);
    return rc;
}

static uint64_t s_rng(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static uint64_t s_dir_bytes(const char *path)
{
    char sub[BENCH_PATH_MAX * 2];
    struct stat st;

    snprintf(sub, sizeof(sub), "%s/logwriter/data.mdb", path);
    return stat(sub, &st) == 0 ? (uint64_t)st.st_blocks * 512u : 0;
}

static int s_s4_s6(const opts_t *o, void *zctx)
{
    bench_cluster_t cl;
    uint64_t contacts = o->s4_entries / o->s4_per_contact, rng = 0x9E3779B97F4A7C15ull;
    unsigned want = o->s4_per_contact < 50 ? o->s4_per_contact : 50;
    unsigned warm = o->s4_queries / 10 < 50 ? 50 : o->s4_queries / 10;
    double *lat = NULL, sum = 0;
    bench_rss_t rss;
    uint64_t peak_kb[BW_COUNT];
    int rc = -1, built;

    if (contacts == 0)
        contacts = 1;
    if (bench_cluster_init(&cl, o->tmp_dir, "s4", o->bin_dir, 1u << BW_LOGWRITER, o->keep, zctx) <
            0 ||
        bench_cluster_start(&cl) < 0)
        goto out;
    /* S5 on the largest store: the writer's peak while it grows to S4's size. */
    if (bench_rss_start(&rss, &cl, RSS_INTERVAL_MS) < 0)
        goto out;
    built = s_s4_build(&cl, o, contacts);
    bench_rss_take(&rss, peak_kb);
    bench_rss_stop(&rss);
    if (built < 0)
        goto out;
    R.s4.writer_peak_kb = peak_kb[BW_LOGWRITER];
    R.s4.entries = o->s4_entries;
    R.s4.logs = o->s4_logs;
    R.s4.contacts = contacts;
    R.s4.batch = o->s4_batch;
    R.s4.store_bytes = s_dir_bytes(cl.state_dir);
    s_note("S4 store: %llu entries (%llu contacts x %u) built in %.1f s = %.0f entries/s, "
           "data.mdb %.0f MiB",
           (unsigned long long)o->s4_entries, (unsigned long long)contacts, o->s4_per_contact,
           R.s4.build_s, (double)o->s4_entries / R.s4.build_s, (double)R.s4.store_bytes / MIB);
    {
        uint64_t last = 0;
        if (s_last_entry_no(cl.c[BW_LOGWRITER], &last) < 0)
            goto out;
        if (last != o->s4_entries) {
            s_error("S4: the newest entry is %llu, not %llu", (unsigned long long)last,
                    (unsigned long long)o->s4_entries);
            goto out;
        }
    }
    if (o->scenarios & S4) {
        lat = calloc(o->s4_queries ? o->s4_queries : 1, sizeof(double));
        if (!lat)
            goto out;
        for (unsigned i = 0; i < warm + o->s4_queries; i++) {
            double s;
            if (s_s4_query(cl.c[BW_LOGWRITER], s_rng(&rng) % contacts, want, &s) < 0)
                goto out;
            if (i >= warm) {
                lat[i - warm] = s;
                sum += s;
            }
        }
        bench_sort(lat, o->s4_queries);
        R.s4.queries = o->s4_queries;
        R.s4.p50 = bench_percentile(lat, o->s4_queries, 0.5);
        R.s4.p99 = bench_percentile(lat, o->s4_queries, 0.99);
        R.s4.p999 = bench_percentile(lat, o->s4_queries, 0.999);
        R.s4.max = lat[o->s4_queries - 1];
        R.s4.mean = sum / o->s4_queries;
        R.s4.done = true;
        s_note("S4 history of one contact: p50 %.0f us, p99 %.0f us, p999 %.0f us (%u queries)",
               R.s4.p50 * 1e6, R.s4.p99 * 1e6, R.s4.p999 * 1e6, o->s4_queries);
    }
    if (o->scenarios & S6) {
        double sorted[16];
        for (unsigned i = 0; i < o->s6_restarts && i < 16; i++) {
            double s;
            if (bench_worker_stop(&cl, BW_LOGWRITER, 120) != 0) {
                s_error("S6: the writer did not stop cleanly");
                goto out;
            }
            if (bench_worker_start(&cl, BW_LOGWRITER, 600) < 0)
                goto out;
            R.s6.ready_s[R.s6.n++] = cl.w[BW_LOGWRITER].ready_s;
            /* It must serve the store it announced. */
            if (s_s4_query(cl.c[BW_LOGWRITER], s_rng(&rng) % contacts, want, &s) < 0)
                goto out;
        }
        memcpy(sorted, R.s6.ready_s, sizeof(double) * R.s6.n);
        bench_sort(sorted, R.s6.n);
        R.s6.worst = sorted[R.s6.n - 1];
        R.s6.median = sorted[R.s6.n / 2];
        R.s6.done = true;
        s_note("S6 writer start-up to READY=1 with %llu entries: median %.3f s, worst %.3f s",
               (unsigned long long)o->s4_entries, R.s6.median, R.s6.worst);
    }
    rc = 0;
out:
    free(lat);
    bench_cluster_destroy(&cl);
    return rc;
}

/* ---- tables ---- */

static const char *s_size(char *buf, size_t len, size_t n)
{
    if (n >= 1000000 && n % 1000000 == 0)
        snprintf(buf, len, "%zuM", n / 1000000);
    else if (n >= 1000 && n % 1000 == 0)
        snprintf(buf, len, "%zuk", n / 1000);
    else
        snprintf(buf, len, "%zu", n);
    return buf;
}

static void s_rows_s1(void)
{
    const s1_point_t *p100k = NULL, *p1m = NULL;

    for (size_t i = 0; i < R.n_s1; i++) {
        const s1_point_t *p = &R.s1[i];
        char m[96], fig[48], base[48], ratio[32], a[32], b[32], sz[32];
        double r = p->log_s / p->base_s;
        if (!p->done)
            continue;
        if (p->n == 100000)
            p100k = p;
        if (p->n == 1000000)
            p1m = p;
        s_size(sz, sizeof(sz), p->n);
        snprintf(m, sizeof(m), "LogSegment %s contacts: durable reply (entries/s)", sz);
        snprintf(fig, sizeof(fig), "%.3f s (%s/s)", p->log_s,
                 s_thousands(a, sizeof(a), (double)p->n / p->log_s));
        snprintf(base, sizeof(base), "%.3f s (%s/s)", p->base_s,
                 s_thousands(b, sizeof(b), (double)p->n / p->base_s));
        snprintf(ratio, sizeof(ratio), "%.2fx", r);
        bench_row("S1", m, fig, base, ratio, "time/baseline <= 2.5", r <= 2.5 ? MET_YES : MET_NO);
        /* The logged segment, its index and the follow-up, visible. */
        snprintf(m, sizeof(m), "LogSegment %s contacts: visible (entries/s)", sz);
        snprintf(fig, sizeof(fig), "%.3f s (%s/s)", p->visible_s,
                 s_thousands(a, sizeof(a), (double)p->n / p->visible_s));
        snprintf(ratio, sizeof(ratio), "%.2fx", p->visible_s / p->base_s);
        bench_row("S1", m, fig, base, ratio, NULL, MET_NA);
        {
            double cpu = 0, per_base = p->base_s / (double)p->n;
            for (int w = 0; w < BW_COUNT; w++)
                cpu += p->cpu_log_s[w] / (double)p->n;
            snprintf(m, sizeof(m), "LogSegment %s: CPU per entry, the three workers", sz);
            snprintf(fig, sizeof(fig), "%.2f us", cpu * 1e6);
            snprintf(base, sizeof(base), "%.2f us", per_base * 1e6);
            snprintf(ratio, sizeof(ratio), "%.2fx", cpu / per_base);
            bench_row("S1", m, fig, base, ratio, "<= 6x baseline time per entry",
                      cpu / per_base <= 6 ? MET_YES : MET_NO);
        }
        snprintf(m, sizeof(m), "CreateInteraction during LogSegment %s: p50 / p99 / max", sz);
        snprintf(fig, sizeof(fig), "%.2f / %.2f / %.2f ms (%zu calls)", p->probe_p50 * 1e3,
                 p->probe_p99 * 1e3, p->probe_max * 1e3, p->probe_n);
        bench_row("S2", m, fig, NULL, NULL, p->n == 1000000 ? "p99 <= 20 ms" : NULL,
                  p->n != 1000000                             ? MET_NA
                  : p->probe_p99 <= 0.020 && !p->probe_errors ? MET_YES
                                                              : MET_NO);
        if (p->n == 1000000) {
            double eps = (double)p->n / p->log_s;
            snprintf(fig, sizeof(fig), "%s/s", s_thousands(a, sizeof(a), eps));
            bench_row("S1", "LogSegment 1M contacts: entries/s end to end", fig, NULL, NULL,
                      ">= 300,000/s", eps >= 300000 ? MET_YES : MET_NO);
            /* Where the time goes: each worker's CPU, next to the
             * baseline's time per entry. */
            snprintf(fig, sizeof(fig), "%.2f / %.2f / %.2f us",
                     p->cpu_log_s[BW_SEGMENT] * 1e6 / (double)p->n,
                     p->cpu_log_s[BW_LOGWRITER] * 1e6 / (double)p->n,
                     p->cpu_log_s[BW_INTERACTION] * 1e6 / (double)p->n);
            snprintf(base, sizeof(base), "%.2f us", p->base_s * 1e6 / (double)p->n);
            bench_row("S1", "LogSegment 1M: CPU per entry, segment / logwriter / interaction", fig,
                      base, NULL, NULL, MET_NA);
        }
    }
    if (p100k && p1m) {
        char fig[48], base[48];
        double g = p1m->log_s / p100k->log_s, gb = p1m->base_s / p100k->base_s;
        snprintf(fig, sizeof(fig), "%.2fx (%.3f s / %.3f s)", g, p1m->log_s, p100k->log_s);
        snprintf(base, sizeof(base), "%.2fx", gb);
        bench_row("S1", "growth: time at 1M / time at 100k", fig, base, NULL, "<= 12x",
                  g <= 12 ? MET_YES : MET_NO);
    }
}

/* The rate row of an S2 point against another ("CreateInteraction, 8
 * clients: rate"). */
static void s_row_s2_rate(const char *what, const s2_point_t *p, const s2_point_t *b,
                          const char *base_note, const char *target, int met)
{
    char m[96], fig[64], base[64], ratio[32], x[32], y[32];

    snprintf(m, sizeof(m), "CreateInteraction%s, %u client%s: rate", what, p->clients,
             p->clients == 1 ? "" : "s");
    snprintf(fig, sizeof(fig), "%s/s", s_thousands(x, sizeof(x), p->rate));
    snprintf(base, sizeof(base), "%s/s%s", s_thousands(y, sizeof(y), b->rate), base_note);
    snprintf(ratio, sizeof(ratio), "%.3fx", p->rate / b->rate);
    bench_row("S2", m, fig, base, ratio, target, met);
}

static void s_rows_s2(void)
{
    for (size_t i = 0; i < R.n_s2; i++) {
        const s2_point_t *p = &R.s2[i], *b = &R.s2_base[i];
        char m[96], fig[64], base[64];
        double r = p->rate / b->rate;
        s_row_s2_rate("", p, b, "", p->clients == 32 ? "rate >= 5x baseline" : NULL,
                      p->clients == 32 ? (r >= 5 ? MET_YES : MET_NO) : MET_NA);
        snprintf(m, sizeof(m), "CreateInteraction, %u client%s: p50 / p99 / p999", p->clients,
                 p->clients == 1 ? "" : "s");
        snprintf(fig, sizeof(fig), "%.2f / %.2f / %.2f ms", p->p50 * 1e3, p->p99 * 1e3,
                 p->p999 * 1e3);
        snprintf(base, sizeof(base), "%.2f / %.2f / %.2f ms", b->p50 * 1e3, b->p99 * 1e3,
                 b->p999 * 1e3);
        bench_row("S2", m, fig, base, NULL, "p99 <= 10 ms", p->p99 <= 0.010 ? MET_YES : MET_NO);
    }
    /* The client library against the raw client path, same workers, same run. */
    for (size_t i = 0; i < R.n_s2; i++) {
        const s2_point_t *p = &R.s2_lib[i], *b = &R.s2_ab_raw[i];
        char m[96], fig[64], base[64], ratio[32];
        s_row_s2_rate(" via librapport", p, b, " (raw)", ">= 0.95x the raw client",
                      p->rate >= 0.95 * b->rate ? MET_YES : MET_NO);
        snprintf(m, sizeof(m), "CreateInteraction via librapport, %u client%s: p50 / p99",
                 p->clients, p->clients == 1 ? "" : "s");
        snprintf(fig, sizeof(fig), "%.2f / %.2f ms", p->p50 * 1e3, p->p99 * 1e3);
        snprintf(base, sizeof(base), "%.2f / %.2f ms (raw)", b->p50 * 1e3, b->p99 * 1e3);
        snprintf(ratio, sizeof(ratio), "%.3fx", p->p99 / b->p99);
        bench_row("S2", m, fig, base, ratio, NULL, MET_NA);
        /* What the library itself costs, whatever the workers' disk does. */
        snprintf(m, sizeof(m), "CreateInteraction via librapport, %u client%s: client CPU per call",
                 p->clients, p->clients == 1 ? "" : "s");
        snprintf(fig, sizeof(fig), "%.1f us", p->cpu_per_call * 1e6);
        snprintf(base, sizeof(base), "%.1f us (raw)", b->cpu_per_call * 1e6);
        snprintf(ratio, sizeof(ratio), "%.3fx", p->cpu_per_call / b->cpu_per_call);
        bench_row("S2", m, fig, base, ratio, NULL, MET_NA);
    }
}

static void s_rows_s3(void)
{
    for (size_t i = 0; i < R.n_s1; i++) {
        const s1_point_t *p = &R.s1[i];
        char m[96], fig[48], base[48], ratio[32], a[32], b[32], sz[32];
        double lps;
        if (!p->s3_done)
            continue;
        lps = (double)p->n / p->add_s;
        snprintf(m, sizeof(m), "AddContacts %s lines, %zu per request: lines/s",
                 s_size(sz, sizeof(sz), p->n), p->add_chunk);
        snprintf(fig, sizeof(fig), "%s/s (%.2f s)", s_thousands(a, sizeof(a), lps), p->add_s);
        snprintf(base, sizeof(base), "%s/s (%.2f s)",
                 s_thousands(b, sizeof(b), (double)p->n / p->s3_base_s), p->s3_base_s);
        snprintf(ratio, sizeof(ratio), "%.2fx", p->add_s / p->s3_base_s);
        bench_row("S3", m, fig, base, ratio, ">= 200,000 lines/s",
                  lps >= 200000 ? MET_YES : MET_NO);
    }
}

static void s_rows_s4(void)
{
    char m[96], fig[64], a[32], b[32];

    if (!R.s4.done)
        return;
    snprintf(m, sizeof(m), "newest 50 of one contact, %s-entry log: p50 / p99 / p999",
             s_size(b, sizeof(b), (size_t)R.s4.entries));
    snprintf(fig, sizeof(fig), "%.0f / %.0f / %.0f us", R.s4.p50 * 1e6, R.s4.p99 * 1e6,
             R.s4.p999 * 1e6);
    bench_row("S4", m, fig, NULL, NULL, "p99 <= 1 ms", R.s4.p99 <= 0.001 ? MET_YES : MET_NO);
    snprintf(m, sizeof(m), "building the %s-entry store (%u segment logs)",
             s_size(b, sizeof(b), (size_t)R.s4.entries), R.s4.logs);
    snprintf(fig, sizeof(fig), "%.1f s (%s entries/s)", R.s4.build_s,
             s_thousands(a, sizeof(a), (double)R.s4.entries / R.s4.build_s));
    bench_row("S4", m, fig, NULL, NULL, NULL, MET_NA);
    if (R.s4.writer_peak_kb) { /* S5 on the largest store */
        snprintf(m, sizeof(m), "peak RssAnon of rapport-logwriter, building the %s-entry store",
                 s_size(b, sizeof(b), (size_t)R.s4.entries));
        snprintf(fig, sizeof(fig), "%.1f MiB", (double)R.s4.writer_peak_kb / 1024.0);
        bench_row("S5", m, fig, NULL, NULL, "<= 256 MiB",
                  R.s4.writer_peak_kb <= RSS_TARGET_KB ? MET_YES : MET_NO);
    }
}

static void s_rows_s5(void)
{
    const s1_point_t *big = NULL, *prev = NULL;
    static const char *const names[BW_COUNT] = {"rapport-logwriter", "rapport-interaction",
                                                "rapport-segment"};
    char m[96], fig[48], base[48], ratio[32], sz[32];

    for (size_t i = 0; i < R.n_s1; i++)
        if (R.s1[i].done && (!big || R.s1[i].n > big->n))
            big = &R.s1[i];
    if (!big)
        return;
    for (size_t i = 0; i < R.n_s1; i++)
        if (R.s1[i].done && R.s1[i].n < big->n && (!prev || R.s1[i].n > prev->n))
            prev = &R.s1[i];
    for (int w = 0; w < BW_COUNT; w++) {
        uint64_t kb = big->rss_log_kb[w];
        snprintf(m, sizeof(m), "peak RssAnon of %s, LogSegment %s", names[w],
                 s_size(sz, sizeof(sz), big->n));
        snprintf(fig, sizeof(fig), "%.1f MiB", (double)kb / 1024.0);
        bench_row("S5", m, fig, NULL, NULL, "<= 256 MiB", kb <= RSS_TARGET_KB ? MET_YES : MET_NO);
    }
    if (prev) {
        double a = (double)big->rss_log_kb[BW_LOGWRITER] / 1024.0,
               b = (double)prev->rss_log_kb[BW_LOGWRITER] / 1024.0;
        char psz[32];
        snprintf(m, sizeof(m), "writer peak, LogSegment %s vs %s", s_size(sz, sizeof(sz), big->n),
                 s_size(psz, sizeof(psz), prev->n));
        snprintf(fig, sizeof(fig), "%.1f MiB", a);
        snprintf(base, sizeof(base), "%.1f MiB", b);
        snprintf(ratio, sizeof(ratio), "%.2fx", a / b);
        /* "Does not grow": within a quarter or 16 MiB of the smaller one. */
        bench_row("S5", m, fig, base, ratio, "no growth (<= 1.25x or +16 MiB)",
                  a <= b * 1.25 || a <= b + 16 ? MET_YES : MET_NO);
    }
}

static void s_rows_s6(void)
{
    char m[96], fig[48], sz[32];

    if (!R.s6.done)
        return;
    snprintf(m, sizeof(m), "writer exec to READY=1, %s-entry store (worst of %u)",
             s_size(sz, sizeof(sz), (size_t)R.s4.entries), R.s6.n);
    snprintf(fig, sizeof(fig), "%.3f s", R.s6.worst);
    bench_row("S6", m, fig, NULL, NULL, "<= 1 s", R.s6.worst <= 1.0 ? MET_YES : MET_NO);
}

static void s_print_scenario(const char *id, const char *title)
{
    printf("\n### %s %s\n\n", id, title);
    bench_print_table(stdout, id);
}

/* ---- bench.json ---- */

static void s_json_rss(bench_json_t *j, const char *key, const uint64_t kb[BW_COUNT])
{
    bench_json_object(j, key);
    bench_json_num(j, "logwriter_mib", (double)kb[BW_LOGWRITER] / 1024.0);
    bench_json_num(j, "interaction_mib", (double)kb[BW_INTERACTION] / 1024.0);
    bench_json_num(j, "segment_mib", (double)kb[BW_SEGMENT] / 1024.0);
    bench_json_end(j);
}

static void s_json_s2(bench_json_t *j, const char *key, const s2_point_t *p, size_t n)
{
    bench_json_array(j, key);
    for (size_t i = 0; i < n; i++) {
        bench_json_object(j, NULL);
        bench_json_int(j, "clients", p[i].clients);
        bench_json_num(j, "seconds", p[i].seconds);
        bench_json_int(j, "acked_in_window", p[i].ok);
        bench_json_int(j, "errors", p[i].errors);
        bench_json_num(j, "rate_per_s", p[i].rate);
        bench_json_num(j, "p50_ms", p[i].p50 * 1e3);
        bench_json_num(j, "p99_ms", p[i].p99 * 1e3);
        bench_json_num(j, "p999_ms", p[i].p999 * 1e3);
        bench_json_num(j, "mean_ms", p[i].mean * 1e3);
        bench_json_num(j, "max_ms", p[i].max * 1e3);
        bench_json_num(j, "client_cpu_us_per_call", p[i].cpu_per_call * 1e6);
        bench_json_end(j);
    }
    bench_json_end(j);
}

static int s_write_json(const opts_t *o, int argc, char **argv, double total_s)
{
    FILE *f = fopen(o->out, "w");
    bench_json_t j;
    char cmd[2048];
    size_t off = 0;

    if (!f) {
        fprintf(stderr, "rapport-bench: %s: %s\n", o->out, strerror(errno));
        return -1;
    }
    for (int i = 0; i < argc && off < sizeof(cmd); i++)
        off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, "%s%s", i ? " " : "", argv[i]);
    bench_json_open(&j, f);
    bench_json_str(&j, "tool", "rapport-bench");
    bench_json_str(&j, "command", cmd);
    bench_json_str(&j, "mode", o->mode);
    bench_json_num(&j, "total_seconds", total_s);
    bench_json_bool(&j, "sane", R.n_errors == 0);
    bench_json_object(&j, "machine");
    bench_json_machine(&j, o->tmp_dir, s_load_start);
    bench_json_end(&j);
    bench_json_object(&j, "settings");
    bench_json_str(&j, "durability", "sync_mode=full (LMDB default flags, fsync per commit)");
    bench_json_int(&j, "add_window", o->add_window);
    bench_json_int(&j, "import_window", o->import_window);
    bench_json_int(&j, "s2_depth", o->s2_depth);
    bench_json_num(&j, "s2_seconds", o->s2_seconds);
    bench_json_int(&j, "rss_interval_ms", RSS_INTERVAL_MS);
    bench_json_end(&j);

    bench_json_object(&j, "S1");
    bench_json_array(&j, "points");
    for (size_t i = 0; i < R.n_s1; i++) {
        const s1_point_t *p = &R.s1[i];
        if (!p->done)
            continue;
        bench_json_object(&j, NULL);
        bench_json_int(&j, "contacts", p->n);
        bench_json_num(&j, "seconds", p->log_s);
        bench_json_num(&j, "entries_per_s", (double)p->n / p->log_s);
        bench_json_num(&j, "baseline_seconds", p->base_s);
        bench_json_num(&j, "baseline_entries_per_s", (double)p->n / p->base_s);
        bench_json_num(&j, "ratio", p->log_s / p->base_s);
        bench_json_num(&j, "visible_seconds", p->visible_s);
        bench_json_object(&j, "interactions_during_log");
        bench_json_int(&j, "calls", p->probe_n);
        bench_json_int(&j, "errors", p->probe_errors);
        bench_json_num(&j, "p50_seconds", p->probe_p50);
        bench_json_num(&j, "p99_seconds", p->probe_p99);
        bench_json_num(&j, "max_seconds", p->probe_max);
        bench_json_end(&j);
        bench_json_int(&j, "entry_bytes", p->entry_bytes);
        bench_json_int(&j, "first_entry_no", p->first_entry_no);
        bench_json_int(&j, "last_entry_no", p->last_entry_no);
        bench_json_int(&j, "follow_up_lines", p->follow_up_lines);
        bench_json_num(&j, "setup_import_seconds", p->import_s);
        bench_json_num(&j, "setup_add_seconds", p->add_s);
        s_json_rss(&j, "peak_rss_anon_setup", p->rss_setup_kb);
        s_json_rss(&j, "peak_rss_anon_log", p->rss_log_kb);
        bench_json_object(&j, "cpu_seconds_log");
        bench_json_num(&j, "logwriter", p->cpu_log_s[BW_LOGWRITER]);
        bench_json_num(&j, "interaction", p->cpu_log_s[BW_INTERACTION]);
        bench_json_num(&j, "segment", p->cpu_log_s[BW_SEGMENT]);
        bench_json_end(&j);
        bench_json_end(&j);
    }
    bench_json_end(&j);
    bench_json_end(&j);

    bench_json_object(&j, "S2");
    s_json_s2(&j, "group_commit", R.s2, R.n_s2);
    s_json_s2(&j, "baseline_no_group_commit", R.s2_base, R.n_s2);
    s_json_s2(&j, "librapport", R.s2_lib, R.n_s2);
    s_json_s2(&j, "librapport_raw_alternating", R.s2_ab_raw, R.n_s2);
    bench_json_int(&j, "entries_written", R.s2_entries[0]);
    bench_json_int(&j, "baseline_entries_written", R.s2_entries[1]);
    bench_json_end(&j);

    bench_json_object(&j, "S3");
    bench_json_array(&j, "points");
    for (size_t i = 0; i < R.n_s1; i++) {
        const s1_point_t *p = &R.s1[i];
        if (!p->s3_done)
            continue;
        bench_json_object(&j, NULL);
        bench_json_int(&j, "lines", p->n);
        bench_json_int(&j, "per_request", p->add_chunk);
        bench_json_int(&j, "requests", p->add_requests);
        bench_json_num(&j, "seconds", p->add_s);
        bench_json_num(&j, "lines_per_s", (double)p->n / p->add_s);
        bench_json_num(&j, "baseline_seconds", p->s3_base_s);
        bench_json_num(&j, "baseline_lines_per_s", (double)p->n / p->s3_base_s);
        bench_json_int(&j, "baseline_commits", p->s3_base_commits);
        bench_json_num(&j, "ratio", p->add_s / p->s3_base_s);
        bench_json_int(&j, "line_bytes", p->line_bytes);
        bench_json_end(&j);
    }
    bench_json_end(&j);
    bench_json_end(&j);

    bench_json_object(&j, "S4");
    if (R.s4.done || R.s4.build_s > 0) {
        bench_json_int(&j, "entries", R.s4.entries);
        bench_json_int(&j, "segment_logs", R.s4.logs);
        bench_json_int(&j, "contacts", R.s4.contacts);
        bench_json_int(&j, "batch_entries", R.s4.batch);
        bench_json_num(&j, "build_seconds", R.s4.build_s);
        bench_json_num(&j, "build_entries_per_s", (double)R.s4.entries / R.s4.build_s);
        bench_json_num(&j, "build_writer_peak_rss_anon_mib", (double)R.s4.writer_peak_kb / 1024.0);
        bench_json_int(&j, "store_bytes", R.s4.store_bytes);
    }
    if (R.s4.done) {
        bench_json_int(&j, "queries", R.s4.queries);
        bench_json_num(&j, "p50_us", R.s4.p50 * 1e6);
        bench_json_num(&j, "p99_us", R.s4.p99 * 1e6);
        bench_json_num(&j, "p999_us", R.s4.p999 * 1e6);
        bench_json_num(&j, "mean_us", R.s4.mean * 1e6);
        bench_json_num(&j, "max_us", R.s4.max * 1e6);
    }
    bench_json_end(&j);

    bench_json_object(&j, "S6");
    if (R.s6.done) {
        bench_json_array(&j, "ready_seconds");
        for (unsigned i = 0; i < R.s6.n; i++)
            bench_json_num(&j, NULL, R.s6.ready_s[i]);
        bench_json_end(&j);
        bench_json_num(&j, "median_seconds", R.s6.median);
        bench_json_num(&j, "worst_seconds", R.s6.worst);
        bench_json_int(&j, "store_entries", R.s4.entries);
    }
    bench_json_end(&j);

    bench_json_rows(&j, "table");
    bench_json_array(&j, "errors");
    for (size_t i = 0; i < R.n_errors; i++)
        bench_json_str(&j, NULL, R.errors[i]);
    bench_json_end(&j);
    bench_json_close(&j);
    if (fclose(f) != 0) {
        fprintf(stderr, "rapport-bench: %s: %s\n", o->out, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- options ---- */

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: rapport-bench [--quick | --smoke] [--scenarios S1,S2,...] [--out FILE]\n"
            "       [--bin-dir DIR] [--tmp DIR] [--keep] [--verbose]\n"
            "       [--s1-sizes N,N,...] [--s2-clients N,N,...] [--s2-seconds S] [--s2-depth N]\n"
            "       [--s4-entries N] [--s4-logs N] [--s4-batch N] [--s4-queries N]\n"
            "       [--s6-restarts N] [--add-chunk N] [--add-window N]\n"
            "\n"
            "Starts the real workers from --bin-dir (default: this program's directory) on\n"
            "temporary directories under --tmp (default $TMPDIR or /tmp) and runs the\n"
            "scenarios of issue 4 next to their baselines; prints a table per scenario and\n"
            "writes --out (default ./bench.json). --quick: S1 at 100k and S2 with 8 clients.\n"
            "--smoke: tiny sizes, checks the counts, no timing asserted. Exit status 1 when a\n"
            "sanity check failed (targets not met do not fail the run).\n");
}

static bool s_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    if (*end == 'k' || *end == 'K' || *end == 'M') {
        unsigned long long mult = *end == 'M' ? 1000000ull : 1000ull;
        if (v > max / mult)
            return false;
        v *= mult;
        end++;
    }
    if (*end || v < min || v > max)
        return false;
    *ret = v;
    return true;
}

static bool s_parse_list(const char *s, uint64_t min, uint64_t max, uint64_t *out, size_t cap,
                         size_t *ret_n)
{
    char buf[256];
    size_t n = 0;
    char *p = buf;

    if (strlen(s) >= sizeof(buf))
        return false;
    memcpy(buf, s, strlen(s) + 1);
    while (*p) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (n == cap || !s_parse_u64(p, min, max, &out[n]))
            return false;
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *ret_n = n;
    return n > 0;
}

static void s_defaults(opts_t *o)
{
    const char *tmp = getenv("TMPDIR");

    memset(o, 0, sizeof(*o));
    snprintf(o->tmp_dir, sizeof(o->tmp_dir), "%s", tmp && *tmp ? tmp : "/tmp");
    snprintf(o->out, sizeof(o->out), "bench.json");
    o->scenarios = S1 | S2 | S3 | S4 | S5 | S6;
    o->s1_sizes[0] = 10000;
    o->s1_sizes[1] = 100000;
    o->s1_sizes[2] = 1000000;
    o->n_s1 = 3;
    o->s2_clients[0] = 1;
    o->s2_clients[1] = 8;
    o->s2_clients[2] = 32;
    o->n_s2 = 3;
    o->s2_seconds = 5;
    o->s2_depth = 1;
    o->s4_entries = 10000000;
    o->s4_logs = 10;
    o->s4_per_contact = 100;
    o->s4_batch = 4096;
    o->s4_queries = 5000;
    o->s6_restarts = 3;
    o->add_chunk = 10000;
    o->add_window = 2;
    o->import_window = 4;
    o->mode = "full";
}

static int s_parse(opts_t *o, int argc, char **argv)
{
    s_defaults(o);
    /* The modes first: explicit options then refine them. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            o->quick = true;
            o->mode = "quick";
            o->scenarios = S1 | S2 | S3 | S5;
            o->s1_sizes[0] = 100000;
            o->n_s1 = 1;
            o->s2_clients[0] = 8;
            o->n_s2 = 1;
            o->s2_seconds = 4;
        } else if (!strcmp(argv[i], "--smoke")) {
            o->smoke = true;
            o->mode = "smoke";
            o->s1_sizes[0] = 1000;
            o->n_s1 = 1;
            o->s2_clients[0] = 1;
            o->s2_clients[1] = 4;
            o->n_s2 = 2;
            o->s2_seconds = 0.5;
            o->s4_entries = 20000;
            o->s4_logs = 2;
            o->s4_queries = 200;
            o->s4_batch = 1000;
            o->s6_restarts = 1;
            o->add_chunk = 400; /* several requests, pipelined */
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n, list[MAX_POINTS];
        size_t k;
        if (!strcmp(a, "--quick") || !strcmp(a, "--smoke"))
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--keep")) {
            o->keep = true;
            continue;
        }
        if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o->verbose = true;
            continue;
        }
        if (!v)
            goto bad;
        i++;
        if (!strcmp(a, "--out"))
            snprintf(o->out, sizeof(o->out), "%s", v);
        else if (!strcmp(a, "--bin-dir"))
            snprintf(o->bin_dir, sizeof(o->bin_dir), "%s", v);
        else if (!strcmp(a, "--tmp"))
            snprintf(o->tmp_dir, sizeof(o->tmp_dir), "%s", v);
        else if (!strcmp(a, "--scenarios")) {
            char buf[64];
            char *p;
            if (strlen(v) >= sizeof(buf))
                goto bad_value;
            memcpy(buf, v, strlen(v) + 1);
            o->scenarios = 0;
            for (p = buf; *p;) {
                char *comma = strchr(p, ',');
                if (comma)
                    *comma = '\0';
                if ((p[0] != 'S' && p[0] != 's') || p[1] < '1' || p[1] > '6' || p[2])
                    goto bad_value;
                o->scenarios |= 1u << (p[1] - '1');
                if (!comma)
                    break;
                p = comma + 1;
            }
        } else if (!strcmp(a, "--s1-sizes")) {
            if (!s_parse_list(v, 1, 100000000, list, MAX_POINTS, &k))
                goto bad_value;
            for (size_t j = 0; j < k; j++)
                o->s1_sizes[j] = (size_t)list[j];
            o->n_s1 = k;
        } else if (!strcmp(a, "--s2-clients")) {
            if (!s_parse_list(v, 1, 256, list, MAX_POINTS, &k))
                goto bad_value;
            for (size_t j = 0; j < k; j++)
                o->s2_clients[j] = (unsigned)list[j];
            o->n_s2 = k;
        } else if (!strcmp(a, "--s2-seconds")) {
            if (!s_parse_u64(v, 1, 3600, &n))
                goto bad_value;
            o->s2_seconds = (double)n;
        } else if (!strcmp(a, "--s2-depth")) {
            if (!s_parse_u64(v, 1, 16, &n))
                goto bad_value;
            o->s2_depth = (unsigned)n;
        } else if (!strcmp(a, "--s4-entries")) {
            if (!s_parse_u64(v, 100, 1000000000, &n))
                goto bad_value;
            o->s4_entries = n;
        } else if (!strcmp(a, "--s4-logs")) {
            if (!s_parse_u64(v, 1, 1000, &n))
                goto bad_value;
            o->s4_logs = (unsigned)n;
        } else if (!strcmp(a, "--s4-batch")) {
            if (!s_parse_u64(v, 1, 100000, &n))
                goto bad_value;
            o->s4_batch = (unsigned)n;
        } else if (!strcmp(a, "--s4-queries")) {
            if (!s_parse_u64(v, 1, 10000000, &n))
                goto bad_value;
            o->s4_queries = (unsigned)n;
        } else if (!strcmp(a, "--s6-restarts")) {
            if (!s_parse_u64(v, 1, 16, &n))
                goto bad_value;
            o->s6_restarts = (unsigned)n;
        } else if (!strcmp(a, "--add-chunk")) {
            if (!s_parse_u64(v, 1, 10000, &n))
                goto bad_value;
            o->add_chunk = (size_t)n;
        } else if (!strcmp(a, "--add-window")) {
            if (!s_parse_u64(v, 1, 64, &n))
                goto bad_value;
            o->add_window = (unsigned)n;
        } else
            goto bad;
        continue;
    bad_value:
        fprintf(stderr, "rapport-bench: bad value for %s: '%s'\n", a, v);
        return -1;
    bad:
        fprintf(stderr, "rapport-bench: unknown option or missing value: %s\n", a);
        s_usage(stderr);
        return -1;
    }
    if (!o->bin_dir[0]) {
        char self[BENCH_PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
        char *slash;
        if (len <= 0) {
            fprintf(stderr, "rapport-bench: cannot find my own directory; give --bin-dir\n");
            return -1;
        }
        self[len] = '\0';
        slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(o->bin_dir, sizeof(o->bin_dir), "%s", self);
    }
    if (o->s4_entries < o->s4_logs) {
        fprintf(stderr, "rapport-bench: --s4-entries must be at least --s4-logs\n");
        return -1;
    }
    /* S5 and S3 come from S1's runs; S6 restarts S4's writer. */
    return 0;
}

static void s_on_signal(int sig)
{
    bench_kill_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    opts_t o;
    void *zctx;
    double t0 = bench_now();
    int status;

    if (s_parse(&o, argc, argv) < 0)
        return 2;
    s_verbose = o.verbose;
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGPIPE, SIG_IGN);
    zctx = zmq_ctx_new();
    if (!zctx) {
        fprintf(stderr, "rapport-bench: cannot create a ZeroMQ context\n");
        return 1;
    }
    printf("rapport-bench (%s): workers from %s, temporary dirs under %s (%s)\n", o.mode, o.bin_dir,
           o.tmp_dir, bench_fs_type(o.tmp_dir));
    if (bench_loadavg(s_load_start, sizeof(s_load_start)) >
        0.5 * (double)sysconf(_SC_NPROCESSORS_ONLN))
        printf("WARNING: load average %s on %ld CPUs: other work competes with the workers; "
               "expect noisy figures (the ratios to the same-run baselines suffer least)\n",
               s_load_start, sysconf(_SC_NPROCESSORS_ONLN));
    if (!strcmp(bench_fs_type(o.tmp_dir), "tmpfs"))
        printf("WARNING: %s is tmpfs: fsync costs nothing there, so durable figures and their "
               "baselines mean little; give --tmp a directory on disk\n",
               o.tmp_dir);
    fflush(stdout);

    if (o.scenarios & (S1 | S3 | S5)) {
        size_t s3_n = 0;
        printf("\n== S1 LogSegment (with S3 AddContacts and S5 memory)\n");
        for (size_t i = 0; i < o.n_s1; i++)
            if (o.s1_sizes[i] > s3_n)
                s3_n = o.s1_sizes[i];
        for (size_t i = 0; i < o.n_s1; i++) {
            size_t n = o.s1_sizes[i];
            bool log = (o.scenarios & (S1 | S5)) != 0;
            bool s3 = (o.scenarios & S3) && n == s3_n;
            if (!log && !s3)
                continue;
            if (s_s1_point(&o, zctx, n, log, s3, &R.s1[R.n_s1]) < 0)
                s_error("S1 at %zu contacts did not complete", n);
            R.n_s1++;
        }
        s_rows_s1();
        s_rows_s3();
        s_rows_s5();
        if (o.scenarios & S1)
            s_print_scenario("S1", "LogSegment (baseline: raw LMDB, MDB_APPEND, one synced txn)");
        if (o.scenarios & S3)
            s_print_scenario("S3", "AddContacts (baseline: raw LMDB puts, one commit per chunk)");
        if (o.scenarios & S5)
            s_print_scenario("S5", "peak RssAnon during LogSegment");
    }
    if (o.scenarios & S2) {
        printf("\n== S2 CreateInteraction, %.1f s per point, %u in flight per client\n",
               o.s2_seconds, o.s2_depth);
        if (s_s2(&o, zctx) < 0)
            s_error("S2 did not complete");
        s_rows_s2();
        s_print_scenario("S2", "CreateInteraction (baseline: group_commit=false)");
    }
    if (o.scenarios & (S4 | S6)) {
        printf("\n== S4 history of one contact / S6 start-up (%llu-entry store)\n",
               (unsigned long long)o.s4_entries);
        if (s_s4_s6(&o, zctx) < 0)
            s_error("S4/S6 did not complete");
        s_rows_s4();
        s_rows_s6();
        if (o.scenarios & S4)
            s_print_scenario("S4", "one contact's newest 50 entries (absolute)");
        if (o.scenarios & S6)
            s_print_scenario("S6", "start-up to READY=1");
    }
    zmq_ctx_term(zctx);

    printf("\n## All scenarios (%s run, %.0f s)\n\n", o.mode, bench_now() - t0);
    bench_print_table(stdout, NULL);
    status = R.n_errors ? 1 : 0;
    if (s_write_json(&o, argc, argv, bench_now() - t0) < 0)
        status = 1;
    else
        printf("\nwrote %s\n", o.out);
    if (R.n_errors) {
        fprintf(stderr, "\nrapport-bench: %zu sanity check(s) failed:\n", R.n_errors);
        for (size_t i = 0; i < R.n_errors; i++)
            fprintf(stderr, "  %s\n", R.errors[i]);
    }
    return status;
}
