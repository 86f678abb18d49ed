/* relay: rapport-relay's loop.
 *
 * It reads the log writer's changes (ReadChanges) in seq order, one page
 * at a time, and publishes each change as one JetStream message expecting
 * the stream's last sequence to be the previous message's. The writer's
 * PUB socket only rings the bell; the relay also polls once a second, so a
 * dropped event costs nothing but a second. While the writer logs more
 * than BUSY_RATE messages/s, the relay reads every BATCH_MS instead, and
 * takes the bell's messages then without waking up for them: fewer, larger
 * reads and publish bursts, with no wakeup per event on the busy machine
 * (not while it hurries, below). When JetStream has stored the last
 * message of a seq, that seq is confirmed to the writer (ConfirmRelayed),
 * which then lets go of what it kept for it. While the writer holds
 * replies for the relay (ack_after_relay: its replies say how many; or the
 * relay's own ack_after_relay) the relay hurries: JetStream's acks wake its
 * loop, a confirm goes as soon as the writer has answered the one before
 * (one in flight, so that under load they gather), and it reads the
 * writer's changes as soon as the writer's event rings, not 5 ms later. It
 * goes on hurrying for HURRY_MS after the writer last said it held a reply
 * (between two writes it may hold none). Otherwise it confirms at most
 * every 200 ms, and at once when caught up.
 *
 * Any failure (a publish refused, an ack lost, NATS or its quorum gone)
 * drops what is unacked and starts over from the stream's last message,
 * with a backoff: the expected-last-sequence check makes the retry
 * exact, whatever of the dropped messages JetStream did store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "client.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "relay.h"
#include "wire.h"

#include "rapport/v1/logwriter.pb-c.h"

#define PAGE              2000
#define WINDOW            8192 /* messages in flight at most */
#define CONFIRM_EVERY_MS  200
#define POLL_MS           1000
#define DOORBELL_MS       5 /* let a burst of events gather before reading */
#define DOORBELL_HURRY_MS 0 /* the same while the writer holds replies for the relay */
#define HURRY_MS          10000
#define CONFIRM_WAIT_MS   1000 /* a confirm unanswered this long no longer holds the next */
/* A writer busier than BUSY_RATE messages/s is read every BATCH_MS, the
 * doorbell's messages taken then without a wakeup for each: fewer, larger
 * reads and publish bursts, where a read per burst of 5 ms would cost the
 * workers' cores a wakeup of the writer, the relay and NATS each time. */
#define BUSY_RATE       2000
#define BATCH_MS        20
#define DOORBELL_HWM    16
#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  5000
#define DRAIN_MS        10000
#define STATUS_EVERY_MS 5000
#define SUBJECT_MAX     300
#define ACK_STALL_MS    5000 /* no ack for this long with publishes pending: recover */

typedef enum { ST_SETUP, ST_RUN, ST_STOPPED } state_t;

/* A seq whose last message is in flight: confirmed once it is acked. */
typedef struct {
    uint64_t stream_seq, seq;
} inflight_t;

struct relay {
    const config_t *cfg;
    client_t *writer;
    void *sub;
    relay_js_t *js;
    state_t st;
    int exit_code;
    int64_t retry_at_ms;
    int backoff_ms;
    /* reading */
    char read_id[CLIENT_REQUEST_ID_LEN + 1];
    int64_t read_sent_ms;
    bool read_pending, caught_up, doorbell, writer_down;
    bool busy;            /* the writer logs more than BUSY_RATE messages/s */
    int64_t read_prev_ms; /* when the read before the last was sent */
    int64_t doorbell_ms, next_poll_ms;
    uint64_t pos_seq, pos_part; /* the next change to publish; pos_seq 0: the writer's first */
    uint64_t gap_from;          /* the stream needs this seq, the writer has pruned it */
    bool fresh;                 /* nothing published since the stream's end was read */
    /* the stream */
    relay_end_t end;
    bool store_checked;
    char store_hex[17];
    uint64_t expect_last; /* stream sequence of the last message published */
    char last_id[64];     /* its Nats-Msg-Id ("" right after reading the end) */
    uint64_t acked_seen;  /* the highest acked stream sequence seen, and when it moved */
    uint64_t acked_max;   /* the highest acked since the stream's end was read */
    int64_t acked_ms;
    uint64_t failures_seen, out_of_order_seen;
    inflight_t *lasts;
    size_t lq_head, lq_n, lq_cap;
    /* confirming */
    uint64_t confirmed, confirm_sent;
    int64_t confirm_ms;
    bool confirm_pending;   /* sent, not answered yet */
    int64_t hurry_until_ms; /* the writer held replies for the relay lately */
    char confirm_id[CLIENT_REQUEST_ID_LEN + 1];
    uint64_t writer_last;
    uint64_t writer_term; /* the writer's term (Changes.term): every message carries it */
    int64_t status_ms;
    uint64_t published;
};

/* ---- helpers ---- */

static void s_backoff(relay_t *r, const char *what)
{
    r->retry_at_ms = clock_mono_ms() + r->backoff_ms;
    log_warnx("%s; retrying in %d ms", what, r->backoff_ms);
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* Drop everything in flight and read the stream's end again. */
static void s_recover(relay_t *r, const char *why)
{
    relay_acks_t acks;
    relay_js_drop_pending(r->js);
    relay_js_acks(r->js, &acks);
    r->failures_seen = acks.failures;
    r->lq_head = r->lq_n = 0;
    r->read_pending = false;
    r->read_id[0] = '\0';
    r->st = ST_SETUP;
    s_backoff(r, why);
}

static void s_push_last(relay_t *r, uint64_t stream_seq, uint64_t seq)
{
    if (r->lq_n == r->lq_cap) {
        size_t cap = r->lq_cap ? r->lq_cap * 2 : 1024;
        inflight_t *g = malloc(sizeof(*g) * cap);
        if (!g)
            abort();
        for (size_t i = 0; i < r->lq_n; i++)
            g[i] = r->lasts[(r->lq_head + i) % r->lq_cap];
        free(r->lasts);
        r->lasts = g;
        r->lq_cap = cap;
        r->lq_head = 0;
    }
    r->lasts[(r->lq_head + r->lq_n) % r->lq_cap] = (inflight_t){stream_seq, seq};
    r->lq_n++;
}

/* ---- the stream's end ---- */

static void s_setup(relay_t *r)
{
    char err[512];
    rp_err rc;

    relay_js_revive(r->js);
    rc = relay_js_ensure_stream(r->js, err, sizeof(err));

    if (rc == RP_ECONFIG) {
        log_errx("%s", err);
        daemon_notify("STATUS=refused: %s", err);
        r->exit_code = 2;
        r->st = ST_STOPPED;
        return;
    }
    if (rc == RP_OK)
        rc = relay_js_end(r->js, &r->end, err, sizeof(err));
    if (rc != RP_OK) {
        daemon_notify("STATUS=waiting for NATS: %s", err);
        s_backoff(r, err);
        return;
    }
    if (r->end.stream_seq < r->acked_max)
        log_errx("stream %s lost messages JetStream had acked: it ends at message %llu, and "
                 "message %llu was acked (a NATS node failure; what the log writer still has "
                 "is published again, the rest as a gap)",
                 r->cfg->nats_stream, (unsigned long long)r->end.stream_seq,
                 (unsigned long long)r->acked_max);
    r->acked_max = r->end.stream_seq;
    r->expect_last = r->end.stream_seq;
    r->last_id[0] = '\0';
    r->gap_from = 0;
    r->fresh = true;
    r->store_checked = r->end.stream_seq == 0 || !r->end.store_id[0];
    if (r->end.stream_seq == 0) {
        r->pos_seq = 0;
        r->pos_part = 0;
    } else if (r->end.last) {
        r->pos_seq = r->end.seq + 1;
        r->pos_part = 0;
    } else {
        r->pos_seq = r->end.seq;
        r->pos_part = r->end.part + 1;
    }
    log_info("stream %s ends at message %llu (seq %llu part %llu%s): going on from seq %llu part "
             "%llu",
             r->cfg->nats_stream, (unsigned long long)r->end.stream_seq,
             (unsigned long long)r->end.seq, (unsigned long long)r->end.part,
             r->end.last ? ", its last" : "", (unsigned long long)r->pos_seq,
             (unsigned long long)r->pos_part);
    r->st = ST_RUN;
    r->caught_up = false;
    r->busy = false;
}

/* ---- reading from the writer ---- */

/* A fresh request id (kept in id_buf, to match the reply) and the relay's
 * user id on a request to the writer. */
static void s_envelope(Rapport__V1__LogRequest *req, char id_buf[CLIENT_REQUEST_ID_LEN + 1])
{
    client_new_request_id(id_buf);
    req->request_id.data = (uint8_t *)id_buf;
    req->request_id.len = CLIENT_REQUEST_ID_LEN;
    req->user_id = wire_str("rapport-relay");
}

static void s_send_read(relay_t *r, uint64_t from_seq, uint64_t from_part, uint32_t max)
{
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ReadChanges rc = RAPPORT__V1__READ_CHANGES__INIT;

    s_envelope(&req, r->read_id);
    rc.from_seq = from_seq;
    rc.from_part = (uint32_t)from_part;
    rc.max = max;
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_READ_CHANGES;
    req.read_changes = &rc;
    if (client_send(r->writer, &req.base) != RP_OK) {
        r->read_id[0] = '\0';
        return;
    }
    r->read_pending = true;
    r->read_prev_ms = r->read_sent_ms;
    r->read_sent_ms = clock_mono_ms();
    r->doorbell = false;
}

/* Whether the writer holds replies until the relay confirms them: it said
 * so in the last HURRY_MS, or the relay's own ack_after_relay is on. */
static bool s_hurry(const relay_t *r)
{
    return r->cfg->ack_after_relay || clock_mono_ms() < r->hurry_until_ms;
}

static void s_writer_held(relay_t *r, uint64_t held)
{
    if (held)
        r->hurry_until_ms = clock_mono_ms() + HURRY_MS;
}

static int64_t s_doorbell_ms(const relay_t *r)
{
    return s_hurry(r) ? DOORBELL_HURRY_MS : DOORBELL_MS;
}

static void s_maybe_read(relay_t *r)
{
    int64_t now = clock_mono_ms();
    relay_acks_t acks;

    if (r->st != ST_RUN || daemon_stop)
        return;
    if (r->read_pending) {
        if (now - r->read_sent_ms < r->cfg->request_timeout_ms)
            return;
        if (!r->writer_down)
            log_warnx("rapport-logwriter does not answer; asking again");
        r->writer_down = true;
        r->read_pending = false;
    }
    relay_js_acks(r->js, &acks);
    if (acks.pending + PAGE > WINDOW)
        return;
    if (r->caught_up && r->busy && now - r->read_sent_ms < BATCH_MS)
        return;
    if (r->caught_up && !r->busy && !(r->doorbell && now - r->doorbell_ms >= s_doorbell_ms(r)) &&
        now < r->next_poll_ms)
        return;
    s_send_read(r, r->pos_seq, r->pos_part, PAGE);
}

static void s_subject(const Rapport__V1__Change *ch, char *out, size_t size)
{
    char token[SUBJECT_MAX];
    switch (ch->kind) {
    case RAPPORT__V1__CHANGE_KIND__CHANGE_KIND_EVENT:
        snprintf(out, size, "rapport.v1.event.%s", ch->type);
        break;
    case RAPPORT__V1__CHANGE_KIND__CHANGE_KIND_ENTRY:
        relay_subject_token(ch->contact_no, token, sizeof(token));
        snprintf(out, size, "rapport.v1.entry.%s", token);
        break;
    case RAPPORT__V1__CHANGE_KIND__CHANGE_KIND_LOGGED_SEGMENT:
        snprintf(out, size, "rapport.v1.logged_segment.%llu", (unsigned long long)ch->no);
        break;
    default:
        snprintf(out, size, "rapport.v1.campaign_entry.%llu", (unsigned long long)ch->no);
        break;
    }
}

/* Publish one message; false when it could not be sent (recovering). */
static bool s_publish(relay_t *r, relay_msg_t *m)
{
    m->prev_msg_id = r->last_id[0] ? r->last_id : NULL;
    m->term = r->writer_term;
    r->fresh = false;
    if (relay_js_publish(r->js, m, r->expect_last) != RP_OK) {
        s_recover(r, "cannot publish to NATS now");
        return false;
    }
    r->expect_last++;
    r->published++;
    snprintf(r->last_id, sizeof(r->last_id), "%s", m->msg_id);
    if (m->last)
        s_push_last(r, r->expect_last, m->seq);
    return true;
}

static bool s_publish_change(relay_t *r, const Rapport__V1__Change *ch)
{
    char subject[SUBJECT_MAX + 32], msg_id[64];
    relay_msg_t m = {0};

    s_subject(ch, subject, sizeof(subject));
    if (ch->part)
        snprintf(msg_id, sizeof(msg_id), "%s:%llu:%u", r->store_hex, (unsigned long long)ch->seq,
                 ch->part);
    else
        snprintf(msg_id, sizeof(msg_id), "%s:%llu", r->store_hex, (unsigned long long)ch->seq);
    m.subject = subject;
    m.msg_id = msg_id;
    m.type = ch->type;
    m.seq = ch->seq;
    m.part = ch->part;
    m.last = ch->last;
    m.data = ch->data.data;
    m.len = ch->data.len;
    return s_publish(r, &m);
}

/* The writer pruned what the stream still needed (relay_hold_max_days):
 * say so in the stream, once, and go on from what the writer has. */
static bool s_publish_gap(relay_t *r, uint64_t first)
{
    char msg_id[64], gap[48];
    relay_msg_t m = {0};

    snprintf(msg_id, sizeof(msg_id), "%s:gap:%llu", r->store_hex, (unsigned long long)r->gap_from);
    snprintf(gap, sizeof(gap), "%llu-%llu", (unsigned long long)r->gap_from,
             (unsigned long long)(first - 1));
    if (r->gap_from <= r->confirmed)
        log_errx("seqs %s are gone from the stream after JetStream acked them, and the log "
                 "writer let them go once they were confirmed: publishing a gap",
                 gap);
    else
        log_errx("the log writer pruned seqs %s before they were published: publishing a gap", gap);
    m.subject = "rapport.v1.gap";
    m.msg_id = msg_id;
    m.type = "gap";
    m.seq = first - 1;
    m.last = true;
    m.gap = gap;
    m.data = "";
    r->gap_from = 0;
    return s_publish(r, &m);
}

/* The stream's last message is of a newer primary's term: this writer's
 * store was replaced by a promoted replica. Tell the writer (it records
 * it and stops), publish nothing, exit 3. */
static void s_fenced(relay_t *r, const Rapport__V1__Changes *ch)
{
    ProtobufCMessage *reply = NULL;
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ConfirmRelayed cr = RAPPORT__V1__CONFIRM_RELAYED__INIT;

    log_errx("fenced: stream %s has moved past this log writer: its last message (%llu, seq "
             "%llu) is of term %llu, written by a primary promoted after this one (term %llu, at "
             "seq %llu); publishing nothing and stopping the log writer: rebuild this host as a "
             "replica",
             r->cfg->nats_stream, (unsigned long long)r->end.stream_seq,
             (unsigned long long)r->end.seq, (unsigned long long)r->end.term,
             (unsigned long long)ch->term, (unsigned long long)ch->last_seq);
    daemon_notify("STATUS=fenced: stream %s is of term %llu, the log writer of term %llu",
                  r->cfg->nats_stream, (unsigned long long)r->end.term,
                  (unsigned long long)ch->term);
    s_envelope(&req, r->confirm_id);
    cr.fenced_by_term = r->end.term;
    cr.fenced_store_id = ch->store_id; /* the stream's too (s_check_store) */
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_CONFIRM_RELAYED;
    req.confirm_relayed = &cr;
    if (client_call(r->writer, &req.base, &rapport__v1__log_reply__descriptor, 2000, 500, &reply) ==
        RP_OK)
        wire_free(reply);
    else
        log_errx("the log writer did not take the fencing: stop it by hand");
    r->exit_code = 3;
    r->st = ST_STOPPED;
}

/* Every reply: is the stream this writer's, of its term, and not ahead
 * of it? */
static bool s_check_store(relay_t *r, const Rapport__V1__Changes *ch)
{
    uint64_t stream_last;

    if (ch->store_id.len != 8)
        return false;
    r->writer_term = ch->term;
    for (size_t i = 0; i < 8; i++)
        snprintf(r->store_hex + 2 * i, 3, "%02x", ch->store_id.data[i]);
    if (!r->store_checked && strcmp(r->store_hex, r->end.store_id) != 0) {
        log_errx("stream %s holds the changes of store %s, and this log writer's store is %s: "
                 "set nats_stream to this store's stream",
                 r->cfg->nats_stream, r->end.store_id, r->store_hex);
        daemon_notify("STATUS=refused: stream %s belongs to store %s", r->cfg->nats_stream,
                      r->end.store_id);
        r->exit_code = 2;
        r->st = ST_STOPPED;
        return false;
    }
    if (r->end.term > ch->term) {
        s_fenced(r, ch);
        return false;
    }
    /* The newest seq the stream has (some of): beyond the writer's newest,
     * the writer lost what it published (restored from a backup). */
    stream_last = r->pos_part ? r->pos_seq : r->pos_seq ? r->pos_seq - 1 : 0;
    if (stream_last > ch->last_seq) {
        log_errx("stream %s holds seq %llu, ahead of the log writer's %llu (was the writer "
                 "restored from a backup?): publishing nothing",
                 r->cfg->nats_stream, (unsigned long long)stream_last,
                 (unsigned long long)ch->last_seq);
        daemon_notify("STATUS=refused: the stream is ahead of the log writer");
        r->st = ST_SETUP;
        r->retry_at_ms = clock_mono_ms() + BACKOFF_MAX_MS;
        return false;
    }
    if (!r->store_checked) {
        r->store_checked = true;
        /* What the stream holds is confirmed already. */
        r->confirmed = r->end.last ? r->end.seq : r->end.seq - 1;
    }
    return true;
}

static void s_on_changes(relay_t *r, const Rapport__V1__Changes *ch)
{
    s_writer_held(r, ch->held_replies);
    r->writer_last = ch->last_seq;
    if (!s_check_store(r, ch))
        return;
    if (r->gap_from && ch->first_seq > r->gap_from && r->end.stream_seq &&
        !s_publish_gap(r, ch->first_seq))
        return;
    if (r->pos_seq == 0 && ch->first_seq > 1 && r->end.stream_seq == 0)
        log_notice("the stream starts at seq %llu: the log writer no longer has the changes "
                   "before it with their records",
                   (unsigned long long)ch->first_seq);
    for (size_t i = 0; i < ch->n_changes; i++)
        if (!s_publish_change(r, ch->changes[i]))
            return;
    r->pos_seq = ch->next_seq;
    r->pos_part = ch->next_part;
    r->caught_up = ch->next_seq > ch->last_seq;
    if (r->caught_up) {
        /* What the writer logged between the last two reads, per second. */
        int64_t dt = r->read_sent_ms - r->read_prev_ms;
        /* While the writer holds its replies for the relay (hurrying), the
         * relay is in the write path and reads at the doorbell's pace. */
        r->busy = !s_hurry(r) &&
                  ch->n_changes * 1000 >= (uint64_t)BUSY_RATE * (uint64_t)(dt > 1 ? dt : 1);
        r->next_poll_ms = clock_mono_ms() + POLL_MS;
    }
}

/* A ReadChanges the writer refused. */
static void s_on_read_refused(relay_t *r, const Rapport__V1__Status *st)
{
    if (st->code == RAPPORT__V1__STATUS_CODE__FAILED_PRECONDITION &&
        !strcmp(st->field, "from_seq") && r->pos_seq) {
        if (!r->fresh) {
            /* Another relay may have published (and confirmed) it: look
             * at the stream's end first. */
            s_recover(r, "the log writer no longer has the changes of seq we were at");
            return;
        }
        /* Pruned before it was published (relay_hold_max_days): read from
         * the writer's first and publish the gap first. */
        r->gap_from = r->pos_seq;
        r->pos_seq = 0;
        r->pos_part = 0;
        return;
    }
    log_warnx("rapport-logwriter refused ReadChanges from seq %llu: %s",
              (unsigned long long)r->pos_seq, st->message);
    r->retry_at_ms = clock_mono_ms() + BACKOFF_MAX_MS;
    r->st = ST_SETUP;
}

/* Replies on the writer's DEALER: reads and confirms. */
static void s_on_writer(relay_t *r)
{
    ProtobufCMessage *msg;

    while (client_recv(r->writer, &rapport__v1__log_reply__descriptor, 0, &msg) == RP_OK) {
        Rapport__V1__LogReply *rep = (Rapport__V1__LogReply *)msg;
        bool is_read = r->read_pending && rep->request_id.len == CLIENT_REQUEST_ID_LEN &&
                       !memcmp(rep->request_id.data, r->read_id, CLIENT_REQUEST_ID_LEN);
        if (is_read) {
            r->read_pending = false;
            if (r->writer_down)
                log_notice("rapport-logwriter answers again");
            r->writer_down = false;
            if (rep->status && rep->status->code)
                s_on_read_refused(r, rep->status);
            else if (rep->result_case == RAPPORT__V1__LOG_REPLY__RESULT_CHANGES && r->st == ST_RUN)
                s_on_changes(r, rep->changes);
        } else if (rep->request_id.len == CLIENT_REQUEST_ID_LEN &&
                   !memcmp(rep->request_id.data, r->confirm_id, CLIENT_REQUEST_ID_LEN)) {
            r->confirm_pending = false;
            if (rep->result_case == RAPPORT__V1__LOG_REPLY__RESULT_RELAY_STATUS)
                s_writer_held(r, rep->relay_status->held_replies);
            if (rep->status && rep->status->code)
                log_warnx("rapport-logwriter refused ConfirmRelayed: %s", rep->status->message);
        }
        wire_free(msg);
    }
}

/* ---- acks and confirms ---- */

static void s_on_acks(relay_t *r)
{
    relay_acks_t acks;

    if (r->st != ST_RUN)
        return;
    relay_js_acks(r->js, &acks);
    if (acks.out_of_order > r->out_of_order_seen) {
        r->out_of_order_seen = acks.out_of_order;
        log_errx("%s: the stream may lack a message of this relay's", acks.last_error);
    }
    if (acks.failures > r->failures_seen) {
        char why[256];
        snprintf(why, sizeof(why), "JetStream refused or lost a publish: %s", acks.last_error);
        s_recover(r, why);
        return;
    }
    if (acks.acked_stream_seq > r->acked_max)
        r->acked_max = acks.acked_stream_seq;
    if (acks.acked_stream_seq != r->acked_seen || !acks.pending) {
        r->acked_seen = acks.acked_stream_seq;
        r->acked_ms = clock_mono_ms();
    } else if (clock_mono_ms() - r->acked_ms > ACK_STALL_MS) {
        s_recover(r, "JetStream acked nothing for 5 s");
        return;
    }
    while (r->lq_n && r->lasts[r->lq_head].stream_seq <= acks.acked_stream_seq) {
        r->confirmed = r->lasts[r->lq_head].seq;
        r->lq_head = (r->lq_head + 1) % r->lq_cap;
        r->lq_n--;
        r->backoff_ms = BACKOFF_MIN_MS;
    }
}

static void s_send_confirm(relay_t *r)
{
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ConfirmRelayed cr = RAPPORT__V1__CONFIRM_RELAYED__INIT;

    s_envelope(&req, r->confirm_id);
    cr.seq = r->confirmed;
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_CONFIRM_RELAYED;
    req.confirm_relayed = &cr;
    if (client_send(r->writer, &req.base) == RP_OK) {
        r->confirm_sent = r->confirmed;
        r->confirm_ms = clock_mono_ms();
        r->confirm_pending = true;
    }
}

/* What JetStream acked goes to the writer: at once while it holds
 * replies for the relay, else at most every CONFIRM_EVERY_MS and at once
 * when caught up; one confirm in flight at a time (a writer that does not
 * answer one for CONFIRM_WAIT_MS holds the next no longer); again now and
 * then even unchanged: the writer may have restarted from a backup, or
 * missed one. */
static void s_maybe_confirm(relay_t *r)
{
    int64_t now = clock_mono_ms();
    bool due =
        s_hurry(r) || now - r->confirm_ms >= CONFIRM_EVERY_MS || (r->caught_up && r->lq_n == 0);

    if (!r->store_checked || !due)
        return;
    if (r->confirm_pending && now - r->confirm_ms < CONFIRM_WAIT_MS)
        return;
    if (r->confirmed > r->confirm_sent || now - r->confirm_ms >= 10 * POLL_MS)
        s_send_confirm(r);
}

static void s_status(relay_t *r)
{
    int64_t now = clock_mono_ms();
    if (now - r->status_ms < STATUS_EVERY_MS)
        return;
    r->status_ms = now;
    daemon_notify("STATUS=%s; confirmed seq %llu of %llu; %llu messages published",
                  !relay_js_connected(r->js) ? "NATS unreachable"
                  : r->writer_down           ? "rapport-logwriter does not answer"
                  : r->st == ST_RUN          ? "relaying"
                                             : "recovering",
                  (unsigned long long)r->confirmed, (unsigned long long)r->writer_last,
                  (unsigned long long)r->published);
}

/* ---- the process ---- */

rp_err relay_new(const config_t *cfg, void *zctx, relay_t **ret, char *errbuf, size_t errlen)
{
    relay_t *r;
    rp_err rc;

    if (!cfg->nats_url[0]) {
        snprintf(errbuf, errlen,
                 "nats_url is not set: set nats_url = nats://HOST:4222 in the configuration "
                 "file, or RAPPORT_NATS_URL, or --set nats_url=...");
        return RP_ECONFIG;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return RP_ENOMEM;
    r->cfg = cfg;
    r->backoff_ms = BACKOFF_MIN_MS;
    rc = client_new(zctx, cfg->logwriter_endpoint, cfg, &r->writer, errbuf, errlen);
    if (rc == RP_OK) {
        /* A doorbell needs one message: between a busy relay's reads, the
         * writer's events wait in its own queue (at most BATCH_MS of them)
         * rather than the relay's. */
        config_t sub_cfg = *cfg;
        sub_cfg.rcvhwm = DOORBELL_HWM;
        rc = bus_socket_connect(zctx, BUS_SUB, cfg->events_endpoint, &sub_cfg, &r->sub, errbuf,
                                errlen);
    }
    if (rc == RP_OK)
        rc = relay_js_new(cfg, &r->js, errbuf, errlen);
    if (rc != RP_OK) {
        relay_destroy(&r);
        return rc == RP_EPERM ? RP_ECONFIG : rc;
    }
    *ret = r;
    return RP_OK;
}

void relay_destroy(relay_t **self_p)
{
    relay_t *r;
    if (!self_p || !*self_p)
        return;
    r = *self_p;
    relay_js_destroy(&r->js);
    if (r->sub)
        zmq_close(r->sub);
    client_destroy(&r->writer);
    free(r->lasts);
    free(r);
    *self_p = NULL;
}

static void s_on_doorbell(relay_t *r)
{
    zmq_msg_t body;
    while (bus_recv(r->sub, &body, NULL, 0) == RP_OK) {
        zmq_msg_close(&body);
        if (!r->doorbell)
            r->doorbell_ms = clock_mono_ms();
        r->doorbell = true;
    }
}

/* SIGTERM: publish nothing more, wait for what is in flight, confirm it. */
static void s_drain(relay_t *r)
{
    ProtobufCMessage *reply = NULL;
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ConfirmRelayed cr = RAPPORT__V1__CONFIRM_RELAYED__INIT;

    daemon_notify("STOPPING=1\nSTATUS=waiting for JetStream's acks");
    if (r->st == ST_RUN) {
        relay_js_flush(r->js, DRAIN_MS);
        s_on_acks(r);
    }
    if (!r->store_checked || !r->confirmed)
        return;
    s_envelope(&req, r->confirm_id);
    cr.seq = r->confirmed;
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_CONFIRM_RELAYED;
    req.confirm_relayed = &cr;
    if (client_call(r->writer, &req.base, &rapport__v1__log_reply__descriptor, 2000, 500, &reply) ==
        RP_OK)
        wire_free(reply);
    log_info("stopped at seq %llu confirmed", (unsigned long long)r->confirmed);
}

/* How long the loop may sleep: the writer's replies wake it, and its
 * doorbell unless busy, and JetStream's acks while it hurries; a doorbell
 * rung waits no longer than s_doorbell_ms. */
static int s_poll_ms(const relay_t *r, bool busy)
{
    int ms = 2;
    if (busy && r->caught_up)
        ms = BATCH_MS - (int)(clock_mono_ms() - r->read_sent_ms);
    else if (r->caught_up || r->st != ST_RUN)
        ms = 20;
    if (!busy && r->st == ST_RUN && r->doorbell && !r->read_pending) {
        int left = (int)(r->doorbell_ms + s_doorbell_ms(r) - clock_mono_ms());
        ms = left < ms ? left : ms;
    }
    return ms < 1 ? 1 : ms; /* 1: no spin on a full window */
}

int relay_run(relay_t *r)
{
    void *socks[2] = {client_socket(r->writer), r->sub};

    daemon_notify("READY=1\nSTATUS=starting: reading the stream %s", r->cfg->nats_stream);
    log_info("relaying %s to stream %s at %s", r->cfg->logwriter_endpoint, r->cfg->nats_stream,
             r->cfg->nats_url);
    while (!daemon_stop && r->st != ST_STOPPED) {
        int ready;
        bool busy, hurry;
        if (r->st == ST_SETUP && clock_mono_ms() >= r->retry_at_ms)
            s_setup(r);
        s_maybe_read(r);
        busy = r->busy && r->st == ST_RUN;
        hurry = !busy && s_hurry(r);
        /* Busy: the doorbell does not wake the relay; its messages are
         * taken at the relay's own pace. JetStream's acks wake it only
         * while it hurries. */
        ready = bus_poll_fd(socks, busy ? 1 : 2, hurry ? relay_js_wake_fd(r->js) : -1,
                            s_poll_ms(r, busy));
        if (ready > 0 && (ready & 1))
            s_on_writer(r);
        if (busy || (ready > 0 && (ready & 2)))
            s_on_doorbell(r);
        if (hurry && ready > 0 && (ready & 4))
            relay_js_wake_drain(r->js);
        s_on_acks(r);
        if (r->st == ST_RUN)
            s_maybe_confirm(r);
        s_status(r);
        daemon_watchdog();
    }
    if (r->st != ST_STOPPED)
        s_drain(r);
    return r->exit_code;
}
