/* report-gen: prints the daily sales summary from the ledger service's export.
 *
 * usage: report-gen [-c CONFIG]
 *
 * The configuration (default /etc/report-gen/report-gen.conf) holds "key = value"
 * lines and "include GLOB" lines, read in order; a later value wins. A collector
 * process fetches the export from ledgerd over its UNIX socket and hands it to the
 * parent through a pipe; while ledgerd is not there (restarts, upgrades) the collector
 * waits and tries again, so a nightly run survives a ledger restart.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROWS 4096
#define MAX_KEYS 64

struct setting { char key[64]; char value[256]; };
static struct setting settings[MAX_KEYS];
static int n_settings;

static void set(const char *key, const char *value) {
  for (int i = 0; i < n_settings; i++)
    if (strcmp(settings[i].key, key) == 0) {
      snprintf(settings[i].value, sizeof settings[i].value, "%s", value);
      return;
    }
  if (n_settings == MAX_KEYS) return;
  snprintf(settings[n_settings].key, sizeof settings[n_settings].key, "%s", key);
  snprintf(settings[n_settings].value, sizeof settings[n_settings].value, "%s", value);
  n_settings++;
}

static const char *get(const char *key, const char *fallback) {
  for (int i = 0; i < n_settings; i++)
    if (strcmp(settings[i].key, key) == 0) return settings[i].value;
  return fallback;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *end = s + strlen(s);
  while (end > s && isspace((unsigned char)end[-1])) *--end = 0;
  return s;
}

static int read_config(const char *path, int depth) {
  if (depth > 8) return 0;
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *s = trim(line);
    if (!*s) continue;
    if (strncmp(s, "include", 7) == 0 && isspace((unsigned char)s[7])) {
      glob_t g;
      if (glob(trim(s + 7), 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) read_config(g.gl_pathv[i], depth + 1);
        globfree(&g);
      }
      continue;
    }
    char *eq = strchr(s, '=');
    if (!eq) continue;
    *eq = 0;
    set(trim(s), trim(eq + 1));
  }
  fclose(f);
  return 0;
}

/* The collector: fetch the export and write it to fd `out`. */
static int collect(int out) {
  const char *path = get("ledger_socket", "/run/ledgerd/ledgerd.sock");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  prctl(PR_SET_NAME, "rg-collector");
  unsigned delay = 1;
  for (int attempt = 0; attempt < 500; attempt++) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
      static const char request[] = "EXPORT sales v1\n";
      if (write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1)) { close(fd); return 1; }
      char buf[8192];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) { close(fd); return 1; }
      close(fd);
      return n < 0;
    }
    close(fd);
    /* ledgerd not up yet: back off, at most 20 s between tries */
    sleep(delay);
    if (delay < 20) delay *= 2;
  }
  return 1;
}

struct row { char region[32]; char product[48]; long qty; long cents; };
static struct row rows[MAX_ROWS];
static int n_rows;
static char day[16];

static void parse_export(char *data) {
  for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#' || strncmp(line, "date,", 5) == 0) continue;
    char d[16], region[32], product[48];
    long qty, cents;
    if (sscanf(line, "%15[^,],%31[^,],%47[^,],%ld,%ld", d, region, product, &qty, &cents) != 5) continue;
    if (n_rows == MAX_ROWS) break;
    snprintf(day, sizeof day, "%s", d);
    struct row *r = &rows[n_rows++];
    snprintf(r->region, sizeof r->region, "%s", region);
    snprintf(r->product, sizeof r->product, "%s", product);
    r->qty = qty;
    r->cents = qty * cents;
  }
}

static void money(char *buf, size_t size, long cents, const char *currency) {
  char digits[32];
  snprintf(digits, sizeof digits, "%ld", cents / 100);
  char grouped[48];
  int len = (int)strlen(digits), j = 0;
  for (int i = 0; i < len; i++) {
    if (i > 0 && (len - i) % 3 == 0) grouped[j++] = ',';
    grouped[j++] = digits[i];
  }
  grouped[j] = 0;
  snprintf(buf, size, "%s %s.%02ld", currency, grouped, cents % 100);
}

struct total { char name[48]; long qty; long cents; int orders; };

static int by_revenue(const void *a, const void *b) {
  const struct total *x = a, *y = b;
  if (x->cents != y->cents) return x->cents < y->cents ? 1 : -1;
  return strcmp(x->name, y->name);
}

static int add(struct total *t, int n, const char *name, const struct row *r) {
  for (int i = 0; i < n; i++)
    if (strcmp(t[i].name, name) == 0) { t[i].qty += r->qty; t[i].cents += r->cents; t[i].orders++; return n; }
  snprintf(t[n].name, sizeof t[n].name, "%s", name);
  t[n].qty = r->qty; t[n].cents = r->cents; t[n].orders = 1;
  return n + 1;
}

static void report(void) {
  const char *currency = get("currency", "EUR");
  int top = atoi(get("top", "3"));
  static struct total regions[MAX_ROWS], products[MAX_ROWS];
  int n_regions = 0, n_products = 0;
  long total = 0;
  for (int i = 0; i < n_rows; i++) {
    n_regions = add(regions, n_regions, rows[i].region, &rows[i]);
    n_products = add(products, n_products, rows[i].product, &rows[i]);
    total += rows[i].cents;
  }
  char m[64];
  printf("%s, %s\n\n", get("title", "Sales summary"), day);
  printf("%-12s %7s %20s\n", "region", "orders", "revenue");
  /* regions in the configured order first, then the rest by revenue */
  char order[256];
  snprintf(order, sizeof order, "%s", get("region_order", ""));
  int printed[MAX_ROWS] = {0};
  for (char *name = strtok(order, ", "); name; name = strtok(NULL, ", "))
    for (int i = 0; i < n_regions; i++)
      if (!printed[i] && strcmp(regions[i].name, name) == 0) {
        money(m, sizeof m, regions[i].cents, currency);
        printf("%-12s %7d %20s\n", regions[i].name, regions[i].orders, m);
        printed[i] = 1;
      }
  qsort(regions, (size_t)n_regions, sizeof regions[0], by_revenue);
  for (int i = 0; i < n_regions; i++) {
    int seen = 0;
    char order2[256];
    snprintf(order2, sizeof order2, "%s", get("region_order", ""));
    for (char *name = strtok(order2, ", "); name; name = strtok(NULL, ", "))
      if (strcmp(regions[i].name, name) == 0) seen = 1;
    if (seen) continue;
    money(m, sizeof m, regions[i].cents, currency);
    printf("%-12s %7d %20s\n", regions[i].name, regions[i].orders, m);
  }
  money(m, sizeof m, total, currency);
  printf("%-12s %7d %20s\n\n", "total", n_rows, m);
  qsort(products, (size_t)n_products, sizeof products[0], by_revenue);
  printf("top %d products by revenue\n", top);
  for (int i = 0; i < top && i < n_products; i++) {
    money(m, sizeof m, products[i].cents, currency);
    printf("%2d. %-28s %6ld %20s\n", i + 1, products[i].name, products[i].qty, m);
  }
}

int main(int argc, char **argv) {
  const char *config = "/etc/report-gen/report-gen.conf";
  int opt;
  while ((opt = getopt(argc, argv, "c:h")) != -1) {
    if (opt == 'c') config = optarg;
    else { fprintf(stderr, "usage: report-gen [-c CONFIG]\n"); return opt == 'h' ? 0 : 2; }
  }
  if (read_config(config, 0) != 0) {
    fprintf(stderr, "report-gen: cannot read %s: %s\n", config, strerror(errno));
    return 1;
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return 1;
  pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    close(pipefd[0]);
    _exit(collect(pipefd[1]));
  }
  close(pipefd[1]);
  size_t cap = 1 << 16, len = 0;
  char *data = malloc(cap);
  ssize_t n;
  while (data && (n = read(pipefd[0], data + len, cap - len - 1)) > 0) {
    len += (size_t)n;
    if (cap - len < 2) data = realloc(data, cap *= 2);
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (!data || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  data[len] = 0;
  parse_export(data);
  if (n_rows == 0) return 1;
  report();
  return 0;
}
