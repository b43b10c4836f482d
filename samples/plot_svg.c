/*
 * plot_svg.c - gpudf-sweep --plot (see plot_svg.h).
 */
#include "plot_svg.h"

#include "sweep_grid.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { W = 860, H = 620, LEFT = 120, RIGHT = 150, TOP = 60, BOTTOM = 90, MAX_TICKS = 20 };

/* Parameter p of row i; p == np is the series of a series sweep (row i
 * is on series i % nseries), as one more axis. */
static double pval(const plot_job *j, int64_t i, int p) {
  return p == j->np ? (double)(i % j->nseries) : j->cfg[i * j->np + p];
}

/* Sorted distinct values of parameter p over the finished configs. */
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static int64_t distinct(const plot_job *j, int p, double *out) {
  int64_t m = 0;
  for (int64_t i = 0; i < j->n; i++)
    if (j->ok[i]) out[m++] = pval(j, i, p);
  qsort(out, (size_t)m, sizeof *out, cmp_double);
  int64_t u = 0;
  for (int64_t i = 0; i < m; i++)
    if (u == 0 || out[i] != out[u - 1]) out[u++] = out[i];
  return u;
}
static int64_t index_of(const double *v, int64_t n, double x) {
  int64_t lo = 0, hi = n - 1;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (v[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Text for SVG: &, <, >, " escaped. */
static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    default: fputc(*s, f);
    }
  }
}
static void label(const plot_job *j, int p, double v, char *buf, size_t len) {
  if (p == j->np) snprintf(buf, len, "%s", j->series_label(j->series_user, (int64_t)v));
  else sg_format_value(j->k, j->t, p, v, buf, len);
}
static const char *param_name(const plot_job *j, int p) {
  gpudf_param_info pi;
  if (p == j->np) return "series";
  return gpudf_kernel_param(j->k, p, &pi) == GPUDF_OK ? pi.name : "?";
}

/* Viridis, five stops, linear between them; t in [0, 1]. */
static void colour(double t, char *buf, size_t len) {
  static const int stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98},
                                  {253, 231, 37}};
  if (!(t >= 0)) t = 0;
  if (t > 1) t = 1;
  double s = t * 4;
  int i = s >= 4 ? 3 : (int)s;
  double u = s - i;
  int rgb[3];
  for (int c = 0; c < 3; c++) rgb[c] = (int)lround(stops[i][c] + u * (stops[i + 1][c] - stops[i][c]));
  snprintf(buf, len, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}
static int better(const plot_job *j, double a, double b) {
  if (isnan(b)) return !isnan(a);
  return j->asc ? a < b : a > b;
}

static void header(FILE *f, const char *title) {
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
             "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
             "<text class=\"title\" x=\"%d\" y=\"30\" text-anchor=\"middle\" font-size=\"16\">",
          W, H, W, H, W, H, W / 2);
  xml_text(f, title);
  fputs("</text>\n", f);
}

/* The colour bar right of the plot, from lo (bottom) to hi (top). */
static void colour_bar(FILE *f, const char *name, double lo, double hi) {
  int x = W - RIGHT + 30, y0 = TOP, h = H - TOP - BOTTOM;
  fputs("<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">", f);
  for (int s = 0; s <= 10; s++) {
    char c[16];
    colour(s / 10.0, c, sizeof c);
    fprintf(f, "<stop offset=\"%g\" stop-color=\"%s\"/>", s / 10.0, c);
  }
  fputs("</linearGradient></defs>\n", f);
  fprintf(f, "<rect class=\"scale\" x=\"%d\" y=\"%d\" width=\"20\" height=\"%d\" fill=\"url(#scale)\" "
             "stroke=\"black\"/>\n", x, y0, h);
  for (int s = 0; s <= 4; s++) {
    double v = lo + (hi - lo) * s / 4.0;
    fprintf(f, "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">%.4g</text>\n", x + 26,
            y0 + h - h * s / 4, v);
  }
  fprintf(f, "<text class=\"zlabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", x + 10, y0 - 16);
  xml_text(f, name);
  fputs("</text>\n", f);
}

/* Tick labels along an axis: every k-th value, at most MAX_TICKS. */
static int tick_step(int64_t n) { return n <= MAX_TICKS ? 1 : (int)((n + MAX_TICKS - 1) / MAX_TICKS); }

static int heatmap(FILE *f, const plot_job *j, int py, int px, int nswept) {
  double *ys = malloc((size_t)j->n * sizeof *ys), *xs = malloc((size_t)j->n * sizeof *xs);
  if (!ys || !xs) {
    free(ys), free(xs);
    return -1;
  }
  int64_t ny = distinct(j, py, ys), nx = distinct(j, px, xs);
  double *z = malloc((size_t)(nx * ny) * sizeof *z);
  int64_t *who = malloc((size_t)(nx * ny) * sizeof *who);
  if (!z || !who) {
    free(ys), free(xs), free(z), free(who);
    return -1;
  }
  for (int64_t c = 0; c < nx * ny; c++) z[c] = NAN, who[c] = -1;
  double lo = INFINITY, hi = -INFINITY;
  int64_t best = -1;
  for (int64_t i = 0; i < j->n; i++) {
    if (!j->ok[i]) continue;
    double v = j->res[i * j->nr + j->metric];
    int64_t c = index_of(ys, ny, pval(j, i, py)) * nx + index_of(xs, nx, pval(j, i, px));
    if (who[c] < 0 || better(j, v, z[c])) z[c] = v, who[c] = i;
    if (best < 0 || better(j, v, j->res[best * j->nr + j->metric])) best = i;
  }
  /* The colour scale spans what the cells show. */
  for (int64_t c = 0; c < nx * ny; c++)
    if (!isnan(z[c])) {
      lo = z[c] < lo ? z[c] : lo;
      hi = z[c] > hi ? z[c] : hi;
    }
  char title[512];
  snprintf(title, sizeof title, "%s over %s and %s%s", j->metric_name, param_name(j, py),
           param_name(j, px), nswept > 2 ? (j->asc ? " (lowest over the other parameters)"
                                                   : " (highest over the other parameters)")
                                         : "");
  header(f, title);
  double cw = (double)(W - LEFT - RIGHT) / (double)nx, ch = (double)(H - TOP - BOTTOM) / (double)ny;
  char buf[128], buf2[128], col[16];
  for (int64_t r = 0; r < ny; r++)
    for (int64_t c = 0; c < nx; c++) {
      int64_t i = who[r * nx + c];
      if (i < 0) continue;  /* no config there (--where) */
      double v = z[r * nx + c];
      if (isnan(v)) snprintf(col, sizeof col, "#cccccc");
      else colour(hi > lo ? (v - lo) / (hi - lo) : 0.5, col, sizeof col);
      label(j, px, xs[c], buf, sizeof buf);
      label(j, py, ys[r], buf2, sizeof buf2);
      fprintf(f, "<rect class=\"cell\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                 "fill=\"%s\" data-x=\"", LEFT + c * cw, TOP + (ny - 1 - r) * ch, cw, ch, col);
      xml_text(f, buf);
      fputs("\" data-y=\"", f);
      xml_text(f, buf2);
      fprintf(f, "\" data-value=\"%.17g\" data-config=\"%lld\"><title>", v, (long long)i);
      xml_text(f, buf2);
      fputs(", ", f);
      xml_text(f, buf);
      fprintf(f, ": %.6g</title></rect>\n", v);
    }
  if (best >= 0) {
    int64_t r = index_of(ys, ny, pval(j, best, py)), c = index_of(xs, nx, pval(j, best, px));
    fprintf(f, "<rect class=\"best\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
               "stroke=\"red\" stroke-width=\"3\" data-config=\"%lld\"/>\n",
            LEFT + c * cw, TOP + (ny - 1 - r) * ch, cw, ch, (long long)best);
    label(j, py, ys[r], buf2, sizeof buf2);
    label(j, px, xs[c], buf, sizeof buf);
    fprintf(f, "<text class=\"bestlabel\" x=\"%d\" y=\"%d\" fill=\"red\">best: %s = ", LEFT, H - 20,
            param_name(j, py));
    xml_text(f, buf2);
    fprintf(f, ", %s = ", param_name(j, px));
    xml_text(f, buf);
    fprintf(f, ", %s = %.6g (config %lld)</text>\n", j->metric_name,
            j->res[best * j->nr + j->metric], (long long)best);
  }
  /* Axes: tick labels and names. */
  int sx = tick_step(nx), sy = tick_step(ny);
  for (int64_t c = 0; c < nx; c += sx) {
    label(j, px, xs[c], buf, sizeof buf);
    fprintf(f, "<text class=\"xtick\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">", LEFT + (c + 0.5) * cw,
            H - BOTTOM + 16);
    xml_text(f, buf);
    fputs("</text>\n", f);
  }
  for (int64_t r = 0; r < ny; r += sy) {
    label(j, py, ys[r], buf, sizeof buf);
    fprintf(f, "<text class=\"ytick\" x=\"%d\" y=\"%.2f\" text-anchor=\"end\" dominant-baseline=\"middle\">",
            LEFT - 6, TOP + (ny - 1 - r + 0.5) * ch);
    xml_text(f, buf);
    fputs("</text>\n", f);
  }
  fprintf(f, "<text class=\"xlabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\">",
          LEFT + (W - LEFT - RIGHT) / 2, H - BOTTOM + 40);
  xml_text(f, param_name(j, px));
  fprintf(f, "</text>\n<text class=\"ylabel\" x=\"30\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\" "
             "transform=\"rotate(-90 30 %d)\">", TOP + (H - TOP - BOTTOM) / 2, TOP + (H - TOP - BOTTOM) / 2);
  xml_text(f, param_name(j, py));
  fputs("</text>\n", f);
  colour_bar(f, j->metric_name, isfinite(lo) ? lo : 0, isfinite(hi) ? hi : 0);
  fputs("</svg>\n", f);
  free(ys), free(xs), free(z), free(who);
  return 0;
}

static int line_chart(FILE *f, const plot_job *j, int px) {
  double *xs = malloc((size_t)j->n * sizeof *xs);
  if (!xs) return -1;
  int64_t nx = distinct(j, px, xs);
  double *z = malloc((size_t)nx * sizeof *z);
  int64_t *who = malloc((size_t)nx * sizeof *who);
  if (!z || !who) {
    free(xs), free(z), free(who);
    return -1;
  }
  double lo = INFINITY, hi = -INFINITY;
  int64_t best = -1;
  for (int64_t c = 0; c < nx; c++) z[c] = NAN, who[c] = -1;
  for (int64_t i = 0; i < j->n; i++) {
    if (!j->ok[i]) continue;
    double v = j->res[i * j->nr + j->metric];
    int64_t c = index_of(xs, nx, pval(j, i, px));
    if (who[c] < 0 || better(j, v, z[c])) z[c] = v, who[c] = i;
    if (!isnan(v)) {
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    if (best < 0 || better(j, v, j->res[best * j->nr + j->metric])) best = i;
  }
  if (!isfinite(lo)) lo = 0, hi = 1;
  if (hi == lo) lo -= 0.5, hi += 0.5;
  char title[512], buf[128];
  snprintf(title, sizeof title, "%s over %s", j->metric_name, param_name(j, px));
  header(f, title);
  int pw = W - LEFT - 40, ph = H - TOP - BOTTOM;
  double step = nx > 1 ? (double)pw / (double)(nx - 1) : 0;
  fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n",
          LEFT, TOP, pw, ph);
  fputs("<polyline class=\"line\" fill=\"none\" stroke=\"#3b528b\" stroke-width=\"2\" points=\"", f);
  for (int64_t c = 0; c < nx; c++)
    if (!isnan(z[c])) fprintf(f, "%.2f,%.2f ", LEFT + c * step, TOP + ph - (z[c] - lo) / (hi - lo) * ph);
  fputs("\"/>\n", f);
  for (int64_t c = 0; c < nx; c++) {
    if (who[c] < 0 || isnan(z[c])) continue;
    label(j, px, xs[c], buf, sizeof buf);
    fprintf(f, "<circle class=\"point\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"#3b528b\" data-x=\"",
            LEFT + c * step, TOP + ph - (z[c] - lo) / (hi - lo) * ph);
    xml_text(f, buf);
    fprintf(f, "\" data-value=\"%.17g\" data-config=\"%lld\"/>\n", z[c], (long long)who[c]);
  }
  for (int s = 0; s <= 4; s++)
    fprintf(f, "<text class=\"ytick\" x=\"%d\" y=\"%d\" text-anchor=\"end\" dominant-baseline=\"middle\">%.4g</text>\n",
            LEFT - 6, TOP + ph - ph * s / 4, lo + (hi - lo) * s / 4);
  int sx = tick_step(nx);
  for (int64_t c = 0; c < nx; c += sx) {
    label(j, px, xs[c], buf, sizeof buf);
    fprintf(f, "<text class=\"xtick\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">", LEFT + c * step,
            TOP + ph + 16);
    xml_text(f, buf);
    fputs("</text>\n", f);
  }
  if (best >= 0 && !isnan(j->res[best * j->nr + j->metric])) {
    int64_t c = index_of(xs, nx, pval(j, best, px));
    double v = j->res[best * j->nr + j->metric];
    label(j, px, xs[c], buf, sizeof buf);
    fprintf(f, "<circle class=\"best\" cx=\"%.2f\" cy=\"%.2f\" r=\"7\" fill=\"none\" stroke=\"red\" "
               "stroke-width=\"3\" data-config=\"%lld\"/>\n",
            LEFT + c * step, TOP + ph - (v - lo) / (hi - lo) * ph, (long long)best);
    fprintf(f, "<text class=\"bestlabel\" x=\"%d\" y=\"%d\" fill=\"red\">best: %s = ", LEFT, H - 20,
            param_name(j, px));
    xml_text(f, buf);
    fprintf(f, ", %s = %.6g (config %lld)</text>\n", j->metric_name, v, (long long)best);
  }
  fprintf(f, "<text class=\"xlabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\">",
          LEFT + pw / 2, H - BOTTOM + 40);
  xml_text(f, param_name(j, px));
  fprintf(f, "</text>\n<text class=\"ylabel\" x=\"30\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\" "
             "transform=\"rotate(-90 30 %d)\">", TOP + ph / 2, TOP + ph / 2);
  xml_text(f, j->metric_name);
  fputs("</text>\n</svg>\n", f);
  free(xs), free(z), free(who);
  return 0;
}

int plot_svg_write(const plot_job *j, const char *path, char *err, size_t errlen) {
  int swept[2], nswept = 0;
  int64_t nok = 0;
  for (int64_t i = 0; i < j->n; i++) nok += j->ok[i] != 0;
  if (nok == 0) {
    snprintf(err, errlen, "--plot: no config finished, nothing to plot");
    return -1;
  }
  for (int p = 0; p < j->np; p++) {
    int64_t first = -1;
    int varies = 0;
    for (int64_t i = 0; i < j->n && !varies; i++) {
      if (!j->ok[i]) continue;
      if (first < 0) first = i;
      else varies = pval(j, i, p) != pval(j, first, p);
    }
    if (varies) {
      if (nswept < 2) swept[nswept] = p;
      nswept++;
    }
  }
  /* A series sweep: the series are one more swept axis, the y axis of a
   * heatmap over one swept parameter. */
  if (j->nseries > 1) {
    if (nswept < 2) swept[nswept] = j->np;
    nswept++;
    if (nswept == 2) swept[1] = swept[0], swept[0] = j->np;
  }
  if (nswept == 0) {
    snprintf(err, errlen, "--plot: every config has the same parameters; sweep one or two of them "
                          "with --grid to plot");
    return -1;
  }
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, errlen, "--plot: cannot write '%s': %s", path, strerror(errno));
    return -1;
  }
  int rc = nswept == 1 ? line_chart(f, j, swept[0]) : heatmap(f, j, swept[0], swept[1], nswept);
  if (fclose(f) != 0 || rc != 0) {
    snprintf(err, errlen, "--plot: error writing '%s'", path);
    return -1;
  }
  return 0;
}
