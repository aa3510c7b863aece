/* Plots: PNG and SVG files by extension, and clear errors otherwise. */
#include <sys/stat.h>

#include "helpers.h"

static const float x[3] = {1, 2, 3}, y[3] = {2, 4, 7};

Test(plot, writes_png_and_svg)
{
    cg_context *ctx = test_context();
    char dir[64], png[128], svg[128];
    temp_dir(dir, sizeof dir);
    snprintf(png, sizeof png, "%s/fit.png", dir);
    snprintf(svg, sizeof svg, "%s/loss.SVG", dir);
    cr_assert_eq(cg_plot_fit(ctx, png, x, y, 3, 2.5f, -0.5f, "t_u", "t_c"), CG_OK, "%s",
                 cg_error_message(ctx));
    const long epochs[4] = {1, 2, 3, 4};
    const float loss[4] = {100, 10, INFINITY, 1};
    cr_assert_eq(cg_plot_loss(ctx, svg, epochs, loss, 4), CG_OK, "%s", cg_error_message(ctx));
    FILE *f = fopen(png, "rb");
    cr_assert_not_null(f);
    unsigned char sig[8];
    cr_assert_eq(fread(sig, 1, 8, f), 8);
    fclose(f);
    cr_assert_eq(memcmp(sig, "\x89PNG\r\n\x1a\n", 8), 0, "a PNG signature");
    f = fopen(svg, "r");
    cr_assert_not_null(f);
    char head[256] = {0};
    cr_assert_gt(fread(head, 1, sizeof head - 1, f), 0);
    fclose(f);
    cr_assert(strstr(head, "<svg") || strstr(head, "<?xml"), "an SVG: %s", head);
    cg_context_free(ctx);
}

Test(plot, rejects_unknown_extension_and_unwritable_path)
{
    cg_context *ctx = test_context();
    cr_assert_eq(cg_plot_fit(ctx, "/tmp/fit.jpg", x, y, 3, 1, 0, "x", "y"),
                 CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), ".png or .svg") != NULL);
    cg_clear_error(ctx);
    cr_assert_eq(cg_plot_fit(ctx, "/nonexistent/dir/fit.png", x, y, 3, 1, 0, "x", "y"),
                 CG_ERROR_IO);
    cr_assert(strstr(cg_error_message(ctx), "/nonexistent/dir/fit.png") != NULL);
    cg_clear_error(ctx);
    const long e[1] = {1};
    const float nan_loss[1] = {NAN};
    cr_assert_eq(cg_plot_loss(ctx, "/tmp/l.png", e, nan_loss, 1), CG_ERROR_INVALID_DATA);
    cg_context_free(ctx);
}

/* Entries of dir other than . and .., written into buf. */
static int dir_entries(const char *dir, char *buf, size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -A %s", dir);
    FILE *ls = popen(cmd, "r");
    cr_assert_not_null(ls);
    size_t n = fread(buf, 1, cap - 1, ls);
    buf[n] = '\0';
    pclose(ls);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += buf[i] == '\n';
    return lines;
}

/* Issue 7, item 19: the path and errno's text, not cairo's "error while
 * writing to output stream". */
Test(plot, a_failed_write_names_the_path_and_the_cause)
{
    cg_context *ctx = test_context();
    cr_assert_eq(cg_plot_fit(ctx, "/nonexistent/dir/fit.png", x, y, 3, 1, 0, "x", "y"),
                 CG_ERROR_IO);
    cr_assert(strstr(cg_error_message(ctx), "/nonexistent/dir/fit.png") &&
                  strstr(cg_error_message(ctx), "No such file or directory"),
              "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    /* A directory where the file should go: nothing is left behind. */
    char dir[64], target[128], listing[512];
    temp_dir(dir, sizeof dir);
    snprintf(target, sizeof target, "%s/loss.svg", dir);
    cr_assert_eq(mkdir(target, 0755), 0);
    const long e[2] = {1, 2};
    const float l[2] = {3, 2};
    cr_assert_eq(cg_plot_loss(ctx, target, e, l, 2), CG_ERROR_IO);
    cr_assert(strstr(cg_error_message(ctx), target) &&
                  strstr(cg_error_message(ctx), "Is a directory"),
              "%s", cg_error_message(ctx));
    cr_assert_eq(dir_entries(dir, listing, sizeof listing), 1, "only loss.svg/: %s", listing);
    cg_context_free(ctx);
}

/* Written beside the target and renamed into place: an existing file is
 * replaced whole, and no temporary file stays. */
Test(plot, replaces_a_file_whole_and_leaves_no_temporary)
{
    cg_context *ctx = test_context();
    char dir[64], png[128], listing[512];
    temp_dir(dir, sizeof dir);
    snprintf(png, sizeof png, "%s/fit.png", dir);
    write_file(png, "old contents");
    cr_assert_eq(cg_plot_fit(ctx, png, x, y, 3, 2.5f, -0.5f, "t_u", "t_c"), CG_OK, "%s",
                 cg_error_message(ctx));
    cr_assert_eq(dir_entries(dir, listing, sizeof listing), 1, "%s", listing);
    FILE *f = fopen(png, "rb");
    unsigned char sig[8];
    cr_assert_eq(fread(sig, 1, 8, f), 8);
    fclose(f);
    cr_assert_eq(memcmp(sig, "\x89PNG", 4), 0);
    struct stat st;
    cr_assert_eq(stat(png, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    cr_assert_eq(st.st_mode & 0777, 0666 & ~mask, "mode %o: as fopen would make it",
                 st.st_mode & 0777);
    cg_context_free(ctx);
}
