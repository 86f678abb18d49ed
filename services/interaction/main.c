/* rapport-interaction: the catalog (groups, templates, contacts,
 * salespeople, campaigns) and single interactions, which it resolves and
 * hands to rapport-logwriter. The logic is in interaction_server.c. */
#include "interaction_server.h"
#include "worker.h"

static rp_err s_start(const config_t *cfg, void *zctx, void **ret, char *errbuf, size_t errlen)
{
    interaction_worker_t *w = NULL;
    rp_err rc = interaction_worker_new(cfg, zctx, &w, errbuf, errlen);
    *ret = w;
    return rc;
}

static int s_run(void *w)
{
    return interaction_worker_run(w);
}

static void s_destroy(void **w)
{
    interaction_worker_t *t = *w;
    interaction_worker_destroy(&t);
    *w = NULL;
}

int main(int argc, char **argv)
{
    static const worker_def_t def = {"interaction", s_start, s_run, s_destroy};
    return worker_main(&def, argc, argv);
}
