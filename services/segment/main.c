/* rapport-segment: segments and their lines, and logging them (the
 * fan-out). The logic is in segment_server.c and fanout_*.c. */
#include "segment_server.h"
#include "worker.h"

static rp_err s_start(const config_t *cfg, void *zctx, void **ret, char *errbuf, size_t errlen)
{
    segsrv_t *w = NULL;
    rp_err rc = segsrv_new(cfg, zctx, &w, errbuf, errlen);
    *ret = w;
    return rc;
}

static int s_run(void *w)
{
    return segsrv_run(w);
}

static void s_destroy(void **w)
{
    segsrv_t *t = *w;
    segsrv_destroy(&t);
    *w = NULL;
}

int main(int argc, char **argv)
{
    static const worker_def_t def = {"segment", s_start, s_run, s_destroy};
    return worker_main(&def, argc, argv);
}
