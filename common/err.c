/* err: tables generated from RP_ERR_MAP (see err.h). */
#include "err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static const struct {
    const char *name;
    const char *text;
    int status;
} s_errs[] = {
#define XX(name, text, code) {#name, text, code},
    RP_ERR_MAP(XX)
#undef XX
};

const char *rp_strerror(rp_err err)
{
    if ((unsigned)err >= RP_ERR_COUNT)
        return "unknown error";
    return s_errs[err].text;
}

const char *rp_err_name(rp_err err)
{
    if ((unsigned)err >= RP_ERR_COUNT)
        return "EUNKNOWN";
    return s_errs[err].name;
}

int rp_err_status_code(rp_err err)
{
    if ((unsigned)err >= RP_ERR_COUNT)
        return 2; /* UNKNOWN */
    return s_errs[err].status;
}

rp_err rp_err_from_status_code(int code)
{
    switch (code) {
    case 0:
        return RP_OK;
    case 3:
        return RP_EINVAL;
    case 4:
        return RP_ETIMEDOUT;
    case 5:
        return RP_ENOTFOUND;
    case 6:
        return RP_EEXIST;
    case 7:
        return RP_EPERM;
    case 8:
        return RP_ENOSPC;
    case 9:
        return RP_EPRECOND;
    case 10:
        return RP_EABORTED;
    case 11:
        return RP_ERANGE;
    case 12:
        return RP_EUNIMPL;
    case 14:
        return RP_EUNAVAIL;
    case 15:
        return RP_ECORRUPT;
    case 16:
        return RP_EUNAUTH;
    default:
        return RP_EINTERNAL;
    }
}

void rp_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!errbuf || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}
