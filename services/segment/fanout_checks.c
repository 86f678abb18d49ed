/* fanout_checks: CHECK and LOOKUP, the checks of docs/domain.md section 7.
 *
 * CHECK asks the writer whether a logged segment exists for the No. LOOKUP
 * is one pass over the lines: read a chunk of up to LOOKUP_BATCH counted
 * lines (the fields the checks need, read from their stored bytes), ask
 * rapport-interaction for their contacts (as stored bytes too) and for every
 * template, salesperson and campaign not asked before, keep up to
 * LOOKUPS_IN_FLIGHT chunks out, and check the chunks in line order as their
 * answers come in: the first failing line is the reply. A code first seen in
 * a chunk is asked with that chunk, so it is known when the chunk is
 * checked. A recovered run looks up again (the stream and the follow-up
 * need the contacts) but does not check: its checks passed before. */
#include <stdlib.h>
#include <string.h>

#include "fanout.h"

/* rapport-interaction answers lookups of up to 10,000 keys; a line adds at
 * most four (its contact, template, salesperson and campaign). */
#define LOOKUP_KEYS       10000
#define LOOKUP_BATCH      LOOKUP_KEYS
#define LOOKUPS_IN_FLIGHT 8

/* What the checks need of a counted line, read from its stored bytes
 * without decoding them. */
typedef struct {
    uint64_t line_no;
    uint32_t date;
    char contact[SEG_NO_MAX + 1];
    char salesperson[11];
    char template_code[11];
    char campaign[SEG_NO_MAX + 1];
} facts_t;

struct chunk {
    chunk_t *next;
    uint64_t seq;
    wire_arena_t *arena;
    facts_t *lines; /* the chunk's counted lines */
    size_t n;
    uint64_t first; /* counted-line index of lines[0] */
    bool answered;
};

#define CODE_ASKED ((void *)1)
#define CODE_FOUND ((void *)2)

void fanout_take_str(char *dst, size_t cap, const pbscan_field_t *f)
{
    size_t n = f->len < cap - 1 ? f->len : cap - 1;
    memcpy(dst, f->data, n);
    dst[n] = '\0';
}

static void s_chunk_free(chunk_t *ch)
{
    wire_arena_destroy(&ch->arena);
    free(ch);
}

void checks_reset(logrun_t *r)
{
    while (r->chunks) {
        chunk_t *n = r->chunks->next;
        s_chunk_free(r->chunks);
        r->chunks = n;
    }
    r->chunks_tail = &r->chunks;
    r->n_chunks = 0;
    seg_map_destroy(&r->codes);
    memset(r->last_code, 0, sizeof(r->last_code));
    for (size_t i = 0; i < r->campaigns.n; i++)
        free(((char **)r->campaigns.data)[i]);
    vec_clear(&r->campaigns);
}

/* ---- CHECK: was this segment No. logged already? ---- */

void checks_enter_check(logrun_t *r)
{
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ListLoggedSegments ll = RAPPORT__V1__LIST_LOGGED_SEGMENTS__INIT;

    ll.segment_no = r->segment_no;
    ll.limit = 1;
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_LOGGED_SEGMENTS;
    lr.list_logged_segments = &ll;
    if (fanout_to_writer(r, &lr, 0) != RP_OK)
        fanout_fail(r, RP_EUNAVAIL, "cannot reach rapport-logwriter");
}

void checks_on_check(logrun_t *r, const ProtobufCMessage *reply, uint64_t tag)
{
    const Rapport__V1__LogReply *rep = (const Rapport__V1__LogReply *)reply;
    const Rapport__V1__Status *st;

    (void)tag;
    if (!fanout_status_ok(reply, &st)) {
        if (r->req)
            server_req_status(r->req, (int)st->code, st->field, "%s", st->message);
        fanout_refuse(r);
        return;
    }
    if (rep->result_case == RAPPORT__V1__LOG_REPLY__RESULT_LOGGED_SEGMENTS &&
        rep->logged_segments->n_logged_segments > 0) {
        server_req_fail(r->req, RP_EEXIST, "segment_no",
                        "Logged Segment for Segment No. %s already exists.", r->segment_no);
        fanout_refuse(r);
        return;
    }
    if (!r->description[0]) {
        server_req_fail(r->req, RP_EPRECOND, "segment_no",
                        "Description must have a value in Segment Header: No.=%s.", r->segment_no);
        fanout_refuse(r);
        return;
    }
    fanout_enter(r, RUN_LOOKUP);
}

/* ---- LOOKUP ---- */

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

/* Append a code to one of a lookup's arrays, which s_read_chunk sized for
 * LOOKUP_KEYS. */
static void s_lookup_add(wire_arena_t *a, char **arr, size_t *n, const char *code)
{
    arr[(*n)++] = wire_arena_strdup(a, code);
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
        char **slot_c = vec_push(&r->campaigns, 1);
        if (!slot_c || !(*slot_c = strdup(code))) {
            if (slot_c)
                r->campaigns.n--;
            return false;
        }
    }
    if (kind == 'T')
        s_lookup_add(a, lk->template_codes, &lk->n_template_codes, code);
    else if (kind == 'S')
        s_lookup_add(a, lk->salesperson_codes, &lk->n_salesperson_codes, code);
    else
        s_lookup_add(a, lk->campaign_nos, &lk->n_campaign_nos, code);
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
        wire_copy_str(f->template_code, sizeof(f->template_code), l->interaction_template_code);
        wire_copy_str(f->campaign, sizeof(f->campaign), l->campaign_no);
        return true;
    }
    pbscan_init(&sc, eb, elen);
    while ((rc = pbscan_next(&sc, &fld)) == 1) {
        switch (fld.field) {
        case ENTRY_CONTACT_NO:
            fanout_take_str(f->contact, sizeof(f->contact), &fld);
            break;
        case ENTRY_DATE:
            f->date = (uint32_t)fld.value;
            break;
        case ENTRY_SALESPERSON_CODE:
            fanout_take_str(f->salesperson, sizeof(f->salesperson), &fld);
            break;
        case ENTRY_TEMPLATE_CODE:
            fanout_take_str(f->template_code, sizeof(f->template_code), &fld);
            break;
        case ENTRY_CAMPAIGN_NO:
            fanout_take_str(f->campaign, sizeof(f->campaign), &fld);
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
        rc = store_cursor_open(txn, s->db[SEG_DB_LINES], &cur);
    if (rc != RP_OK)
        goto out;
    ch->first = r->counted;
    ch->lines = wire_arena_alloc(ch->arena, sizeof(*ch->lines) * LOOKUP_BATCH);
    lk->contact_nos = (char **)wire_arena_ptrs(ch->arena, LOOKUP_KEYS);
    lk->template_codes = (char **)wire_arena_ptrs(ch->arena, LOOKUP_KEYS);
    lk->salesperson_codes = (char **)wire_arena_ptrs(ch->arena, LOOKUP_KEYS);
    lk->campaign_nos = (char **)wire_arena_ptrs(ch->arena, LOOKUP_KEYS);
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
            if (!s_code_note(r, 'T', f->template_code, ch->arena, lk) ||
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

/* Check the lines of an answered chunk in order (docs/domain.md 7.4).
 * Returns false with the client's reply set at the first failing line. */
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
        } else if (!fanout_cinfo(r, ch->first + i)) {
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
        } else if (!l->template_code[0]) {
            server_req_fail(req, RP_EPRECOND, "segment_no",
                            "Interaction Template Code must have a value in Segment Line: Segment "
                            "No.=%s, Line No.=%llu.",
                            r->segment_no, no);
        } else if (!s_code_found(r, 'T', l->template_code)) {
            server_req_fail(req, RP_ENOTFOUND, "segment_no",
                            "The Interaction Template does not exist. Identification fields and "
                            "values: Code='%s'",
                            l->template_code);
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

/* The contact info of counted line `index`, growing the array. */
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

const cinfo_t *fanout_cinfo(const logrun_t *r, uint64_t index)
{
    return index < r->cinfo_cap && r->cinfo[index].found ? &r->cinfo[index] : NULL;
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
            fanout_take_str(no, SEG_NO_MAX + 1, &f);
        else if (f.field == CONTACT_SALESPERSON_CODE && f.type == PBSCAN_BYTES)
            fanout_take_str(ci->salesperson, sizeof(ci->salesperson), &f);
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
    const uint8_t *p = packed->data, *end = packed->len ? p + packed->len : p; /* no NULL + 0 */
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

static void s_lookup_pump(logrun_t *r);

/* Check the chunks answered so far, oldest first, then read more. */
static void s_drain_chunks(logrun_t *r)
{
    while (r->chunks && r->chunks->answered) {
        chunk_t *ch = r->chunks;
        if (!r->recovering && !s_check_chunk(r, ch)) {
            fanout_refuse(r);
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

static void s_code_mark_found(logrun_t *r, char kind, const char *code)
{
    char key[SEG_MAP_KEY_MAX + 1];
    void **slot;
    if (s_code_key(kind, code, key) && (slot = seg_map_slot(r->codes, key, false)) != NULL)
        *slot = CODE_FOUND;
}

static void s_codes_found(logrun_t *r, const Rapport__V1__LookupResult *lk)
{
    for (size_t i = 0; i < lk->n_templates; i++)
        s_code_mark_found(r, 'T', lk->templates[i]->code);
    for (size_t i = 0; i < lk->n_salespeople; i++)
        s_code_mark_found(r, 'S', lk->salespeople[i]->code);
    for (size_t i = 0; i < lk->n_campaigns; i++)
        s_code_mark_found(r, 'C', lk->campaigns[i]->no);
}

void checks_on_lookup(logrun_t *r, const ProtobufCMessage *reply, uint64_t seq)
{
    const Rapport__V1__InteractionReply *ir = (const Rapport__V1__InteractionReply *)reply;
    const Rapport__V1__Status *st;
    chunk_t *ch;

    for (ch = r->chunks; ch && ch->seq != seq; ch = ch->next)
        ;
    if (!ch)
        return;
    if (!fanout_status_ok(reply, &st) ||
        ir->result_case != RAPPORT__V1__INTERACTION_REPLY__RESULT_LOOKUP) {
        if (st && st->code == RAPPORT__V1__STATUS_CODE__UNAVAILABLE) {
            fanout_retry_later(r, RUN_LOOKUP, st->message);
            return;
        }
        fanout_fail(r, RP_EINTERNAL, "rapport-interaction refused a lookup: %s",
                    st ? st->message : "no lookup result");
        return;
    }
    if (!s_contacts_found(r, ch, &ir->lookup->packed_contacts)) {
        fanout_fail(r, RP_EINTERNAL, "rapport-interaction answered a lookup with bad contacts");
        return;
    }
    s_codes_found(r, ir->lookup);
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
        rp_err rc;

        if (!ch || !(ch->arena = wire_arena_new())) {
            free(ch);
            fanout_fail(r, RP_ENOMEM, "out of memory");
            return;
        }
        lk = (Rapport__V1__Lookup *)wire_arena_message(ch->arena, &rapport__v1__lookup__descriptor);
        rc = s_read_chunk(r, ch, lk);
        if (rc != RP_OK) {
            s_chunk_free(ch);
            fanout_fail(r, rc, "cannot read segment %s: %s", r->segment_no, rp_strerror(rc));
            return;
        }
        if (ch->n == 0 && !lk->n_template_codes && !lk->n_salesperson_codes &&
            !lk->n_campaign_nos) {
            s_chunk_free(ch);
            continue;
        }
        ch->seq = ++r->chunk_seq;
        ir.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_LOOKUP;
        ir.lookup = lk;
        rc = fanout_to_interaction(r, &ir, ch->seq);
        if (rc != RP_OK) {
            s_chunk_free(ch);
            fanout_retry_later(r, RUN_LOOKUP, "cannot reach rapport-interaction");
            return;
        }
        *r->chunks_tail = ch;
        r->chunks_tail = &ch->next;
        r->n_chunks++;
    }
    if (r->phase == RUN_LOOKUP && r->scan_done && r->n_chunks == 0)
        fanout_looked_up(r);
}

/* Start (or restart) the lookup from a clean slate. */
void checks_enter_lookup(logrun_t *r)
{
    r->scan_after = 0;
    r->counted = 0;
    r->scan_done = false;
    checks_reset(r);
    if (r->cinfo)
        memset(r->cinfo, 0, r->cinfo_cap * sizeof(*r->cinfo));
    r->codes = seg_map_new(16);
    if (!r->codes) {
        fanout_fail(r, RP_ENOMEM, "out of memory");
        return;
    }
    s_lookup_pump(r);
}
