/* The clgrad command as users and scripts meet it: exit statuses, messages,
 * the JSON contract, the demo's figures, and the kernel cache across runs. */
#include <sys/stat.h>

#include "helpers.h"

typedef struct run_result {
    int status;
    char out[65536];
    char err[8192];
} run_result;

static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `clgrad ARGS` with the given environment prefix. */
static void run_cli(run_result *r, const char *env, const char *args)
{
    const char *exe = getenv("CLGRAD_EXE");
    cr_assert_not_null(exe, "CLGRAD_EXE is set by meson");
    char dir[64], cmd[4096], out[128], err[128];
    temp_dir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "%s %s %s >%s 2>%s </dev/null", env ? env : "", exe, args, out, err);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "%s did not exit normally", cmd);
    r->status = WEXITSTATUS(st);
    slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
}

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
    const char *cmds[] = {"--help", "fit --help", "demo --help", "devices --help"};
    for (int i = 0; i < 4; i++) {
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
    expect_usage_error("fit --epochs 0", "--epochs must be a positive integer");
    expect_usage_error("fit --epochs -5", "--epochs must be a positive integer");
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
    expect_usage_error("fit --batch-size 0", "--batch-size must be a positive integer");
    expect_usage_error("fit --model mlp:4 --grad numeric", "--grad numeric belongs to the linear");
    expect_usage_error("fit --seed -1", "--seed must be an integer >= 0");
    expect_usage_error("fit --model mlp:4 --plot f.png", "--plot draws the fitted line");
}

Test(cli, autograd_path_matches_the_fused_path)
{
    run_result r;
    run_cli(&r, NULL, "fit --json --normalize scale:0.1 --grad autograd --stats");
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
    expect_usage_error("fit --optimizer lbfgs --history-size 0", "--history-size must be a positive");
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

Test(cli, demo_replays_the_lecture)
{
    char dir[64], args[128], png[128];
    temp_dir(dir, sizeof dir);
    snprintf(args, sizeof args, "demo --plot-dir %s", dir);
    run_result r;
    run_cli(&r, NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *want[] = {"1763.884644",         "loss_rate_of_change_w = 4517.29",
                          "loss_rate_of_change_b = 82.59", "Epoch 11, Loss inf",
                          "diverged at epoch 11", "Epoch 100, Loss 29.02266",
                          "Epoch 100, Loss 22.1487", "Epoch 5000, Loss 2.92764",
                          "[  5.3671, -17.3012]", "[  0.5367, -17.3021]"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(r.out, want[i]) != NULL, "'%s' not in the demo's output:\n%s", want[i],
                  r.out);
    /* The lecture's order: divergence before stalling before scaling. */
    cr_assert_lt(strstr(r.out, "Epoch 11, Loss inf"), strstr(r.out, "29.02266"));
    cr_assert_lt(strstr(r.out, "29.02266"), strstr(r.out, "22.1487"));
    snprintf(png, sizeof png, "%s/fit.png", dir);
    struct stat st;
    cr_assert_eq(stat(png, &st), 0, "the demo writes the fit plot");
}

Test(cli, a_second_process_reuses_the_kernel_cache)
{
    char dir[64], env[128], bin[512] = "";
    temp_dir(dir, sizeof dir);
    snprintf(env, sizeof env, "CLGRAD_CACHE_DIR=%s", dir);
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
