/* Plots with cairo: the fitted line over the data (the lecture's figure) and
 * the loss curve on a log scale. PNG or SVG, chosen by the file's extension.
 * Each is written to a temporary file beside its path and renamed into place
 * when complete: a failed write never leaves half a file under the name. */
#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

#define WIDTH 800
#define HEIGHT 560
#define LEFT 90
#define RIGHT 30
#define TOP 40
#define BOTTOM 70

typedef struct axis {
    double lo, hi;
    bool log10;
} axis;

typedef struct plot {
    cairo_surface_t *surface;
    cairo_t *cr;
    bool png;
    axis x, y;
    char *tmp;       /* the temporary file beside the path */
    FILE *f;
    int write_errno; /* the first failed write's */
} plot;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static cairo_status_t write_out(void *closure, const unsigned char *data, unsigned int len)
{
    plot *p = closure;
    errno = 0;
    if (fwrite(data, 1, len, p->f) == len) return CAIRO_STATUS_SUCCESS;
    if (!p->write_errno) p->write_errno = errno ? errno : EIO;
    return CAIRO_STATUS_WRITE_ERROR;
}

/* Creates DIR/.BASE.PID.N.tmp beside path, exclusively, with the mode fopen
 * would give (0666 less the umask); sets errno and returns NULL on failure. */
static FILE *open_temp(const char *path, char **tmp_out)
{
    static atomic_uint counter;
    const char *slash = strrchr(path, '/');
    const int dirlen = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    size_t cap = strlen(path) + 64;
    char *tmp = cg__malloc(cap);
    if (!tmp) {
        errno = ENOMEM;
        return NULL;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, cap, "%.*s.%s.%ld.%u.tmp", dirlen, path, base, (long)getpid(),
                 atomic_fetch_add(&counter, 1u));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            break;
        }
        FILE *f = fdopen(fd, "wb");
        if (f) {
            *tmp_out = tmp;
            return f;
        }
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        break;
    }
    int e = errno;
    free(tmp);
    errno = e;
    return NULL;
}

/* Removes the temporary file (when not renamed into place) and frees. */
static void plot_discard(plot *p)
{
    if (p->f) fclose(p->f);
    if (p->tmp) unlink(p->tmp);
    free(p->tmp);
    p->f = NULL;
    p->tmp = NULL;
}

static cg_status plot_open(cg_context *ctx, plot *p, const char *path, const char *fn)
{
    memset(p, 0, sizeof *p);
    if (ends_with(path, ".png"))
        p->png = true;
    else if (!ends_with(path, ".svg"))
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: %s: the plot's file name must end in .png or .svg", fn, path);
    p->f = open_temp(path, &p->tmp);
    if (!p->f)
        return cg__fail(ctx, CG_ERROR_IO, "%s: cannot write %s: %s", fn, path, strerror(errno));
    if (p->png)
        p->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, WIDTH, HEIGHT);
    else
        p->surface = cairo_svg_surface_create_for_stream(write_out, p, WIDTH, HEIGHT);
    cairo_status_t st = cairo_surface_status(p->surface);
    if (st != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(p->surface);
        plot_discard(p);
        return cg__fail(ctx, st == CAIRO_STATUS_NO_MEMORY ? CG_ERROR_NO_MEMORY : CG_ERROR_IO,
                        "%s: %s: %s", fn, path, cairo_status_to_string(st));
    }
    p->cr = cairo_create(p->surface);
    cairo_set_source_rgb(p->cr, 1, 1, 1);
    cairo_paint(p->cr);
    cairo_select_font_face(p->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(p->cr, 14);
    return CG_OK;
}

/* Finishes the drawing into the temporary file, makes it durable, and
 * renames it onto path; any failure names path and errno's text. */
static cg_status plot_close(cg_context *ctx, plot *p, const char *path, const char *fn)
{
    cairo_destroy(p->cr);
    cairo_surface_flush(p->surface);
    cairo_status_t st = cairo_surface_status(p->surface);
    if (st == CAIRO_STATUS_SUCCESS && p->png)
        st = cairo_surface_write_to_png_stream(p->surface, write_out, p);
    cairo_surface_finish(p->surface); /* an SVG is written here */
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(p->surface);
    cairo_surface_destroy(p->surface);
    int err = st == CAIRO_STATUS_SUCCESS ? 0 : p->write_errno;
    if (st == CAIRO_STATUS_SUCCESS) {
        if (fflush(p->f) != 0 || fsync(fileno(p->f)) != 0) err = errno;
        FILE *f = p->f;
        p->f = NULL;
        if (fclose(f) != 0 && !err) err = errno;
        if (!err && rename(p->tmp, path) != 0) err = errno;
        if (!err) {
            free(p->tmp);
            p->tmp = NULL;
            return CG_OK;
        }
    }
    plot_discard(p);
    if (err)
        return cg__fail(ctx, err == ENOMEM ? CG_ERROR_NO_MEMORY : CG_ERROR_IO,
                        "%s: writing %s: %s", fn, path, strerror(err));
    return cg__fail(ctx, st == CAIRO_STATUS_NO_MEMORY ? CG_ERROR_NO_MEMORY : CG_ERROR_IO,
                    "%s: writing %s: %s", fn, path, cairo_status_to_string(st));
}

static double map_x(const plot *p, double v)
{
    return LEFT + (v - p->x.lo) / (p->x.hi - p->x.lo) * (WIDTH - LEFT - RIGHT);
}

static double map_y(const plot *p, double v)
{
    if (p->y.log10) v = log10(v);
    return HEIGHT - BOTTOM - (v - p->y.lo) / (p->y.hi - p->y.lo) * (HEIGHT - TOP - BOTTOM);
}

/* A range with a little margin, never empty. */
static axis padded(double lo, double hi)
{
    if (!(hi > lo)) {
        lo -= 1.0;
        hi += 1.0;
    }
    double pad = 0.05 * (hi - lo);
    return (axis){lo - pad, hi + pad, false};
}

/* A tick step of 1, 2 or 5 times a power of ten giving about 6 ticks. */
static double nice_step(double span)
{
    double raw = span / 6.0, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double ax, double ay)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static void draw_axes(plot *p, const char *xlabel, const char *ylabel, const char *title)
{
    cairo_t *cr = p->cr;
    double x0 = LEFT, x1 = WIDTH - RIGHT, y0 = HEIGHT - BOTTOM, y1 = TOP;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, x0, y1, x1 - x0, y0 - y1);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 12);
    char buf[32];
    double step = nice_step(p->x.hi - p->x.lo);
    for (double v = ceil(p->x.lo / step) * step; v <= p->x.hi; v += step) {
        double px = map_x(p, v);
        cairo_move_to(cr, px, y0);
        cairo_line_to(cr, px, y0 + 5);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", fabs(v) < step * 1e-9 ? 0.0 : v);
        text_at(cr, px, y0 + 8, buf, 0.5, 0.0);
    }
    if (p->y.log10) {
        /* Decades, with 2 and 5 between them when the range is narrow. */
        bool narrow = p->y.hi - p->y.lo < 3.0;
        for (double k = floor(p->y.lo); k <= ceil(p->y.hi); k++)
            for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
                if (m > 1 && !narrow) continue;
                double v = k + log10((double)m);
                if (v < p->y.lo || v > p->y.hi) continue;
                double py = HEIGHT - BOTTOM - (v - p->y.lo) / (p->y.hi - p->y.lo) * (y0 - y1);
                cairo_move_to(cr, x0 - 5, py);
                cairo_line_to(cr, x0, py);
                cairo_stroke(cr);
                snprintf(buf, sizeof buf, "%g", m * pow(10.0, k));
                text_at(cr, x0 - 8, py, buf, 1.0, 0.5);
            }
    } else {
        step = nice_step(p->y.hi - p->y.lo);
        for (double v = ceil(p->y.lo / step) * step; v <= p->y.hi; v += step) {
            double py = HEIGHT - BOTTOM - (v - p->y.lo) / (p->y.hi - p->y.lo) * (y0 - y1);
            cairo_move_to(cr, x0 - 5, py);
            cairo_line_to(cr, x0, py);
            cairo_stroke(cr);
            snprintf(buf, sizeof buf, "%g", fabs(v) < step * 1e-9 ? 0.0 : v);
            text_at(cr, x0 - 8, py, buf, 1.0, 0.5);
        }
    }
    cairo_set_font_size(cr, 14);
    text_at(cr, (x0 + x1) / 2, HEIGHT - 22, xlabel, 0.5, 0.5);
    if (title) text_at(cr, (x0 + x1) / 2, 18, title, 0.5, 0.5);
    cairo_save(cr);
    cairo_translate(cr, 22, (y0 + y1) / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, ylabel, 0.5, 0.5);
    cairo_restore(cr);
}

cg_status cg_plot_fit(cg_context *ctx, const char *path, const float *x, const float *y,
                      size_t n, float w, float b, const char *xlabel, const char *ylabel)
{
    static const char fn[] = "cg_plot_fit";
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (!path || !x || !y) return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: NULL argument", fn);
    if (n == 0) return cg__fail(ctx, CG_ERROR_INVALID_DATA, "%s: no data to plot", fn);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        xlo = fmin(xlo, x[i]);
        xhi = fmax(xhi, x[i]);
        ylo = fmin(ylo, y[i]);
        yhi = fmax(yhi, y[i]);
    }
    /* The line spans the data's x range; the y range holds both. */
    double l0 = (double)w * xlo + b, l1 = (double)w * xhi + b;
    if (isfinite(l0) && isfinite(l1)) {
        ylo = fmin(ylo, fmin(l0, l1));
        yhi = fmax(yhi, fmax(l0, l1));
    }
    plot p;
    if (plot_open(ctx, &p, path, fn)) return ctx->status;
    p.x = padded(xlo, xhi);
    p.y = padded(ylo, yhi);
    draw_axes(&p, xlabel ? xlabel : "x", ylabel ? ylabel : "y", NULL);
    cairo_t *cr = p.cr;
    cairo_rectangle(cr, LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    cairo_clip(cr);
    if (isfinite(l0) && isfinite(l1)) {
        cairo_set_source_rgb(cr, 0.12, 0.47, 0.71);
        cairo_set_line_width(cr, 2.0);
        cairo_move_to(cr, map_x(&p, xlo), map_y(&p, l0));
        cairo_line_to(cr, map_x(&p, xhi), map_y(&p, l1));
        cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 1.0, 0.50, 0.05);
    for (size_t i = 0; i < n; i++) {
        cairo_arc(cr, map_x(&p, x[i]), map_y(&p, y[i]), 4.5, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    return plot_close(ctx, &p, path, fn);
}

cg_status cg_plot_loss(cg_context *ctx, const char *path, const long *epochs, const float *loss,
                       size_t n)
{
    static const char fn[] = "cg_plot_loss";
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (!path || !epochs || !loss)
        return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: NULL argument", fn);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(loss[i] > 0.0f) || !isfinite(loss[i])) continue; /* log scale */
        xlo = fmin(xlo, (double)epochs[i]);
        xhi = fmax(xhi, (double)epochs[i]);
        ylo = fmin(ylo, log10(loss[i]));
        yhi = fmax(yhi, log10(loss[i]));
        shown++;
    }
    if (shown == 0)
        return cg__fail(ctx, CG_ERROR_INVALID_DATA, "%s: no positive finite loss to plot", fn);
    plot p;
    if (plot_open(ctx, &p, path, fn)) return ctx->status;
    p.x = padded(xlo, xhi);
    p.y = padded(ylo, yhi);
    p.y.log10 = true;
    draw_axes(&p, "epoch", "loss (log scale)", "Training loss");
    cairo_t *cr = p.cr;
    cairo_rectangle(cr, LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    cairo_clip(cr);
    cairo_set_source_rgb(cr, 0.12, 0.47, 0.71);
    cairo_set_line_width(cr, 1.5);
    bool pen = false;
    for (size_t i = 0; i < n; i++) {
        if (!(loss[i] > 0.0f) || !isfinite(loss[i])) {
            pen = false;
            continue;
        }
        double px = map_x(&p, (double)epochs[i]), py = map_y(&p, loss[i]);
        if (pen)
            cairo_line_to(cr, px, py);
        else
            cairo_move_to(cr, px, py);
        pen = true;
    }
    cairo_stroke(cr);
    return plot_close(ctx, &p, path, fn);
}
