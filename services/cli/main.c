/* rapport: the command-line client of the rapport workers. Everything is
 * in cli.c and the *_cmds.c command families; see `rapport --help`. */
#include "cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
