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
