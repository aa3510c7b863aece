/* clgrad fit: a linear model or an MLP fitted to a CSV (or the lecture's
 * data). The flags (cli_fit_args.c), the JSON and the exit statuses are a
 * contract: keep them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_fit_args.h"
#include "cli_report.h"
#include "cli_tape.h"

static const char prog[] = "clgrad fit";

static void print_columns(const cg_table *t)
{
    for (size_t j = 0; j < t->cols; j++) fprintf(stderr, "%s%s", j ? ", " : "", t->names[j]);
}

/* Resolves --x/--y to column indices (*xcols malloc'd). Returns -1 to go
 * on, else the exit status. */
static int select_columns(const cg_table *t, const fit_args *a, int **xcols, size_t *nx,
                          int *ycol)
{
    *xcols = NULL;
    *nx = 0;
    if (t->cols < 2 && !(a->x && a->y)) {
        cli_say(stderr, prog, "the data needs at least two columns (features and a target)");
        return CLI_USAGE;
    }
    *ycol = a->y ? cg_table_column(t, a->y) : (int)t->cols - 1;
    if (*ycol < 0) {
        fprintf(stderr, "%s: no column named '%s' for --y; columns: ", prog, a->y);
        print_columns(t);
        fputc('\n', stderr);
        return CLI_USAGE;
    }
    *xcols = malloc((a->x ? a->nx : t->cols) * sizeof **xcols);
    if (!*xcols) {
        cli_say(stderr, prog, "out of memory");
        return CLI_RUNTIME;
    }
    if (!a->x) { /* every column but the target's, however many */
        for (size_t j = 0; j < t->cols; j++)
            if ((int)j != *ycol) (*xcols)[(*nx)++] = (int)j;
        return -1;
    }
    for (size_t k = 0; k < a->nx; k++) {
        int j = cg_table_column(t, a->x[k]);
        if (j < 0) {
            fprintf(stderr, "%s: no column named '%s' for --x; columns: ", prog, a->x[k]);
            print_columns(t);
            fputc('\n', stderr);
            return CLI_USAGE;
        }
        if (j == *ycol) {
            cli_say(stderr, prog,
                    "--x includes '%s', the --y column: a target cannot be its own feature",
                    a->x[k]);
            return CLI_USAGE;
        }
        (*xcols)[(*nx)++] = j;
    }
    return -1;
}

static const char *model_name(const fit_args *a, char *buf, size_t cap)
{
    if (!a->mlp) return "linear";
    size_t len = (size_t)snprintf(buf, cap, "mlp:");
    for (size_t i = 0; i < a->nhidden && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%zu", i ? "," : "", a->hidden[i]);
    return buf;
}

/* The normalizer's notices name features by index; the user knows columns. */
typedef struct column_names {
    const cg_table *t;
    const int *xcols;
    size_t F;
} column_names;

static void notice_with_names(void *user, const char *message)
{
    static const char prefix[] = "cg_normalizer_fit: feature ";
    const column_names *c = user;
    if (strncmp(message, prefix, sizeof prefix - 1) == 0) {
        char *end;
        unsigned long j = strtoul(message + sizeof prefix - 1, &end, 10);
        if (j < c->F) {
            fprintf(stderr, "%s: column '%s'%s\n", prog, c->t->names[c->xcols[j]], end);
            return;
        }
    }
    cli_log_to_stderr(NULL, message);
}

/* More features than the fused linear path takes: the tape, with a notice,
 * or a refusal for --grad numeric (central differences exist only there).
 * Returns -1 to go on, else the exit status. */
static int wide_linear(const fit_args *a, const cg_table *t, const int *xcols, size_t F)
{
    if (a->opt.grad != CG_GRAD_NUMERIC) {
        cli_say(stderr, prog,
                "%zu feature columns: the fused linear path takes at most %d, so this linear "
                "model trains through the autograd tape (the same model, more launches)",
                F, CG_LINREG_MAX_FEATURES);
        return -1;
    }
    fprintf(stderr,
            "%s: --grad numeric runs on the fused linear path, which takes at most %d feature "
            "columns; %zu are selected, so these would be left out: ",
            prog, CG_LINREG_MAX_FEATURES, F);
    for (size_t j = CG_LINREG_MAX_FEATURES; j < F; j++)
        fprintf(stderr, "%s%s", j > CG_LINREG_MAX_FEATURES ? ", " : "", t->names[xcols[j]]);
    fprintf(stderr, ". Choose at most %d with --x, or use --grad analytic or autograd, which "
                    "take them all\n",
            CG_LINREG_MAX_FEATURES);
    return CLI_USAGE;
}

/* The sizes that explain a divergence (only computed for one). */
static void measure(divergence *d, const float *xs, const float *ys, size_t n, size_t F,
                    const cg_normalizer *norm, const float *init)
{
    for (size_t i = 0; i < n; i++) {
        double pred = init ? init[F] : 0.0;
        for (size_t j = 0; j < F; j++) {
            double x = ((double)xs[i * F + j] - norm->shift[j]) * norm->scale[j];
            pred += (init ? init[j] : 1.0) * x;
            d->max_x = fmax(d->max_x, fabs(x));
        }
        d->max_pred = fmax(d->max_pred, fabs(pred));
        d->max_y = fmax(d->max_y, fabs((double)ys[i]));
    }
}

/* Everything one run holds; freed by run_free. */
typedef struct fit_run {
    cg_context *ctx;
    cg_table table;
    int *xcols, ycol;
    size_t n, F;
    float *xs, *ys, *xn, *raw;
    const char **xnames;
    cg_normalizer norm;
    cg_tensor *X, *Y;
    cg_linreg *model;
    cg_fit_result result;
} fit_run;

static void run_free(fit_run *f)
{
    cg_fit_result_free(&f->result);
    cg_linreg_free(f->model);
    cg_tensor_free(f->X);
    cg_tensor_free(f->Y);
    cg_normalizer_free(&f->norm);
    cg_table_free(&f->table);
    free(f->xcols);
    free(f->xs);
    free(f->ys);
    free(f->xn);
    free(f->raw);
    free(f->xnames);
    cg_context_free(f->ctx);
}

/* Trains through the tape into f->result; -1 to go on, else the exit status
 * (-2: a library error). */
static int train_tape(fit_run *f, fit_args *a)
{
    const size_t n = f->n, F = f->F;
    /* The tape trains on the normalized features, computed as the fused
     * kernels compute them: (x - shift) * scale in float. */
    f->xn = malloc(n * F * sizeof *f->xn);
    if (!f->xn) {
        cli_say(stderr, prog, "out of memory");
        return CLI_RUNTIME;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < F; j++)
            f->xn[i * F + j] = (f->xs[i * F + j] - f->norm.shift[j]) * f->norm.scale[j];
    tape_fit t = {.x = f->xn, .y = f->ys, .n = n, .F = F, .mlp = a->mlp, .hidden = a->hidden,
                  .nhidden = a->nhidden, .activation = a->activation, .seed = a->seed,
                  .init = a->init, .opt = a->opt, .log = a->json ? NULL : &a->log};
    t.opt.optim = &a->optim_opts;
    t.opt.schedule = a->optim.has_scheduler ? &a->optim.sched : NULL;
    t.opt.clip_grad_norm = a->optim.clip_norm;
    t.opt.clip_grad_value = a->optim.clip_value;
    t.opt.batch_size = a->batch;
    t.opt.shuffle = a->shuffle;
    t.opt.no_capture = a->no_capture;
    return cli_fit_tape(f->ctx, &t, &f->result);
}

/* Trains on the fused linear path into f->result; -1 to go on, else the
 * exit status. */
static int train_fused(fit_run *f, fit_args *a)
{
    const size_t n = f->n, F = f->F;
    f->X = cg_tensor_from(f->ctx, f->xs, F == 1 ? CG_SHAPE(n) : CG_SHAPE(n, F));
    f->Y = cg_tensor_from(f->ctx, f->ys, CG_SHAPE(n));
    f->model = cg_linreg_create(f->ctx, f->X, f->Y);
    cg_linreg_set_transform(f->model, f->norm.shift, f->norm.scale);
    if (cg_status_of(f->ctx) != CG_OK) return -2;
    a->opt.init = a->init;
    if (!a->json) {
        a->opt.on_epoch = cli_print_epoch;
        a->opt.user = &a->log;
    }
    if (cg_linreg_fit(f->model, &a->opt, &f->result) != CG_OK) return -2;
    return -1;
}

/* Writes the plots; -1 to go on, else the exit status. */
static int write_plots(fit_run *f, const fit_args *a)
{
    const size_t n = f->n, F = f->F;
    const float *raw = f->raw;
    cg_status s = CG_OK;
    if (a->plot) {
        /* The first feature against y; other features held at their means. */
        float b = raw[F];
        for (size_t j = 1; j < F; j++) {
            double mean = 0;
            for (size_t i = 0; i < n; i++) mean += f->xs[i * F + j];
            b += raw[j] * (float)(mean / (double)n);
        }
        /* xs is no longer needed: keep the first feature in its front. */
        for (size_t i = 0; i < n; i++) f->xs[i] = f->xs[i * F];
        s = cg_plot_fit(f->ctx, a->plot, f->xs, f->ys, n, raw[0], b, f->xnames[0],
                        f->table.names[f->ycol]);
    }
    if (s == CG_OK && a->loss_plot)
        s = cg_plot_loss(f->ctx, a->loss_plot, f->result.curve_epochs, f->result.curve_loss,
                         f->result.curve_count);
    if (s == CG_OK) return -1;
    cli_say(stderr, prog, "%s", cg_error_message(f->ctx));
    /* A diverged run may have no finite loss to draw: it stays a divergence. */
    if (s == CG_ERROR_INVALID_DATA && f->result.diverged) return -1;
    return s == CG_ERROR_IO || s == CG_ERROR_NO_MEMORY ? CLI_RUNTIME : cli_exit_for(s);
}

static int run(fit_args *a)
{
    fit_run f = {0};
    int rc = cli_context(a->device, prog, &f.ctx);
    if (rc >= 0) return rc;
    rc = -2; /* -2: a library error on the context */
    if (a->data) {
        if (cg_table_read_csv(f.ctx, a->data, &f.table) != CG_OK) goto out;
    } else {
        /* No context to carry this one's error: its status says it all. */
        cg_status ts = cg_table_lecture(&f.table);
        if (ts != CG_OK) {
            cli_say(stderr, prog, "the lecture's data: %s", cg_status_string(ts));
            rc = cli_exit_for(ts);
            goto out;
        }
    }
    size_t F;
    if ((rc = select_columns(&f.table, a, &f.xcols, &F, &f.ycol)) >= 0) goto out;
    const size_t n = f.table.rows;
    f.n = n;
    f.F = F;
    if (a->init && a->ninit != F + 1) {
        cli_say(stderr, prog,
                "--init has %zu values; this model has %zu (%zu weight%s, then the bias)",
                a->ninit, F + 1, F, F == 1 ? "" : "s");
        rc = CLI_USAGE;
        goto out;
    }
    /* Schedules and clipping act between steps: the tape path runs them. */
    bool use_tape = a->mlp || a->autograd || (a->batch && a->batch < n) ||
                    a->opt.optimizer == CG_OPTIM_LBFGS || a->optim.has_scheduler ||
                    a->optim.clip_norm > 0 || a->optim.clip_value > 0;
    if (!use_tape && F > CG_LINREG_MAX_FEATURES) {
        if ((rc = wide_linear(a, &f.table, f.xcols, F)) >= 0) goto out;
        use_tape = true;
    }
    f.xs = malloc(n * F * sizeof *f.xs);
    f.ys = malloc(n * sizeof *f.ys);
    f.raw = malloc((F + 1) * sizeof *f.raw);
    f.xnames = malloc(F * sizeof *f.xnames);
    if (!f.xs || !f.ys || !f.raw || !f.xnames) {
        cli_say(stderr, prog, "out of memory");
        rc = CLI_RUNTIME;
        goto out;
    }
    for (size_t j = 0; j < F; j++) f.xnames[j] = f.table.names[f.xcols[j]];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < F; j++)
            f.xs[i * F + j] = f.table.values[i * f.table.cols + (size_t)f.xcols[j]];
        f.ys[i] = f.table.values[i * f.table.cols + (size_t)f.ycol];
    }
    column_names names = {&f.table, f.xcols, F};
    cg_set_log_callback(notice_with_names, &names);
    cg_status ns = cg_normalizer_fit(f.ctx, a->norm_kind, a->norm_factor, f.xs, n, F, &f.norm);
    cg_set_log_callback(cli_log_to_stderr, NULL);
    if (ns != CG_OK) {
        rc = -2;
        goto out;
    }

    char mname[16 + CLI_MAX_HIDDEN * 24];
    report rep = {f.ctx, &f.result, NULL, NULL, F, a->mlp, a->log.params, a->stats,
                  model_name(a, mname, sizeof mname), F + 1, a->opt.optimizer};
    if (use_tape) {
        if ((rc = train_tape(&f, a)) >= 0 || rc == -2) goto out;
        bool mb = a->batch && a->batch < n, replayed = f.result.steps_replayed > 0;
        rep.path = mb ? (replayed ? "autograd tape, minibatches, step replayed"
                                  : "autograd tape, minibatches")
                      : (replayed ? "autograd tape, step replayed" : "autograd tape");
        rep.parameter_count = f.result.nparams;
    } else {
        if ((rc = train_fused(&f, a)) >= 0 || rc == -2) goto out;
        rep.path = cg_context_is_ref(f.ctx)                      ? "reference loops"
                   : f.result.path_used == CG_PATH_SINGLE_LAUNCH ? "single launch"
                                                                 : "per-epoch launches";
    }
    if (!a->mlp) {
        cg_normalizer_to_raw(&f.norm, f.result.params, f.raw);
        rep.raw = f.raw;
    }
    bool written = a->json ? cli_print_json(&rep)
                           : cli_print_summary(&rep, f.xnames, f.table.names[f.ycol],
                                               a->norm_kind);
    if (f.result.diverged) {
        divergence d = {&f.result, a->mlp, a->init != NULL, a->opt.lr, a->norm_kind,
                        a->normalize, f.table.names[f.ycol], 0, 0, 0};
        measure(&d, f.xs, f.ys, n, F, &f.norm, a->init);
        if (!cli_print_divergence(&d)) cli_say(stderr, prog, "%s", f.result.message);
    }
    if ((rc = write_plots(&f, a)) >= 0) goto out;
    /* A lost result is a failure whatever the run did (main says why). */
    rc = !written ? CLI_RUNTIME : f.result.diverged ? CLI_DIVERGED : CLI_OK;
out:
    if (rc == -2) {
        cli_say(stderr, prog, "%s", cg_error_message(f.ctx));
        rc = cli_exit_for(cg_status_of(f.ctx));
    }
    run_free(&f);
    return rc;
}

int cli_fit(int argc, char **argv)
{
    fit_args a;
    int rc = cli_fit_parse(argc, argv, &a, stderr);
    if (rc == CLI_OK && a.help) cli_fit_usage(stdout);
    /* Before the run, so that a long run never ends on a path it cannot use. */
    if (rc < 0 && ((a.plot && !cli_check_output(a.plot, prog, "--plot")) ||
                   (a.loss_plot && !cli_check_output(a.loss_plot, prog, "--loss-plot"))))
        rc = CLI_USAGE;
    if (rc < 0) rc = run(&a);
    cli_fit_args_free(&a);
    return rc;
}
