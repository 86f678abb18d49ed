/* changes_held: what the log writer keeps for the change stream, and for
 * how long (changes.c reads it).
 *
 * The hooks run inside the request that changes a record, before it appends
 * its events, so "the request's seq" is the seq its first event gets:
 * - a logged segment or campaign entry put or deleted is kept as it is
 *   after the request, under (kind, seq, no) in WRITER_DB_HELD (flag 0: the record,
 *   1: the record as it was when it was deleted);
 * - an entry deleted for good is kept, with that seq, in WRITER_DB_HELD_ENTRIES
 *   (indexed by seq in WRITER_DB_HELD under kind 'E'), unless every event before
 *   the request is confirmed already (nothing will read it again).
 * Pruning drops what belongs to seqs no reader needs: those the relay
 * confirmed, and those whose events are gone (retention), and moves
 * `changes_from` up first. ConfirmRelayed and the relay's metrics are here
 * too. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "writer.h"

#define CONFIRM_PRUNE_BUDGET 16384

/* ---- keys and meta ---- */

void changes_held_key(char kind, uint64_t seq, uint64_t no, uint8_t out[CHANGES_HELD_KEY_LEN])
{
    out[0] = (uint8_t)kind;
    store_u64_key(seq, out + 1);
    store_u64_key(no, out + 9);
}

rp_err changes_relay_confirmed(store_txn_t *txn, writer_t *w, bool *ret_present, uint64_t *ret_seq)
{
    return writer_meta_find(txn, w, "relay_confirmed", ret_present, ret_seq);
}

static bool s_relay_present(const writer_t *w, bool confirmed_once)
{
    /* A replica's nats_url is the stream it reads: it has no relay. */
    return !w->replica && (confirmed_once || w->cfg->nats_url[0]);
}

/* The seq the current request's first event will get. */
static rp_err s_next_seq(writer_txn_t *t, uint64_t *ret)
{
    uint64_t seq;
    rp_err rc = writer_meta_get(t->txn, t->w, "seq", &seq);
    if (rc == RP_OK)
        *ret = seq + 1;
    return rc;
}

/* ---- hooks ---- */

static rp_err s_keep(writer_txn_t *t, int db, uint64_t no, const ProtobufCMessage *msg,
                     uint8_t flag)
{
    uint8_t key[CHANGES_HELD_KEY_LEN], *dst;
    uint64_t seq;
    size_t len = wire_size(msg);
    rp_err rc = s_next_seq(t, &seq);

    if (rc != RP_OK)
        return rc;
    changes_held_key(db == WRITER_DB_LOGGED_SEGMENTS ? 'L' : 'C', seq, no, key);
    rc = store_reserve(t->txn, t->w->db[WRITER_DB_HELD], key, sizeof(key), 1 + len, 0,
                       (void **)&dst);
    if (rc != RP_OK)
        return rc;
    dst[0] = flag;
    wire_encode_to(msg, dst + 1);
    return RP_OK;
}

rp_err changes_record_put(writer_txn_t *t, int db, uint64_t no, const ProtobufCMessage *msg)
{
    return s_keep(t, db, no, msg, CHANGES_HELD_RECORD);
}

rp_err changes_record_deleted(writer_txn_t *t, int db, uint64_t no, const ProtobufCMessage *last)
{
    return s_keep(t, db, no, last, CHANGES_HELD_DELETED);
}

rp_err changes_entry_deleted(writer_txn_t *t, const Rapport__V1__Entry *e)
{
    uint8_t key[CHANGES_HELD_KEY_LEN], k8[8], *dst;
    uint64_t seq, confirmed;
    bool present;
    size_t len;
    rp_err rc = s_next_seq(t, &seq);

    if (rc == RP_OK)
        rc = changes_relay_confirmed(t->txn, t->w, &present, &confirmed);
    if (rc != RP_OK)
        return rc;
    /* Every event before this request's is confirmed: none will be read
     * again, so none needs the entry. */
    if (present && confirmed + 1 >= seq)
        return RP_OK;
    len = wire_size(&e->base);
    store_u64_key(e->entry_no, k8);
    rc = store_reserve(t->txn, t->w->db[WRITER_DB_HELD_ENTRIES], k8, 8, 8 + len, 0, (void **)&dst);
    if (rc != RP_OK)
        return rc;
    store_u64_key(seq, dst);
    wire_encode_to(&e->base, dst + 8);
    changes_held_key('E', seq, e->entry_no, key);
    return store_put(t->txn, t->w->db[WRITER_DB_HELD], key, sizeof(key), "", 0, 0);
}

rp_err changes_load(store_txn_t *txn, writer_t *w)
{
    store_val_t v;
    bool present;
    rp_err rc = changes_relay_confirmed(txn, w, &present, &w->relay_confirmed);

    if (rc == RP_OK)
        rc = store_get(txn, w->db[WRITER_DB_META], "changes_from", 12, &v);
    if (rc != RP_ENOTFOUND)
        return rc;
    /* A new store, or one older than the change stream: what it changed
     * before was not kept aside. */
    return writer_meta_put(txn, w, "changes_from", w->last_seq + 1);
}

/* ---- pruning ---- */

bool changes_event_prunable(store_txn_t *txn, writer_t *w, uint64_t seq, int64_t occurred_ms,
                            bool *ret_unrelayed)
{
    bool present;
    uint64_t confirmed;

    *ret_unrelayed = false;
    if (changes_relay_confirmed(txn, w, &present, &confirmed) != RP_OK)
        return false;
    if (!s_relay_present(w, present) || seq <= confirmed)
        return true;
    if (w->cfg->relay_hold_max_days &&
        occurred_ms < clock_now_ms() - w->cfg->relay_hold_max_days * 86400000LL) {
        *ret_unrelayed = true;
        return true;
    }
    return false;
}

/* The newest seq whose kept records no readable seq needs. */
static rp_err s_prune_upto(store_txn_t *txn, writer_t *w, uint64_t *ret)
{
    store_cursor_t *cur;
    store_val_t k, v;
    uint64_t last, first, confirmed;
    bool present;
    rp_err rc = writer_meta_get(txn, w, "seq", &last);

    if (rc == RP_OK)
        rc = changes_relay_confirmed(txn, w, &present, &confirmed);
    if (rc == RP_OK)
        rc = store_cursor_open(txn, w->db[WRITER_DB_EVENTS], &cur);
    if (rc != RP_OK)
        return rc;
    rc = store_cursor_get(cur, STORE_FIRST, &k, &v);
    first = rc == RP_OK ? store_key_u64(k.data) : last + 1;
    store_cursor_close(cur);
    if (rc != RP_OK && rc != RP_ENOTFOUND)
        return rc;
    *ret = first - 1;
    if (present && confirmed > *ret)
        *ret = confirmed;
    return RP_OK;
}

rp_err changes_prune_held(store_txn_t *txn, writer_t *w, size_t budget)
{
    static const char kinds[] = {'E', 'L', 'C'};
    uint64_t upto, from;
    size_t n = 0;
    rp_err rc = s_prune_upto(txn, w, &upto);

    if (rc == RP_OK)
        rc = writer_meta_get(txn, w, "changes_from", &from);
    if (rc == RP_OK && upto + 1 > from)
        rc = writer_meta_put(txn, w, "changes_from", upto + 1);
    for (size_t i = 0; i < sizeof(kinds) && rc == RP_OK; i++) {
        store_cursor_t *cur;
        store_val_t k, v;
        uint8_t start[1] = {(uint8_t)kinds[i]};

        rc = store_cursor_open(txn, w->db[WRITER_DB_HELD], &cur);
        if (rc != RP_OK)
            break;
        k.data = start;
        k.len = 1;
        rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
        while (rc == RP_OK && n < budget && k.len == CHANGES_HELD_KEY_LEN &&
               ((uint8_t *)k.data)[0] == (uint8_t)kinds[i] &&
               store_key_u64((uint8_t *)k.data + 1) <= upto) {
            if (kinds[i] == 'E') {
                rc = store_del(txn, w->db[WRITER_DB_HELD_ENTRIES], (uint8_t *)k.data + 9, 8, NULL,
                               0);
                rc = rc == RP_ENOTFOUND ? RP_OK : rc;
            }
            if (rc == RP_OK)
                rc = store_cursor_del(cur, false);
            n++;
            /* Re-seek after a delete (LMDB 0.9.24 quirks, ITS#9376). */
            k.data = start;
            k.len = 1;
            if (rc == RP_OK)
                rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
        }
        store_cursor_close(cur);
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    return rc;
}

/* The relay found the stream moved past this store: a replica promoted
 * with a higher term took it over. Recorded (the store never starts as the
 * primary again, logwriter_new) and the process stops with 3. */
static rp_err s_fenced(writer_txn_t *t, server_req_t *req, const Rapport__V1__ConfirmRelayed *cr)
{
    writer_t *w = t->w;
    uint64_t term = cr->fenced_by_term;

    if (cr->fenced_store_id.len != sizeof(w->stream_id) ||
        memcmp(cr->fenced_store_id.data, w->stream_id, sizeof(w->stream_id)) != 0) {
        server_req_fail(req, RP_EINVAL, "confirm_relayed.fenced_store_id",
                        "fenced_by_term needs the store id of the stream's messages, and it "
                        "must be this store's");
        return RP_OK;
    }
    if (term <= w->term)
        return RP_OK;
    log_errx("fenced: the change stream %s was taken over by a primary of term %llu (this "
             "store is of term %llu, at seq %llu): stopping; this store must not serve as the "
             "primary again, rebuild this host as a replica",
             w->cfg->nats_stream, (unsigned long long)term, (unsigned long long)w->term,
             (unsigned long long)w->last_seq);
    daemon_notify("STATUS=fenced by the stream (term %llu)", (unsigned long long)term);
    w->fenced_by_term = term;
    w->exit_code = 3;
    daemon_stop = 1;
    return writer_meta_put(t->txn, w, "fenced", term);
}

rp_err changes_confirm(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__ConfirmRelayed *cr = writer_request(req)->confirm_relayed;
    uint64_t seq;
    Rapport__V1__RelayStatus *st;
    uint64_t last, before;
    bool present;
    rp_err rc;

    if (cr->fenced_by_term)
        return s_fenced(t, req, cr);
    rc = writer_meta_get(t->txn, t->w, "seq", &last);
    if (rc == RP_OK)
        rc = changes_relay_confirmed(t->txn, t->w, &present, &before);
    if (rc != RP_OK)
        return rc;
    if (cr->seq > last) {
        server_req_fail(req, RP_EINVAL, "confirm_relayed.seq",
                        "seq %llu is beyond the newest event, %llu", (unsigned long long)cr->seq,
                        (unsigned long long)last);
        return RP_OK;
    }
    /* Confirmed only moves up: a relay that lags (a second one started by
     * mistake, one resending an old confirm) does not take it back. */
    seq = cr->seq;
    if (present && seq < before) {
        log_debug("ConfirmRelayed %llu is below the %llu confirmed: kept", (unsigned long long)seq,
                  (unsigned long long)before);
        seq = before;
    }
    /* JetStream holds it whether or not this commit succeeds: the replies
     * held for it (ack_after_relay) may go. */
    if (seq > t->w->relay_confirmed)
        t->w->relay_confirmed = seq;
    rc = writer_meta_put(t->txn, t->w, "relay_confirmed", seq);
    if (rc == RP_OK)
        rc = changes_prune_held(t->txn, t->w, CONFIRM_PRUNE_BUDGET);
    if (rc != RP_OK)
        return rc;
    st = (Rapport__V1__RelayStatus *)wire_arena_message(req->arena,
                                                        &rapport__v1__relay_status__descriptor);
    st->confirmed_seq = seq;
    st->last_seq = last;
    st->held_replies = t->w->n_held_for_relay;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_RELAY_STATUS;
    writer_reply(req)->relay_status = st;
    return RP_OK;
}

/* ---- metrics ---- */

static void s_add_counter(wire_arena_t *a, Rapport__V1__WorkerStats *st, const char *name,
                          const char *help, uint64_t value)
{
    Rapport__V1__Counter *c =
        (Rapport__V1__Counter *)wire_arena_message(a, &rapport__v1__counter__descriptor);
    Rapport__V1__Counter **g = (Rapport__V1__Counter **)wire_arena_ptrs(a, st->n_counters + 1);

    c->name = wire_str(name);
    c->help = wire_str(help);
    c->value = value;
    if (st->n_counters)
        memcpy(g, st->counters, sizeof(*g) * st->n_counters);
    g[st->n_counters++] = c;
    st->counters = g;
}

void changes_stats(writer_t *w, wire_arena_t *a, Rapport__V1__WorkerStats *st)
{
    store_txn_t *txn;
    uint64_t confirmed = 0, held = 0;
    bool present = false;

    if (store_txn_begin(w->store, false, &txn) != RP_OK)
        return;
    if (changes_relay_confirmed(txn, w, &present, &confirmed) != RP_OK ||
        store_count(txn, w->db[WRITER_DB_HELD_ENTRIES], &held) != RP_OK) {
        store_txn_abort(txn);
        return;
    }
    store_txn_abort(txn);
    if (s_relay_present(w, present)) {
        server_stats_add_gauge(a, st,
                               server_gauge(a, "rapport_relay_last_confirmed_seq",
                                            "Newest event seq rapport-relay has published to "
                                            "JetStream and confirmed",
                                            (double)confirmed));
        server_stats_add_gauge(
            a, st,
            server_gauge(a, "rapport_relay_lag_events",
                         "Durable events rapport-relay has not confirmed yet",
                         (double)(w->last_seq > confirmed ? w->last_seq - confirmed : 0)));
    }
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_relay_held_replies",
                                        "Write replies held until rapport-relay has confirmed "
                                        "their seq (ack_after_relay)",
                                        (double)w->n_held_for_relay));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_changes_held_entries",
                                        "Deleted entries kept until the change stream no longer "
                                        "needs them",
                                        (double)held));
    s_add_counter(a, st, "rapport_events_pruned_unrelayed_total",
                  "Events pruned (relay_hold_max_days) before rapport-relay confirmed them",
                  w->events_pruned_unrelayed);
}
