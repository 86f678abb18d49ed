/* err_test: the error vocabulary. Every code has a name, a text and a wire
 * status code, names are unique, and the status mapping round-trips. */
#include "test.h"

#include <ctype.h>

#include "err.h"

static void s_every_code_has_name_text_status(void)
{
    for (int i = 0; i < RP_ERR_COUNT; i++) {
        rp_err e = (rp_err)i;
        const char *name = rp_err_name(e), *text = rp_strerror(e);
        int status = rp_err_status_code(e);

        ASSERT_NOT_NULL(name);
        ASSERT_NOT_NULL(text);
        ASSERT_TRUE(strlen(name) >= 2);
        ASSERT_TRUE(strlen(text) >= 3);
        ASSERT_TRUE(strcmp(text, "unknown error") != 0);
        ASSERT_TRUE(strcmp(name, "EUNKNOWN") != 0);
        for (const char *p = name; *p; p++)
            ASSERT_TRUE(isupper((unsigned char)*p) || isdigit((unsigned char)*p));
        /* gRPC canonical codes are 0..16; only success maps to OK. */
        ASSERT_TRUE(status >= 0 && status <= 16);
        if (e == RP_OK)
            ASSERT_EQ_INT(status, 0);
        else
            ASSERT_NE_INT(status, 0);
    }
}

static void s_names_and_texts_are_unique(void)
{
    for (int i = 0; i < RP_ERR_COUNT; i++)
        for (int j = i + 1; j < RP_ERR_COUNT; j++) {
            if (strcmp(rp_err_name((rp_err)i), rp_err_name((rp_err)j)) == 0)
                FAIL("codes %d and %d share the name %s", i, j, rp_err_name((rp_err)i));
            if (strcmp(rp_strerror((rp_err)i), rp_strerror((rp_err)j)) == 0)
                FAIL("codes %d and %d share the text '%s'", i, j, rp_strerror((rp_err)i));
        }
}

static void s_known_names_and_statuses(void)
{
    ASSERT_EQ_INT(RP_OK, 0);
    ASSERT_EQ_STR(rp_err_name(RP_OK), "OK");
    ASSERT_EQ_STR(rp_err_name(RP_EINVAL), "EINVAL");
    ASSERT_EQ_STR(rp_err_name(RP_EADDRINUSE), "EADDRINUSE");
    ASSERT_EQ_STR(rp_strerror(RP_ETIMEDOUT), "timed out");
    ASSERT_EQ_INT(rp_err_status_code(RP_EINVAL), 3);     /* INVALID_ARGUMENT */
    ASSERT_EQ_INT(rp_err_status_code(RP_EPROTO), 3);     /* malformed: INVALID_ARGUMENT */
    ASSERT_EQ_INT(rp_err_status_code(RP_ETIMEDOUT), 4);  /* DEADLINE_EXCEEDED */
    ASSERT_EQ_INT(rp_err_status_code(RP_ENOTFOUND), 5);  /* NOT_FOUND */
    ASSERT_EQ_INT(rp_err_status_code(RP_EEXIST), 6);     /* ALREADY_EXISTS */
    ASSERT_EQ_INT(rp_err_status_code(RP_EPERM), 7);      /* PERMISSION_DENIED */
    ASSERT_EQ_INT(rp_err_status_code(RP_ETOOBIG), 8);    /* RESOURCE_EXHAUSTED */
    ASSERT_EQ_INT(rp_err_status_code(RP_EPRECOND), 9);   /* FAILED_PRECONDITION */
    ASSERT_EQ_INT(rp_err_status_code(RP_EUNIMPL), 12);   /* UNIMPLEMENTED */
    ASSERT_EQ_INT(rp_err_status_code(RP_EINTERNAL), 13); /* INTERNAL */
    ASSERT_EQ_INT(rp_err_status_code(RP_EUNAVAIL), 14);  /* UNAVAILABLE */
    ASSERT_EQ_INT(rp_err_status_code(RP_EUNAUTH), 16);   /* UNAUTHENTICATED */
}

static void s_out_of_range(void)
{
    ASSERT_EQ_STR(rp_strerror(RP_ERR_COUNT), "unknown error");
    ASSERT_EQ_STR(rp_strerror((rp_err)-1), "unknown error");
    ASSERT_EQ_STR(rp_err_name(RP_ERR_COUNT), "EUNKNOWN");
    ASSERT_EQ_STR(rp_err_name((rp_err)1000), "EUNKNOWN");
    ASSERT_EQ_INT(rp_err_status_code(RP_ERR_COUNT), 2); /* UNKNOWN */
}

/* An error sent as a status code and read back keeps its status code. */
static void s_status_round_trip(void)
{
    for (int i = 0; i < RP_ERR_COUNT; i++) {
        int status = rp_err_status_code((rp_err)i);
        rp_err back = rp_err_from_status_code(status);
        ASSERT_TRUE((unsigned)back < RP_ERR_COUNT);
        if (rp_err_status_code(back) != status)
            FAIL("RP_%s -> status %d -> RP_%s -> status %d", rp_err_name((rp_err)i), status,
                 rp_err_name(back), rp_err_status_code(back));
    }
    /* Every status code that some error produces comes back to an error
     * with that status; the others (CANCELLED, UNKNOWN, junk) are
     * internal errors. */
    for (int status = -1; status <= 20; status++) {
        bool produced = false;
        rp_err back = rp_err_from_status_code(status);
        for (int i = 0; i < RP_ERR_COUNT; i++)
            if (rp_err_status_code((rp_err)i) == status)
                produced = true;
        if (produced)
            ASSERT_EQ_INT(rp_err_status_code(back), status);
        else
            ASSERT_ERR(back, RP_EINTERNAL);
    }
    ASSERT_ERR(rp_err_from_status_code(0), RP_OK);
    ASSERT_ERR(rp_err_from_status_code(3), RP_EINVAL);
    ASSERT_ERR(rp_err_from_status_code(5), RP_ENOTFOUND);
    ASSERT_ERR(rp_err_from_status_code(14), RP_EUNAVAIL);
}

static const test_case_t s_cases[] = {
    {"every_code_has_name_text_status", s_every_code_has_name_text_status},
    {"names_and_texts_are_unique", s_names_and_texts_are_unique},
    {"known_names_and_statuses", s_known_names_and_statuses},
    {"out_of_range", s_out_of_range},
    {"status_round_trip", s_status_round_trip},
};

TEST_MAIN(s_cases)
