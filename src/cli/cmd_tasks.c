/*
 * cmd_tasks.c — `whale tasks`: prints items of an R1 task family (prompt and reference
 * answer, one tab-separated line each), shows the teacher's trace, or writes SFT
 * conversations as JSONL (src/r1/tasks.h, src/r1/solver.h, docs/R1.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "r1/solver.h"
#include "r1/tasks.h"
#include "whale.h"

static void usage(void)
{
    printf("usage: whale tasks --family F [options]\n\n"
           "Items of an R1 task family: deterministic by (family, level, split, seed).\n\n"
           "  --family F          arith, countdown or sort (or all)\n"
           "  --level L           1..%d (default 1)\n"
           "  --n N               items (default 10)\n"
           "  --seed S            train items are S*2^32 + 0..N-1 (default 0); the test split\n"
           "                      is always items 0..N-1, the held-out set whale eval uses\n"
           "  --split train|test  (default train)\n"
           "  --trace             print each item with the teacher's full response\n"
           "  --sft OUT.jsonl     write SFT conversations (- for stdout) instead\n",
           WH_TASK_LEVEL_MAX);
}

/* family, level, prompt and answer, tab-separated (prompts hold no tabs or newlines). */
static void print_plain(const wh_task *t)
{
    printf("%s\t%d\t%s\t", wh_task_family_name(t->family), t->level, t->prompt);
    printf("%s\n", t->answer);
}

int cmd_tasks(int argc, char **argv)
{
    const char *sft = NULL;
    int fam = -2, trace = 0;
    long level = 1, n = 10, seed = 0;
    wh_task_split split = WH_SPLIT_TRAIN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if (strcmp(a, "--family") == 0 && has) {
            const char *f = argv[++i];
            fam = strcmp(f, "all") == 0 ? -1 : wh_task_family_parse(f);
            if (fam == -1 && strcmp(f, "all") != 0)
                return cli_fail("tasks: --family is arith, countdown, sort or all");
        } else if (strcmp(a, "--level") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, WH_TASK_LEVEL_MAX, &level))
                return cli_fail("tasks: --level needs 1..%d", WH_TASK_LEVEL_MAX);
        } else if (strcmp(a, "--n") == 0 && has) {
            if (!cli_parse_long(argv[++i], 0, 100000000L, &n))
                return cli_fail("tasks: --n needs 0..100000000");
        } else if (strcmp(a, "--seed") == 0 && has) {
            if (!cli_parse_long(argv[++i], 0, 0x7fffffffL, &seed))
                return cli_fail("tasks: --seed needs 0..2147483647");
        } else if (strcmp(a, "--split") == 0 && has) {
            const char *s = argv[++i];
            if (strcmp(s, "train") == 0)
                split = WH_SPLIT_TRAIN;
            else if (strcmp(s, "test") == 0)
                split = WH_SPLIT_TEST;
            else
                return cli_fail("tasks: --split is train or test");
        } else if (strcmp(a, "--trace") == 0) {
            trace = 1;
        } else if (strcmp(a, "--sft") == 0 && has) {
            sft = argv[++i];
        } else {
            return cli_fail("tasks: unexpected argument \"%s\" (see whale tasks --help)", a);
        }
    }
    if (fam == -2)
        return cli_fail("tasks: no family given: whale tasks --family arith");
    FILE *out = NULL;
    if (sft != NULL) {
        out = strcmp(sft, "-") == 0 ? stdout : fopen(sft, "w");
        if (out == NULL)
            return cli_fail("tasks: cannot write %s", sft);
    }
    uint64_t base = split == WH_SPLIT_TEST ? 0 : (uint64_t)seed << 32;
    int rc = 0, skipped = 0;
    for (int f = 0; f < WH_TASK_N_FAMILIES && rc == 0; f++) {
        if (fam >= 0 && f != fam)
            continue;
        for (long i = 0; i < n && rc == 0; i++) {
            wh_task t;
            if (wh_task_make((wh_task_family)f, (int)level, split, base + (uint64_t)i, &t) != 0) {
                rc = cli_fail("tasks: cannot make item %ld", i);
                break;
            }
            if (out == NULL && !trace) {
                print_plain(&t);
                continue;
            }
            wh_r1_trace tr;
            if (wh_r1_solve(&t, &tr) != 0) {
                skipped++;
                continue;
            }
            if (out != NULL) {
                if (wh_r1_write_sft(out, &t, &tr) != 0)
                    rc = cli_fail("tasks: cannot write %s", sft);
            } else {
                size_t len = 0;
                char *text = wh_r1_trace_text(&tr, &len);
                if (text == NULL) {
                    rc = cli_fail("tasks: out of memory");
                } else {
                    printf("### %s level %d, %s item %llu\nuser: %s\nassistant: %s\n\n",
                           wh_task_family_name(t.family), t.level,
                           split == WH_SPLIT_TEST ? "test" : "train", (unsigned long long)t.index,
                           t.prompt, text);
                    wh_free(text);
                }
            }
            wh_r1_trace_free(&tr);
        }
    }
    if (out != NULL && out != stdout && fclose(out) != 0 && rc == 0)
        rc = cli_fail("tasks: cannot write %s", sft);
    if (skipped > 0)
        fprintf(stderr, "whale: tasks: %d item%s left out (the solver found no trace)\n", skipped,
                skipped == 1 ? "" : "s");
    return rc;
}
