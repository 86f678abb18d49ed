/* indexing: the last step of a segment log, after its Commit.
 *
 * A Commit makes a log durable (its entries, logged segment and campaign
 * entries are in the store) and is answered at once; the log stays
 * invisible (its range pending, writer_entry_visible) while its entries'
 * contact index is built here, index_chunk_entries per loop turn, each
 * chunk in a transaction of its own that also records how far it got (so a
 * restart goes on from there). The last transaction merges the log's
 * statistics, appends segment.logged and marks the log visible; after its
 * commit the range goes, segment.logged is published and the
 * SegmentLogVisible requests waiting for the log are answered. So the
 * contact index is off the critical path of a log, and queries and
 * subscribers still never see part of a segment. */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "pbscan.h"
#include "writer.h"

#define ENTRY_CONTACT_NO 2

/* The oldest committed range (the list is newest first). */
static writer_range_t *s_next_job(const writer_t *w)
{
    writer_range_t *job = NULL;
    for (writer_range_t *r = w->pending; r; r = r->next)
        if (r->committed)
            job = r;
    return job;
}

bool indexing_busy(const writer_t *w)
{
    return s_next_job(w) != NULL;
}

rp_err indexing_wait(writer_range_t *r, server_req_t *req)
{
    server_req_t **grown = realloc(r->waiters, sizeof(*grown) * (r->n_waiters + 1));

    if (!grown)
        return RP_ENOMEM;
    r->waiters = grown;
    r->waiters[r->n_waiters++] = req;
    req->deferred = true;
    return RP_OK;
}

/* The contact of a stored entry. */
static bool s_contact(const store_val_t *v, const uint8_t **ret, size_t *ret_len)
{
    pbscan_t sc;
    pbscan_field_t f;
    bool found = false;

    pbscan_init(&sc, v->data, v->len);
    while (pbscan_next(&sc, &f) == 1)
        if (f.field == ENTRY_CONTACT_NO && f.type == PBSCAN_BYTES) {
            *ret = f.data; /* the last one wins, as when decoding */
            *ret_len = f.len;
            found = true;
        }
    return found && *ret_len > 0;
}

typedef struct {
    writer_range_t *r;
    uint64_t indexed; /* where this chunk ends */
} chunk_t;

static rp_err s_index_chunk(writer_txn_t *t, void *ctx)
{
    chunk_t *c = ctx;
    writer_range_t *r = c->r;
    uint64_t total = r->last - r->first + 1, n = 0;
    uint64_t chunk = (uint64_t)t->w->cfg->index_chunk_entries;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t key[8];
    rp_err rc = store_cursor_open(t->txn, t->w->db[WRITER_DB_ENTRIES], &cur);

    c->indexed = r->indexed;
    store_u64_key(r->first + r->indexed, key);
    k.data = key;
    k.len = 8;
    if (rc == RP_OK)
        rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
    while (rc == RP_OK && n < chunk && c->indexed < total && k.len == 8 &&
           store_key_u64(k.data) <= r->last) {
        const uint8_t *contact = NULL;
        size_t len = 0;
        uint8_t ek[8];
        memcpy(ek, k.data, 8);
        if (s_contact(&v, &contact, &len)) {
            rc = store_put(t->txn, t->w->db[WRITER_DB_BY_CONTACT], contact, len, ek, 8, 0);
            if (rc == RP_EEXIST) /* indexed before a restart */
                rc = RP_OK;
        }
        if (rc != RP_OK)
            break;
        c->indexed = store_key_u64(ek) - r->first + 1;
        n++;
        rc = store_cursor_get(cur, STORE_NEXT, &k, &v);
    }
    store_cursor_close(cur);
    if (rc == RP_ENOTFOUND || rc == RP_OK)
        rc = RP_OK;
    else
        return rc;
    /* Entries deleted meanwhile are no gap in the index: done past the end. */
    if (n == 0 || c->indexed >= total)
        c->indexed = total;
    if (c->indexed < total)
        return intake_set_indexed(t, r, c->indexed);
    return intake_reveal(t, r);
}

/* The range is visible: it goes, and what waited for it is answered. */
static void s_reveal_done(writer_t *w, writer_range_t *r)
{
    writer_range_t **pp = &w->pending;
    store_txn_t *txn = NULL;

    while (*pp && *pp != r)
        pp = &(*pp)->next;
    if (*pp)
        *pp = r->next;
    if (r->n_waiters && store_txn_begin(w->store, false, &txn) != RP_OK)
        txn = NULL;
    for (size_t i = 0; i < r->n_waiters; i++) {
        server_req_t *req = r->waiters[i];
        req->deferred = false;
        if (!txn || intake_visible(w, txn, req) != RP_OK ||
            writer_meta_get(txn, w, "seq", &writer_reply(req)->seq) != RP_OK)
            server_req_fail(req, RP_EUNAVAIL, NULL, "the log writer cannot read its store");
        /* Its segment.logged is at that seq or before. */
        if (!writer_hold_for_relay(w, req, writer_reply(req)->seq))
            server_req_finish(req);
    }
    store_txn_abort(txn);
    log_debug("logged segment %llu is visible", (unsigned long long)r->lse);
    free(r->waiters);
    free(r);
}

bool indexing_step(writer_t *w)
{
    writer_range_t *r = s_next_job(w);
    chunk_t c = {r, 0};
    uint64_t total;
    rp_err rc;

    if (!r)
        return false;
    total = r->last - r->first + 1;
    /* Chunks before the last may skip the meta sync: the last one syncs
     * fully, and a restart builds again what a crash lost. */
    rc = writer_txn_run(
        w, s_index_chunk, &c,
        total - r->indexed > (uint64_t)w->cfg->index_chunk_entries ? STORE_WRITE_NOMETASYNC : 0);
    if (rc != RP_OK) {
        log_warnx("logged segment %llu: its index could not be written: %s; trying again",
                  (unsigned long long)r->lse, rp_strerror(rc));
        return false; /* the next loop turn (or tick) tries again */
    }
    r->indexed = c.indexed;
    if (r->indexed >= total)
        s_reveal_done(w, r);
    else
        daemon_fault_point("logwriter.mid_index");
    return true;
}
