/* segment: internal interface of rapport-segment, shared by its files.
 *
 * segment_server.c  the server spec, the links to the other workers, start-up
 * segstore.c        records: headers, lines, numbering, log records
 * segments.c        segment commands: create, update, add, personalize...
 * fanout_*.c        LogSegment: check, stream to the writer, follow-up, finish,
 *                   recover (fanout.h)
 *
 * A segment is a header record under its No. and lines keyed by the
 * segment's internal id and line no. (so a segment's lines are one key
 * range). Commands that need catalog data (templates, contacts,
 * salespeople, campaigns) ask rapport-interaction in batches through the
 * interaction link and finish in the link's callback; every change is then
 * applied in one write transaction together with the request's dedup
 * record. */
#ifndef RAPPORT_SEGMENT_H
#define RAPPORT_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "link.h"
#include "server.h"
#include "store.h"
#include "wire.h"

#include "rapport/v1/interaction.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"
#include "rapport/v1/segment.pb-c.h"

enum {
    SEG_DB_META,         /* "numbering" -> SegmentNumbering, "seg_id" -> u64 */
    SEG_DB_SEGMENTS,     /* segment no. -> seg_rec_t + SegmentHeader */
    SEG_DB_LINES,        /* seg_id + line_no -> SegmentLine */
    SEG_DB_LINE_CONTACT, /* seg_id + contact no. -> line_no */
    SEG_DB_LOGS,         /* segment no. -> log record (segment in LOGGING) */
    SEG_DB_DEDUP,
    SEG_DB_DEDUP_TIME,
    SEG_DB_TRASH, /* seg_id of lines to delete in the background */
    SEG_DB_COUNT
};

#define SEG_NO_MAX 20
/* Keys of a seg_map: a Code20 behind a two-character kind ("C:", "T:"). */
#define SEG_MAP_KEY_MAX (SEG_NO_MAX + 2)
#define LINE_STEP       10000

typedef struct logrun logrun_t;

typedef struct segsrv {
    const config_t *cfg;
    store_t *store;
    store_dbi_t db[SEG_DB_COUNT];
    server_t *server;
    link_t *interaction;
    link_t *writer;
    logrun_t *runs;
    uint64_t next_run_id;
    int64_t last_recovery_ms;
    bool trash_pending; /* SEG_DB_TRASH may hold ids: the tick empties it */
    /* metrics */
    uint64_t logs_done, logs_failed, entries_streamed;
    server_hist_t log_seconds;
} segsrv_t;

/* A segment header as stored: internal fields + the contract's header. */
typedef struct {
    uint64_t seg_id;
    uint64_t last_line_no;
    Rapport__V1__SegmentHeader *h;
} seg_t;

/* ---- segstore.c ---- */

/* Load segment `no` into the arena. RP_ENOTFOUND. */
rp_err seg_load(segsrv_t *s, store_txn_t *txn, wire_arena_t *a, const char *no, seg_t *ret);
rp_err seg_save(segsrv_t *s, store_txn_t *txn, const seg_t *seg);

/* A new internal segment id. */
rp_err seg_new_id(segsrv_t *s, store_txn_t *txn, uint64_t *ret);

/* Line keys: seg_id + line_no, both big-endian. */
void seg_line_key(uint64_t seg_id, uint64_t line_no, uint8_t out[16]);

/* A line of segment `seg` (its header gives the line's segment_no), into
 * the arena. RP_ENOTFOUND. */
rp_err seg_line_load(segsrv_t *s, store_txn_t *txn, wire_arena_t *a, const seg_t *seg,
                     uint64_t line_no, Rapport__V1__SegmentLine **ret);
rp_err seg_line_save(segsrv_t *s, store_txn_t *txn, uint64_t seg_id,
                     const Rapport__V1__SegmentLine *line, unsigned flags);

/* The stored form of a line (segstore.c): its size, and the line encoded
 * into dst (seg_line_size bytes). */
size_t seg_line_size(const Rapport__V1__SegmentLine *l);
void seg_line_encode(const Rapport__V1__SegmentLine *l, uint8_t *dst);

/* A stored line (data, len) decoded into the arena, with its segment No.
 * and line No. (which the key holds). Lines stored by an earlier version,
 * as SegmentLine, are read too. */
rp_err seg_line_decode(wire_arena_t *a, const char *segment_no, uint64_t line_no, const void *data,
                       size_t len, Rapport__V1__SegmentLine **ret);

/* The Entry bytes of a stored line: true with *ret pointing into data;
 * false for a line of the first format (decode it instead). */
bool seg_line_entry_bytes(const void *data, size_t len, const uint8_t **ret, size_t *ret_len);

/* Line no. of a contact in a segment; RP_ENOTFOUND. */
rp_err seg_line_of_contact(segsrv_t *s, store_txn_t *txn, uint64_t seg_id, const char *contact,
                           uint64_t *ret_line_no);
rp_err seg_contact_index_put(segsrv_t *s, store_txn_t *txn, uint64_t seg_id, const char *contact,
                             uint64_t line_no);
rp_err seg_contact_index_del(segsrv_t *s, store_txn_t *txn, uint64_t seg_id, const char *contact);

/* Put a segment id's lines in the trash: they are deleted in the
 * background (seg_trash_clean), so dropping a huge segment is instant. */
rp_err seg_trash_put(segsrv_t *s, store_txn_t *txn, uint64_t seg_id);

/* Delete up to `budget` trashed lines in one transaction; true when there
 * may be more. */
bool seg_trash_clean(segsrv_t *s, size_t budget);

/* Segment Nos.: format the next number and advance. RP_EPRECOND when
 * numbering is unset ("Segment Nos. must have a value in Marketing
 * Setup."). Skips numbers taken by existing segments or reserved for the
 * follow-up of a segment log in flight. */
rp_err seg_numbering_take(segsrv_t *s, store_txn_t *txn, char out[SEG_NO_MAX + 1]);
rp_err seg_numbering_get(segsrv_t *s, store_txn_t *txn, wire_arena_t *a,
                         Rapport__V1__SegmentNumbering **ret);
bool seg_numbering_set(const Rapport__V1__SegmentNumbering *n);

/* A string (<= SEG_MAP_KEY_MAX characters) -> pointer map. */
typedef struct seg_map seg_map_t;
seg_map_t *seg_map_new(size_t expected);
void seg_map_destroy(seg_map_t **self_p);
/* The value slot of key, created (NULL value) when `create`; NULL when the
 * key is absent (or too long, or out of memory). */
void **seg_map_slot(seg_map_t *m, const char *key, bool create);
size_t seg_map_count(const seg_map_t *m);
void seg_map_each(seg_map_t *m, void (*fn)(const char *key, void **value, void *arg), void *arg);

/* Fail with a store error after a write transaction failed. */
void seg_fail_store(server_req_t *req, rp_err rc);

static inline Rapport__V1__SegmentRequest *seg_request(server_req_t *req)
{
    return (Rapport__V1__SegmentRequest *)req->request;
}

static inline Rapport__V1__SegmentReply *seg_reply(server_req_t *req)
{
    return (Rapport__V1__SegmentReply *)req->reply;
}

/* "The Segment Header does not exist. Identification fields and values:
 * No.='X'" */
void seg_fail_no_segment(server_req_t *req, const char *no);

/* "Segment X is being logged." */
void seg_fail_logging(server_req_t *req, const char *no);

/* Recompute nothing: adjust the header's derived totals by a line being
 * added (sign +1) or removed (-1). */
void seg_totals(Rapport__V1__SegmentHeader *h, const Rapport__V1__SegmentLine *line, int sign);

/* ---- segments.c ---- */

void segments_set_numbering(void *ctx, server_req_t *req);
void segments_get_numbering(void *ctx, server_req_t *req);
void segments_create(void *ctx, server_req_t *req);
void segments_get(void *ctx, server_req_t *req);
void segments_list(void *ctx, server_req_t *req);
void segments_delete(void *ctx, server_req_t *req);
void segments_update(void *ctx, server_req_t *req);
void segments_add_contacts(void *ctx, server_req_t *req);
void segments_remove_lines(void *ctx, server_req_t *req);
void segments_list_lines(void *ctx, server_req_t *req);
void segments_update_line(void *ctx, server_req_t *req);

/* Correspondence type of a new line (docs/domain.md section 6, rules a-c). */
Rapport__V1__CorrespondenceType seg_line_corr_type(const Rapport__V1__SegmentHeader *h,
                                                   const Rapport__V1__InteractionTemplate *t,
                                                   const Rapport__V1__Contact *c);

/* Fill a new line for contact c from the header h and its template t
 * (which may be NULL). */
void seg_line_from_header(const Rapport__V1__SegmentHeader *h,
                          const Rapport__V1__InteractionTemplate *t, const Rapport__V1__Contact *c,
                          Rapport__V1__SegmentLine *l);

/* Whether template t has a language row for lang. */
bool seg_template_has_language(const Rapport__V1__InteractionTemplate *t, const char *lang);

/* ---- fanout_run.c: logging a segment (fanout.h) ---- */

void fanout_log_segment(void *ctx, server_req_t *req);

/* Resume every segment left in LOGGING (start-up, and retries later). */
void fanout_recover(segsrv_t *s);

/* Drive runs that wait for a retry. */
void fanout_tick(segsrv_t *s);

/* Background work of the runs (the follow-up's lines, a chunk at a time);
 * true when more is left for the next loop turn. */
bool fanout_background(segsrv_t *s);

/* Whether a log is in flight (graceful stop waits for it). */
bool fanout_busy(const segsrv_t *s);

/* Whether a LogSegment of segment `no` is running in this process (from its
 * first check on: its lines must not change). */
bool fanout_active(const segsrv_t *s, const char *no);

/* Whether a segment log in flight (LOGGING) has taken `no` for its
 * follow-up segment, which does not exist until the log finishes. Store
 * errors only. */
rp_err fanout_reserves(segsrv_t *s, store_txn_t *txn, const char *no, bool *ret_reserved);

/* Number of segment logs in flight. */
size_t fanout_count(const segsrv_t *s);

void fanout_destroy_all(segsrv_t *s);

#endif
