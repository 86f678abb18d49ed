/* wire_test: decoding with limits (size, malformed input, string size
 * classes counted in characters, UTF-8, NUL, enums, repeated counts),
 * normalization of code fields, the request_id peek, the arena, the
 * envelope helpers, and the contract's naming discipline: every string
 * field of every message has a size rule. */
#include "test.h"

#include "wire.h"

#include "rapport/v1/common.pb-c.h"
#include "rapport/v1/interaction.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"
#include "rapport/v1/segment.pb-c.h"

#define MAX_MSG (4u * 1024 * 1024)

/* ---- helpers ---- */

typedef struct {
    uint8_t data[8192];
    size_t len;
} rawbuf_t;

static void s_raw_varint(rawbuf_t *b, uint64_t v)
{
    do {
        uint8_t byte = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            byte |= 0x80;
        ASSERT_TRUE(b->len < sizeof(b->data));
        b->data[b->len++] = byte;
    } while (v);
}

static void s_raw_tag(rawbuf_t *b, uint32_t field, unsigned wire_type)
{
    s_raw_varint(b, ((uint64_t)field << 3) | wire_type);
}

static void s_raw_bytes(rawbuf_t *b, uint32_t field, const void *data, size_t len)
{
    s_raw_tag(b, field, 2);
    s_raw_varint(b, len);
    ASSERT_TRUE(b->len + len <= sizeof(b->data));
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

/* An InteractionRequest whose put_group (field 10) has `code` as raw
 * bytes, so that invalid UTF-8 and NUL can be sent. */
static void s_raw_put_group(rawbuf_t *out, const void *code, size_t code_len)
{
    rawbuf_t inner = {.len = 0};
    out->len = 0;
    s_raw_bytes(&inner, 1, code, code_len);
    s_raw_bytes(&inner, 2, "desc", 4);
    s_raw_bytes(out, 1, "rid-1", 5);
    s_raw_bytes(out, 10, inner.data, inner.len);
}

static rp_err s_decode(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
                       unsigned flags, ProtobufCMessage **ret, wire_error_t *err)
{
    memset(err, 0, sizeof(*err));
    return wire_decode(desc, data, len, MAX_MSG, flags, ret, err);
}

/* Encode msg, decode it as `desc`; returns the decode result. */
static rp_err s_round(const ProtobufCMessage *msg, unsigned flags, ProtobufCMessage **ret,
                      wire_error_t *err)
{
    uint8_t *buf;
    size_t len;
    rp_err rc;

    ASSERT_OK(wire_encode(msg, &buf, &len));
    rc = s_decode(msg->descriptor, buf, len, flags, ret, err);
    free(buf);
    return rc;
}

/* A request putting group {code, description}. The caller owns nothing:
 * the parts live in the structs passed in. */
static void s_put_group_req(Rapport__V1__InteractionRequest *req, Rapport__V1__InteractionGroup *g,
                            const char *code, const char *description)
{
    rapport__v1__interaction_request__init(req);
    rapport__v1__interaction_group__init(g);
    g->code = wire_str(code);
    g->description = wire_str(description);
    req->request_id.data = (uint8_t *)(uintptr_t) "rid-1";
    req->request_id.len = 5;
    req->user_id = wire_str("alice");
    req->command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_GROUP;
    req->put_group = g;
}

static char *s_repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);
    ASSERT_NOT_NULL(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

/* ---- cases ---- */

static void s_round_trip(void)
{
    Rapport__V1__InteractionRequest req, *got;
    Rapport__V1__InteractionGroup g;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    uint8_t *buf, *buf2;
    size_t len;

    s_put_group_req(&req, &g, "G1", "Group one");
    ASSERT_OK(wire_encode(&req.base, &buf, &len));
    ASSERT_EQ_U64(wire_size(&req.base), len);
    buf2 = malloc(len);
    ASSERT_NOT_NULL(buf2);
    ASSERT_EQ_U64(wire_encode_to(&req.base, buf2), len);
    ASSERT_EQ_MEM(buf, len, buf2, len);
    ASSERT_OK(s_decode(&rapport__v1__interaction_request__descriptor, buf, len, 0, &m, &err));
    got = (Rapport__V1__InteractionRequest *)m;
    ASSERT_EQ_INT(got->command_case, RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_GROUP);
    ASSERT_EQ_STR(got->put_group->code, "G1");
    ASSERT_EQ_STR(got->put_group->description, "Group one");
    ASSERT_EQ_STR(got->user_id, "alice");
    ASSERT_EQ_MEM(got->request_id.data, got->request_id.len, "rid-1", 5);
    wire_free(m);
    wire_free(NULL);
    free(buf);
    free(buf2);

    /* an empty message is a valid (empty) request */
    ASSERT_OK(s_decode(&rapport__v1__interaction_request__descriptor, "", 0, 0, &m, &err));
    ASSERT_EQ_U64(wire_oneof_case(m), 0);
    wire_free(m);
}

static void s_too_big(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__InteractionGroup g;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    uint8_t *buf;
    size_t len;

    s_put_group_req(&req, &g, "G1", "Group one");
    ASSERT_OK(wire_encode(&req.base, &buf, &len));
    memset(&err, 0, sizeof(err));
    ASSERT_ERR(
        wire_decode(&rapport__v1__interaction_request__descriptor, buf, len, len - 1, 0, &m, &err),
        RP_ETOOBIG);
    ASSERT_TRUE(m == NULL); /* untouched */
    ASSERT_CONTAINS(err.message, "larger than");
    ASSERT_OK(
        wire_decode(&rapport__v1__interaction_request__descriptor, buf, len, len, 0, &m, &err));
    wire_free(m);
    free(buf);
}

static void s_truncated_and_garbage(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__InteractionGroup g;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    uint8_t *buf;
    size_t len;
    const ProtobufCMessageDescriptor *d = &rapport__v1__interaction_request__descriptor;

    s_put_group_req(&req, &g, "G1", "Group one");
    ASSERT_OK(wire_encode(&req.base, &buf, &len));
    ASSERT_ERR(s_decode(d, buf, len - 1, 0, &m, &err), RP_EPROTO);
    ASSERT_CONTAINS(err.message, "malformed");
    /* every prefix either decodes (it ends between fields) or is EPROTO */
    for (size_t n = 0; n < len; n++) {
        rp_err rc = s_decode(d, buf, n, 0, &m, &err);
        if (rc == RP_OK)
            wire_free(m);
        else if (rc != RP_EPROTO)
            FAIL("prefix of %zu bytes gave RP_%s", n, rp_err_name(rc));
    }
    free(buf);

    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } bad[] = {
        {"all ones", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11},
        {"field number 0", "\x02\x01x", 3},
        {"start group", "\x0b\x0c", 2},
        {"end group", "\x0c", 1},
        {"wire type 6", "\x0e\x00", 2},
        {"wire type 7", "\x0f\x00", 2},
        {"length past the end",
         "\x0a\x10"
         "abc",
         5},
        {"truncated varint", "\x10\x80", 2},
        {"truncated fixed64", "\x19\x01\x02", 3},
        {"truncated fixed32", "\x1d\x01", 2},
        {"11-byte varint", "\x10\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12},
        {"put_group sent as a varint", "\x50\x01", 2},
        {"nested garbage", "\x52\x03\xff\xff\xff", 5},
        {"nested truncation",
         "\x52\x04\x0a\x05"
         "ab",
         6},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rp_err rc = s_decode(d, bad[i].bytes, bad[i].len, 0, &m, &err);
        if (rc != RP_EPROTO)
            FAIL("%s gave RP_%s (%s), expected RP_EPROTO", bad[i].what, rp_err_name(rc),
                 err.message);
    }

    /* random bytes never crash and never give anything but a verdict */
    srand(12345);
    for (int i = 0; i < 5000; i++) {
        uint8_t junk[64];
        size_t n = (size_t)(rand() % (int)sizeof(junk));
        rp_err rc;
        for (size_t k = 0; k < n; k++)
            junk[k] = (uint8_t)rand();
        rc = s_decode(d, junk, n, 0, &m, &err);
        if (rc == RP_OK)
            wire_free(m);
        else
            ASSERT_TRUE(rc == RP_EPROTO || rc == RP_EINVAL);
    }
}

static void s_code10_limit(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__InteractionGroup g;
    ProtobufCMessage *m = NULL;
    wire_error_t err;

    s_put_group_req(&req, &g, "ABCDEFGHIJ", "ten");
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    wire_free(m);
    m = NULL;

    s_put_group_req(&req, &g, "ABCDEFGHIJK", "eleven");
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_TRUE(m == NULL);
    ASSERT_EQ_STR(err.field, "put_group.code");
    ASSERT_CONTAINS(err.message, "code");
    ASSERT_CONTAINS(err.message, "11");
    ASSERT_CONTAINS(err.message, "10 characters");

    /* Code20 (`*_no`), Text100, Text250 and user_id 50 */
    Rapport__V1__Contact c;
    rapport__v1__contact__init(&c);
    rapport__v1__interaction_request__init(&req);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_CONTACT;
    req.put_contact = &c;
    char *s20 = s_repeat("N", 20), *s21 = s_repeat("N", 21);
    char *s100 = s_repeat("x", 100), *s101 = s_repeat("x", 101);
    char *s50 = s_repeat("u", 50), *s51 = s_repeat("u", 51);
    c.no = s20;
    c.company_no = s20;
    c.name = s100;
    req.user_id = s50;
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    wire_free(m);
    c.company_no = s21;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_contact.company_no");
    c.company_no = s20;
    c.name = s101;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_contact.name");
    c.name = s100;
    req.user_id = s51;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "user_id");
    free(s20);
    free(s21);
    free(s100);
    free(s101);
    free(s50);
    free(s51);
}

/* Size classes count characters, not bytes. */
static void s_utf8_counts_characters(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__InteractionGroup g;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    char *code10 = s_repeat("\xc3\x84", 10), *code11 = s_repeat("\xc3\x84", 11); /* Ä */
    char *euro100 = s_repeat("\xe2\x82\xac", 100), *euro101 = s_repeat("\xe2\x82\xac", 101);
    char *emoji10 = s_repeat("\xf0\x9f\x98\x80", 10);

    ASSERT_EQ_U64(wire_utf8_chars(code10), 10);
    ASSERT_EQ_U64(wire_utf8_chars(euro101), 101);
    ASSERT_EQ_U64(wire_utf8_chars(emoji10), 10);
    ASSERT_EQ_U64(wire_utf8_chars(""), 0);

    s_put_group_req(&req, &g, code10, euro100);
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    ASSERT_EQ_STR(((Rapport__V1__InteractionRequest *)m)->put_group->code, code10);
    wire_free(m);
    s_put_group_req(&req, &g, emoji10, "x");
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    wire_free(m);
    s_put_group_req(&req, &g, code11, "x");
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_group.code");
    s_put_group_req(&req, &g, "G", euro101);
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_group.description");
    free(code10);
    free(code11);
    free(euro100);
    free(euro101);
    free(emoji10);
}

static void s_invalid_utf8_and_nul(void)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } bad[] = {
        {"embedded NUL", "A\0B", 3},
        {"lone NUL", "\0", 1},
        {"bad continuation", "\xc3\x28", 2},
        {"lone continuation", "\x80", 1},
        {"overlong 2-byte", "\xc0\xaf", 2},
        {"overlong NUL", "\xc0\x80", 2},
        {"overlong 3-byte", "\xe0\x80\xaf", 3},
        {"overlong 4-byte", "\xf0\x80\x80\xaf", 4},
        {"surrogate", "\xed\xa0\x80", 3},
        {"above U+10FFFF", "\xf4\x90\x80\x80", 4},
        {"5-byte form", "\xf8\x88\x80\x80\x80", 5},
        {"0xFF", "\xff", 1},
        {"truncated at the end", "AB\xe2\x82", 4},
        {"truncated 2-byte", "\xc3", 1},
    };
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } good[] = {
        {"U+007F", "\x7f", 1},
        {"U+0080", "\xc2\x80", 2},
        {"U+D7FF", "\xed\x9f\xbf", 3},
        {"U+E000", "\xee\x80\x80", 3},
        {"U+FFFF", "\xef\xbf\xbf", 3},
        {"U+10000", "\xf0\x90\x80\x80", 4},
        {"U+10FFFF", "\xf4\x8f\xbf\xbf", 4},
    };
    const ProtobufCMessageDescriptor *d = &rapport__v1__interaction_request__descriptor;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    rawbuf_t raw;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rp_err rc;
        s_raw_put_group(&raw, bad[i].bytes, bad[i].len);
        rc = s_decode(d, raw.data, raw.len, 0, &m, &err);
        if (rc != RP_EINVAL)
            FAIL("%s gave RP_%s, expected RP_EINVAL", bad[i].what, rp_err_name(rc));
        ASSERT_EQ_STR(err.field, "put_group.code");
        ASSERT_CONTAINS(err.message, "UTF-8");
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        rp_err rc;
        s_raw_put_group(&raw, good[i].bytes, good[i].len);
        rc = s_decode(d, raw.data, raw.len, 0, &m, &err);
        if (rc != RP_OK)
            FAIL("%s gave RP_%s (%s), expected OK", good[i].what, rp_err_name(rc), err.message);
        wire_free(m);
    }

    /* a top-level string (user_id) and a string in a reply */
    raw.len = 0;
    s_raw_bytes(&raw, 2, "bob\0", 4);
    ASSERT_ERR(s_decode(d, raw.data, raw.len, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "user_id");
    rawbuf_t status = {.len = 0};
    s_raw_bytes(&status, 2, "bad \xff text", 10);
    raw.len = 0;
    s_raw_bytes(&raw, 3, status.data, status.len);
    ASSERT_ERR(s_decode(&rapport__v1__log_reply__descriptor, raw.data, raw.len, 0, &m, &err),
               RP_EINVAL);
    ASSERT_EQ_STR(err.field, "status.message");
}

static void s_enum_out_of_range(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__Contact c;
    Rapport__V1__InteractionTemplate t;
    ProtobufCMessage *m = NULL;
    wire_error_t err;

    rapport__v1__interaction_request__init(&req);
    rapport__v1__contact__init(&c);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_CONTACT;
    req.put_contact = &c;
    c.no = wire_str("C1");
    c.type = RAPPORT__V1__CONTACT_TYPE__CONTACT_TYPE_PERSON;
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    wire_free(m);
    c.type = (Rapport__V1__ContactType)99;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_contact.type");
    ASSERT_CONTAINS(err.message, "99");
    ASSERT_CONTAINS(err.message, "ContactType");
    c.type = (Rapport__V1__ContactType)-1;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_contact.type");
    c.type = RAPPORT__V1__CONTACT_TYPE__CONTACT_TYPE_COMPANY;
    c.correspondence_type = (Rapport__V1__CorrespondenceType)3;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_contact.correspondence_type");

    /* an enum inside a oneof (the `_opt` presence pattern) */
    rapport__v1__interaction_template__init(&t);
    rapport__v1__interaction_request__init(&req);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_TEMPLATE;
    req.put_template = &t;
    t.code = wire_str("T1");
    t.correspondence_type_opt_case =
        RAPPORT__V1__INTERACTION_TEMPLATE__CORRESPONDENCE_TYPE_OPT_CORRESPONDENCE_TYPE;
    t.correspondence_type = RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_EMAIL;
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    wire_free(m);
    t.correspondence_type = (Rapport__V1__CorrespondenceType)42;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_template.correspondence_type");

    /* hand-made bytes: get_entry is fine, statistics.group_by = 7 is not */
    rawbuf_t raw = {.len = 0}, inner = {.len = 0};
    s_raw_tag(&inner, 1, 0);
    s_raw_varint(&inner, 7);
    s_raw_bytes(&raw, 16, inner.data, inner.len);
    ASSERT_ERR(s_decode(&rapport__v1__log_request__descriptor, raw.data, raw.len, 0, &m, &err),
               RP_EINVAL);
    ASSERT_EQ_STR(err.field, "statistics.group_by");
}

/* Amounts and durations are bounded, so that sums over many entries cannot
 * overflow and no entry carries an absurd value; in a oneof too. */
static void s_amount_and_duration_bounds(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__InteractionTemplate t;
    ProtobufCMessage *m = NULL;
    wire_error_t err;

    rapport__v1__interaction_template__init(&t);
    rapport__v1__interaction_request__init(&req);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_TEMPLATE;
    req.put_template = &t;
    t.code = wire_str("T1");
    t.unit_cost_cents = WIRE_MAX_CENTS;
    t.unit_duration_min = WIRE_MAX_MINUTES;
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    wire_free(m);
    t.unit_cost_cents = WIRE_MAX_CENTS + 1;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_template.unit_cost_cents");
    t.unit_cost_cents = 0;
    t.unit_duration_min = WIRE_MAX_MINUTES + 1;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "put_template.unit_duration_min");
    ASSERT_CONTAINS(err.message, "1000001");

    /* a duration in a oneof (CreateInteraction's fields.duration_min_opt) */
    rawbuf_t raw = {.len = 0}, fields = {.len = 0}, create = {.len = 0};
    s_raw_tag(&fields, 10, 0);
    s_raw_varint(&fields, 4000000000u);
    s_raw_bytes(&create, 3, fields.data, fields.len);
    s_raw_bytes(&raw, 1, "rid", 3);
    s_raw_bytes(&raw, 70, create.data, create.len);
    ASSERT_ERR(
        s_decode(&rapport__v1__interaction_request__descriptor, raw.data, raw.len, 0, &m, &err),
        RP_EINVAL);
    ASSERT_CONTAINS(err.field, "duration_min");
}

static void s_repeated_limit(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__Lookup lk;
    Rapport__V1__DeletePostponedInteractions del;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    size_t n = WIRE_MAX_REPEATED + 1;
    char **nos = malloc(n * sizeof(char *));
    uint64_t *entry_nos = calloc(n, sizeof(uint64_t));

    ASSERT_NOT_NULL(nos);
    ASSERT_NOT_NULL(entry_nos);
    for (size_t i = 0; i < n; i++) {
        nos[i] = wire_str("C1");
        entry_nos[i] = i + 1;
    }
    rapport__v1__interaction_request__init(&req);
    rapport__v1__lookup__init(&lk);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_LOOKUP;
    req.lookup = &lk;
    lk.contact_nos = nos;
    lk.n_contact_nos = WIRE_MAX_REPEATED;
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    ASSERT_EQ_U64(((Rapport__V1__InteractionRequest *)m)->lookup->n_contact_nos, WIRE_MAX_REPEATED);
    wire_free(m);
    lk.n_contact_nos = n;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "lookup.contact_nos");
    ASSERT_CONTAINS(err.message, "100001");

    /* a packed repeated scalar */
    rapport__v1__delete_postponed_interactions__init(&del);
    rapport__v1__interaction_request__init(&req);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_DELETE_POSTPONED;
    req.delete_postponed = &del;
    del.entry_nos = entry_nos;
    del.n_entry_nos = WIRE_MAX_REPEATED;
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    wire_free(m);
    del.n_entry_nos = n;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "delete_postponed.entry_nos");
    free(nos);
    free(entry_nos);
}

static void s_normalize_codes(void)
{
    Rapport__V1__InteractionRequest req, *got;
    Rapport__V1__InteractionGroup g;
    Rapport__V1__Lookup lk;
    Rapport__V1__CreateInteraction ci;
    Rapport__V1__InteractionFields f;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    char *nos[] = {wire_str("c1"), wire_str("Ab-9")}, *comments[] = {wire_str("call back")};

    /* code upper-cased, description kept */
    s_put_group_req(&req, &g, "grp-\xc3\xa4x", "a group");
    ASSERT_OK(s_round(&req.base, WIRE_NORMALIZE, &m, &err));
    got = (Rapport__V1__InteractionRequest *)m;
    ASSERT_EQ_STR(got->put_group->code, "GRP-\xc3\xa4X"); /* ASCII letters only */
    ASSERT_EQ_STR(got->put_group->description, "a group");
    ASSERT_EQ_STR(got->user_id, "alice");
    wire_free(m);
    /* without the flag nothing changes */
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    ASSERT_EQ_STR(((Rapport__V1__InteractionRequest *)m)->put_group->code, "grp-\xc3\xa4x");
    wire_free(m);

    /* repeated codes */
    rapport__v1__interaction_request__init(&req);
    rapport__v1__lookup__init(&lk);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_LOOKUP;
    req.lookup = &lk;
    lk.contact_nos = nos;
    lk.n_contact_nos = 2;
    ASSERT_OK(s_round(&req.base, WIRE_NORMALIZE, &m, &err));
    got = (Rapport__V1__InteractionRequest *)m;
    ASSERT_EQ_STR(got->lookup->contact_nos[0], "C1");
    ASSERT_EQ_STR(got->lookup->contact_nos[1], "AB-9");
    wire_free(m);

    /* nested: codes and numbers up, texts as they are */
    rapport__v1__interaction_request__init(&req);
    rapport__v1__create_interaction__init(&ci);
    rapport__v1__interaction_fields__init(&f);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_CREATE_INTERACTION;
    req.create_interaction = &ci;
    ci.fields = &f;
    f.contact_no = wire_str("ct000001");
    f.salesperson_code = wire_str("jo");
    f.interaction_template_code = wire_str("call");
    f.campaign_no = wire_str("cp-1");
    f.description = wire_str("Call about the offer");
    f.subject = wire_str("offer");
    f.comments = comments;
    f.n_comments = 1;
    ASSERT_OK(s_round(&req.base, WIRE_NORMALIZE, &m, &err));
    got = (Rapport__V1__InteractionRequest *)m;
    ASSERT_EQ_STR(got->create_interaction->fields->contact_no, "CT000001");
    ASSERT_EQ_STR(got->create_interaction->fields->salesperson_code, "JO");
    ASSERT_EQ_STR(got->create_interaction->fields->interaction_template_code, "CALL");
    ASSERT_EQ_STR(got->create_interaction->fields->campaign_no, "CP-1");
    ASSERT_EQ_STR(got->create_interaction->fields->description, "Call about the offer");
    ASSERT_EQ_STR(got->create_interaction->fields->subject, "offer");
    ASSERT_EQ_STR(got->create_interaction->fields->comments[0], "call back");
    wire_free(m);

    /* strings inside `_opt` oneofs */
    Rapport__V1__SegmentRequest sreq, *sgot;
    Rapport__V1__UpdateSegment us;
    Rapport__V1__SegmentFields sf;
    rapport__v1__segment_request__init(&sreq);
    rapport__v1__update_segment__init(&us);
    rapport__v1__segment_fields__init(&sf);
    sreq.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_UPDATE_SEGMENT;
    sreq.update_segment = &us;
    us.segment_no = wire_str("seg01");
    us.fields = &sf;
    sf.salesperson_code_opt_case =
        RAPPORT__V1__SEGMENT_FIELDS__SALESPERSON_CODE_OPT_SALESPERSON_CODE;
    sf.salesperson_code = wire_str("sp");
    sf.description_opt_case = RAPPORT__V1__SEGMENT_FIELDS__DESCRIPTION_OPT_DESCRIPTION;
    sf.description = wire_str("mixed Case");
    ASSERT_OK(s_round(&sreq.base, WIRE_NORMALIZE, &m, &err));
    sgot = (Rapport__V1__SegmentRequest *)m;
    ASSERT_EQ_STR(sgot->update_segment->segment_no, "SEG01");
    ASSERT_EQ_STR(sgot->update_segment->fields->salesperson_code, "SP");
    ASSERT_EQ_STR(sgot->update_segment->fields->description, "mixed Case");
    wire_free(m);
}

static void s_request_id_limits(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__InteractionGroup g;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    uint8_t id[65];
    ProtobufCBinaryData b;

    memset(id, 'r', sizeof(id));
    s_put_group_req(&req, &g, "G1", "x");
    req.request_id.data = id;
    req.request_id.len = 64;
    ASSERT_OK(s_round(&req.base, 0, &m, &err));
    wire_free(m);
    req.request_id.len = 65;
    ASSERT_ERR(s_round(&req.base, 0, &m, &err), RP_EINVAL);
    ASSERT_EQ_STR(err.field, "request_id");

    b.data = id;
    b.len = 0;
    ASSERT_FALSE(wire_request_id_valid(&b));
    b.len = 1;
    ASSERT_TRUE(wire_request_id_valid(&b));
    b.len = WIRE_REQUEST_ID_MAX;
    ASSERT_TRUE(wire_request_id_valid(&b));
    b.len = WIRE_REQUEST_ID_MAX + 1;
    ASSERT_FALSE(wire_request_id_valid(&b));
    ASSERT_FALSE(wire_request_id_valid(NULL));
}

static void s_peek_request_id(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__InteractionGroup g;
    ProtobufCBinaryData id;
    uint8_t *buf, big[65];
    size_t len;
    rawbuf_t raw;

    s_put_group_req(&req, &g, "G1", "x");
    ASSERT_OK(wire_encode(&req.base, &buf, &len));
    id = wire_peek_request_id(buf, len);
    ASSERT_EQ_MEM(id.data, id.len, "rid-1", 5);
    ASSERT_TRUE(id.data >= buf && id.data < buf + len); /* points into the input */
    free(buf);

    /* after other fields, and before garbage */
    raw.len = 0;
    s_raw_tag(&raw, 5, 0);
    s_raw_varint(&raw, 300);
    s_raw_bytes(&raw, 2, "user", 4);
    s_raw_tag(&raw, 7, 1);
    memcpy(raw.data + raw.len, "12345678", 8);
    raw.len += 8;
    s_raw_tag(&raw, 8, 5);
    memcpy(raw.data + raw.len, "1234", 4);
    raw.len += 4;
    s_raw_bytes(&raw, 1, "the-id", 6);
    memcpy(raw.data + raw.len, "\xff\xff\x0b", 3);
    raw.len += 3;
    id = wire_peek_request_id(raw.data, raw.len);
    ASSERT_EQ_MEM(id.data, id.len, "the-id", 6);

    /* none, too long, truncated, wrong wire type, garbage first */
    raw.len = 0;
    s_raw_bytes(&raw, 2, "user", 4);
    ASSERT_EQ_U64(wire_peek_request_id(raw.data, raw.len).len, 0);
    memset(big, 'x', sizeof(big));
    raw.len = 0;
    s_raw_bytes(&raw, 1, big, 65);
    ASSERT_EQ_U64(wire_peek_request_id(raw.data, raw.len).len, 0);
    raw.len = 0;
    s_raw_bytes(&raw, 1, big, 64);
    ASSERT_EQ_U64(wire_peek_request_id(raw.data, raw.len).len, 64);
    ASSERT_EQ_U64(wire_peek_request_id(raw.data, raw.len - 1).len, 0);
    raw.len = 0;
    s_raw_tag(&raw, 1, 0);
    s_raw_varint(&raw, 5);
    ASSERT_EQ_U64(wire_peek_request_id(raw.data, raw.len).len, 0);
    ASSERT_EQ_U64(wire_peek_request_id("\x0b\x0a\x02id", 5).len, 0);
    ASSERT_EQ_U64(wire_peek_request_id("", 0).len, 0);
    ASSERT_TRUE(wire_peek_request_id("", 0).data == NULL);
}

static void s_arena(void)
{
    wire_arena_t *a = wire_arena_new(), *none = NULL;
    unsigned char *ptrs[3000];
    char *s;

    ASSERT_NOT_NULL(a);
    /* many small allocations across blocks: aligned, zeroed, disjoint */
    for (size_t i = 0; i < 3000; i++) {
        size_t size = 1 + i % 97;
        ptrs[i] = wire_arena_alloc(a, size);
        ASSERT_NOT_NULL(ptrs[i]);
        ASSERT_EQ_U64((uintptr_t)ptrs[i] % 16, 0);
        for (size_t k = 0; k < size; k++)
            ASSERT_EQ_INT(ptrs[i][k], 0);
        memset(ptrs[i], (int)(i & 0xFF), size);
    }
    for (size_t i = 0; i < 3000; i++)
        for (size_t k = 0; k < 1 + i % 97; k++)
            ASSERT_EQ_INT(ptrs[i][k], (int)(i & 0xFF));
    /* a large allocation and a zero-sized one */
    unsigned char *big = wire_arena_alloc(a, 1 << 20);
    ASSERT_EQ_U64((uintptr_t)big % 16, 0);
    ASSERT_EQ_INT(big[0], 0);
    ASSERT_EQ_INT(big[(1 << 20) - 1], 0);
    memset(big, 0xAB, 1 << 20);
    ASSERT_NOT_NULL(wire_arena_alloc(a, 0));
    ASSERT_EQ_INT(ptrs[2999][0], 2999 & 0xFF); /* untouched by the big one */

    s = wire_arena_strdup(a, "hello");
    ASSERT_EQ_STR(s, "hello");
    ASSERT_EQ_STR(wire_arena_strdup(a, NULL), "");
    ASSERT_EQ_STR(wire_arena_strdup(a, ""), "");
    ASSERT_EQ_STR(wire_arena_printf(a, "%s-%d-%05.1f", "x", 42, 3.14159), "x-42-003.1");
    s = wire_arena_printf(a, "%s", "");
    ASSERT_EQ_STR(s, "");
    char *longer = s_repeat("0123456789", 5000);
    ASSERT_EQ_STR(wire_arena_printf(a, "<%s", longer) + 1, longer);
    free(longer);

    void **pp = wire_arena_ptrs(a, 4);
    for (size_t i = 0; i < 4; i++)
        ASSERT_TRUE(pp[i] == NULL);
    ASSERT_NOT_NULL(wire_arena_ptrs(a, 0));

    /* a message from the arena is initialised with its defaults */
    Rapport__V1__LogReply *r =
        (Rapport__V1__LogReply *)wire_arena_message(a, &rapport__v1__log_reply__descriptor);
    ASSERT_TRUE(r->base.descriptor == &rapport__v1__log_reply__descriptor);
    ASSERT_EQ_STR(r->user_id, "");
    ASSERT_TRUE(r->status == NULL);
    ASSERT_EQ_U64(wire_oneof_case(&r->base), 0);

    /* reset frees everything and the arena goes on working */
    for (int round = 0; round < 50; round++) {
        wire_arena_reset(a);
        for (int i = 0; i < 200; i++) {
            char *p = wire_arena_printf(a, "round %d item %d", round, i);
            ASSERT_TRUE(strncmp(p, "round ", 6) == 0);
        }
        ASSERT_NOT_NULL(wire_arena_alloc(a, 200000));
    }

    /* decode into the arena: nothing to free */
    Rapport__V1__InteractionRequest req;
    Rapport__V1__InteractionGroup g;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    uint8_t *buf;
    size_t len;
    s_put_group_req(&req, &g, "abc", "desc");
    ASSERT_OK(wire_encode(&req.base, &buf, &len));
    ASSERT_OK(wire_decode_arena(a, &rapport__v1__interaction_request__descriptor, buf, len, len,
                                WIRE_NORMALIZE, &m, &err));
    ASSERT_EQ_STR(((Rapport__V1__InteractionRequest *)m)->put_group->code, "ABC");
    m = NULL;
    ASSERT_ERR(wire_decode_arena(a, &rapport__v1__interaction_request__descriptor, buf, len,
                                 len - 1, 0, &m, &err),
               RP_ETOOBIG);
    ASSERT_ERR(wire_decode_arena(a, &rapport__v1__interaction_request__descriptor, buf, len - 1,
                                 len, 0, &m, &err),
               RP_EPROTO);
    ASSERT_TRUE(m == NULL);
    free(buf);

    wire_arena_destroy(&a);
    ASSERT_TRUE(a == NULL);
    wire_arena_destroy(&a);
    wire_arena_destroy(&none);
    wire_arena_destroy(NULL);
}

static void s_envelope_helpers(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__LogReply reply;
    Rapport__V1__Status st;
    Rapport__V1__Contact c;
    ProtobufCBinaryData id = {3, (uint8_t *)(uintptr_t) "xyz"};
    const ProtobufCBinaryData *got;

    rapport__v1__interaction_request__init(&req);
    got = wire_msg_request_id(&req.base);
    ASSERT_NOT_NULL(got);
    ASSERT_EQ_U64(got->len, 0);
    ASSERT_EQ_STR(wire_msg_user_id(&req.base), "");
    wire_msg_set_envelope(&req.base, id, "carol");
    got = wire_msg_request_id(&req.base);
    ASSERT_EQ_MEM(got->data, got->len, "xyz", 3);
    ASSERT_EQ_STR(wire_msg_user_id(&req.base), "carol");
    ASSERT_EQ_STR(req.user_id, "carol");
    /* a request has no status */
    rapport__v1__status__init(&st);
    wire_msg_set_status(&req.base, &st.base);
    ASSERT_TRUE(wire_msg_status(&req.base) == NULL);

    rapport__v1__log_reply__init(&reply);
    ASSERT_TRUE(wire_msg_status(&reply.base) == NULL);
    wire_msg_set_envelope(&reply.base, id, "dave");
    ASSERT_EQ_MEM(reply.request_id.data, reply.request_id.len, "xyz", 3);
    ASSERT_EQ_STR(reply.user_id, "dave");
    st.code = RAPPORT__V1__STATUS_CODE__NOT_FOUND;
    wire_msg_set_status(&reply.base, &st.base);
    ASSERT_TRUE(reply.status == &st);
    ASSERT_TRUE(wire_msg_status(&reply.base) == &st.base);

    /* a message without the envelope fields: nothing found, nothing set */
    rapport__v1__contact__init(&c);
    c.name = wire_str("Name");
    ASSERT_TRUE(wire_msg_request_id(&c.base) == NULL);
    ASSERT_EQ_STR(wire_msg_user_id(&c.base), "");
    wire_msg_set_envelope(&c.base, id, "eve");
    ASSERT_EQ_STR(c.name, "Name");
    ASSERT_EQ_STR(c.no, "");
    ASSERT_TRUE(wire_msg_status(&c.base) == NULL);
}

static void s_oneof_case(void)
{
    Rapport__V1__InteractionRequest req;
    Rapport__V1__InteractionGroup g;
    Rapport__V1__InteractionReply reply;
    Rapport__V1__WorkerStats ws;
    Rapport__V1__Contact c;
    Rapport__V1__Event ev;
    Rapport__V1__EntryNos en;
    Rapport__V1__LogRequest lreq;
    Rapport__V1__GetStats gs;

    s_put_group_req(&req, &g, "G", "x");
    ASSERT_EQ_U64(wire_oneof_case(&req.base), RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_GROUP);
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND__NOT_SET;
    ASSERT_EQ_U64(wire_oneof_case(&req.base), 0);

    rapport__v1__interaction_reply__init(&reply);
    rapport__v1__worker_stats__init(&ws);
    ASSERT_EQ_U64(wire_oneof_case(&reply.base), 0);
    reply.result_case = RAPPORT__V1__INTERACTION_REPLY__RESULT_STATS;
    reply.stats = &ws;
    ASSERT_EQ_U64(wire_oneof_case(&reply.base), 25);

    rapport__v1__log_request__init(&lreq);
    rapport__v1__get_stats__init(&gs);
    lreq.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_STATS;
    lreq.stats = &gs;
    ASSERT_EQ_U64(wire_oneof_case(&lreq.base), 40);

    rapport__v1__event__init(&ev);
    rapport__v1__entry_nos__init(&en);
    ev.body_case = RAPPORT__V1__EVENT__BODY_ENTRIES;
    ev.entries = &en;
    ASSERT_EQ_U64(wire_oneof_case(&ev.base), 11);

    rapport__v1__contact__init(&c);
    ASSERT_EQ_U64(wire_oneof_case(&c.base), 0);
}

/* The contract's naming discipline: every string field of every message
 * reachable from the request and reply messages has a size rule. */
static const ProtobufCMessageDescriptor *s_seen[256];
static size_t s_n_seen, s_n_strings;

static void s_walk(const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < s_n_seen; i++)
        if (s_seen[i] == d)
            return;
    ASSERT_TRUE(s_n_seen < sizeof(s_seen) / sizeof(s_seen[0]));
    s_seen[s_n_seen++] = d;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->type == PROTOBUF_C_TYPE_STRING) {
            bool code = false;
            size_t max = wire_string_limit(fd->name, &code);
            s_n_strings++;
            if (max == 0)
                FAIL("%s.%s: no size rule for this string field name (wire.c s_exact / "
                     "s_suffix, common.proto conventions)",
                     d->name, fd->name);
            ASSERT_TRUE(max <= 1024);
            if (code)
                ASSERT_TRUE(max == 10 || max == 20);
        } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            s_walk(fd->descriptor);
        }
    }
}

static void s_string_limit_covers_contract(void)
{
    static const ProtobufCMessageDescriptor *const roots[] = {
        &rapport__v1__interaction_request__descriptor,
        &rapport__v1__interaction_reply__descriptor,
        &rapport__v1__segment_request__descriptor,
        &rapport__v1__segment_reply__descriptor,
        &rapport__v1__log_request__descriptor,
        &rapport__v1__log_reply__descriptor,
        &rapport__v1__event__descriptor,
    };
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
        s_walk(roots[i]);
    ASSERT_TRUE(s_n_seen > 50);
    ASSERT_TRUE(s_n_strings > 100);

    /* the rules of common.proto */
    static const struct {
        const char *name;
        size_t max;
        bool code;
    } rules[] = {
        {"code", 10, true},           {"salesperson_code", 10, true},
        {"template_codes", 10, true}, {"no", 20, true},
        {"contact_no", 20, true},     {"campaign_nos", 20, true},
        {"description", 100, false},  {"subject", 100, false},
        {"name", 100, false},         {"comment", 250, false},
        {"comments", 250, false},     {"user_id", 50, false},
        {"email", 80, false},
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        bool code = !rules[i].code;
        ASSERT_EQ_U64(wire_string_limit(rules[i].name, &code), rules[i].max);
        ASSERT_EQ_INT(code, rules[i].code);
    }
    ASSERT_EQ_U64(wire_string_limit("no_such_rule", NULL), 0);
    ASSERT_EQ_U64(wire_string_limit("_no", NULL), 0); /* a suffix needs a stem */
    ASSERT_EQ_U64(wire_string_limit("contact_no", NULL), 20);
}

static void s_unknown_fields_tolerated(void)
{
    rawbuf_t raw = {.len = 0};
    ProtobufCMessage *m = NULL;
    wire_error_t err;

    s_raw_bytes(&raw, 1, "rid", 3);
    s_raw_bytes(&raw, 999, "\xff\xfe not text", 11); /* unknown: not checked */
    s_raw_tag(&raw, 998, 0);
    s_raw_varint(&raw, 12345);
    ASSERT_OK(
        s_decode(&rapport__v1__interaction_request__descriptor, raw.data, raw.len, 0, &m, &err));
    ASSERT_EQ_MEM(((Rapport__V1__InteractionRequest *)m)->request_id.data, 3, "rid", 3);
    wire_free(m);
}

static const test_case_t s_cases[] = {
    {"round_trip", s_round_trip},
    {"too_big", s_too_big},
    {"truncated_and_garbage", s_truncated_and_garbage},
    {"code10_limit", s_code10_limit},
    {"utf8_counts_characters", s_utf8_counts_characters},
    {"invalid_utf8_and_nul", s_invalid_utf8_and_nul},
    {"enum_out_of_range", s_enum_out_of_range},
    {"amount_and_duration_bounds", s_amount_and_duration_bounds},
    {"repeated_limit", s_repeated_limit},
    {"normalize_codes", s_normalize_codes},
    {"request_id_limits", s_request_id_limits},
    {"peek_request_id", s_peek_request_id},
    {"arena", s_arena},
    {"envelope_helpers", s_envelope_helpers},
    {"oneof_case", s_oneof_case},
    {"string_limit_covers_contract", s_string_limit_covers_contract},
    {"unknown_fields_tolerated", s_unknown_fields_tolerated},
};

TEST_MAIN(s_cases)
