/* pbscan_test: the field scanner reads what protobuf-c encodes, appended
 * fields win when protobuf-c decodes, and malformed bytes stop the scan. */
#include "test.h"

#include "pbscan.h"
#include "wire.h"

#include "rapport/v1/common.pb-c.h"

static size_t s_encode_entry(uint8_t *buf, size_t cap)
{
    Rapport__V1__Entry e = RAPPORT__V1__ENTRY__INIT;
    Rapport__V1__CommentLine cl = RAPPORT__V1__COMMENT_LINE__INIT, *cls[1] = {&cl};
    size_t len;

    e.contact_no = wire_str("C0000042");
    e.date = 20260615;
    e.cost_cents = -123456789012LL;
    e.duration_min = 300;
    e.interaction_template_code = wire_str("CALL");
    e.canceled = true;
    cl.comment = wire_str("a comment");
    e.comments = cls;
    e.n_comments = 1;
    len = rapport__v1__entry__get_packed_size(&e);
    ASSERT_TRUE(len <= cap);
    return rapport__v1__entry__pack(&e, buf);
}

static void s_reads_what_protobuf_c_writes(void)
{
    uint8_t buf[256];
    size_t len = s_encode_entry(buf, sizeof(buf));
    pbscan_t s;
    pbscan_field_t f;
    int seen = 0;

    pbscan_init(&s, buf, len);
    while (pbscan_next(&s, &f) == 1) {
        switch (f.field) {
        case 2:
            ASSERT_EQ_INT((int)f.type, PBSCAN_BYTES);
            ASSERT_EQ_MEM(f.data, f.len, "C0000042", 8);
            seen |= 1;
            break;
        case 4:
            ASSERT_EQ_U64(f.value, 20260615);
            seen |= 2;
            break;
        case 12:
            /* int64 is a two's complement varint */
            ASSERT_EQ_U64(f.value, (uint64_t)-123456789012LL);
            seen |= 4;
            break;
        case 13:
            ASSERT_EQ_U64(f.value, 300);
            seen |= 8;
            break;
        case 28:
            ASSERT_EQ_U64(f.value, 1);
            seen |= 16;
            break;
        case 30: /* a comment line: a nested message, not looked into */
            ASSERT_EQ_INT((int)f.type, PBSCAN_BYTES);
            seen |= 32;
            break;
        default:
            break;
        }
    }
    ASSERT_EQ_INT(seen, 63);
    ASSERT_EQ_INT(pbscan_next(&s, &f), 0);
}

/* Appended fields win, as the encoding rules say; protobuf-c agrees. */
static void s_appended_fields_win(void)
{
    uint8_t buf[512];
    size_t len = s_encode_entry(buf, 256);
    Rapport__V1__Entry *e;

    len += pbscan_put_uint(buf + len, 1, 987654321);
    len += pbscan_put_bytes(buf + len, 2, "P7", 2);
    len += pbscan_put_uint(buf + len, 28, 0);
    len += pbscan_put_bytes(buf + len, 14, "alice", 5);
    e = rapport__v1__entry__unpack(NULL, len, buf);
    ASSERT_NOT_NULL(e);
    ASSERT_EQ_U64(e->entry_no, 987654321);
    ASSERT_EQ_STR(e->contact_no, "P7");
    ASSERT_FALSE(e->canceled);
    ASSERT_EQ_STR(e->user_id, "alice");
    ASSERT_EQ_U64(e->n_comments, 1);
    ASSERT_EQ_STR(e->comments[0]->comment, "a comment");
    rapport__v1__entry__free_unpacked(e, NULL);
}

static void s_varints(void)
{
    uint8_t b[16];
    uint64_t v = 0;
    const uint64_t values[] = {0, 1, 127, 128, 300, 1ull << 35, UINT64_MAX};

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        size_t n = pbscan_put_varint(b, values[i]);
        ASSERT_EQ_U64(pbscan_varint(b, n, &v), n);
        ASSERT_EQ_U64(v, values[i]);
        ASSERT_EQ_U64(pbscan_varint(b, n - 1, &v), 0); /* cut short */
    }
    /* eleven bytes, or a tenth byte over one bit, is too long */
    memset(b, 0xff, sizeof(b));
    ASSERT_EQ_U64(pbscan_varint(b, sizeof(b), &v), 0);
    b[9] = 0x02;
    ASSERT_EQ_U64(pbscan_varint(b, sizeof(b), &v), 0);
}

static void s_malformed_stops(void)
{
    static const struct {
        const char *what;
        const uint8_t bytes[8];
        size_t len;
    } bad[] = {
        {"field 0", {0x00, 0x01}, 2},
        {"wire type 3 (group)", {0x0b}, 1},
        {"wire type 7", {0x0f, 0x00}, 2},
        {"truncated tag", {0x80}, 1},
        {"truncated varint", {0x08, 0x80}, 2},
        {"length past the end", {0x12, 0x05, 'a', 'b'}, 4},
        {"truncated fixed64", {0x09, 1, 2, 3}, 4},
        {"truncated fixed32", {0x0d, 1, 2}, 3},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pbscan_t s;
        pbscan_field_t f;
        pbscan_init(&s, bad[i].bytes, bad[i].len);
        if (pbscan_next(&s, &f) != -1)
            FAIL("%s was not refused", bad[i].what);
    }
}

static const test_case_t s_cases[] = {
    {"reads_what_protobuf_c_writes", s_reads_what_protobuf_c_writes},
    {"appended_fields_win", s_appended_fields_win},
    {"varints", s_varints},
    {"malformed_stops", s_malformed_stops},
};

TEST_MAIN(s_cases)
