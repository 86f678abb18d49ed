/* segstore: the segment worker's records.
 *
 * Header: SEG_DB_SEGMENTS[no] = u64 seg_id, u64 last line no., SegmentHeader.
 * Lines: SEG_DB_LINES[seg_id, line_no] = a stored line (below), and
 * SEG_DB_LINE_CONTACT [seg_id, contact no.] = line_no, which keeps a contact
 * from being added twice. Numbering: SEG_DB_META["numbering"] =
 * SegmentNumbering.
 *
 * A stored line is what its interaction log entry will be: a byte 0x07
 * (wire type 7, which no protobuf message starts with, so a line of the
 * first format, a plain SegmentLine, is still told apart), a flags byte
 * (bit 0: personalized), the personalized fields as a u32 of bits by
 * SegmentLine field number (little endian), then the line's fields encoded
 * as an Entry. Logging the segment forwards those bytes as the entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
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
    rp_err rc = store_get(txn, s->db[SEG_DB_SEGMENTS], no, strlen(no), &v);

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
    rp_err rc = store_reserve(txn, s->db[SEG_DB_SEGMENTS], seg->h->no, strlen(seg->h->no),
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
    rp_err rc = store_get(txn, s->db[SEG_DB_META], "seg_id", 6, &v);

    if (rc == RP_OK && v.len == 8)
        last = store_key_u64(v.data);
    else if (rc != RP_ENOTFOUND && rc != RP_OK)
        return rc;
    store_u64_key(last + 1, b);
    rc = store_put(txn, s->db[SEG_DB_META], "seg_id", 6, b, 8, 0);
    if (rc == RP_OK)
        *ret = last + 1;
    return rc;
}

void seg_line_key(uint64_t seg_id, uint64_t line_no, uint8_t out[16])
{
    store_u64_key(seg_id, out);
    store_u64_key(line_no, out + 8);
}

/* ---- stored lines ---- */

#define LINE_FORMAT 0x07
#define LINE_PREFIX 6

/* The line's fields as the Entry it will be logged as (docs/design.md,
 * "Logging a segment": copied one to one). */
static void s_line_entry(const Rapport__V1__SegmentLine *l, Rapport__V1__Entry *e)
{
    rapport__v1__entry__init(e);
    e->contact_no = l->contact_no;
    e->contact_company_no = l->contact_company_no;
    e->date = l->date;
    e->time_of_interaction = l->time_of_interaction;
    e->description = l->description;
    e->subject = l->subject;
    e->information_flow = l->information_flow;
    e->initiated_by = l->initiated_by;
    e->evaluation = l->evaluation;
    e->cost_cents = l->cost_cents;
    e->duration_min = l->duration_min;
    e->interaction_group_code = l->interaction_group_code;
    e->interaction_template_code = l->interaction_template_code;
    e->interaction_language_code = l->language_code;
    e->salesperson_code = l->salesperson_code;
    e->campaign_no = l->campaign_no;
    e->campaign_target = l->campaign_target;
    e->campaign_response = l->campaign_response;
    e->correspondence_type = l->correspondence_type;
}

static void s_entry_line(const Rapport__V1__Entry *e, Rapport__V1__SegmentLine *l)
{
    l->contact_no = e->contact_no;
    l->contact_company_no = e->contact_company_no;
    l->date = e->date;
    l->time_of_interaction = e->time_of_interaction;
    l->description = e->description;
    l->subject = e->subject;
    l->information_flow = e->information_flow;
    l->initiated_by = e->initiated_by;
    l->evaluation = e->evaluation;
    l->cost_cents = e->cost_cents;
    l->duration_min = e->duration_min;
    l->interaction_group_code = e->interaction_group_code;
    l->interaction_template_code = e->interaction_template_code;
    l->language_code = e->interaction_language_code;
    l->salesperson_code = e->salesperson_code;
    l->campaign_no = e->campaign_no;
    l->campaign_target = e->campaign_target;
    l->campaign_response = e->campaign_response;
    l->correspondence_type = e->correspondence_type;
}

/* Personalized fields as bits by SegmentLine field number. */
static uint32_t s_pf_bits(const Rapport__V1__SegmentLine *l)
{
    uint32_t bits = 0;
    for (size_t i = 0; i < l->n_personalized_fields; i++) {
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(
            &rapport__v1__segment_line__descriptor, l->personalized_fields[i]);
        if (fd && fd->id < 32)
            bits |= 1u << fd->id;
    }
    return bits;
}

static void s_pf_names(wire_arena_t *a, uint32_t bits, Rapport__V1__SegmentLine *l)
{
    size_t n = 0;
    l->personalized_fields = (char **)wire_arena_ptrs(a, 32);
    for (unsigned id = 1; id < 32; id++) {
        const ProtobufCFieldDescriptor *fd;
        if (!(bits & (1u << id)))
            continue;
        fd = protobuf_c_message_descriptor_get_field(&rapport__v1__segment_line__descriptor, id);
        if (fd)
            l->personalized_fields[n++] = (char *)(uintptr_t)fd->name;
    }
    l->n_personalized_fields = n;
}

size_t seg_line_size(const Rapport__V1__SegmentLine *l)
{
    Rapport__V1__Entry e;
    s_line_entry(l, &e);
    return LINE_PREFIX + wire_size(&e.base);
}

void seg_line_encode(const Rapport__V1__SegmentLine *l, uint8_t *dst)
{
    Rapport__V1__Entry e;
    uint32_t bits = s_pf_bits(l);

    s_line_entry(l, &e);
    dst[0] = LINE_FORMAT;
    dst[1] = l->personalized ? 1 : 0;
    for (int i = 0; i < 4; i++)
        dst[2 + i] = (uint8_t)(bits >> (8 * i));
    wire_encode_to(&e.base, dst + LINE_PREFIX);
}

bool seg_line_entry_bytes(const void *data, size_t len, const uint8_t **ret, size_t *ret_len)
{
    const uint8_t *p = data;
    if (len < LINE_PREFIX || p[0] != LINE_FORMAT)
        return false;
    *ret = p + LINE_PREFIX;
    *ret_len = len - LINE_PREFIX;
    return true;
}

rp_err seg_line_decode(wire_arena_t *a, const char *segment_no, uint64_t line_no, const void *data,
                       size_t len, Rapport__V1__SegmentLine **ret)
{
    const uint8_t *p = data, *eb;
    Rapport__V1__SegmentLine *l;
    Rapport__V1__Entry *e;
    size_t elen;
    uint32_t bits = 0;
    rp_err rc;

    if (!seg_line_entry_bytes(data, len, &eb, &elen)) {
        /* A line of the first format: a SegmentLine. */
        rc = wire_decode_trusted(a, &rapport__v1__segment_line__descriptor, data, len,
                                 (ProtobufCMessage **)&l);
    } else {
        rc = wire_decode_trusted(a, &rapport__v1__entry__descriptor, eb, elen,
                                 (ProtobufCMessage **)&e);
        if (rc == RP_OK) {
            l = (Rapport__V1__SegmentLine *)wire_arena_message(
                a, &rapport__v1__segment_line__descriptor);
            s_entry_line(e, l);
            l->personalized = (p[1] & 1) != 0;
            for (int i = 0; i < 4; i++)
                bits |= (uint32_t)p[2 + i] << (8 * i);
            s_pf_names(a, bits, l);
        }
    }
    if (rc != RP_OK)
        return rc;
    l->line_no = line_no;
    l->segment_no = wire_str(segment_no ? segment_no : "");
    *ret = l;
    return RP_OK;
}

rp_err seg_line_load(segsrv_t *s, store_txn_t *txn, wire_arena_t *a, const seg_t *seg,
                     uint64_t line_no, Rapport__V1__SegmentLine **ret)
{
    uint8_t k[16];
    store_val_t v;
    rp_err rc;

    seg_line_key(seg->seg_id, line_no, k);
    rc = store_get(txn, s->db[SEG_DB_LINES], k, sizeof(k), &v);
    if (rc != RP_OK)
        return rc;
    return seg_line_decode(a, seg->h ? seg->h->no : "", line_no, v.data, v.len, ret);
}

rp_err seg_line_save(segsrv_t *s, store_txn_t *txn, uint64_t seg_id,
                     const Rapport__V1__SegmentLine *line, unsigned flags)
{
    uint8_t k[16];
    void *dst;
    rp_err rc;

    seg_line_key(seg_id, line->line_no, k);
    rc = store_reserve(txn, s->db[SEG_DB_LINES], k, sizeof(k), seg_line_size(line), flags, &dst);
    if (rc != RP_OK)
        return rc;
    seg_line_encode(line, dst);
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
    rp_err rc =
        store_get(txn, s->db[SEG_DB_LINE_CONTACT], k, s_contact_key(seg_id, contact, k), &v);
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
    return store_put(txn, s->db[SEG_DB_LINE_CONTACT], k, s_contact_key(seg_id, contact, k), v, 8,
                     0);
}

rp_err seg_contact_index_del(segsrv_t *s, store_txn_t *txn, uint64_t seg_id, const char *contact)
{
    uint8_t k[8 + SEG_NO_MAX];
    rp_err rc =
        store_del(txn, s->db[SEG_DB_LINE_CONTACT], k, s_contact_key(seg_id, contact, k), NULL, 0);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

rp_err seg_trash_put(segsrv_t *s, store_txn_t *txn, uint64_t seg_id)
{
    uint8_t k[8];
    store_u64_key(seg_id, k);
    s->trash_pending = true;
    return store_put(txn, s->db[SEG_DB_TRASH], k, 8, "", 0, 0);
}

/* Delete at most `budget` keys of `dbi` starting with the 8-byte prefix;
 * *ret_n says how many went. */
static rp_err s_drop_some(store_txn_t *txn, store_dbi_t dbi, const uint8_t prefix[8], size_t budget,
                          size_t *ret_n)
{
    store_cursor_t *cur = NULL;
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
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t prefix[8];
    size_t lines = 0, index = 0;
    rp_err rc = store_cursor_open(txn, s->db[SEG_DB_TRASH], &cur);

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
    rc = s_drop_some(txn, s->db[SEG_DB_LINES], prefix, t->budget, &lines);
    if (rc == RP_OK)
        rc = s_drop_some(txn, s->db[SEG_DB_LINE_CONTACT], prefix, t->budget, &index);
    if (rc != RP_OK)
        return rc;
    t->done = lines + index;
    if (lines < t->budget && index < t->budget)
        rc = store_del(txn, s->db[SEG_DB_TRASH], prefix, 8, NULL, 0);
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
    rp_err rc = store_get(txn, s->db[SEG_DB_META], "numbering", 9, &v);
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
        rc = store_get(txn, s->db[SEG_DB_SEGMENTS], out, (size_t)len, &v);
        if (rc == RP_ENOTFOUND) {
            /* Nor the follow-up of a log in flight (numbering set back). */
            bool reserved;
            rc = fanout_reserves(s, txn, out, &reserved);
            if (rc == RP_OK && !reserved)
                rc = RP_ENOTFOUND;
        }
        if (rc == RP_ENOTFOUND) {
            uint8_t *dst;
            size_t sz = wire_size(&n->base);
            rc = store_reserve(txn, s->db[SEG_DB_META], "numbering", 9, sz, 0, (void **)&dst);
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
        size_t j = (size_t)(hash_str(HASH_INIT, m->slots[i].key) & (bigger.cap - 1));
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
    i = (size_t)(hash_str(HASH_INIT, key) & (m->cap - 1));
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
