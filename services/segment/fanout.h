/* fanout: logging a segment (docs/domain.md section 7), the segment
 * worker's side of the fan-out (docs/design.md, "Logging a segment").
 *
 * fanout_run.c     a run: its phases and the one transition function, the
 *                  reply handler that dispatches on the phase, the LOGGING
 *                  record, recovery and the finish
 * fanout_checks.c  CHECK and LOOKUP: was the segment logged already, then
 *                  one pass over the lines asking rapport-interaction for
 *                  what they name, checking them in line order
 * fanout_stream.c  BEGIN, STREAM and COMMIT to the log writer, and the
 *                  follow-up's lines, written after the commit
 *
 * A run goes through these phases:
 *   CHECK      ask the writer whether the segment No. was logged already
 *   LOOKUP     read the lines (their stored bytes, not decoded), ask for
 *              their contacts and codes in batches, check them in order
 *   (persist LOGGING with the log_id and the follow-up No., one txn)
 *   BEGIN      reserve the numbers at the writer
 *   STREAM     forward the lines' bytes as entries, credit-based
 *   COMMIT     the writer commits: the log is durable. The run records that
 *              (and, with reply_when_durable, the client's reply) and goes on
 *   FOLLOW_UP  write the follow-up's lines under a hidden id, a chunk per
 *              loop turn, while the writer builds its contact index
 *   VISIBLE    wait until the writer shows the logged segment
 *   (finish, one txn: the follow-up's header appears, the segment's header
 *   goes and its lines to the trash, the reply is recorded under the
 *   request_id; then reply)
 * A run whose peer is down answers UNAVAILABLE and retries by itself (WAIT,
 * then PARKED after too many attempts). At start-up every segment left in
 * LOGGING gets a run: one that was not committed sends Begin again (the
 * writer answers a committed log_id from its record, or starts the log over
 * on the same reservation); one that was goes on with the follow-up. */
#ifndef RAPPORT_FANOUT_H
#define RAPPORT_FANOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "pbscan.h"
#include "segment.h"
#include "vec.h"

#include "rapport/v1/common.pb-c.h"

typedef enum {
    RUN_CHECK,
    RUN_LOOKUP,
    RUN_BEGIN,
    RUN_STREAM,
    RUN_COMMIT,
    RUN_FOLLOW_UP,
    RUN_VISIBLE,
    RUN_WAIT,
    RUN_PARKED,
    RUN_PHASES
} phase_t;

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

/* What the log needs of a line's contact: kept per counted line, in line
 * order, so the k-th entry streamed finds its contact at index k. */
typedef struct {
    char salesperson[11];
    uint8_t corr;
    bool has_email;
    bool found;
} cinfo_t;

typedef struct chunk chunk_t;

struct logrun {
    logrun_t *next;
    segsrv_t *s;
    uint64_t id, gen;  /* replies carry a ticket (id, gen); stale ones are dropped */
    server_req_t *req; /* the client waiting, or NULL */
    phase_t phase, wait_phase;
    bool recovering;         /* checks passed in an earlier life */
    bool persisted;          /* LOGGING is in the store: the run must end it */
    bool committed;          /* the writer has the log, durably */
    bool answered;           /* the client's reply is recorded (reply_when_durable) */
    bool reply_when_durable; /* the client asked for the early reply */
    char segment_no[SEG_NO_MAX + 1];
    uint8_t request_id[WIRE_REQUEST_ID_MAX];
    size_t request_id_len;
    char user_id[256];
    uint8_t log_id[2 * WIRE_REQUEST_ID_MAX];
    size_t log_id_len;
    bool follow_up;
    char follow_up_no[SEG_NO_MAX + 1];
    uint64_t fu_seg_id; /* the follow-up's lines, hidden until the finish */
    uint32_t fu_date;
    char campaign_no[SEG_NO_MAX + 1];
    uint64_t seg_id;
    /* header snapshot for Begin */
    char description[512];
    char salesperson[16];
    uint32_t date;
    /* lookup */
    uint64_t scan_after, counted;
    bool scan_done;
    chunk_t *chunks, **chunks_tail; /* looked up, oldest first */
    size_t n_chunks;
    uint64_t chunk_seq;
    cinfo_t *cinfo; /* per counted line, in line order */
    size_t cinfo_cap;
    seg_map_t *codes;                  /* "T:code", "S:code", "C:no" -> CODE_ASKED / CODE_FOUND */
    char last_code[3][SEG_NO_MAX + 1]; /* the template, salesperson, campaign noted last */
    vec_t campaigns;                   /* char *: distinct campaigns of the lines */
    /* stream */
    uint64_t stream_after, sent, acked;
    uint32_t credit, inflight;
    vec_t packed; /* a batch's entries, reused from batch to batch */
    /* follow-up */
    uint64_t fu_after, fu_done; /* source line no. and lines written so far */
    /* the result, once committed (its encoded SegmentLogged) */
    uint8_t *logged;
    size_t logged_len;
    int attempts;
    int64_t retry_at;
    uint64_t t0_ns, t_checked_ns, t_begun_ns, t_streamed_ns, t_committed_ns;
};

/* ---- fanout_run.c: shared by the phases ---- */

/* Move the run to `next` and do what entering it does (send Begin, read
 * the first chunk...). The one place a run changes phase. */
void fanout_enter(logrun_t *r, phase_t next);

/* A peer did not answer or lost our log: tell the client, then retry
 * from `from` later by ourselves (or fail at once if nothing is stored). */
void fanout_retry_later(logrun_t *r, phase_t from, const char *why);

/* End the run with an error for its client; the segment stays as it is. */
void fanout_fail(logrun_t *r, rp_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* End the run with the status already set on the client's request. */
void fanout_refuse(logrun_t *r);

/* Send msg to the writer (or to rapport-interaction) for this run; the
 * reply reaches the handler of the run's phase at the time it comes,
 * with `tag`, unless the run ended or started over meanwhile. */
rp_err fanout_to_writer(logrun_t *r, Rapport__V1__LogRequest *msg, uint64_t tag);
rp_err fanout_to_interaction(logrun_t *r, Rapport__V1__InteractionRequest *msg, uint64_t tag);

/* The status of a peer's reply: true when OK (*ret is then NULL or OK). */
bool fanout_status_ok(const ProtobufCMessage *reply, const Rapport__V1__Status **ret);

/* Persist LOGGING (the segment's state, the log record, the follow-up
 * No.), then BEGIN; refusals (numbering unset, logging already) end the
 * run. */
void fanout_persist_and_begin(logrun_t *r);

/* The writer committed the log (`logged`): record it, answer a client who
 * asked for the early reply, then FOLLOW_UP / VISIBLE / finish. */
void fanout_committed(logrun_t *r, const Rapport__V1__SegmentLogged *logged);

/* After the commit (or the follow-up's lines): FOLLOW_UP while lines are
 * left to write, then VISIBLE when a client waits for the logged segment
 * to show, then the finish. */
void fanout_after_commit(logrun_t *r);

/* LOOKUP is done: a new log is persisted and begun; a recovered one goes
 * on where it was. */
void fanout_looked_up(logrun_t *r);

/* Everything is written: the finishing transaction, then the reply. */
void fanout_finish(logrun_t *r);

/* The writer refused the log for good: undo LOGGING, tell the client. */
void fanout_abandon(logrun_t *r, const Rapport__V1__Status *st);

/* ---- fanout_checks.c ---- */

/* Entering CHECK and LOOKUP. */
void checks_enter_check(logrun_t *r);
void checks_enter_lookup(logrun_t *r);

/* Replies in CHECK and LOOKUP. */
void checks_on_check(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag);
void checks_on_lookup(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag);

/* Forget what a lookup gathered. */
void checks_reset(logrun_t *r);

/* ---- fanout_stream.c ---- */

/* Entering BEGIN, STREAM, COMMIT, FOLLOW_UP, VISIBLE. */
void stream_enter_begin(logrun_t *r);
void stream_enter_stream(logrun_t *r);
void stream_enter_commit(logrun_t *r);
void stream_enter_follow_up(logrun_t *r);
void stream_enter_visible(logrun_t *r);

/* Replies in BEGIN, STREAM, COMMIT and VISIBLE. */
void stream_on_begin(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag);
void stream_on_batch(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag);
void stream_on_commit(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag);
void stream_on_visible(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag);

/* FOLLOW_UP: write the next chunk of follow-up lines; false when the phase
 * is over (or failed). */
bool stream_follow_up_step(logrun_t *r);

/* The follow-up's header (docs/domain.md 7.9). */
void stream_fu_header(const logrun_t *r, Rapport__V1__SegmentHeader *h, char desc[64]);

/* The contact info of counted line `index`, NULL when its contact was not
 * found (or the lookup did not reach it). */
const cinfo_t *fanout_cinfo(const logrun_t *r, uint64_t index);

/* Copy a length-delimited field into a NUL-terminated buffer (cut to it). */
void fanout_take_str(char *dst, size_t cap, const pbscan_field_t *field);

#endif
