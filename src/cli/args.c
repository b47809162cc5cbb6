/* args.c — number parsing shared by the subcommands: the whole string must be a
 * number inside the range, or the option is refused. */
#include <errno.h>
#include <stdlib.h>

#include "cli/cli.h"

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

int cli_parse_float(const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return 0;
    *out = (float)v;
    return 1;
}
