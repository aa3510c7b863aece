/* clgrad: the command. Dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli_common.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: clgrad <command> [options]\n"
            "\n"
            "Gradient descent on OpenCL devices (GPUs, or CPUs through PoCL), checked\n"
            "against a scalar CPU reference.\n"
            "\n"
            "commands:\n"
            "  devices   list OpenCL platforms and devices, with the value for --device\n"
            "  demo      replay the lecture: fitting t_c = w * t_u + b to 11 readings\n"
            "  fit       fit a linear model to a CSV file (or the lecture's data)\n"
            "  warmup    compile the kernels the commands use, so first runs start fast\n"
            "\n"
            "'clgrad <command> --help' describes a command.\n"
            "\n"
            "environment:\n"
            "  CLGRAD_DEVICE     device to use: P:D indices, a name substring, or 'ref'\n"
            "  CLGRAD_CACHE_DIR  where compiled kernels are cached (default\n"
            "                    $XDG_CACHE_HOME/clgrad or ~/.cache/clgrad)\n"
            "  CLGRAD_BINARY_CACHE  auto, on or off: use that cache (auto: on PoCL,\n"
            "                    which keeps its own, read it but do not write it)\n"
            "\n" CLI_EXIT_HELP);
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "devices") == 0) return cli_devices(argc - 1, argv + 1);
    if (strcmp(cmd, "fit") == 0) return cli_fit(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0) return cli_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "warmup") == 0) return cli_warmup(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("clgrad %s\n", CG_VERSION_STRING);
        return CLI_OK;
    }
    fprintf(stderr, "clgrad: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}

int main(int argc, char **argv)
{
    cg_set_log_callback(cli_log_to_stderr, NULL);
    /* Every result goes to stdout: a write that failed anywhere is exit 3. */
    return cli_finish_stdout(dispatch(argc, argv));
}
