/* clgrad devices: what OpenCL sees, with the value to pass to --device. */
#include <stdio.h>
#include <string.h>

#include "cli_common.h"

int cli_devices(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: clgrad devices\n\n"
                   "Lists every OpenCL platform and device: the value to pass to --device\n"
                   "or CLGRAD_DEVICE (P:D; a substring of the name works too), the device\n"
                   "type, compute units, global memory and OpenCL C version. 'ref', the\n"
                   "scalar reference path, is always available.\n"
                   "\n" CLI_EXIT_HELP);
            return CLI_OK;
        }
        fprintf(stderr, "clgrad devices: unknown option '%s' (see --help)\n", argv[i]);
        return CLI_USAGE;
    }
    cg_device_info *list;
    size_t count;
    if (cg_device_list(&list, &count) != CG_OK) {
        fprintf(stderr, "clgrad devices: out of memory\n");
        return CLI_RUNTIME;
    }
    printf("%-8s %-5s %4s %10s  %-16s %s\n", "DEVICE", "TYPE", "CUs", "MEMORY", "OPENCL C",
           "NAME (PLATFORM)");
    int last_platform = -1;
    for (size_t i = 0; i < count; i++) {
        const cg_device_info *d = &list[i];
        if (d->platform_index != last_platform) last_platform = d->platform_index;
        printf("%-8s %-5s %4u %7.1f GiB  %-16s %s (%s)\n", d->spec,
               cg_device_type_string(d->type), d->compute_units,
               (double)d->global_mem_bytes / (1024.0 * 1024.0 * 1024.0), d->opencl_c_version,
               d->name, d->platform);
    }
    printf("%-8s %-5s %4s %10s  %-16s %s\n", "ref", "REF", "1", "host", "-",
           "scalar C reference path");
    if (count == 0) printf("\nno OpenCL device found: clgrad runs on the reference path\n");
    cg_device_list_free(list);
    return CLI_OK;
}
