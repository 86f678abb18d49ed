/* fuzz_access_segment: the segment worker's server and whether it has a
 * segment log running, for the fuzz cluster. */
#include "fuzz_access.h"
#include "segment.h"

server_t *fz_segment_server(segsrv_t *s)
{
    return s->server;
}

bool fz_segment_busy(const segsrv_t *s)
{
    return fanout_busy(s);
}
