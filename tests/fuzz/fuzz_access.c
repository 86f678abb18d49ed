/* fuzz_access: the log writer's and the segment worker's servers, and
 * whether the segment worker has a segment log running, for the fuzz
 * cluster. */
#include "fuzz_access.h"
#include "segment.h"
#include "writer.h"

server_t *fz_writer_server(logwriter_t *w)
{
    return w->server;
}

server_t *fz_segment_server(segsrv_t *s)
{
    return s->server;
}

bool fz_segment_busy(const segsrv_t *s)
{
    return fanout_busy(s);
}
