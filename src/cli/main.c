/* main.c — `whale`: dispatches to a subcommand. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "whale.h"

static void usage(FILE *f)
{
    fprintf(f,
            "whale %s — the DeepSeek-R1 system in C\n\n"
            "usage: whale <command> [options]\n\n"
            "commands:\n"
            "  info MODEL             architecture, parameters, dtypes, files, KV-cache bytes\n"
            "  run -m MODEL ...       generate: -p TEXT (chat format) or --tokens IDS\n"
            "  tokenize -m MODEL TEXT token ids and pieces of a text (- reads stdin)\n"
            "  serve -m MODEL         OpenAI-compatible HTTP API and web chat (see --help)\n"
            "  chat -m MODEL          interactive multi-turn chat (see whale chat --help)\n"
            "  quantize IN OUT --type T  write a GGUF for llama.cpp (f16, q8_0, q4_k_m, ...)\n"
            "  eval -m MODEL          pass@1, pass@k, cons@k on the held-out R1 task sets\n"
            "  tasks --family F       R1 task items, teacher traces, SFT JSONL\n"
            "  data -t TOK -o DIR FILE...  text / JSONL -> token shards for training\n"
            "  train CONFIG [--KEY V]  pretrain a DeepSeek-V3-style model (docs/TRAINING.md)\n"
            "  sft CONFIG             fine-tune on R1-format conversations, loss on the reply\n"
            "  grpo CONFIG            GRPO with rule-based rewards on the R1 tasks (docs/R1.md)\n"
            "  distill CONFIG         teacher traces, verified, then SFT of a student\n"
            "\n"
            "MODEL is a folder with config.json and *.safetensors (single or sharded,\n"
            "F32/F16/BF16/FP8 block-scaled), a .safetensors file, or a .gguf file.\n"
            "Options: --help, --version.\n",
            WHALE_VERSION);
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("whale: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("whale %s\n", WHALE_VERSION);
        return 0;
    }
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenize") == 0)
        return cmd_tokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "chat") == 0)
        return cmd_chat(argc - 1, argv + 1);
    if (strcmp(cmd, "quantize") == 0)
        return cmd_quantize(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "tasks") == 0)
        return cmd_tasks(argc - 1, argv + 1);
    if (strcmp(cmd, "train") == 0)
        return cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "sft") == 0)
        return cmd_sft(argc - 1, argv + 1);
    if (strcmp(cmd, "grpo") == 0)
        return cmd_grpo(argc - 1, argv + 1);
    if (strcmp(cmd, "distill") == 0)
        return cmd_distill(argc - 1, argv + 1);
    if (strcmp(cmd, "data") == 0)
        return cmd_data(argc - 1, argv + 1);
    fprintf(stderr, "whale: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
