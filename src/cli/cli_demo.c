/* clgrad demo: the lecture, replayed on the device in its order and format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

static const char demo_usage[] =
    "usage: clgrad demo [--plot-dir DIR] [--device SPEC]\n"
    "\n"
    "Replays the lecture on its eleven thermometer readings: the loss at w=1, b=0;\n"
    "its rate of change by central differences (delta 0.1) and by the chain rule;\n"
    "gradient descent diverging at lr 1e-2 on raw t_u, stalling at 1e-4, working on\n"
    "inputs scaled by 0.1; 5000 epochs; Adam at lr 1e-1 on raw t_u; and the plot of\n"
    "the fit (DIR/fit.png, default the current directory) with its loss curve\n"
    "(DIR/loss.png).\n"
    "\n" CLI_EXIT_HELP;

/* The epochs the lecture's training_loop prints. */
static const long lecture_epochs[] = {1, 2, 3, 10, 11, 99, 100, 4000, 5000};

typedef struct demo {
    cg_context *ctx;
    cg_linreg *model;
    cli_log_style log;
} demo;

/* One training_loop call of the lecture; returns false on a library error. */
static bool training_loop(demo *d, long epochs, float lr, cg_optim_kind optim, float scale,
                          bool print_params, long log_every, cg_fit_result *result)
{
    cg_linreg_set_transform(d->model, NULL, &scale);
    cg_fit_options o = cg_fit_defaults();
    o.epochs = epochs;
    o.lr = lr;
    o.optimizer = optim;
    o.log_every = log_every;
    if (log_every == 0) {
        o.log_epochs = lecture_epochs;
        o.n_log_epochs = sizeof lecture_epochs / sizeof lecture_epochs[0];
    }
    d->log.params = d->log.grad = print_params;
    o.on_epoch = cli_print_epoch;
    o.user = &d->log;
    if (cg_linreg_fit(d->model, &o, result) != CG_OK) return false;
    char buf[256];
    cli_format_values(buf, sizeof buf, result->params, result->nparams);
    printf("params = %s\n", buf);
    if (result->diverged) printf("(%s)\n", result->message);
    printf("\n");
    return true;
}

int cli_demo(int argc, char **argv)
{
    const char *plot_dir = ".", *device = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(demo_usage, stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--plot-dir") == 0 && i + 1 < argc) {
            plot_dir = argv[++i];
        } else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            device = argv[++i];
        } else {
            fprintf(stderr, "clgrad demo: unknown or incomplete option '%s' (see --help)\n",
                    argv[i]);
            return CLI_USAGE;
        }
    }
    /* Checked before the replay, so that it never ends on a directory it
     * cannot write; the paths are as long as the directory's name. */
    if (!cli_check_output_dir(plot_dir, "clgrad demo", "--plot-dir")) return CLI_USAGE;
    size_t cap = strlen(plot_dir) + sizeof "/loss.png";
    char *fit_path = malloc(cap), *loss_path = malloc(cap);
    if (!fit_path || !loss_path) {
        free(fit_path);
        free(loss_path);
        fprintf(stderr, "clgrad demo: out of memory\n");
        return CLI_RUNTIME;
    }
    snprintf(fit_path, cap, "%s/fit.png", plot_dir);
    snprintf(loss_path, cap, "%s/loss.png", plot_dir);
    demo d = {.log = {.out = stdout}};
    int rc = cli_context(device, "clgrad demo", &d.ctx);
    if (rc >= 0) {
        free(fit_path);
        free(loss_path);
        return rc;
    }
    cg_table t;
    cg_status ts = cg_table_lecture(&t);
    if (ts != CG_OK) {
        cli_say(stderr, "clgrad demo", "the lecture's data: %s", cg_status_string(ts));
        cg_context_free(d.ctx);
        free(fit_path);
        free(loss_path);
        return cli_exit_for(ts);
    }
    float t_u[11], t_c[11];
    for (size_t i = 0; i < 11; i++) {
        t_u[i] = t.values[2 * i];
        t_c[i] = t.values[2 * i + 1];
    }
    cg_table_free(&t);
    cg_tensor *tu = cg_tensor_from(d.ctx, t_u, CG_SHAPE(11));
    cg_tensor *tc = cg_tensor_from(d.ctx, t_c, CG_SHAPE(11));
    d.model = cg_linreg_create(d.ctx, tu, tc);
    cg_fit_result r = {0};
    if (cg_status_of(d.ctx) != CG_OK) goto out;

    printf("clgrad demo on %s\n\n", cg_context_device(d.ctx)->name);
    printf("t_c = w * t_u + b, fitted to the lecture's 11 readings (mean squared error).\n\n");

    const float params0[2] = {1.0f, 0.0f};
    float loss, num[2], ana[2];
    cg_linreg_eval(d.model, params0, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, ana);
    cg_linreg_eval(d.model, params0, CG_LOSS_MSE, CG_GRAD_NUMERIC, 0.1f, &loss, num);
    if (cg_status_of(d.ctx) != CG_OK) goto out;
    printf("# loss at w = 1, b = 0\n%f\n\n", (double)loss);
    printf("# rate of change by central differences, delta = 0.1\n");
    printf("loss_rate_of_change_w = %.4f\nloss_rate_of_change_b = %.4f\n\n", (double)num[0],
           (double)num[1]);
    char buf[256];
    cli_format_values(buf, sizeof buf, ana, 2);
    printf("# the gradient by the chain rule (grad_fn)\n%s\n\n", buf);

    printf("# training_loop(n_epochs=100, learning_rate=1e-2) on raw t_u\n");
    if (!training_loop(&d, 100, 1e-2f, CG_OPTIM_SGD, 1.0f, true, 0, &r)) goto out;
    cg_fit_result_free(&r);

    printf("# training_loop(n_epochs=100, learning_rate=1e-4) on raw t_u\n");
    if (!training_loop(&d, 100, 1e-4f, CG_OPTIM_SGD, 1.0f, true, 0, &r)) goto out;
    cg_fit_result_free(&r);

    printf("# t_un = 0.1 * t_u; training_loop(n_epochs=100, learning_rate=1e-2)\n");
    if (!training_loop(&d, 100, 1e-2f, CG_OPTIM_SGD, 0.1f, true, 0, &r)) goto out;
    cg_fit_result_free(&r);

    printf("# training_loop(n_epochs=5000, learning_rate=1e-2, print_params=False) on t_un\n");
    if (!training_loop(&d, 5000, 1e-2f, CG_OPTIM_SGD, 0.1f, false, 0, &r)) goto out;
    float w_raw = r.params[0] * 0.1f, b_raw = r.params[1];
    cg_plot_fit(d.ctx, fit_path, t_u, t_c, 11, w_raw, b_raw, "Temperature (\u00b0Fahrenheit)",
                "Temperature (\u00b0Celsius)");
    cg_plot_loss(d.ctx, loss_path, r.curve_epochs, r.curve_loss, r.curve_count);
    cg_fit_result_free(&r);
    if (cg_status_of(d.ctx) != CG_OK) goto out;

    printf("# Adam, lr = 1e-1, 2000 epochs, on raw t_u\n");
    if (!training_loop(&d, 2000, 1e-1f, CG_OPTIM_ADAM, 1.0f, false, 500, &r)) goto out;
    cg_fit_result_free(&r);

    printf("# the plot of the fit: %s (loss curve: %s)\n", fit_path, loss_path);
    rc = CLI_OK;
out:
    if (rc != CLI_OK) {
        cg_status s = cg_status_of(d.ctx);
        fprintf(stderr, "clgrad demo: %s\n", cg_error_message(d.ctx));
        /* The demo's input is its own: only the plots' directory is the user's. */
        rc = s == CG_ERROR_IO || s == CG_ERROR_NO_MEMORY ? CLI_RUNTIME : cli_exit_for(s);
    }
    free(fit_path);
    free(loss_path);
    cg_fit_result_free(&r);
    cg_linreg_free(d.model);
    cg_tensor_free(tu);
    cg_tensor_free(tc);
    cg_context_free(d.ctx);
    return rc;
}
