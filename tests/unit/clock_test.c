/* clock_test: calendar dates (1753..9999, leap years), the two date forms,
 * times of day, rounding up to the minute and the RAPPORT_TODAY /
 * RAPPORT_NOW pins. */
#include "test.h"

#include "clock.h"

static uint32_t s_today_local(void)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    return (uint32_t)(tm.tm_year + 1900) * 10000 + (uint32_t)(tm.tm_mon + 1) * 100 +
           (uint32_t)tm.tm_mday;
}

static void s_date_valid(void)
{
    /* bounds */
    ASSERT_TRUE(clock_date_valid(17530101));
    ASSERT_FALSE(clock_date_valid(17521231));
    ASSERT_TRUE(clock_date_valid(99991231));
    ASSERT_FALSE(clock_date_valid(100000101));
    ASSERT_FALSE(clock_date_valid(0));
    ASSERT_FALSE(clock_date_valid(UINT32_MAX));
    /* months and days */
    ASSERT_TRUE(clock_date_valid(20240131));
    ASSERT_FALSE(clock_date_valid(20240132));
    ASSERT_FALSE(clock_date_valid(20240431));
    ASSERT_TRUE(clock_date_valid(20240430));
    ASSERT_FALSE(clock_date_valid(20240001));
    ASSERT_FALSE(clock_date_valid(20241301));
    ASSERT_FALSE(clock_date_valid(20240100));
    ASSERT_TRUE(clock_date_valid(20241231));
    /* leap years: every 4th, not every 100th, every 400th */
    ASSERT_TRUE(clock_date_valid(20240229));
    ASSERT_FALSE(clock_date_valid(20240230));
    ASSERT_FALSE(clock_date_valid(20230229));
    ASSERT_TRUE(clock_date_valid(20230228));
    ASSERT_FALSE(clock_date_valid(19000229));
    ASSERT_TRUE(clock_date_valid(20000229));
    ASSERT_FALSE(clock_date_valid(18000229));
    ASSERT_TRUE(clock_date_valid(17560229));
    ASSERT_FALSE(clock_date_valid(99000229));
    ASSERT_TRUE(clock_date_valid(99960229));
}

static void s_date_parse(void)
{
    uint32_t d = 0;

    ASSERT_OK(clock_date_parse("2024-02-29", &d));
    ASSERT_EQ_U64(d, 20240229);
    ASSERT_OK(clock_date_parse("20230115", &d));
    ASSERT_EQ_U64(d, 20230115);
    ASSERT_OK(clock_date_parse("1753-01-01", &d));
    ASSERT_EQ_U64(d, 17530101);
    ASSERT_OK(clock_date_parse("99991231", &d));
    ASSERT_EQ_U64(d, 99991231);

    d = 12345;
    static const char *const bad[] = {
        "",           "2023-02-29", "1752-12-31",  "17521231",
        "2024-2-29",  "2024/02/29", "2024-02-29 ", " 2024-02-29",
        "2024-02-3x", "202402291",  "2024021",     "abcd-ef-gh",
        "2024-13-01", "2024-00-10", "00000000",    "10000-01-01",
        "2024--2-29", "+024-02-29",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rp_err rc = clock_date_parse(bad[i], &d);
        if (rc != RP_EINVAL)
            FAIL("clock_date_parse(\"%s\") gave RP_%s, expected RP_EINVAL", bad[i],
                 rp_err_name(rc));
    }
    ASSERT_ERR(clock_date_parse(NULL, &d), RP_EINVAL);
    ASSERT_EQ_U64(d, 12345); /* untouched on failure */
}

static void s_date_format(void)
{
    char buf[16];

    clock_date_format(20240229, buf, sizeof(buf));
    ASSERT_EQ_STR(buf, "2024-02-29");
    clock_date_format(17530101, buf, sizeof(buf));
    ASSERT_EQ_STR(buf, "1753-01-01");
    memset(buf, 'x', sizeof(buf));
    clock_date_format(0, buf, sizeof(buf));
    ASSERT_EQ_STR(buf, "");
    /* a short buffer is cut, never overrun */
    memset(buf, 'x', sizeof(buf));
    clock_date_format(20240229, buf, 5);
    ASSERT_EQ_STR(buf, "2024");
    ASSERT_TRUE(buf[5] == 'x');
    /* parse(format(d)) == d for both forms */
    for (uint32_t d = 17530101; d <= 17531231; d++) {
        uint32_t back = 0;
        if (!clock_date_valid(d))
            continue;
        clock_date_format(d, buf, sizeof(buf));
        ASSERT_OK(clock_date_parse(buf, &back));
        ASSERT_EQ_U64(back, d);
    }
}

static void s_time_parse_format(void)
{
    uint32_t t = 7;
    char buf[16];

    ASSERT_OK(clock_time_parse("00:00", &t));
    ASSERT_EQ_U64(t, 0);
    ASSERT_OK(clock_time_parse("13:45", &t));
    ASSERT_EQ_U64(t, 13 * 3600 + 45 * 60);
    ASSERT_OK(clock_time_parse("13:45:30", &t));
    ASSERT_EQ_U64(t, 13 * 3600 + 45 * 60 + 30);
    ASSERT_OK(clock_time_parse("23:59:59", &t));
    ASSERT_EQ_U64(t, 86399);

    t = 7;
    static const char *const bad[] = {"24:00",   "12:60",       "12:30:60", "1:30",   "12:3",
                                      "12:30:5", "12-30",       "12:30:",   "",       "ab:cd",
                                      "12:30 ",  "12:30:00:00", "-1:30",    "12:30x0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rp_err rc = clock_time_parse(bad[i], &t);
        if (rc != RP_EINVAL)
            FAIL("clock_time_parse(\"%s\") gave RP_%s, expected RP_EINVAL", bad[i],
                 rp_err_name(rc));
    }
    ASSERT_ERR(clock_time_parse(NULL, &t), RP_EINVAL);
    ASSERT_EQ_U64(t, 7);

    clock_time_format(0, buf, sizeof(buf));
    ASSERT_EQ_STR(buf, "00:00:00");
    clock_time_format(86399, buf, sizeof(buf));
    ASSERT_EQ_STR(buf, "23:59:59");
    clock_time_format(9 * 3600 + 5 * 60 + 7, buf, sizeof(buf));
    ASSERT_EQ_STR(buf, "09:05:07");
    for (uint32_t s = 0; s < 86400; s += 37) {
        uint32_t back = 0;
        clock_time_format(s, buf, sizeof(buf));
        ASSERT_OK(clock_time_parse(buf, &back));
        ASSERT_EQ_U64(back, s);
    }
}

static void s_round_up_minute(void)
{
    ASSERT_EQ_U64(clock_round_up_minute(0), 60);
    ASSERT_EQ_U64(clock_round_up_minute(1), 60);
    ASSERT_EQ_U64(clock_round_up_minute(59), 60);
    ASSERT_EQ_U64(clock_round_up_minute(60), 120); /* a whole minute moves on */
    ASSERT_EQ_U64(clock_round_up_minute(61), 120);
    ASSERT_EQ_U64(clock_round_up_minute(13 * 3600 + 45 * 60 + 1), 13 * 3600 + 46 * 60);
    ASSERT_EQ_U64(clock_round_up_minute(23 * 3600 + 58 * 60), 23 * 3600 + 59 * 60);
    ASSERT_EQ_U64(clock_round_up_minute(23 * 3600 + 58 * 60 + 30), 23 * 3600 + 59 * 60);
    /* 23:59:xx stays at 23:59:00: never the next day */
    for (uint32_t s = 23 * 3600 + 59 * 60; s < 86400; s++)
        ASSERT_EQ_U64(clock_round_up_minute(s), 23 * 3600 + 59 * 60);
    for (uint32_t s = 0; s < 86400; s++) {
        uint32_t r = clock_round_up_minute(s);
        ASSERT_TRUE(r % 60 == 0 && r < 86400);
        ASSERT_TRUE(r > s || s >= 23 * 3600 + 59 * 60);
    }
}

static void s_today_pin(void)
{
    uint32_t before, after, d;

    ASSERT_TRUE(setenv("RAPPORT_TODAY", "2024-02-29", 1) == 0);
    ASSERT_EQ_U64(clock_work_date(), 20240229);
    ASSERT_TRUE(setenv("RAPPORT_TODAY", "19991231", 1) == 0);
    ASSERT_EQ_U64(clock_work_date(), 19991231);

    /* invalid and empty pins fall back to the real date */
    static const char *const fallbacks[] = {"2023-02-29", "", "tomorrow"};
    for (size_t i = 0; i < sizeof(fallbacks) / sizeof(fallbacks[0]); i++) {
        ASSERT_TRUE(setenv("RAPPORT_TODAY", fallbacks[i], 1) == 0);
        before = s_today_local();
        d = clock_work_date();
        after = s_today_local();
        ASSERT_TRUE(d == before || d == after); /* midnight may pass */
    }
    ASSERT_TRUE(unsetenv("RAPPORT_TODAY") == 0);
    before = s_today_local();
    d = clock_work_date();
    after = s_today_local();
    ASSERT_TRUE(d == before || d == after);
    ASSERT_TRUE(clock_date_valid(d));
}

static void s_now_pin(void)
{
    uint32_t t;

    ASSERT_TRUE(setenv("RAPPORT_NOW", "13:45", 1) == 0);
    ASSERT_EQ_U64(clock_time_of_day(), 13 * 3600 + 45 * 60);
    ASSERT_TRUE(setenv("RAPPORT_NOW", "23:59:30", 1) == 0);
    ASSERT_EQ_U64(clock_time_of_day(), 86370);
    ASSERT_EQ_U64(clock_round_up_minute(clock_time_of_day()), 86340);
    ASSERT_TRUE(setenv("RAPPORT_NOW", "25:00", 1) == 0);
    t = clock_time_of_day();
    ASSERT_TRUE(t < 86400 + 1); /* a leap second could give 86400 */
    ASSERT_TRUE(unsetenv("RAPPORT_NOW") == 0);
    t = clock_time_of_day();
    ASSERT_TRUE(t < 86400 + 1);
}

static void s_clocks_move(void)
{
    int64_t wall = clock_now_ms(), m0 = clock_mono_ms(), m1;
    uint64_t n0 = clock_mono_ns(), n1;

    ASSERT_TRUE(wall > 1577836800000LL); /* after 2020-01-01 */
    test_sleep_ms(20);
    m1 = clock_mono_ms();
    n1 = clock_mono_ns();
    ASSERT_TRUE(m1 >= m0 + 19);
    ASSERT_TRUE(n1 >= n0 + 19000000u);
}

static const test_case_t s_cases[] = {
    {"date_valid", s_date_valid},
    {"date_parse", s_date_parse},
    {"date_format", s_date_format},
    {"time_parse_format", s_time_parse_format},
    {"round_up_minute", s_round_up_minute},
    {"today_pin", s_today_pin},
    {"now_pin", s_now_pin},
    {"clocks_move", s_clocks_move},
};

TEST_MAIN(s_cases)
