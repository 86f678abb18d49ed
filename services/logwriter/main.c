/* rapport-logwriter: every interaction log entry, logged segment and
 * campaign entry, and the durable event log. The logic is in
 * logwriter_server.c. */
#include "logwriter_server.h"
#include "worker.h"

static rp_err s_start(const config_t *cfg, void *zctx, void **ret, char *errbuf, size_t errlen)
{
    logwriter_t *w = NULL;
    rp_err rc = logwriter_new(cfg, zctx, &w, errbuf, errlen);
    *ret = w;
    return rc;
}

static int s_run(void *w)
{
    return logwriter_run(w);
}

static void s_destroy(void **w)
{
    logwriter_t *t = *w;
    logwriter_destroy(&t);
    *w = NULL;
}

int main(int argc, char **argv)
{
    static const worker_def_t def = {"logwriter", s_start, s_run, s_destroy};
    return worker_main(&def, argc, argv);
}
