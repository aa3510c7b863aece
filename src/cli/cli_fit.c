/* clgrad fit: a linear model fitted to a CSV (or the lecture's data).
 * The flags, the JSON and the exit statuses are a contract: keep them. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_common.h"
#include "cli_optim.h"
#include "cli_report.h"
#include "cli_tape.h"

#define MAX_X_COLUMNS 64

static const char fit_usage[] =
    "usage: clgrad fit [options]\n"
    "\n"
    "Fits y = X.w + b by gradient descent on an OpenCL device (or 'ref').\n"
    "\n"
    "data:\n"
    "  --data FILE.csv       CSV with a header row (default: the lecture's t_u,t_c)\n"
    "  --x COL[,COL...]      feature columns (default: every column but the last)\n"
    "  --y COL               target column (default: the last)\n"
    "  --normalize KIND      none | scale:F | standard | minmax (default standard)\n"
    "model and loss:\n"
    "  --model linear|mlp:H1[,H2...]  a line, or an MLP with these hidden sizes\n"
    "                        (trained through the autograd tape; default linear)\n"
    "  --activation tanh|relu|sigmoid  the MLP's activation (default tanh)\n"
    "  --seed N              the MLP's initial weights and the shuffling (default 0)\n"
    "  --loss mse|l1         mean squared or mean absolute error (default mse)\n"
    "  --grad analytic|numeric|autograd  the fused chain rule, central differences,\n"
    "                        or the autograd tape (default analytic)\n"
    "  --delta F             step of the central differences (default 0.1)\n"
    "training:\n"
    "  --epochs N            epochs (default 5000)\n"
    "  --batch-size N        minibatches of N rows per step (tape path; default all)\n"
    "  --shuffle             a new random order of the rows each epoch (seeded)\n"
    "  --init W[,W...],B     initial weights then bias (default 1 for each weight, 0)\n"
    "run and output:\n"
    "  --device SPEC         P:D, a device-name substring, or ref (default CLGRAD_DEVICE,\n"
    "                        else the first GPU, else the first OpenCL device)\n"
    "  --log-every N         log every N epochs, 0 for none (default 500)\n"
    "  --print-params        log the parameters with each logged epoch\n"
    "  --print-grad          log the gradient with each logged epoch\n"
    "  --plot FILE           the data and the fitted line (.png or .svg)\n"
    "  --loss-plot FILE      the loss curve, log scale (.png or .svg)\n"
    "  --json                one JSON object on stdout, nothing else there\n"
    "  --stats               kernel launches, memory, tape size after training\n"
    "  -h, --help            this text\n"
    "\n"
    "\n%s"
    "\nexit status: 0 trained, 1 diverged (loss inf or NaN), 2 bad input or usage.\n";

#define MAX_HIDDEN 16

typedef struct fit_args {
    const char *data, *x, *y, *device, *plot, *loss_plot, *normalize;
    cg_fit_options opt;
    bool lr_given, json, autograd, mlp, shuffle, stats, activation_given, seed_given;
    cli_optim optim;             /* optimizer, scheduler and clipping flags */
    cg_optim_options optim_opts; /* what they amount to */
    size_t hidden[MAX_HIDDEN], nhidden, batch;
    cg_activation activation;
    unsigned long long seed;
    float init[MAX_X_COLUMNS + 1];
    int ninit;
    cli_log_style log;
} fit_args;

static int usage_error(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "clgrad fit: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n(see clgrad fit --help)\n");
    return CLI_USAGE;
}

enum {
    OPT_DATA = 256, OPT_X, OPT_Y, OPT_MODEL, OPT_LOSS, OPT_GRAD, OPT_DELTA, OPT_OPTIMIZER,
    OPT_LR, OPT_BETAS, OPT_EPS, OPT_EPOCHS, OPT_INIT, OPT_NORMALIZE, OPT_DEVICE, OPT_LOG_EVERY,
    OPT_PRINT_PARAMS, OPT_PRINT_GRAD, OPT_PLOT, OPT_LOSS_PLOT, OPT_JSON, OPT_ACTIVATION,
    OPT_SEED, OPT_BATCH_SIZE, OPT_SHUFFLE, OPT_STATS
};

static const struct option long_options[] = {
    {"data", required_argument, 0, OPT_DATA},
    {"x", required_argument, 0, OPT_X},
    {"y", required_argument, 0, OPT_Y},
    {"model", required_argument, 0, OPT_MODEL},
    {"loss", required_argument, 0, OPT_LOSS},
    {"grad", required_argument, 0, OPT_GRAD},
    {"delta", required_argument, 0, OPT_DELTA},
    {"optimizer", required_argument, 0, OPT_OPTIMIZER},
    {"lr", required_argument, 0, OPT_LR},
    {"epochs", required_argument, 0, OPT_EPOCHS},
    {"init", required_argument, 0, OPT_INIT},
    {"normalize", required_argument, 0, OPT_NORMALIZE},
    {"device", required_argument, 0, OPT_DEVICE},
    {"log-every", required_argument, 0, OPT_LOG_EVERY},
    {"print-params", no_argument, 0, OPT_PRINT_PARAMS},
    {"print-grad", no_argument, 0, OPT_PRINT_GRAD},
    {"plot", required_argument, 0, OPT_PLOT},
    {"loss-plot", required_argument, 0, OPT_LOSS_PLOT},
    {"json", no_argument, 0, OPT_JSON},
    {"activation", required_argument, 0, OPT_ACTIVATION},
    {"seed", required_argument, 0, OPT_SEED},
    {"batch-size", required_argument, 0, OPT_BATCH_SIZE},
    {"shuffle", no_argument, 0, OPT_SHUFFLE},
    {"stats", no_argument, 0, OPT_STATS},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static bool plot_name_ok(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && (strcasecmp(path + n - 4, ".png") == 0 || strcasecmp(path + n - 4, ".svg") == 0);
}

/* Parses argv into a; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, fit_args *a)
{
    memset(a, 0, sizeof *a);
    a->opt = cg_fit_defaults();
    a->activation = CG_ACT_TANH;
    a->normalize = "standard";
    a->log.out = stdout;
    optind = 1;
    opterr = 0;
    int c;
    /* fit's own flags, then the optimizer's (cli_optim.c). */
    static struct option all[96];
    size_t n = 0;
    for (const struct option *o = long_options; o->name; o++) all[n++] = *o;
    for (const struct option *o = cli_optim_options; o->name; o++) {
        all[n] = *o;
        /* flags of no value: nesterov, amsgrad, maximize, centered */
        bool flag = !strcmp(o->name, "nesterov") || !strcmp(o->name, "amsgrad") ||
                    !strcmp(o->name, "maximize") || !strcmp(o->name, "centered");
        all[n++].has_arg = flag ? no_argument : required_argument;
    }
    all[n] = (struct option){0, 0, 0, 0};
    while ((c = getopt_long(argc, argv, ":h", all, NULL)) != -1) {
        const char *v = optarg;
        float f;
        long l;
        switch (c) {
        case 'h': printf(fit_usage, cli_optim_usage); return CLI_OK;
        case OPT_DATA: a->data = v; break;
        case OPT_X: a->x = v; break;
        case OPT_Y: a->y = v; break;
        case OPT_MODEL:
            if (strcmp(v, "linear") == 0) {
                a->mlp = false;
            } else if (strncmp(v, "mlp:", 4) == 0) {
                a->mlp = true;
                a->nhidden = 0;
                char list[256];
                snprintf(list, sizeof list, "%s", v + 4);
                for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
                    if (!cli_parse_long(tok, &l) || l < 1 || l > 1 << 20 ||
                        a->nhidden == MAX_HIDDEN)
                        return usage_error("--model mlp:H1[,H2...] takes up to 16 positive "
                                           "sizes (got '%s')%s", v, "");
                    a->hidden[a->nhidden++] = (size_t)l;
                }
                if (a->nhidden == 0)
                    return usage_error("--model mlp: needs hidden sizes, as mlp:16,16%s%s", "",
                                       "");
            } else {
                return usage_error("unknown --model '%s' (expected linear or mlp:H1[,H2...])%s",
                                   v, "");
            }
            break;
        case OPT_ACTIVATION:
            if (strcmp(v, "tanh") == 0)
                a->activation = CG_ACT_TANH;
            else if (strcmp(v, "relu") == 0)
                a->activation = CG_ACT_RELU;
            else if (strcmp(v, "sigmoid") == 0)
                a->activation = CG_ACT_SIGMOID;
            else
                return usage_error("unknown --activation '%s' (expected tanh, relu or "
                                   "sigmoid)%s", v, "");
            a->activation_given = true;
            break;
        case OPT_SEED:
            if (!cli_parse_long(v, &l) || l < 0)
                return usage_error("--seed must be an integer >= 0 (got '%s')%s", v, "");
            a->seed = (unsigned long long)l;
            a->seed_given = true;
            break;
        case OPT_BATCH_SIZE:
            if (!cli_parse_long(v, &l) || l < 1)
                return usage_error("--batch-size must be a positive integer (got '%s')%s", v,
                                   "");
            a->batch = (size_t)l;
            break;
        case OPT_SHUFFLE: a->shuffle = true; break;
        case OPT_STATS: a->stats = true; break;
        case OPT_LOSS:
            if (strcmp(v, "mse") == 0)
                a->opt.loss = CG_LOSS_MSE;
            else if (strcmp(v, "l1") == 0)
                a->opt.loss = CG_LOSS_L1;
            else
                return usage_error("unknown --loss '%s' (expected mse or l1)%s", v, "");
            break;
        case OPT_GRAD:
            if (strcmp(v, "analytic") == 0)
                a->opt.grad = CG_GRAD_ANALYTIC;
            else if (strcmp(v, "numeric") == 0)
                a->opt.grad = CG_GRAD_NUMERIC;
            else if (strcmp(v, "autograd") == 0)
                a->autograd = true;
            else
                return usage_error("unknown --grad '%s' (expected analytic, numeric or "
                                   "autograd)%s", v, "");
            break;
        case OPT_DELTA:
            if (!cli_parse_float(v, &f) || !(f > 0.0f))
                return usage_error("--delta must be a positive number (got '%s')%s", v, "");
            a->opt.delta = f;
            break;
        case OPT_OPTIMIZER: {
            int r = cli_optim_kind(v, &a->optim);
            if (r >= 0) return r;
            break;
        }
        case OPT_LR:
            if (!cli_parse_float(v, &f) || !(f > 0.0f))
                return usage_error("--lr must be a positive number (got '%s')%s", v, "");
            a->opt.lr = f;
            a->lr_given = true;
            break;
        case OPT_EPOCHS:
            if (!cli_parse_long(v, &l) || l < 1 || l > 2147483647L)
                return usage_error("--epochs must be a positive integer (got '%s')%s", v, "");
            a->opt.epochs = l;
            break;
        case OPT_INIT:
            a->ninit = cli_parse_floats(v, a->init, MAX_X_COLUMNS + 1);
            if (a->ninit < 2)
                return usage_error("--init takes W[,W...],B as numbers (got '%s')%s", v, "");
            break;
        case OPT_NORMALIZE: a->normalize = v; break;
        case OPT_DEVICE: a->device = v; break;
        case OPT_LOG_EVERY:
            if (!cli_parse_long(v, &l) || l < 0)
                return usage_error("--log-every must be an integer >= 0 (got '%s')%s", v, "");
            a->opt.log_every = l;
            break;
        case OPT_PRINT_PARAMS: a->log.params = true; break;
        case OPT_PRINT_GRAD: a->log.grad = true; break;
        case OPT_PLOT: a->plot = v; break;
        case OPT_LOSS_PLOT: a->loss_plot = v; break;
        case OPT_JSON: a->json = true; break;
        case ':': return usage_error("%s needs a value%s", argv[optind - 1], "");
        default: {
            if (c < CLI_OPTIM_CODE)
                return usage_error("unknown option '%s'%s", argv[optind - 1], "");
            int r = cli_optim_flag(c, v, &a->optim);
            if (r >= 0) return r;
        }
        }
    }
    if (optind < argc) return usage_error("unexpected argument '%s'%s", argv[optind], "");
    /* Checked now, so a long run never ends on a file name it cannot use. */
    const char *plots[2] = {a->plot, a->loss_plot};
    for (int i = 0; i < 2; i++)
        if (plots[i] && !plot_name_ok(plots[i]))
            return usage_error("%s: the plot's file name must end in .png or .svg%s", plots[i],
                               "");
    int r = cli_optim_finish(&a->optim, a->lr_given, a->opt.lr, &a->optim_opts);
    if (r >= 0) return r;
    a->opt.optimizer = (cg_optim_kind)a->optim.kind;
    a->opt.lr = a->optim_opts.lr;
    a->opt.optim = &a->optim_opts;
    if (a->mlp && a->opt.grad == CG_GRAD_NUMERIC)
        return usage_error("--grad numeric belongs to the linear model's fused path; an MLP "
                           "trains through autograd%s%s", "", "");
    if (a->mlp && a->ninit)
        return usage_error("--init sets the linear model's parameters; an MLP starts from "
                           "--seed%s%s", "", "");
    if (a->mlp && a->plot)
        return usage_error("--plot draws the fitted line of the linear model; use --loss-plot "
                           "with an MLP%s%s", "", "");
    if (!a->mlp && a->activation_given)
        return usage_error("--activation belongs to --model mlp:...%s%s", "", "");
    if (a->shuffle && !a->batch)
        return usage_error("--shuffle reorders minibatches: give --batch-size too%s%s", "", "");
    if (a->batch && a->opt.optimizer == CG_OPTIM_LBFGS)
        return usage_error("--optimizer lbfgs takes full batches: drop --batch-size%s%s", "", "");
    if (a->batch && a->opt.grad == CG_GRAD_NUMERIC)
        return usage_error("--batch-size trains through autograd; --grad numeric is full "
                           "batch%s%s", "", "");
    return -1;
}

static int parse_normalize(const char *s, cg_norm_kind *kind, float *factor)
{
    *factor = 1.0f;
    if (strcmp(s, "none") == 0)
        *kind = CG_NORM_NONE;
    else if (strcmp(s, "standard") == 0)
        *kind = CG_NORM_STANDARD;
    else if (strcmp(s, "minmax") == 0)
        *kind = CG_NORM_MINMAX;
    else if (strncmp(s, "scale:", 6) == 0) {
        *kind = CG_NORM_SCALE;
        if (!cli_parse_float(s + 6, factor) || *factor == 0.0f)
            return usage_error("--normalize scale:F needs a nonzero number F (got '%s')%s", s,
                               "");
    } else
        return usage_error("unknown --normalize '%s' (expected none, scale:F, standard or "
                           "minmax)%s",
                           s, "");
    return -1;
}

/* Resolves --x/--y to column indices. Returns -1 to go on, else the exit. */
static int select_columns(const cg_table *t, const fit_args *a, int *xcols, int *nx, int *ycol)
{
    if (t->cols < 2 && !(a->x && a->y))
        return usage_error("the data needs at least two columns (features and a target)%s%s",
                           "", "");
    *ycol = a->y ? cg_table_column(t, a->y) : (int)t->cols - 1;
    if (*ycol < 0) {
        char names[1024] = "";
        for (size_t j = 0; j < t->cols; j++) {
            strncat(names, j ? ", " : "", sizeof names - strlen(names) - 1);
            strncat(names, t->names[j], sizeof names - strlen(names) - 1);
        }
        return usage_error("no column named '%s' for --y; columns: %s", a->y, names);
    }
    *nx = 0;
    if (!a->x) {
        for (size_t j = 0; j < t->cols; j++)
            if ((int)j != *ycol && *nx < MAX_X_COLUMNS) xcols[(*nx)++] = (int)j;
        return -1;
    }
    char list[1024];
    snprintf(list, sizeof list, "%s", a->x);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int j = cg_table_column(t, tok);
        if (j < 0) {
            char names[1024] = "";
            for (size_t k = 0; k < t->cols; k++) {
                strncat(names, k ? ", " : "", sizeof names - strlen(names) - 1);
                strncat(names, t->names[k], sizeof names - strlen(names) - 1);
            }
            return usage_error("no column named '%s' for --x; columns: %s", tok, names);
        }
        if (j == *ycol)
            return usage_error("--x includes '%s', the --y column: a target cannot be its own "
                               "feature%s",
                               tok, "");
        if (*nx == MAX_X_COLUMNS) return usage_error("--x: too many columns%s%s", "", "");
        xcols[(*nx)++] = j;
    }
    if (*nx == 0) return usage_error("--x names no column%s%s", "", "");
    return -1;
}

static bool use_tape_result(const tape_fit *t) { return t->x != NULL; }

static const char *model_name(const fit_args *a, char *buf, size_t cap)
{
    if (!a->mlp) return "linear";
    size_t len = (size_t)snprintf(buf, cap, "mlp:");
    for (size_t i = 0; i < a->nhidden && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%zu", i ? "," : "", a->hidden[i]);
    return buf;
}

int cli_fit(int argc, char **argv)
{
    fit_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    cg_norm_kind norm_kind;
    float factor;
    if ((rc = parse_normalize(a.normalize, &norm_kind, &factor)) >= 0) return rc;

    cg_context *ctx = cli_context(a.device, "clgrad fit");
    if (!ctx) return CLI_USAGE;
    cg_table table = {0};
    cg_normalizer norm = {0};
    cg_tensor *X = NULL, *Y = NULL;
    cg_linreg *model = NULL;
    cg_fit_result result = {0};
    tape_fit tape = {0};
    float *xs = NULL, *ys = NULL, *xn = NULL;
    rc = CLI_USAGE;

    if ((a.data ? cg_table_read_csv(ctx, a.data, &table) : cg_table_lecture(&table)) != CG_OK)
        goto fail;
    int xcols[MAX_X_COLUMNS], nx, ycol;
    if (select_columns(&table, &a, xcols, &nx, &ycol) >= 0) goto out;
    size_t n = table.rows, F = (size_t)nx;
    if (a.ninit && (size_t)a.ninit != F + 1) {
        fprintf(stderr, "clgrad fit: --init has %d values; this model has %zu (%zu weight%s, "
                        "then the bias)\n",
                a.ninit, F + 1, F, F == 1 ? "" : "s");
        goto out;
    }
    xs = malloc(n * F * sizeof *xs);
    ys = malloc(n * sizeof *ys);
    if (!xs || !ys) {
        fprintf(stderr, "clgrad fit: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < F; j++) xs[i * F + j] = table.values[i * table.cols + xcols[j]];
        ys[i] = table.values[i * table.cols + ycol];
    }
    if (cg_normalizer_fit(ctx, norm_kind, factor, xs, n, F, &norm) != CG_OK) goto fail;
    char mname[160];
    report rep = {ctx, &result, NULL, NULL, F, a.mlp, a.log.params, a.stats,
                  model_name(&a, mname, sizeof mname), F + 1, a.opt.optimizer};
    float raw[MAX_X_COLUMNS + 1];
    /* Schedules and clipping act between steps: the tape path runs them. */
    const bool use_tape = a.mlp || a.autograd || (a.batch && a.batch < n) ||
                          a.opt.optimizer == CG_OPTIM_LBFGS ||
                          a.optim.has_scheduler || a.optim.clip_norm > 0 ||
                          a.optim.clip_value > 0;
    if (use_tape) {
        /* The tape trains on the normalized features, computed as the fused
         * kernels compute them: (x - shift) * scale in float. */
        xn = malloc(n * F * sizeof *xn);
        if (!xn) goto out;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < F; j++)
                xn[i * F + j] = (xs[i * F + j] - norm.shift[j]) * norm.scale[j];
        tape = (tape_fit){.x = xn, .y = ys, .n = n, .F = F, .mlp = a.mlp, .hidden = a.hidden,
                          .nhidden = a.nhidden, .activation = a.activation, .seed = a.seed,
                          .init = a.ninit ? a.init : NULL, .loss = a.opt.loss,
                          .optimizer = a.opt.optimizer, .optim = &a.optim_opts,
                          .sched = a.optim.has_scheduler ? &a.optim.sched : NULL,
                          .clip_norm = a.optim.clip_norm, .clip_value = a.optim.clip_value,
                          .epochs = a.opt.epochs, .log_every = a.opt.log_every,
                          .batch = a.batch, .shuffle = a.shuffle,
                          .log = a.json ? NULL : &a.log};
        int trc = cli_fit_tape(ctx, &tape);
        if (trc == 2) goto out;
        result.epochs_run = tape.epochs_run;
        result.diverged = tape.diverged;
        result.final_loss = tape.final_loss;
        result.params = tape.params;
        result.nparams = tape.nparams;
        result.history_epochs = tape.hist_epochs;
        result.history_loss = tape.hist_loss;
        result.history_count = tape.hist_count;
        result.curve_epochs = tape.curve_epochs;
        result.curve_loss = tape.curve_loss;
        result.curve_count = tape.curve_count;
        result.train_seconds = tape.seconds;
        if (tape.diverged)
            snprintf(result.message, sizeof result.message,
                     "training diverged at epoch %ld: the loss became %s. The updates "
                     "overshoot: try a smaller learning rate than %g, or normalized inputs "
                     "(--normalize standard)",
                     tape.epochs_run, isnan(tape.hist_loss[tape.hist_count - 1]) ? "nan" : "inf",
                     (double)a.opt.lr);
        rep.path = a.batch && a.batch < n ? "autograd tape, minibatches" : "autograd tape";
        rep.parameter_count = tape.parameter_count;
    } else {
        X = cg_tensor_from(ctx, xs, F == 1 ? CG_SHAPE(n) : CG_SHAPE(n, F));
        Y = cg_tensor_from(ctx, ys, CG_SHAPE(n));
        model = cg_linreg_create(ctx, X, Y);
        cg_linreg_set_transform(model, norm.shift, norm.scale);
        if (cg_status(ctx) != CG_OK) goto fail;
        if (a.ninit) a.opt.init = a.init;
        if (!a.json) {
            a.opt.on_epoch = cli_print_epoch;
            a.opt.user = &a.log;
        }
        if (cg_linreg_fit(model, &a.opt, &result) != CG_OK) goto fail;
        rep.path = cg_context_is_ref(ctx)                      ? "reference loops"
                   : result.path_used == CG_PATH_SINGLE_LAUNCH ? "single launch"
                                                               : "per-epoch launches";
    }
    if (!a.mlp) {
        cg_normalizer_to_raw(&norm, result.params, raw);
        rep.raw = raw;
    }
    const char *xnames[MAX_X_COLUMNS];
    for (size_t j = 0; j < F; j++) xnames[j] = table.names[xcols[j]];
    if (a.json)
        cli_print_json(&rep);
    else
        cli_print_summary(&rep, xnames, table.names[ycol], norm_kind);
    if (result.diverged) fprintf(stderr, "clgrad fit: %s\n", result.message);

    if (a.plot) {
        /* The first feature against y; other features held at their means. */
        float b = raw[F];
        for (size_t j = 1; j < F; j++) {
            double mean = 0;
            for (size_t i = 0; i < n; i++) mean += xs[i * F + j];
            b += raw[j] * (float)(mean / (double)n);
        }
        /* xs is no longer needed: keep the first feature in its front. */
        for (size_t i = 0; i < n; i++) xs[i] = xs[i * F];
        if (cg_plot_fit(ctx, a.plot, xs, ys, n, raw[0], b, xnames[0], table.names[ycol]) != CG_OK)
            goto fail;
    }
    if (a.loss_plot && cg_plot_loss(ctx, a.loss_plot, result.curve_epochs, result.curve_loss,
                                    result.curve_count) != CG_OK)
        goto fail;
    rc = result.diverged ? CLI_DIVERGED : CLI_OK;
    goto out;
fail:
    fprintf(stderr, "clgrad fit: %s\n", cg_error_message(ctx));
    rc = CLI_USAGE;
out:
    if (use_tape_result(&tape))
        tape_fit_free(&tape); /* result's arrays are tape's */
    else
        cg_fit_result_free(&result);
    cg_linreg_free(model);
    cg_tensor_free(X);
    cg_tensor_free(Y);
    cg_normalizer_free(&norm);
    cg_table_free(&table);
    free(xs);
    free(ys);
    free(xn);
    cg_context_free(ctx);
    return rc;
}
