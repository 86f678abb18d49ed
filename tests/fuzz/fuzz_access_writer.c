/* fuzz_access_writer: the log writer's server, for the fuzz cluster. */
#include "fuzz_access.h"
#include "writer.h"

server_t *fz_writer_server(logwriter_t *w)
{
    return w->server;
}
