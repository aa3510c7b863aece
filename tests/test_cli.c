/* The clgrad command as users and scripts meet it: exit statuses, messages,
 * the JSON contract, the demo's figures, and the kernel cache across runs. */
#include <sys/stat.h>

#include "cli_run.h"

static void expect_usage_error(const char *args, const char *needle)
{
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 2, "clgrad %s: status %d, stderr: %s", args, r.status, r.err);
    cr_assert(strstr(r.err, needle) != NULL, "clgrad %s: '%s' not in stderr: %s", args, needle,
              r.err);
    cr_assert_str_empty(r.out, "clgrad %s printed on stdout: %s", args, r.out);
}

static void csv_file(char *path, size_t cap, const char *text)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    snprintf(path, cap, "%s/d.csv", dir);
    write_file(path, text);
}

Test(cli, every_command_answers_help)
{
    const char *cmds[] = {"--help", "fit --help", "demo --help", "devices --help",
                          "warmup --help"};
    for (int i = 0; i < 5; i++) {
        run_result r;
        run_cli(&r, NULL, cmds[i]);
        cr_assert_eq(r.status, 0, "%s", cmds[i]);
        cr_assert(strstr(r.out, "usage: clgrad") != NULL, "%s: %s", cmds[i], r.out);
    }
    run_result r;
    run_cli(&r, NULL, "frobnicate");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "unknown command 'frobnicate'") != NULL);
}

/* clgrad warmup runs each common workload once: a line per workload and a
 * total; it writes clgrad's binary cache even where a plain run does not
 * (PoCL), so a second warmup, and then a fit, compile nothing; PoCL's own
 * cache is filled too. */
Test(cli, warmup_compiles_the_common_kernels_so_a_second_run_compiles_none)
{
    char dir[64], env[256];
    temp_dir(dir, sizeof dir);
    snprintf(env, sizeof env, "CLGRAD_CACHE_DIR=%s/cg POCL_CACHE_DIR=%s/pocl CLGRAD_BINARY_CACHE=auto",
             dir, dir);
    run_result r;
    run_cli(&r, env, "warmup");
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *lines[] = {"fused linear trainer", "linear model, autograd", "MLPs, autograd",
                           "warmed up "};
    for (int i = 0; i < 4; i++)
        cr_assert(strstr(r.out, lines[i]) != NULL, "'%s' not in: %s", lines[i], r.out);
    unsigned long long compiled = 0;
    const char *total = strstr(r.out, "programs compiled in");
    cr_assert(total && sscanf(strrchr(r.out, ':') + 1, "%llu", &compiled) == 1, "%s", r.out);
    cr_assert(on_ref() ? compiled == 0 : compiled >= 10, "%llu programs: %s", compiled, r.out);
    if (!on_ref() && strstr(r.out, "Portable Computing Language") != NULL) {
        /* PoCL's own cache: the kernels it compiled are there. */
        char cmd[160];
        snprintf(cmd, sizeof cmd, "test -n \"$(ls -A %s/pocl 2>/dev/null)\"", dir);
        cr_assert_eq(system(cmd), 0, "POCL_CACHE_DIR is empty after a warmup");
    }

    snprintf(env, sizeof env, "CLGRAD_CACHE_DIR=%s/cg POCL_CACHE_DIR=%s/pocl CLGRAD_BINARY_CACHE=auto",
             dir, dir);
    run_cli(&r, env, "fit --grad autograd --epochs 2 --stats");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, " 0 programs compiled") != NULL, "after a warmup: %s", r.out);
    run_cli(&r, env, "warmup --quiet");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, ": 0 programs compiled in") != NULL, "%s", r.out);
    cr_assert_eq(strchr(r.out, '\n'), r.out + strlen(r.out) - 1, "--quiet: one line: %s", r.out);
    expect_usage_error("warmup --bogus", "unknown option '--bogus'");
}

Test(cli, without_opencl_it_runs_on_the_reference_path_with_a_notice)
{
    run_result r;
    run_cli(&r, "CLGRAD_DEVICE= OCL_ICD_VENDORS=/nonexistent-icd-dir", "fit --epochs 10 --json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "no OpenCL device found; running on the scalar reference path"),
              "%s", r.err);
    cr_assert(strstr(r.out, "\"device\": \"reference (scalar C)\""), "%s", r.out);
    run_cli(&r, "CLGRAD_DEVICE= OCL_ICD_VENDORS=/nonexistent-icd-dir", "devices");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "no OpenCL device found"), "%s", r.out);
}

Test(cli, devices_lists_the_reference_path)
{
    run_result r;
    run_cli(&r, NULL, "devices");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "DEVICE") && strstr(r.out, "ref"), "%s", r.out);
}

Test(cli, bad_data_files)
{
    char path[128], args[256];
    expect_usage_error("fit --data /nonexistent/d.csv", "cannot open /nonexistent/d.csv");
    csv_file(path, sizeof path, "");
    snprintf(args, sizeof args, "fit --data %s", path);
    expect_usage_error(args, "is empty");
    const struct {
        const char *text, *needle;
    } cases[] = {
        {"x,y\n", "no data rows"},
        {"x,y\n1,2\n3,4,5\n", ":3: 3 fields"},
        {"x,y\n1,2\n3,four\n", ":3: column 2 (y): 'four' is not a number"},
        {"x,y\n1,2\nNaN,4\n", "not finite"},
        {"x,y\n1,2\n3,inf\n", "not finite"},
        {"x,y\n1,2\n", "zero variance"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csv_file(path, sizeof path, cases[i].text);
        snprintf(args, sizeof args, "fit --data %s", path);
        expect_usage_error(args, cases[i].needle);
    }
}

Test(cli, bad_columns)
{
    expect_usage_error("fit --y nope", "no column named 'nope' for --y; columns: t_u, t_c");
    expect_usage_error("fit --x nope", "no column named 'nope' for --x");
    expect_usage_error("fit --x t_u,t_c --y t_c", "--x includes 't_c', the --y column");
}

Test(cli, bad_flags)
{
    expect_usage_error("fit --lr 0", "--lr must be a positive number");
    expect_usage_error("fit --lr -1e-2", "--lr must be a positive number");
    expect_usage_error("fit --lr abc", "--lr must be a positive number");
    expect_usage_error("fit --epochs 0", "--epochs must be an integer from 1 to 2147483647");
    expect_usage_error("fit --epochs -5", "--epochs must be an integer from 1 to 2147483647");
    expect_usage_error("fit --delta 0", "--delta must be a positive number");
    expect_usage_error("fit --optimizer lbfgsx", "unknown --optimizer 'lbfgsx'");
    expect_usage_error("fit --loss huber2", "unknown --loss 'huber2'");
    expect_usage_error("fit --normalize zscore", "unknown --normalize 'zscore'");
    expect_usage_error("fit --normalize scale:x", "scale:F");
    expect_usage_error("fit --grad guess", "unknown --grad 'guess'");
    expect_usage_error("fit --betas 0.9", "--betas takes B1,B2");
    expect_usage_error("fit --init 1", "--init");
    expect_usage_error("fit --init 1,2,3", "--init has 3 values; this model has 2");
    expect_usage_error("fit --bogus", "unknown option '--bogus'");
    expect_usage_error("fit --lr", "--lr needs a value");
    expect_usage_error("fit --plot out.jpg --epochs 1", ".png or .svg");
    expect_usage_error("fit --device no-such-device", "no device matches 'no-such-device'");
    expect_usage_error("fit --device no-such-device", "ref (the scalar reference path)");
}

/* The number after "key": in a JSON text. */
static double json_number(const char *json, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char *p = strstr(json, pattern);
    cr_assert_not_null(p, "no %s in %s", key, json);
    return strtod(p + strlen(pattern), NULL);
}

Test(cli, bad_tape_flags)
{
    expect_usage_error("fit --model mlp:0", "--model mlp:H1[,H2...] takes");
    expect_usage_error("fit --model mlp:", "needs hidden sizes");
    expect_usage_error("fit --model cubic", "unknown --model 'cubic'");
    expect_usage_error("fit --model mlp:4 --activation swish", "unknown --activation 'swish'");
    expect_usage_error("fit --activation relu", "--activation belongs to --model mlp");
    expect_usage_error("fit --shuffle", "--shuffle reorders minibatches");
    expect_usage_error("fit --batch-size 0", "--batch-size must be an integer from 1 to");
    expect_usage_error("fit --model mlp:4 --grad numeric", "--grad numeric belongs to the linear");
    expect_usage_error("fit --seed -1", "--seed must be an integer from 0 to");
    expect_usage_error("fit --model mlp:4 --plot f.png", "--plot draws the fitted line");
}

Test(cli, autograd_path_matches_the_fused_path)
{
    run_result r;
    /* Per-step replays: the launch and group counts below are theirs (the
     * loop's one launch per logged stretch: autograd_loop_matches_replays). */
    run_cli(&r, "CLGRAD_LOOP=0", "fit --json --normalize scale:0.1 --grad autograd --stats");
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *params = strstr(r.out, "\"params\": {\"w\": [");
    cr_assert_not_null(params, "%s", r.out);
    char *end;
    double w = strtod(params + strlen("\"params\": {\"w\": ["), &end);
    assert_close(w, 5.3671, 1e-4, 0, "w %f", w);
    assert_close(json_number(params, "b"), -17.3012, 2e-4, 0, "b");
    assert_close(json_number(r.out, "final_loss"), 2.927647, 0, 1e-5, "final loss");
    cr_assert(strstr(r.out, "\"history\": [[500, 7.8601"), "%s", r.out);
    if (!strstr(r.out, "reference (scalar C)")) /* ref runs loops, not kernels */
        cr_assert_gt(json_number(r.out, "kernel_launches"), 5000, "launches are counted: %s",
                     r.out);
    cr_assert_eq(json_number(r.out, "tape_nodes"), 0, "the tape was reset each epoch");
    /* The forward's four element-wise ops are one group each epoch (5000),
     * on both paths; the backward's chains add more. Eager mode fuses
     * nothing (test-all runs the reference suites eager too). */
    const char *eager = getenv("CLGRAD_EAGER");
    bool fuses = !(eager && strcmp(eager, "1") == 0);
    cr_assert_geq(json_number(r.out, "fused_groups"), fuses ? 5000 : 0, "%s", r.out);
    cr_assert_geq(json_number(r.out, "fused_nodes"), fuses ? 20000 : 0, "%s", r.out);
    if (!fuses) cr_assert_eq(json_number(r.out, "fused_groups"), 0, "eager: %s", r.out);
    /* The second step is captured, the rest replayed (not in eager mode). */
    cr_assert_eq(json_number(r.out, "steps"), 5000, "%s", r.out);
    cr_assert_eq(json_number(r.out, "steps_replayed"), fuses ? 4998 : 0, "%s", r.out);
    if (!strstr(r.out, "reference (scalar C)"))
        cr_assert_gt(json_number(r.out, "launches_per_step"), 0, "%s", r.out);
}

/* --no-capture builds every step's graph: the same figures, nothing
 * replayed; the summary's Steps line says how many steps and launches. */
Test(cli, no_capture_gives_the_same_fit)
{
    run_result a, b;
    run_cli(&a, NULL, "fit --grad autograd --optimizer adam --lr 0.1 --epochs 300 --stats");
    run_cli(&b, NULL,
            "fit --grad autograd --optimizer adam --lr 0.1 --epochs 300 --stats --no-capture");
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(b.status, 0, "%s", b.err);
    const char *fa = strstr(a.out, "Final loss"), *fb = strstr(b.out, "Final loss");
    cr_assert(fa && fb, "%s\n%s", a.out, b.out);
    cr_assert_eq(strncmp(fa, fb, strcspn(fa, "(")), 0, "%s\n%s", a.out, b.out);
    cr_assert(strstr(b.out, "Steps: 300 (0 replayed from a capture)"), "%s", b.out);
    const char *eager = getenv("CLGRAD_EAGER");
    if (!(eager && strcmp(eager, "1") == 0))
        cr_assert(strstr(a.out, "Steps: 300 (298 replayed from a capture)"), "%s", a.out);
    cr_assert(strstr(a.out, "kernel launches per step"), "%s", a.out);
}

/* The JSON from "epochs_run" to "train_seconds" (the run's results). */
static void results_of(const char *out, char *dst, size_t cap)
{
    const char *a = strstr(out, "\"epochs_run\""), *b = strstr(out, "\"train_seconds\"");
    cr_assert(a && b && b > a && (size_t)(b - a) < cap, "%s", out);
    memcpy(dst, a, (size_t)(b - a));
    dst[b - a] = '\0';
}

Test(cli, autograd_loop_matches_replays)
{
    run_result a, b;
    static char ra[8192], rb[8192];
    const char *args = "fit --json --normalize scale:0.1 --grad autograd --stats --log-every 700";
    run_cli(&a, "CLGRAD_LOOP=0", args);
    run_cli(&b, NULL, args);
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(b.status, 0, "%s", b.err);
    results_of(a.out, ra, sizeof ra);
    results_of(b.out, rb, sizeof rb);
    cr_assert_str_eq(rb, ra);
    const char *eager = getenv("CLGRAD_EAGER"), *shape = getenv("CLGRAD_KERNEL_SHAPE");
    if (eager && strcmp(eager, "1") == 0) return; /* eager mode captures nothing */
    cr_assert_eq(json_number(b.out, "steps_replayed"), 4998, "%s", b.out);
    /* On PoCL (CPU shapes) a few launches a run: the epochs between two
     * logs are one. */
    if (strstr(b.out, "pthread") && !(shape && strcmp(shape, "gpu") == 0))
        cr_assert_lt(json_number(b.out, "kernel_launches"), 100, "%s", b.out);
}

Test(cli, mlp_reports_its_size_not_its_weights)
{
    run_result r;
    run_cli(&r, NULL, "fit --model mlp:8 --activation relu --optimizer adam --lr 0.01 "
                      "--epochs 200 --json --seed 5");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(json_number(r.out, "parameter_count"), 1 * 8 + 8 + 8 + 1);
    cr_assert(strstr(r.out, "\"model\": \"mlp:8\""), "%s", r.out);
    cr_assert_null(strstr(r.out, "\"params\""), "%s", r.out);
    cr_assert_lt(json_number(r.out, "final_loss"), 30.0, "it learned something: %s", r.out);
    run_cli(&r, NULL, "fit --model mlp:8 --epochs 2 --json --print-params");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"params\": ["), "%s", r.out);
}

Test(cli, shuffled_minibatches_are_seeded)
{
    run_result a, b, c;
    const char *base = "fit --batch-size 3 --shuffle --epochs 50 --json --normalize standard";
    char args[256];
    snprintf(args, sizeof args, "%s --seed 11", base);
    run_cli(&a, NULL, args);
    run_cli(&b, NULL, args);
    snprintf(args, sizeof args, "%s --seed 12", base);
    run_cli(&c, NULL, args);
    cr_assert_eq(a.status, 0, "%s", a.err);
    const char *pa = strstr(a.out, "\"params\""), *pb = strstr(b.out, "\"params\""),
               *pc = strstr(c.out, "\"params\"");
    cr_assert(pa && pb && pc);
    cr_assert(strncmp(pa, pb, 60) == 0, "same seed, same run:\n%s\n%s", a.out, b.out);
    cr_assert(strncmp(pa, pc, 60) != 0, "another seed, another order:\n%s\n%s", a.out, c.out);
    assert_close(json_number(a.out, "final_loss"), 2.93, 0.1, 0, "close to the optimum: %s",
                 a.out);
}

Test(cli, optimizer_flags_belong_to_their_optimizers)
{
    expect_usage_error("fit --optimizer adamw --rho 0.5", "--rho belongs to adadelta, not to --optimizer adamw");
    expect_usage_error("fit --optimizer sgd --max-iter 4", "--max-iter belongs to lbfgs");
    expect_usage_error("fit --optimizer adam --momentum 0.9", "--momentum belongs to sgd, rmsprop");
    expect_usage_error("fit --optimizer rprop --weight-decay 0.1", "--weight-decay belongs to sgd, adam");
    expect_usage_error("fit --optimizer sgd --nesterov", "nesterov needs a momentum");
    expect_usage_error("fit --optimizer sgd --momentum 0.9 --dampening 0.1 --nesterov", "dampening 0.1");
    expect_usage_error("fit --optimizer lbfgs --batch-size 4", "lbfgs takes full batches");
    expect_usage_error("fit --optimizer lbfgs --line-search armijo", "unknown --line-search");
    expect_usage_error("fit --optimizer lbfgs --history-size 0", "--history-size must be an integer from 1 to 1000000");
    expect_usage_error("fit --optimizer nadam", "unknown --optimizer 'nadam'");
    expect_usage_error("fit --optimizer adam --betas 0.9,1.5", "--betas takes B1,B2, each in [0, 1)");
    expect_usage_error("fit --scheduler bogus:1", "unknown --scheduler 'bogus:1'");
    expect_usage_error("fit --scheduler step:0,0.5", "--scheduler step:STEP,GAMMA");
    expect_usage_error("fit --scheduler 'multistep:5;2,0.5'", "milestones are ascending");
    expect_usage_error("fit --clip-grad-norm 0", "--clip-grad-norm must be a positive number");
}

Test(cli, every_optimizer_trains_the_lecture)
{
    const char *runs[] = {
        "--optimizer gd", "--optimizer sgd --momentum 0.9 --nesterov --weight-decay 1e-4",
        "--optimizer adam --amsgrad --lr 0.1", "--optimizer adamw --lr 0.1",
        "--optimizer adamax --lr 0.1", "--optimizer adagrad --lr 0.5 --lr-decay 1e-4",
        "--optimizer adadelta --rho 0.95", "--optimizer rmsprop --centered --momentum 0.5",
        "--optimizer rprop --etas 0.4,1.3", "--optimizer asgd --lr 0.05 --t0 100",
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char args[256];
        snprintf(args, sizeof args, "fit --json --epochs 3000 %s", runs[i]);
        run_result r;
        run_cli(&r, NULL, args);
        cr_assert_eq(r.status, 0, "%s: %s", runs[i], r.err);
        /* The optimum of the lecture's fit is a loss of 2.927646. */
        double loss = json_number(r.out, "final_loss");
        cr_assert(loss < 3.5, "%s: final loss %f", runs[i], loss);
    }
}

Test(cli, lbfgs_solves_the_lecture_in_a_few_steps)
{
    run_result r;
    run_cli(&r, NULL, "fit --json --optimizer lbfgs --line-search strong_wolfe --epochs 3 "
                      "--normalize none --history-size 10 --max-iter 50");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"optimizer\": \"lbfgs\""), "%s", r.out);
    assert_close(json_number(r.out, "final_loss"), 2.927645, 0, 1e-5, "%s", r.out);
    run_cli(&r, NULL, "fit --json --optimizer lbfgs --epochs 5 --max-iter 10");
    cr_assert_eq(r.status, 0, "%s", r.err);
    assert_close(json_number(r.out, "final_loss"), 2.927645, 0, 1e-5, "%s", r.out);
}

Test(cli, schedules_and_clipping_run_through_the_tape)
{
    run_result r;
    run_cli(&r, NULL, "fit --json --epochs 400 --log-every 100 --optimizer sgd --lr 0.1 "
                      "--scheduler cosine:100,0.001 --clip-grad-norm 5");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"history\": [[100, "), "%s", r.out);
    cr_assert_lt(json_number(r.out, "final_loss"), 3.0, "%s", r.out);
    run_cli(&r, NULL, "fit --epochs 50 --log-every 0 --scheduler plateau:0.5,2 --clip-grad-value 1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "autograd tape"), "%s", r.out);
}

Test(cli, json_is_one_object_with_the_contract_fields)
{
    run_result r;
    run_cli(&r, NULL, "fit --json --normalize scale:0.1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(r.out[0], '{');
    char *nl = strchr(r.out, '\n');
    cr_assert(nl && nl[1] == '\0', "exactly one line on stdout: %s", r.out);
    const char *keys[] = {"device", "epochs_run", "diverged", "final_loss", "params",
                          "params_raw", "history", "train_seconds"};
    for (int i = 0; i < 8; i++) {
        char k[32];
        snprintf(k, sizeof k, "\"%s\":", keys[i]);
        cr_assert(strstr(r.out, k) != NULL, "%s missing: %s", keys[i], r.out);
    }
    cr_assert_eq(json_number(r.out, "epochs_run"), 5000);
    cr_assert(strstr(r.out, "\"diverged\": false"));
    assert_close(json_number(r.out, "final_loss"), 2.927647, 0, 1e-5, "final loss");
    const char *params = strstr(r.out, "\"params\": {\"w\": [");
    cr_assert_not_null(params);
    assert_close(strtod(params + strlen("\"params\": {\"w\": ["), NULL), 5.3671, 1e-4, 0, "w");
    const char *raw = strstr(r.out, "\"params_raw\": {\"w\": [");
    assert_close(strtod(raw + strlen("\"params_raw\": {\"w\": ["), NULL), 0.53671, 1e-5, 0, "w raw");
    cr_assert(strstr(r.out, "\"history\": [[500, 7.86011"), "%s", r.out);
    cr_assert_geq(json_number(r.out, "train_seconds"), 0.0);
}

Test(cli, divergence_exits_1_with_a_message)
{
    run_result r;
    run_cli(&r, NULL, "fit --normalize none --epochs 100 --json");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.out, "\"diverged\": true"), "%s", r.out);
    cr_assert_eq(json_number(r.out, "epochs_run"), 11);
    cr_assert(strstr(r.out, "\"final_loss\": null"), "%s", r.out);
    cr_assert(strstr(r.err, "diverged at epoch 11") && strstr(r.err, "smaller learning rate"),
              "%s", r.err);
}

Test(cli, text_log_in_the_lectures_format)
{
    run_result r;
    run_cli(&r, NULL,
            "fit --normalize none --lr 1e-4 --epochs 100 --log-every 50 --print-params "
            "--print-grad");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "Epoch 100, Loss 29.0226"), "%s", r.out);
    cr_assert(strstr(r.out, "    Params: [ 0.2327, -0.0438]"), "%s", r.out);
    cr_assert(strstr(r.out, "    Grad:   [-0.0532,  3.0226]"), "%s", r.out);
}

Test(cli, several_features_numeric_gradient_and_adam)
{
    char path[128], args[512];
    /* y = 2 a - 3 b + 1 exactly, on 40 rows. */
    char text[4096] = "a,b,y\n";
    for (int i = 0; i < 40; i++) {
        char row[64];
        double a = (i % 7) - 3.0, b = (i % 5) * 0.5;
        snprintf(row, sizeof row, "%g,%g,%g\n", a, b, 2 * a - 3 * b + 1);
        strcat(text, row);
    }
    csv_file(path, sizeof path, text);
    snprintf(args, sizeof args, "fit --data %s --optimizer adam --lr 0.05 --epochs 3000 "
                                "--grad numeric --delta 0.01 --json", path);
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *raw = strstr(r.out, "\"params_raw\": {\"w\": [");
    cr_assert_not_null(raw, "%s", r.out);
    char *end;
    double a = strtod(raw + strlen("\"params_raw\": {\"w\": ["), &end);
    double b = strtod(end + 1, NULL);
    assert_close(a, 2.0, 1e-2, 0, "a %f (%s)", a, r.out);
    assert_close(b, -3.0, 1e-2, 0, "b %f", b);
    assert_close(json_number(raw, "b"), 1.0, 1e-2, 0, "bias");
}

Test(cli, plots_are_written)
{
    char dir[64], args[512], fit[128], loss[128];
    temp_dir(dir, sizeof dir);
    snprintf(fit, sizeof fit, "%s/fit.svg", dir);
    snprintf(loss, sizeof loss, "%s/loss.png", dir);
    snprintf(args, sizeof args, "fit --epochs 200 --plot %s --loss-plot %s", fit, loss);
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    struct stat st;
    cr_assert_eq(stat(fit, &st), 0);
    cr_assert_gt(st.st_size, 1000);
    cr_assert_eq(stat(loss, &st), 0);
    cr_assert_gt(st.st_size, 1000);
}

/* The number after the nth (0-based) occurrence of `label` in text, NaN when
 * absent: losses are compared as numbers, since the last printed digit of a
 * float32 loss depends on the device's summation order (the H200 prints
 * 29.022671 where PoCL prints 29.022669). */
static double number_after(const char *text, const char *label, int nth)
{
    const char *p = text;
    for (int i = 0; p && i <= nth; i++) {
        p = strstr(p, label);
        if (p && i < nth) p += strlen(label);
    }
    return p ? strtod(p + strlen(label), NULL) : NAN;
}

Test(cli, demo_replays_the_lecture)
{
    char dir[64], args[128], png[128];
    temp_dir(dir, sizeof dir);
    snprintf(args, sizeof args, "demo --plot-dir %s", dir);
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *want[] = {"loss_rate_of_change_w = 4517.29", "loss_rate_of_change_b = 82.59",
                          "Epoch 11, Loss inf", "diverged at epoch 11",
                          "[  5.3671, -17.3012]", "[  0.5367, -17.3021]"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(r.out, want[i]) != NULL, "'%s' not in the demo's output:\n%s", want[i],
                  r.out);
    /* The lecture's figures, to float32 precision, in its order: the loss at
     * w=1, b=0; lr 1e-2 diverging on raw t_u; 1e-4 stalling (epoch 100:
     * 29.02267); scaled inputs (epoch 100: 22.1487, epoch 5000: 2.927648). */
    assert_close(number_after(r.out, "Loss ", 0), 1763.884644, 0, 2e-6, "first loss");
    double stall = number_after(r.out, "Epoch 100, Loss ", 0);
    double scaled = number_after(r.out, "Epoch 100, Loss ", 1);
    assert_close(stall, 29.022669, 0, 2e-6, "epoch 100 at lr 1e-4: %f\n%s", stall, r.out);
    assert_close(scaled, 22.148710, 0, 2e-6, "epoch 100 scaled: %f\n%s", scaled, r.out);
    assert_close(number_after(r.out, "Epoch 5000, Loss ", 0), 2.927648, 0, 2e-6, "epoch 5000");
    cr_assert_lt(strstr(r.out, "Epoch 11, Loss inf"), strstr(r.out, "Epoch 100, Loss "));
    snprintf(png, sizeof png, "%s/fit.png", dir);
    struct stat st;
    cr_assert_eq(stat(png, &st), 0, "the demo writes the fit plot");
}

Test(cli, a_second_process_reuses_the_kernel_cache)
{
    char dir[64], env[128], bin[512] = "";
    temp_dir(dir, sizeof dir);
    /* On: PoCL's default is off (it caches its own; test_program_cache.c). */
    snprintf(env, sizeof env, "CLGRAD_CACHE_DIR=%s CLGRAD_BINARY_CACHE=on", dir);
    run_result r;
    run_cli(&r, env, "fit --epochs 1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s", dir);
    FILE *ls = popen(cmd, "r");
    size_t n = fread(bin, 1, sizeof bin - 1, ls);
    bin[n] = '\0';
    pclose(ls);
    if (getenv("CLGRAD_DEVICE") && strcmp(getenv("CLGRAD_DEVICE"), "ref") == 0) {
        cr_assert_str_empty(bin, "the reference path compiles nothing");
        return;
    }
    cr_assert(strstr(bin, ".bin") != NULL, "a cached binary: %s", bin);
    *strchr(bin, '\n') = '\0';
    char path[640];
    snprintf(path, sizeof path, "%s/%s", dir, bin);
    struct stat before, after;
    cr_assert_eq(stat(path, &before), 0);
    run_cli(&r, env, "fit --epochs 1");
    cr_assert_eq(r.status, 0);
    cr_assert_eq(stat(path, &after), 0);
    cr_assert_eq(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
    cr_assert_eq(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec, "the binary was not rewritten");
}

/* ---- issue 7: reliability -------------------------------------------------- */

/* Runs `clgrad ARGS` with stdout going to `out_redirect` (a shell target). */
static void run_cli_to(run_result *r, const char *args, const char *out_redirect)
{
    const char *exe = getenv("CLGRAD_EXE");
    char dir[64], cmd[8192], err[128];
    temp_dir(dir, sizeof dir);
    snprintf(err, sizeof err, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s </dev/null", exe, args, out_redirect, err);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "%s did not exit normally", cmd);
    r->status = WEXITSTATUS(st);
    r->out[0] = '\0';
    slurp(err, r->err, sizeof r->err);
}

/* Item 6: the lecture's 11th update overflows; with 10 epochs every epoch's
 * loss is finite but the final loss is inf. Fused (single launch, and per
 * epoch on data too large for one launch), tape, and MLP alike. */
Test(cli, a_non_finite_final_loss_exits_1)
{
    const char *runs[] = {"fit --normalize none --epochs 10 --json",
                          "fit --normalize none --epochs 10 --json --grad autograd",
                          "fit --normalize none --epochs 1 --json --model mlp:4 --lr 1e30"};
    for (size_t i = 0; i < 3; i++) {
        run_result r;
        run_cli(&r, NULL, runs[i]);
        cr_assert_eq(r.status, 1, "%s: status %d: %s", runs[i], r.status, r.err);
        cr_assert(strstr(r.out, "\"diverged\": true") && strstr(r.out, "\"final_loss\": null"),
                  "%s: %s", runs[i], r.out);
        cr_assert(strstr(r.err, "training diverged after the last update"), "%s: %s", runs[i],
                  r.err);
    }
    /* 70400 rows: past the single launch's size on every OpenCL device. */
    char dir[64], path[128], args[256];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/big.csv", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cg_table t;
    cg_table_lecture(&t);
    fputs("t_u,t_c\n", f);
    for (int k = 0; k < 6400; k++)
        for (int i = 0; i < 11; i++) fprintf(f, "%g,%g\n", t.values[2 * i], t.values[2 * i + 1]);
    fclose(f);
    cg_table_free(&t);
    /* Float partial sums over 70400 rows overflow an epoch earlier than the
     * lecture's mean: find the first inf epoch, then stop just before it. */
    snprintf(args, sizeof args, "fit --data %s --normalize none --epochs 30 --json", path);
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 1, "status %d: %s", r.status, r.err);
    long first_inf = (long)json_number(r.out, "epochs_run");
    cr_assert_gt(first_inf, 2, "%s", r.out);
    snprintf(args, sizeof args, "fit --data %s --normalize none --epochs %ld --log-every 0", path,
             first_inf - 1);
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 1, "status %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, on_ref() ? "reference loops" : "per-epoch launches"), "%s", r.out);
    char want[64];
    snprintf(want, sizeof want, "diverged after the last update (epoch %ld)", first_inf - 1);
    cr_assert(strstr(r.err, want), "%s", r.err);
}

/* A CSV of `cols` features c0.. and y = sum((j % 5 - 2) x_j) + 3. */
static void wide_csv(char *path, size_t cap, int cols)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    snprintf(path, cap, "%s/wide.csv", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int j = 0; j < cols; j++) fprintf(f, "c%d,", j);
    fputs("y\n", f);
    test_rng rng = {12345};
    for (int i = 0; i < 100; i++) {
        double y = 3;
        for (int j = 0; j < cols; j++) {
            double x = rng_uniform(&rng) * 2 - 1;
            y += (j % 5 - 2) * x;
            fprintf(f, "%.6f,", x);
        }
        fprintf(f, "%.6f\n", y);
    }
    fclose(f);
}

static size_t count_char(const char *from, const char *to, char c)
{
    size_t n = 0;
    for (; from < to; from++) n += *from == c;
    return n;
}

/* Item 8: without --x every feature column is used, 64 or not. */
Test(cli, without_x_every_feature_column_is_used)
{
    char path[128], args[256];
    wide_csv(path, sizeof path, 70);
    snprintf(args, sizeof args, "fit --data %s --json --epochs 300", path);
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *w = strstr(r.out, "\"params\": {\"w\": [");
    cr_assert_not_null(w, "%s", r.out);
    cr_assert_eq(count_char(w, strchr(w, ']'), ',') + 1, 70, "70 weights: %s", r.out);
    cr_assert_eq(json_number(r.out, "parameter_count"), 71);
    cr_assert(strstr(r.err, "70 feature columns") && strstr(r.err, "at most 64") &&
                  strstr(r.err, "autograd tape"),
              "a notice says why the tape trains it: %s", r.err);
    cr_assert_lt(json_number(r.out, "final_loss"), 1.0, "%s", r.out);

    snprintf(args, sizeof args, "fit --data %s --json --epochs 3 --model mlp:4", path);
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(json_number(r.out, "parameter_count"), 70 * 4 + 4 + 4 + 1, "%s", r.out);

    /* Central differences exist only on the fused path: refused, naming the
     * limit and what would be left out. */
    snprintf(args, sizeof args, "fit --data %s --grad numeric", path);
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "at most 64") && strstr(r.err, "c64, c65, c66, c67, c68, c69"), "%s",
              r.err);
}

/* Item 9: no user string is cut. A --x list past 1023 characters used to be
 * truncated into the name of another column. */
Test(cli, long_strings_are_never_cut)
{
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/d.csv", dir);
    char a[1001], b22[23], b30[31];
    memset(a, 'a', 1000);
    a[1000] = '\0';
    memset(b22, 'b', 22);
    b22[22] = '\0';
    memset(b30, 'b', 30);
    b30[30] = '\0';
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s,%s,y\n", a, b22);
    for (int i = 0; i < 11; i++) fprintf(f, "%d,%d,%d\n", i, i * i % 7, 3 * i + 1);
    fclose(f);
    /* "A,bbb...(30)" is 1031 characters; cut at 1023 it named column b22. */
    char *args = malloc(2048);
    snprintf(args, 2048, "fit --data %s --x %s,%s --epochs 5", path, a, b30);
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 2, "status %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "no column named 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' for --x"), "%s",
              r.err);
    free(args);

    /* A number of 70 characters is a number. */
    run_cli(&r, NULL, "fit --epochs 5 --init "
                      "1.000000000000000000000000000000000000000000000000000000000000000000000,0");
    cr_assert_eq(r.status, 0, "%s", r.err);

    /* A plot directory whose path is past 1024 characters. */
    char *deep = malloc(2048), *cmd = malloc(4096);
    snprintf(deep, 2048, "%s", dir);
    for (int i = 0; i < 6; i++) {
        size_t len = strlen(deep);
        deep[len] = '/';
        memset(deep + len + 1, 'd', 200);
        deep[len + 201] = '\0';
    }
    snprintf(cmd, 4096, "mkdir -p %s", deep);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, 4096, "demo --plot-dir %s", deep);
    run_cli(&r, NULL, cmd);
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(cmd, 4096, "%s/fit.png", deep);
    struct stat st;
    cr_assert_eq(stat(cmd, &st), 0, "the plot is where it was asked for");
    free(deep);
    free(cmd);
}

/* Item 10: integers are range-checked, never narrowed (4294967296 is not 0). */
Test(cli, integers_out_of_range_are_refused_naming_the_range)
{
    expect_usage_error("fit --epochs 4294967296", "from 1 to 2147483647 (got '4294967296')");
    expect_usage_error("fit --scheduler 'multistep:5;4294967296,0.5'", "from 1 to 2147483647");
    expect_usage_error("fit --scheduler step:4294967296,0.5", "from 1 to 2147483647");
    expect_usage_error("fit --scheduler cosine:4294967297", "from 1 to 2147483647");
    expect_usage_error("fit --scheduler plateau:0.5,4294967296", "from 0 to 2147483647");
    expect_usage_error("fit --device 4294967296:0", "P:D indices go from 0 to 2147483647");
    expect_usage_error("fit --device 0:4294967296", "P:D indices go from 0 to 2147483647");
    expect_usage_error("fit --seed 18446744073709551616", "--seed must be an integer from 0 to");
    expect_usage_error("fit --model mlp:4294967297", "from 1 to 1048576");
    expect_usage_error("fit --model mlp:1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1", "at most 16 hidden");
    expect_usage_error("fit --batch-size 1e3", "--batch-size must be an integer");
    expect_usage_error("fit --log-every -1", "--log-every must be an integer from 0");
    expect_usage_error("fit --epochs ' 5'", "--epochs must be an integer");
    run_result r;
    run_cli(&r, "CLGRAD_DEVICE=4294967296:0", "fit --epochs 1");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "CLGRAD_DEVICE '4294967296:0'"), "%s", r.err);
}

/* Item 14: --grad numeric where p +- delta rounds to p. */
Test(cli, a_vanished_numeric_gradient_is_not_a_trained_model)
{
    run_result r;
    run_cli(&r, NULL, "fit --normalize none --grad numeric --json");
    cr_assert_eq(r.status, 1, "it used to 'train' at a loss of 1.9e17: %s", r.out);
    cr_assert(strstr(r.out, "\"diverged\": true"), "%s", r.out);
    cr_assert(strstr(r.err, "numeric gradient vanished") && strstr(r.err, "delta"), "%s", r.err);
    expect_usage_error("fit --grad numeric --init 1e10,0", "delta");
    expect_usage_error("fit --grad numeric --delta 1e-9", "rounds to");
}

/* Item 18: a result that could not be written is a failure. */
Test(cli, a_failed_write_of_the_results_exits_3)
{
    const char *runs[] = {"fit --json", "fit --epochs 100", "fit --help", "devices"};
    for (int i = 0; i < 4; i++) {
        run_result r;
        run_cli_to(&r, runs[i], "/dev/full");
        cr_assert_eq(r.status, 3, "%s: status %d", runs[i], r.status);
        cr_assert(strstr(r.err, "No space left on device"), "%s: %s", runs[i], r.err);
    }
}

/* Item 19: plot destinations are checked before training, with errno's text. */
Test(cli, plot_destinations_are_checked_before_training)
{
    expect_usage_error("fit --plot /nonexistent-clgrad-dir/fit.png",
                       "/nonexistent-clgrad-dir: No such file or directory");
    expect_usage_error("fit --loss-plot /dev/null/loss.svg", "Not a directory");
    char dir[64], target[128], args[256];
    temp_dir(dir, sizeof dir);
    snprintf(target, sizeof target, "%s/loss.png", dir);
    cr_assert_eq(mkdir(target, 0755), 0);
    snprintf(args, sizeof args, "fit --loss-plot %s", target);
    expect_usage_error(args, "Is a directory");
    expect_usage_error("demo --plot-dir /nonexistent-clgrad-dir",
                       "--plot-dir /nonexistent-clgrad-dir: cannot write there: No such file");
}

/* Item 21: the hint fits the cause. */
Test(cli, divergence_hints_fit_the_cause)
{
    char path[128];
    /* y around 3e19: its squared error overflows before any update. */
    char text[1024] = "x,y\n";
    for (int i = 0; i < 11; i++) {
        char row[64];
        snprintf(row, sizeof row, "%d,%g\n", i, 3e19 + i * 1e18);
        strcat(text, row);
    }
    csv_file(path, sizeof path, text);
    char args[256];
    snprintf(args, sizeof args, "fit --data %s --epochs 100", path);
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "targets (y) reach") && strstr(r.err, "never y"), "%s", r.err);
    cr_assert_null(strstr(r.err, "learning rate"), "%s", r.err);
    cr_assert_null(strstr(r.err, "(--normalize standard)"), "%s", r.err);

    run_cli(&r, NULL, "fit --init 3e38,0 --epochs 100");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "--init"), "%s", r.err);
    cr_assert_null(strstr(r.err, "learning rate"), "%s", r.err);

    /* An overshoot with standard normalization on: no advice to turn it on. */
    run_cli(&r, NULL, "fit --lr 50 --epochs 100");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "smaller learning rate than 50"), "%s", r.err);
    cr_assert(strstr(r.err, "does not touch y"), "%s", r.err);
    cr_assert_null(strstr(r.err, "(--normalize standard)"), "%s", r.err);
}

/* Item 22: a feature without spread keeps scale 1, with a notice naming the
 * column, never an internal function's name. */
Test(cli, features_without_spread_are_left_unscaled_with_a_notice)
{
    char path[128], args[256];
    csv_file(path, sizeof path, "a,c,y\n1,5,2\n2,5,4\n3,5,7\n4,5,8\n");
    const char *kinds[] = {"standard", "minmax"};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "fit --data %s --epochs 200 --normalize %s", path, kinds[k]);
        run_result r;
        run_cli(&r, NULL, args);
        cr_assert_eq(r.status, 0, "%s: %s", kinds[k], r.err);
        cr_assert(strstr(r.err, "column 'c' has no spread") && strstr(r.err, "scale 1"), "%s",
                  r.err);
        cr_assert_null(strstr(r.err, "cg_"), "no internal names: %s", r.err);
    }
    csv_file(path, sizeof path, "a,y\n1e-39,1\n2e-39,2\n3e-39,3\n");
    snprintf(args, sizeof args, "fit --data %s --epochs 10", path);
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "column 'a'") && strstr(r.err, "too small"), "%s", r.err);
    cr_assert_null(strstr(r.err, "cg_linreg_set_transform"), "%s", r.err);
}

/* Item 25: the option that is unknown, and limits named in refusals. */
Test(cli, refusals_name_the_option_and_the_limit)
{
    expect_usage_error("fit -zq", "unknown option '-zq'");
    expect_usage_error("fit --epochs 5 -q", "unknown option '-q'");
    expect_usage_error("fit --json=yes", "'--json=yes' takes no value");
    expect_usage_error("fit --optimizer lbfgs --max-iter 2000000", "from 1 to 1000000");
    expect_usage_error("fit --x a,,b", "empty column name");
    expect_usage_error("fit --x t_u,t_u", "--x names 't_u' twice");
}

/* Exit status 3: a failure that is not the user's input (here the device or
 * host memory for a 4 TiB layer), and every --help documents 0 to 3. */
Test(cli, runtime_failures_exit_3_and_help_documents_it)
{
    run_result r;
    run_cli(&r, "ASAN_OPTIONS=allocator_may_return_null=1",
            "fit --model mlp:1048576,1048576 --epochs 1");
    cr_assert_eq(r.status, 3, "status %d: %s", r.status, r.err);
    const char *helps[] = {"--help", "fit --help", "demo --help", "devices --help"};
    for (int i = 0; i < 4; i++) {
        run_cli(&r, NULL, helps[i]);
        cr_assert_eq(r.status, 0);
        cr_assert(strstr(r.out, "exit status: 0 success; 1 training diverged") &&
                      strstr(r.out, "2 bad input or usage; 3 a runtime failure"),
                  "%s: %s", helps[i], r.out);
    }
}
