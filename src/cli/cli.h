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

/* Prints "whale: <msg>" to stderr; returns the exit status 1. */
int cli_fail(const char *fmt, ...);

#endif
