/* forwarded: the entries of a segment log batch, read from the bytes the
 * segment worker forwarded (logwriter.proto, SegmentLogBatch).
 *
 * The segment worker has checked every line against the rules before it
 * began the log, and only rapport's own workers may send the stream (an
 * internal command). So the writer does not decode, check and encode each
 * entry again: it reads the fields it indexes and sums, checks the framing
 * and the ranges that keep the store sound (a contact of 1..20 bytes, a
 * real date and time, an amount and a duration within their bounds, codes
 * that fit the statistics key, no field the writer alone sets), and stores
 * the bytes with the fields it assigns appended. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "pbscan.h"
#include "writer.h"

/* Entry field numbers (common.proto). */
enum {
    F_ENTRY_NO = 1,
    F_CONTACT_NO = 2,
    F_DATE = 4,
    F_TIME = 5,
    F_COST = 12,
    F_DURATION = 13,
    F_USER_ID = 14,
    F_GROUP = 15,
    F_TEMPLATE = 16,
    F_CAMPAIGN_NO = 19,
    F_CAMPAIGN_ENTRY_NO = 20,
    F_SEGMENT_NO = 23,
    F_LOGGED_SEGMENT_NO = 24,
    F_CANCELED = 28,
    F_POSTPONED = 29,
    F_COMMENTS = 30,
};

#define CODE10 10
#define CODE20 20

static bool s_str(const pbscan_field_t *f, size_t max, char *out)
{
    if (f->type != PBSCAN_BYTES || f->len > max || wire_utf8_check(f->data, f->len) == SIZE_MAX)
        return false;
    memcpy(out, f->data, f->len);
    out[f->len] = '\0';
    return true;
}

/* A field the writer does not read: one of Entry's, with its wire type, and
 * text that is UTF-8, so that every reader decodes the stored entry. (Entry
 * has strings and varints only; its one message field, comments, never
 * comes in the stream.) */
static bool s_other(const pbscan_field_t *f)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&rapport__v1__entry__descriptor, f->field);

    if (!fd)
        return false;
    if (fd->type == PROTOBUF_C_TYPE_STRING)
        return f->type == PBSCAN_BYTES && wire_utf8_check(f->data, f->len) != SIZE_MAX;
    return fd->type != PROTOBUF_C_TYPE_MESSAGE && f->type == PBSCAN_VARINT;
}

/* Read one entry's fields; NULL when fine, else what is wrong. */
static const char *s_read(const uint8_t *p, size_t len, writer_fwd_t *e)
{
    pbscan_t sc;
    pbscan_field_t f;
    int rc;

    memset(e, 0, sizeof(*e));
    e->bytes = p;
    e->len = len;
    pbscan_init(&sc, p, len);
    while ((rc = pbscan_next(&sc, &f)) == 1) {
        bool ok = true;
        switch (f.field) {
        case F_CONTACT_NO:
            ok = s_str(&f, CODE20, e->contact_no);
            break;
        case F_DATE:
            ok = f.type == PBSCAN_VARINT && f.value <= UINT32_MAX;
            e->date = (uint32_t)f.value;
            break;
        case F_TIME:
            ok = f.type == PBSCAN_VARINT && f.value < 86400;
            e->time_of_interaction = (uint32_t)f.value;
            break;
        case F_COST:
            /* int64 as a varint: two's complement */
            e->cost_cents = (int64_t)f.value;
            ok = f.type == PBSCAN_VARINT && e->cost_cents >= 0 && e->cost_cents <= WIRE_MAX_CENTS;
            break;
        case F_DURATION:
            ok = f.type == PBSCAN_VARINT && f.value <= WIRE_MAX_MINUTES;
            e->duration_min = (uint32_t)f.value;
            break;
        case F_GROUP:
            ok = s_str(&f, CODE10, e->group_code);
            break;
        case F_TEMPLATE:
            ok = s_str(&f, CODE10, e->template_code);
            break;
        case F_CAMPAIGN_NO:
            ok = s_str(&f, CODE20, e->campaign_no);
            break;
        case F_CANCELED:
        case F_POSTPONED:
            ok = f.value == 0;
            break;
        case F_COMMENTS:
            ok = false;
            break;
        default:
            ok = s_other(&f);
            break;
        }
        if (!ok)
            return "a field the stream may not carry, or out of range";
    }
    if (rc != 0)
        return "malformed bytes";
    if (!e->contact_no[0])
        return "no contact";
    if (!clock_date_valid(e->date))
        return "no valid date";
    return NULL;
}

size_t writer_fwd_count(const ProtobufCBinaryData *packed)
{
    const uint8_t *p = packed->data, *end = packed->len ? p + packed->len : p; /* no NULL + 0 */
    size_t n = 0;

    while (p < end) {
        uint64_t len;
        size_t h = pbscan_varint(p, (size_t)(end - p), &len);
        if (h == 0 || len > (uint64_t)(end - p) - h)
            break;
        p += h + len;
        n++;
    }
    return n;
}

rp_err writer_fwd_parse(server_req_t *req, wire_arena_t *a, const ProtobufCBinaryData *packed,
                        size_t max, writer_fwd_t **ret_entries, size_t *ret_n)
{
    const uint8_t *p = packed->data, *end = packed->len ? p + packed->len : p; /* no NULL + 0 */
    size_t framed = writer_fwd_count(packed), n = 0;
    writer_fwd_t *es;

    if (framed > max)
        framed = max + 1; /* one more than allowed is enough to refuse */
    es = wire_arena_alloc(a, sizeof(*es) * (framed ? framed : 1));

    while (p < end) {
        uint64_t len;
        size_t h = pbscan_varint(p, (size_t)(end - p), &len);
        const char *why;

        if (h == 0 || len > (uint64_t)(end - p) - h)
            why = "malformed length";
        else if (n == max || n == framed)
            why = "more entries than the log announced";
        else
            why = s_read(p + h, (size_t)len, &es[n]);
        if (why) {
            server_req_fail(req, RP_EINVAL, "packed_entries", "entry %zu of the batch: %s", n, why);
            return RP_EINVAL;
        }
        p += h + len;
        n++;
    }
    if (n == 0) {
        server_req_fail(req, RP_EINVAL, "packed_entries", "a batch of no entries");
        return RP_EINVAL;
    }
    *ret_entries = es;
    *ret_n = n;
    return RP_OK;
}

rp_err writer_fwd_store(writer_txn_t *t, const writer_fwd_t *e, const writer_fwd_ids_t *ids)
{
    writer_t *w = t->w;
    uint8_t k[8], tail[5 * PBSCAN_FIELD_MAX + 2 * WRITER_ID_MAX], *q = tail, *dst;
    size_t ulen = strlen(ids->user_id), slen = strlen(ids->segment_no);
    unsigned flags = 0;
    rp_err rc;

    if (ulen > WRITER_ID_MAX || slen > WRITER_ID_MAX)
        return RP_EINVAL;
    /* The fields the writer assigns, after the forwarded bytes: they win. */
    q += pbscan_put_uint(q, F_ENTRY_NO, ids->entry_no);
    q += pbscan_put_bytes(q, F_USER_ID, ids->user_id, ulen);
    q += pbscan_put_bytes(q, F_SEGMENT_NO, ids->segment_no, slen);
    q += pbscan_put_uint(q, F_LOGGED_SEGMENT_NO, ids->logged_segment_no);
    if (ids->campaign_entry_no)
        q += pbscan_put_uint(q, F_CAMPAIGN_ENTRY_NO, ids->campaign_entry_no);
    if (ids->entry_no > t->max_entry_key) {
        flags = STORE_PUT_APPEND;
        t->max_entry_key = ids->entry_no;
    }
    store_u64_key(ids->entry_no, k);
    rc = store_reserve(t->txn, w->db[WRITER_DB_ENTRIES], k, 8, e->len + (size_t)(q - tail), flags,
                       (void **)&dst);
    if (rc != RP_OK)
        return rc;
    memcpy(dst, e->bytes, e->len);
    memcpy(dst + e->len, tail, (size_t)(q - tail));
    return RP_OK;
}
