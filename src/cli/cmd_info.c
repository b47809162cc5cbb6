/* cmd_info.c — `whale info MODEL`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "whale.h"

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: whale info MODEL\n\nPrints the architecture, total and active "
                   "parameters per token, tensor dtypes,\nfile sizes and KV-cache bytes per "
                   "token of a model folder, .safetensors or .gguf file.\n");
            return 0;
        }
        if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (argv[i][0] != '-' && path == NULL)
            path = argv[i];
        else
            return cli_fail("info: unexpected argument \"%s\" (see whale info --help)", argv[i]);
    }
    if (path == NULL)
        return cli_fail("info: no MODEL given (see whale info --help)");
    wh_model *m = NULL;
    wh_error err = {0};
    if (wh_model_load(path, &m, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    wh_model_describe(m, stdout);
    wh_model_free(m);
    return 0;
}
