/* cli.h — the whale program's subcommands (thin front-ends over libwhale). */
#ifndef WH_CLI_H
#define WH_CLI_H

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_train(int argc, char **argv); /* cmd_train.c: whale train, whale data */
int cmd_data(int argc, char **argv);
int cmd_sft(int argc, char **argv);     /* cmd_sft.c: whale sft (R1 cold start) */
int cmd_distill(int argc, char **argv); /* cmd_sft.c: whale distill (teacher traces + SFT) */
int cmd_grpo(int argc, char **argv);    /* cmd_grpo.c: whale grpo (RL on the R1 tasks) */

/* Whole-string numbers within [lo, hi]: 1 and *out set, or 0 (args.c). */
int cli_parse_long(const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *s, double lo, double hi, float *out);

/* Prints "whale: <msg>" to stderr; returns the exit status 1. */
int cli_fail(const char *fmt, ...);

#endif
