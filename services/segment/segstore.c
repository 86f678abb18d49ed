/* segstore: the segment worker's records.
 *
 * Header: DB_SEGMENTS[no] = u64 seg_id, u64 last line no., SegmentHeader.
 * Lines: DB_LINES[seg_id, line_no] = SegmentLine, and DB_LINE_CONTACT
 * [seg_id, contact no.] = line_no, which keeps a contact from being added
 * twice. Numbering: DB_META["numbering"] = SegmentNumbering. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "segment.h"

typedef struct {
    uint64_t seg_id;
    uint64_t last_line_no;
} seg_rec_t;

rp_err seg_load(segsrv_t *s, store_txn_t *txn, wire_arena_t *a, const char *no, seg_t *ret)
{
    store_val_t v;
    seg_rec_t r;
    rp_err rc = store_get(txn, s->db[DB_SEGMENTS], no, strlen(no), &v);

    if (rc != RP_OK)
        return rc;
    if (v.len < sizeof(r))
        return RP_ECORRUPT;
    memcpy(&r, v.data, sizeof(r));
    rc = wire_decode_trusted(a, &rapport__v1__segment_header__descriptor,
                             (const uint8_t *)v.data + sizeof(r), v.len - sizeof(r),
                             (ProtobufCMessage **)&ret->h);
    if (rc != RP_OK)
        return rc;
    ret->seg_id = r.seg_id;
    ret->last_line_no = r.last_line_no;
    return RP_OK;
}

rp_err seg_save(segsrv_t *s, store_txn_t *txn, const seg_t *seg)
{
    seg_rec_t r = {seg->seg_id, seg->last_line_no};
    size_t len = wire_size(&seg->h->base);
    uint8_t *dst;
    rp_err rc = store_reserve(txn, s->db[DB_SEGMENTS], seg->h->no, strlen(seg->h->no),
                              sizeof(r) + len, 0, (void **)&dst);
    if (rc != RP_OK)
        return rc;
    memcpy(dst, &r, sizeof(r));
    wire_encode_to(&seg->h->base, dst + sizeof(r));
    return RP_OK;
}

rp_err seg_new_id(segsrv_t *s, store_txn_t *txn, uint64_t *ret)
{
    store_val_t v;
    uint64_t last = 0;
    uint8_t b[8];
    rp_err rc = store_get(txn, s->db[DB_META], "seg_id", 6, &v);

    if (rc == RP_OK && v.len == 8)
        last = store_key_u64(v.data);
    else if (rc != RP_ENOTFOUND && rc != RP_OK)
        return rc;
    store_u64_key(last + 1, b);
    rc = store_put(txn, s->db[DB_META], "seg_id", 6, b, 8, 0);
    if (rc == RP_OK)
        *ret = last + 1;
    return rc;
}

void seg_line_key(uint64_t seg_id, uint64_t line_no, uint8_t out[16])
{
    store_u64_key(seg_id, out);
    store_u64_key(line_no, out + 8);
}

rp_err seg_line_load(segsrv_t *s, store_txn_t *txn, wire_arena_t *a, uint64_t seg_id,
                     uint64_t line_no, Rapport__V1__SegmentLine **ret)
{
    uint8_t k[16];
    store_val_t v;
    rp_err rc;

    seg_line_key(seg_id, line_no, k);
    rc = store_get(txn, s->db[DB_LINES], k, sizeof(k), &v);
    if (rc != RP_OK)
        return rc;
    return wire_decode_trusted(a, &rapport__v1__segment_line__descriptor, v.data, v.len,
                               (ProtobufCMessage **)ret);
}

rp_err seg_line_save(segsrv_t *s, store_txn_t *txn, uint64_t seg_id,
                     const Rapport__V1__SegmentLine *line, unsigned flags)
{
    uint8_t k[16];
    void *dst;
    size_t len = wire_size(&line->base);
    rp_err rc;

    seg_line_key(seg_id, line->line_no, k);
    rc = store_reserve(txn, s->db[DB_LINES], k, sizeof(k), len, flags, &dst);
    if (rc != RP_OK)
        return rc;
    wire_encode_to(&line->base, dst);
    return RP_OK;
}

static size_t s_contact_key(uint64_t seg_id, const char *contact, uint8_t out[8 + SEG_NO_MAX])
{
    size_t n = strlen(contact);
    if (n > SEG_NO_MAX)
        n = SEG_NO_MAX;
    store_u64_key(seg_id, out);
    memcpy(out + 8, contact, n);
    return 8 + n;
}

rp_err seg_line_of_contact(segsrv_t *s, store_txn_t *txn, uint64_t seg_id, const char *contact,
                           uint64_t *ret_line_no)
{
    uint8_t k[8 + SEG_NO_MAX];
    store_val_t v;
    rp_err rc = store_get(txn, s->db[DB_LINE_CONTACT], k, s_contact_key(seg_id, contact, k), &v);
    if (rc != RP_OK)
        return rc;
    if (v.len != 8)
        return RP_ECORRUPT;
    *ret_line_no = store_key_u64(v.data);
    return RP_OK;
}

rp_err seg_contact_index_put(segsrv_t *s, store_txn_t *txn, uint64_t seg_id, const char *contact,
                             uint64_t line_no)
{
    uint8_t k[8 + SEG_NO_MAX], v[8];
    store_u64_key(line_no, v);
    return store_put(txn, s->db[DB_LINE_CONTACT], k, s_contact_key(seg_id, contact, k), v, 8, 0);
}

rp_err seg_contact_index_del(segsrv_t *s, store_txn_t *txn, uint64_t seg_id, const char *contact)
{
    uint8_t k[8 + SEG_NO_MAX];
    rp_err rc =
        store_del(txn, s->db[DB_LINE_CONTACT], k, s_contact_key(seg_id, contact, k), NULL, 0);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

rp_err seg_trash_put(segsrv_t *s, store_txn_t *txn, uint64_t seg_id)
{
    uint8_t k[8];
    store_u64_key(seg_id, k);
    s->trash_pending = true;
    return store_put(txn, s->db[DB_TRASH], k, 8, "", 0, 0);
}

/* Delete at most `budget` keys of `dbi` starting with the 8-byte prefix;
 * *ret_n says how many went. */
static rp_err s_drop_some(store_txn_t *txn, store_dbi_t dbi, const uint8_t prefix[8], size_t budget,
                          size_t *ret_n)
{
    store_cursor_t *cur;
    store_val_t k, v;
    size_t n = 0;
    rp_err rc = store_cursor_open(txn, dbi, &cur);

    if (rc != RP_OK)
        return rc;
    k.data = (void *)(uintptr_t)prefix;
    k.len = 8;
    rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
    while (rc == RP_OK && n < budget && k.len >= 8 && memcmp(k.data, prefix, 8) == 0) {
        rc = store_cursor_del(cur, false);
        if (rc != RP_OK)
            break;
        n++;
        /* Re-seek rather than trust the cursor after a delete (LMDB 0.9.24
         * cursor-delete quirks, ITS#9376). */
        k.data = (void *)(uintptr_t)prefix;
        k.len = 8;
        rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
    }
    store_cursor_close(cur);
    *ret_n = n;
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

typedef struct {
    segsrv_t *s;
    size_t budget, done;
    bool more;
} trash_t;

static rp_err s_apply_trash(store_txn_t *txn, void *ctx)
{
    trash_t *t = ctx;
    segsrv_t *s = t->s;
    store_cursor_t *cur;
    store_val_t k, v;
    uint8_t prefix[8];
    size_t lines = 0, index = 0;
    rp_err rc = store_cursor_open(txn, s->db[DB_TRASH], &cur);

    t->done = 0;
    t->more = false;
    if (rc != RP_OK)
        return rc;
    rc = store_cursor_get(cur, STORE_FIRST, &k, &v);
    if (rc == RP_OK && k.len == 8)
        memcpy(prefix, k.data, 8);
    store_cursor_close(cur);
    if (rc == RP_ENOTFOUND)
        return RP_OK;
    if (rc != RP_OK)
        return rc;
    rc = s_drop_some(txn, s->db[DB_LINES], prefix, t->budget, &lines);
    if (rc == RP_OK)
        rc = s_drop_some(txn, s->db[DB_LINE_CONTACT], prefix, t->budget, &index);
    if (rc != RP_OK)
        return rc;
    t->done = lines + index;
    if (lines < t->budget && index < t->budget)
        rc = store_del(txn, s->db[DB_TRASH], prefix, 8, NULL, 0);
    t->more = true; /* the next call finds out whether anything is left */
    return rc;
}

bool seg_trash_clean(segsrv_t *s, size_t budget)
{
    trash_t t = {s, budget, 0, false};
    rp_err rc;

    if (!s->trash_pending)
        return false;
    rc = store_write(s->store, s_apply_trash, &t, NULL);
    if (rc != RP_OK) {
        log_warnx("emptying the trash: %s", rp_strerror(rc));
        return false;
    }
    if (!t.more)
        s->trash_pending = false;
    return t.more;
}

bool seg_numbering_set(const Rapport__V1__SegmentNumbering *n)
{
    return n && n->width > 0 && n->next > 0;
}

rp_err seg_numbering_get(segsrv_t *s, store_txn_t *txn, wire_arena_t *a,
                         Rapport__V1__SegmentNumbering **ret)
{
    store_val_t v;
    rp_err rc = store_get(txn, s->db[DB_META], "numbering", 9, &v);
    if (rc == RP_ENOTFOUND) {
        *ret = (Rapport__V1__SegmentNumbering *)wire_arena_message(
            a, &rapport__v1__segment_numbering__descriptor);
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    return wire_decode_trusted(a, &rapport__v1__segment_numbering__descriptor, v.data, v.len,
                               (ProtobufCMessage **)ret);
}

rp_err seg_numbering_take(segsrv_t *s, store_txn_t *txn, char out[SEG_NO_MAX + 1])
{
    wire_arena_t *a = wire_arena_new();
    Rapport__V1__SegmentNumbering *n;
    rp_err rc;

    if (!a)
        return RP_ENOMEM;
    rc = seg_numbering_get(s, txn, a, &n);
    if (rc == RP_OK && !seg_numbering_set(n))
        rc = RP_EPRECOND;
    for (int tries = 0; rc == RP_OK; tries++) {
        store_val_t v;
        int len = snprintf(out, SEG_NO_MAX + 1, "%s%0*llu", n->prefix, (int)n->width,
                           (unsigned long long)n->next);
        if (len < 0 || len > SEG_NO_MAX || tries > 1000) {
            rc = RP_ERANGE;
            break;
        }
        n->next++;
        rc = store_get(txn, s->db[DB_SEGMENTS], out, (size_t)len, &v);
        if (rc == RP_ENOTFOUND) {
            /* Nor the follow-up of a log in flight (numbering set back). */
            bool reserved;
            rc = logging_reserves(s, txn, out, &reserved);
            if (rc == RP_OK && !reserved)
                rc = RP_ENOTFOUND;
        }
        if (rc == RP_ENOTFOUND) {
            uint8_t *dst;
            size_t sz = wire_size(&n->base);
            rc = store_reserve(txn, s->db[DB_META], "numbering", 9, sz, 0, (void **)&dst);
            if (rc == RP_OK)
                wire_encode_to(&n->base, dst);
            break;
        }
        /* taken: try the next number */
    }
    wire_arena_destroy(&a);
    return rc;
}

void seg_fail_store(server_req_t *req, rp_err rc)
{
    server_req_reset_reply(req);
    if (rc == RP_ENOSPC)
        server_req_fail(req, RP_ENOSPC, NULL,
                        "the segment worker's store is full; nothing changed");
    else
        server_req_fail(req, RP_EUNAVAIL, NULL, "the segment worker could not write: %s",
                        rp_strerror(rc));
}

void seg_fail_no_segment(server_req_t *req, const char *no)
{
    server_req_fail(req, RP_ENOTFOUND, "segment_no",
                    "The Segment Header does not exist. Identification fields and values: "
                    "No.='%s'",
                    no);
}

void seg_fail_logging(server_req_t *req, const char *no)
{
    server_req_fail(req, RP_EPRECOND, "segment_no", "Segment %s is being logged.", no);
}

void seg_totals(Rapport__V1__SegmentHeader *h, const Rapport__V1__SegmentLine *line, int sign)
{
    if (sign > 0) {
        h->no_of_lines++;
        h->total_cost_cents += line->cost_cents;
        h->total_duration_min += line->duration_min;
    } else {
        h->no_of_lines--;
        h->total_cost_cents -= line->cost_cents;
        h->total_duration_min -= line->duration_min;
    }
}

/* ---- a small string -> pointer map (open addressing, keys <= SEG_MAP_KEY_MAX) ---- */

typedef struct {
    char key[SEG_MAP_KEY_MAX + 1];
    bool used;
    void *value;
} slot_t;

struct seg_map {
    slot_t *slots;
    size_t cap, n;
};

static uint64_t s_strhash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

seg_map_t *seg_map_new(size_t expected)
{
    seg_map_t *m = calloc(1, sizeof(*m));
    size_t cap = 16;
    while (cap < expected * 2)
        cap *= 2;
    if (!m)
        return NULL;
    m->slots = calloc(cap, sizeof(slot_t));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->cap = cap;
    return m;
}

void seg_map_destroy(seg_map_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

static bool s_grow(seg_map_t *m)
{
    seg_map_t bigger = {calloc(m->cap * 2, sizeof(slot_t)), m->cap * 2, 0};
    if (!bigger.slots)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].used)
            continue;
        size_t j = (size_t)(s_strhash(m->slots[i].key) & (bigger.cap - 1));
        while (bigger.slots[j].used)
            j = (j + 1) & (bigger.cap - 1);
        bigger.slots[j] = m->slots[i];
        bigger.n++;
    }
    free(m->slots);
    *m = bigger;
    return true;
}

void **seg_map_slot(seg_map_t *m, const char *key, bool create)
{
    size_t i;

    if (strlen(key) > SEG_MAP_KEY_MAX)
        return NULL;
    if (create && (m->n + 1) * 2 > m->cap && !s_grow(m))
        return NULL;
    i = (size_t)(s_strhash(key) & (m->cap - 1));
    while (m->slots[i].used) {
        if (strcmp(m->slots[i].key, key) == 0)
            return &m->slots[i].value;
        i = (i + 1) & (m->cap - 1);
    }
    if (!create)
        return NULL;
    m->slots[i].used = true;
    memcpy(m->slots[i].key, key, strlen(key) + 1);
    m->slots[i].value = NULL;
    m->n++;
    return &m->slots[i].value;
}

size_t seg_map_count(const seg_map_t *m)
{
    return m->n;
}

void seg_map_each(seg_map_t *m, void (*fn)(const char *key, void **value, void *arg), void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].used)
            fn(m->slots[i].key, &m->slots[i].value, arg);
}
