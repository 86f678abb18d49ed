/* clock: work date and time of day, with test pins from the environment. */
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool s_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool clock_date_valid(uint32_t d)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = d / 10000, m = d / 100 % 100, day = d % 100;

    if (y < 1753 || y > 9999 || m < 1 || m > 12 || day < 1)
        return false;
    if (m == 2 && s_leap(y))
        return day <= 29;
    return day <= mdays[m - 1];
}

static bool s_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static unsigned s_num(const char *s, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    return v;
}

rp_err clock_date_parse(const char *text, uint32_t *ret_date)
{
    uint32_t d;
    size_t len;

    if (!text)
        return RP_EINVAL;
    len = strlen(text);
    if (len == 10 && text[4] == '-' && text[7] == '-' && s_digits(text, 4) &&
        s_digits(text + 5, 2) && s_digits(text + 8, 2))
        d = s_num(text, 4) * 10000 + s_num(text + 5, 2) * 100 + s_num(text + 8, 2);
    else if (len == 8 && s_digits(text, 8))
        d = s_num(text, 8);
    else
        return RP_EINVAL;
    if (!clock_date_valid(d))
        return RP_EINVAL;
    *ret_date = d;
    return RP_OK;
}

void clock_date_format(uint32_t d, char *buf, size_t size)
{
    if (d == 0) {
        if (size)
            buf[0] = '\0';
        return;
    }
    snprintf(buf, size, "%04u-%02u-%02u", d / 10000, d / 100 % 100, d % 100);
}

rp_err clock_time_parse(const char *text, uint32_t *ret_seconds)
{
    size_t len;
    unsigned h, m, s = 0;

    if (!text)
        return RP_EINVAL;
    len = strlen(text);
    if (len != 5 && len != 8)
        return RP_EINVAL;
    if (!s_digits(text, 2) || text[2] != ':' || !s_digits(text + 3, 2))
        return RP_EINVAL;
    if (len == 8 && (text[5] != ':' || !s_digits(text + 6, 2)))
        return RP_EINVAL;
    h = s_num(text, 2);
    m = s_num(text + 3, 2);
    if (len == 8)
        s = s_num(text + 6, 2);
    if (h > 23 || m > 59 || s > 59)
        return RP_EINVAL;
    *ret_seconds = h * 3600 + m * 60 + s;
    return RP_OK;
}

void clock_time_format(uint32_t seconds, char *buf, size_t size)
{
    snprintf(buf, size, "%02u:%02u:%02u", seconds / 3600 % 100, seconds / 60 % 60, seconds % 60);
}

uint32_t clock_work_date(void)
{
    const char *pin = getenv("RAPPORT_TODAY");
    uint32_t d;
    time_t now;
    struct tm tm;

    if (pin && *pin && clock_date_parse(pin, &d) == RP_OK)
        return d;
    now = time(NULL);
    localtime_r(&now, &tm);
    return (uint32_t)(tm.tm_year + 1900) * 10000 + (uint32_t)(tm.tm_mon + 1) * 100 +
           (uint32_t)tm.tm_mday;
}

uint32_t clock_time_of_day(void)
{
    const char *pin = getenv("RAPPORT_NOW");
    uint32_t t;
    time_t now;
    struct tm tm;

    if (pin && *pin && clock_time_parse(pin, &t) == RP_OK)
        return t;
    now = time(NULL);
    localtime_r(&now, &tm);
    return (uint32_t)(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
}

uint32_t clock_round_up_minute(uint32_t seconds)
{
    uint32_t next = (seconds / 60 + 1) * 60;
    return next >= 86400 ? 86400 - 60 : next;
}

int64_t clock_now_ms(void)
{
    const char *shift = getenv("RAPPORT_CLOCK_SHIFT_DAYS");
    struct timespec ts;
    int64_t days = 0;

    if (shift && *shift) {
        char *end;
        long long v = strtoll(shift, &end, 10);
        if (*end == '\0' && v > -36500 && v < 36500)
            days = v;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + days * 86400000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
