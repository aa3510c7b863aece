#define _GNU_SOURCE
/* The on-disk program cache: a second process skips the compiler, and no
 * damaged, foreign or mislabelled entry is ever handed to the driver or kept
 * (issue 7, item 1). Entry format: see src/host/backend/cl_program_cache.c. */
#include <dirent.h>
#include <sys/stat.h>

#include "helpers.h"

static size_t count_bins(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin")) n++;
    closedir(d);
    return n;
}

/* These tests are about clgrad's binary cache, which is off by default on
 * PoCL (it caches its own builds): on for every test but the policy's. */
static void binary_cache_on(void) { setenv("CLGRAD_BINARY_CACHE", "on", 1); }
TestSuite(program_cache, .init = binary_cache_on);

/* One lecture-sized eval on a fresh context with the cache in dir: the
 * context's stats (after the eval) and whether it is the reference path. */
static cg_context_stats one_eval(const char *dir, bool *ref)
{
    setenv("CLGRAD_CACHE_DIR", dir, 1);
    float x[3] = {1, 2, 3}, y[3] = {2, 4, 6}, p[2] = {1, 0}, loss;
    cg_context *ctx = test_context();
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(3)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(3));
    cg_linreg *m = cg_linreg_create(ctx, tx, ty);
    cr_assert_eq(cg_linreg_eval(m, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL), CG_OK,
                 "%s", cg_error_message(ctx));
    cg_context_stats stats = cg_context_stats_of(ctx);
    *ref = cg_context_is_ref(ctx);
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
    return stats;
}

/* CLGRAD_BINARY_CACHE: on reads and writes; off neither; auto (the
 * default) reads, and writes except on PoCL, whose own cache makes writing
 * a cost (asking it for a binary compiles every kernel of the program); a
 * value that is none of auto/on/off is the context's error, naming it. */
Test(program_cache, binary_cache_policy_follows_the_driver_and_the_variable)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    bool ref;
    setenv("CLGRAD_BINARY_CACHE", "off", 1);
    cg_context_stats off = one_eval(dir, &ref);
    if (ref) return; /* nothing is built on the reference path */
    cr_assert_eq(count_bins(dir), 0, "off writes nothing");
    setenv("CLGRAD_BINARY_CACHE", "on", 1);
    one_eval(dir, &ref);
    cr_assert_eq(count_bins(dir), 1);
    setenv("CLGRAD_BINARY_CACHE", "off", 1);
    off = one_eval(dir, &ref);
    cr_assert_eq(off.programs_from_cache, 0, "off reads no binary either");
    cr_assert_eq(off.programs_compiled, 1);
    unsetenv("CLGRAD_BINARY_CACHE");
    cg_context_stats autos = one_eval(dir, &ref);
    cr_assert_eq(autos.programs_from_cache, 1, "auto reads what is there");

    temp_dir(dir, sizeof dir);
    cg_context *ctx = test_context();
    bool pocl = strstr(cg_context_device(ctx)->platform, "Portable Computing Language") != NULL;
    cg_context_free(ctx);
    one_eval(dir, &ref);
    cr_assert_eq(count_bins(dir), pocl ? 0 : 1, "auto on %s",
                 pocl ? "PoCL writes nothing" : "another driver writes the binary");

    setenv("CLGRAD_BINARY_CACHE", "yes", 1);
    ctx = cg_context_create(NULL); /* the OpenCL device: ref returned above */
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), "CLGRAD_BINARY_CACHE") != NULL, "%s",
              cg_error_message(ctx));
    cg_context_free(ctx);
    setenv("CLGRAD_BINARY_CACHE", "on", 1);
}

Test(program_cache, second_context_loads_programs_from_the_disk_cache)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    setenv("CLGRAD_CACHE_DIR", dir, 1);
    float x[3] = {1, 2, 3}, y[3] = {2, 4, 6}, p[2] = {1, 0}, loss;
    cg_context_stats stats[2];
    for (int round = 0; round < 2; round++) {
        cg_context *ctx = test_context();
        cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(3)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(3));
        cg_linreg *m = cg_linreg_create(ctx, tx, ty);
        cr_assert_eq(cg_linreg_eval(m, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL), CG_OK,
                     "%s", cg_error_message(ctx));
        assert_close(loss, (1.0 + 4.0 + 9.0) / 3.0, 0, 1e-6, "loss %f", loss);
        stats[round] = cg_context_stats_of(ctx);
        cg_linreg_free(m);
        cg_tensor_free(tx);
        cg_tensor_free(ty);
        bool ref = cg_context_is_ref(ctx);
        cg_context_free(ctx);
        if (ref) {
            cr_assert_eq(stats[round].programs_compiled + stats[round].programs_from_cache, 0);
            cr_assert_eq(count_bins(dir), 0);
            return;
        }
    }
    cr_assert_eq(stats[0].programs_compiled, 1);
    cr_assert_eq(stats[0].programs_from_cache, 0);
    cr_assert_eq(count_bins(dir), 1);
    cr_assert_eq(stats[1].programs_compiled, 0, "the second context compiled again");
    cr_assert_eq(stats[1].programs_from_cache, 1);
    cr_assert_geq(stats[1].kernel_launches, 2);
}

Test(program_cache, corrupt_cache_entry_is_rebuilt)
{
    char dir[64], path[400];
    temp_dir(dir, sizeof dir);
    setenv("CLGRAD_CACHE_DIR", dir, 1);
    cg_context *ctx = test_context();
    if (cg_context_is_ref(ctx)) {
        cg_context_free(ctx);
        return;
    }
    float x[1] = {2}, y[1] = {1}, p[2] = {1, 0}, loss;
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(1)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(1));
    cg_linreg *m = cg_linreg_create(ctx, tx, ty);
    cr_assert_eq(cg_linreg_eval(m, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL), CG_OK);
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
    /* Overwrite the one cached binary with garbage. */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin")) snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    closedir(d);
    write_file(path, "not a binary");
    ctx = test_context();
    tx = cg_tensor_from(ctx, x, CG_SHAPE(1));
    ty = cg_tensor_from(ctx, y, CG_SHAPE(1));
    m = cg_linreg_create(ctx, tx, ty);
    cr_assert_eq(cg_linreg_eval(m, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL), CG_OK,
                 "%s", cg_error_message(ctx));
    assert_close(loss, 1.0, 0, 1e-6, "loss");
    cr_assert_eq(cg_context_stats_of(ctx).programs_compiled, 1);
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
}

/* ---- damaged entries ----------------------------------------------------- */

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*len);
    cr_assert_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static void spill(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* The one .bin in dir (asserts there is exactly one). */
static void only_bin(const char *dir, char *path, size_t cap)
{
    cr_assert_eq(count_bins(dir), 1);
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin")) snprintf(path, cap, "%s/%s", dir, e->d_name);
    closedir(d);
}

/* Runs the linear model's loss (program LINREG) in a fresh context; returns
 * its stats. The loss must be right whatever the cache held. */
static cg_context_stats run_linreg(void)
{
    float x[3] = {1, 2, 3}, y[3] = {2, 4, 6}, p[2] = {1, 0}, loss = 0;
    cg_context *ctx = test_context();
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(3)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(3));
    cg_linreg *m = cg_linreg_create(ctx, tx, ty);
    cr_assert_eq(cg_linreg_eval(m, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL), CG_OK,
                 "%s", cg_error_message(ctx));
    assert_close(loss, 14.0 / 3.0, 0, 1e-6, "loss %f", loss);
    cg_context_stats s = cg_context_stats_of(ctx);
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
    return s;
}

/* Runs an element-wise add (program ELEMENTWISE) in a fresh context. */
static void run_add(void)
{
    float a[2] = {1, 2}, b[2] = {3, 4}, out[2];
    cg_context *ctx = test_context();
    cg_tensor *ta = cg_tensor_from(ctx, a, CG_SHAPE(2)), *tb = cg_tensor_from(ctx, b, CG_SHAPE(2));
    cr_assert_eq(cg_tensor_read(cg_add(ta, tb), out, 2), CG_OK, "%s", cg_error_message(ctx));
    cr_assert(out[0] == 4 && out[1] == 6);
    cg_tape_reset(ctx);
    cg_tensor_free(ta);
    cg_tensor_free(tb);
    cg_context_free(ctx);
}

/* A cache directory holding one valid entry for the linreg program; false on
 * the reference path (which builds no programs). */
static bool one_entry(char *dir, size_t dcap, char *path, size_t pcap)
{
    temp_dir(dir, dcap);
    setenv("CLGRAD_CACHE_DIR", dir, 1);
    cg_context_stats s = run_linreg();
    if (s.programs_compiled + s.programs_from_cache == 0) return false;
    only_bin(dir, path, pcap);
    return true;
}

#define HEADER 32 /* magic 8, format 4, key length 4, binary length 8, checksum 8 */

Test(program_cache, truncated_entry_is_deleted_and_rebuilt)
{
    char dir[64], path[400];
    if (!one_entry(dir, sizeof dir, path, sizeof path)) return;
    size_t len;
    unsigned char *buf = slurp(path, &len);
    /* Cut anywhere: inside the header, the key, the binary. */
    size_t cuts[] = {0, 5, HEADER - 1, HEADER + 3, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spill(path, buf, cuts[i]);
        cg_context_stats s = run_linreg();
        cr_assert_eq(s.programs_compiled, 1, "cut at %zu: rebuilt from source", cuts[i]);
        cr_assert_eq(s.programs_from_cache, 0);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq((size_t)st.st_size, len, "cut at %zu: the entry is whole again", cuts[i]);
    }
    free(buf);
    cr_assert_eq(run_linreg().programs_from_cache, 1, "the rebuilt entry is used");
}

Test(program_cache, entry_with_a_bad_checksum_or_header_is_rebuilt)
{
    char dir[64], path[400];
    if (!one_entry(dir, sizeof dir, path, sizeof path)) return;
    size_t len;
    unsigned char *buf = slurp(path, &len);
    size_t flips[] = {0, 8, 12, 16, 24, len - 1, len / 2};
    for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
        unsigned char *bad = malloc(len);
        memcpy(bad, buf, len);
        bad[flips[i]] ^= 0x40;
        spill(path, bad, len);
        free(bad);
        cg_context_stats s = run_linreg();
        cr_assert_eq(s.programs_compiled, 1, "byte %zu flipped: rebuilt", flips[i]);
    }
    free(buf);
}

Test(program_cache, another_programs_binary_under_this_key_is_rebuilt)
{
    char dir[64], path[400];
    if (!one_entry(dir, sizeof dir, path, sizeof path)) return;
    size_t llen;
    unsigned char *linreg = slurp(path, &llen);
    /* The element-wise program's entry, beside it. */
    run_add();
    cr_assert_eq(count_bins(dir), 2);
    DIR *d = opendir(dir);
    struct dirent *e;
    char other[400] = "";
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin")) {
            char p[400];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (strcmp(p, path) != 0) snprintf(other, sizeof other, "%s", p);
        }
    closedir(d);
    size_t olen;
    unsigned char *add = slurp(other, &olen);

    /* The linreg entry's header and key, the element-wise binary, a valid
     * checksum: every check passes, and the driver loads a program that has
     * none of linreg's kernels. */
    uint32_t key_len = (uint32_t)linreg[12] | (uint32_t)linreg[13] << 8 |
                       (uint32_t)linreg[14] << 16 | (uint32_t)linreg[15] << 24;
    uint32_t okey_len = (uint32_t)add[12] | (uint32_t)add[13] << 8 | (uint32_t)add[14] << 16 |
                        (uint32_t)add[15] << 24;
    const unsigned char *obin = add + HEADER + okey_len;
    size_t obin_len = olen - HEADER - okey_len;
    size_t flen = HEADER + key_len + obin_len;
    unsigned char *forged = malloc(flen);
    memcpy(forged, linreg, HEADER + key_len);
    memcpy(forged + HEADER + key_len, obin, obin_len);
    uint64_t sum = fnv1a(obin, obin_len);
    for (int i = 0; i < 8; i++) {
        forged[16 + i] = (unsigned char)((uint64_t)obin_len >> (8 * i));
        forged[24 + i] = (unsigned char)(sum >> (8 * i));
    }
    spill(path, forged, flen);

    cg_context_stats s = run_linreg();
    cr_assert_eq(s.programs_from_cache, 1, "the forged entry passed the checks");
    cr_assert_eq(s.programs_compiled, 1, "then its kernels were missing: rebuilt from source");
    s = run_linreg();
    cr_assert_eq(s.programs_compiled, 0, "the rebuilt entry replaced the forged one");
    cr_assert_eq(s.programs_from_cache, 1);
    free(forged);
    free(add);
    free(linreg);
}

Test(program_cache, cache_dir_too_long_is_an_error_not_another_directory)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    size_t n = 5000;
    char *longdir = malloc(n + 1);
    snprintf(longdir, n + 1, "%s/", dir);
    for (size_t i = strlen(longdir); i < n; i++) longdir[i] = 'd';
    longdir[n] = '\0';
    setenv("CLGRAD_CACHE_DIR", longdir, 1);
    float x[1] = {2}, y[1] = {1}, p[2] = {1, 0}, loss;
    cg_context *ctx = test_context();
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(1)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(1));
    cg_linreg *m = cg_linreg_create(ctx, tx, ty);
    cg_status s = cg_linreg_eval(m, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL);
    if (cg_context_is_ref(ctx)) {
        cr_assert_eq(s, CG_OK, "no programs, no cache on the reference path");
    } else {
        cr_assert_eq(s, CG_ERROR_INVALID_ARGUMENT);
        cr_assert(strstr(cg_error_message(ctx), "CLGRAD_CACHE_DIR") != NULL, "%s",
                  cg_error_message(ctx));
    }
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
    free(longdir);
}
