/* ledgerd: serves the sales ledger's export to local clients over a UNIX socket.
 *
 * usage: ledgerd [-c CONFIG]   (default /etc/ledger/ledgerd.conf)
 *
 * A client sends "EXPORT sales v1\n" and gets the day's entries as CSV; the
 * connection is closed after the export. Logs to stderr.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char socket_path[108] = "/run/ledgerd/ledgerd.sock";
static char data_path[256] = "/var/lib/ledger/sales.csv";

static void say(const char *format, ...) {
  char when[32];
  time_t now = time(NULL);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
  fprintf(stderr, "%s ledgerd[%d]: ", when, (int)getpid());
  va_list args;
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fputc('\n', stderr);
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *end = s + strlen(s);
  while (end > s && isspace((unsigned char)end[-1])) *--end = 0;
  return s;
}

static void stop(int sig) {
  (void)sig;
  unlink(socket_path);
  _exit(0);
}

int main(int argc, char **argv) {
  const char *config = argc == 3 && strcmp(argv[1], "-c") == 0 ? argv[2] : "/etc/ledger/ledgerd.conf";
  FILE *f = fopen(config, "r");
  if (!f) { say("cannot read %s: %s", config, strerror(errno)); return 1; }
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *eq = strchr(line, '=');
    if (!eq) continue;
    *eq = 0;
    char *key = trim(line), *value = trim(eq + 1);
    if (strcmp(key, "socket") == 0) snprintf(socket_path, sizeof socket_path, "%s", value);
    else if (strcmp(key, "data") == 0) snprintf(data_path, sizeof data_path, "%s", value);
  }
  fclose(f);
  setvbuf(stderr, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, stop);
  signal(SIGINT, stop);

  int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path);
  unlink(socket_path);
  if (server < 0 || bind(server, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(server, 16) != 0) {
    say("cannot listen on %s: %s", socket_path, strerror(errno));
    return 1;
  }
  chmod(socket_path, 0666);
  say("listening on %s, data %s", socket_path, data_path);
  for (;;) {
    int client = accept4(server, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0) continue;
    char request[64] = {0};
    ssize_t n = read(client, request, sizeof request - 1);
    if (n <= 0 || strncmp(request, "EXPORT sales v1\n", 16) != 0) {
      static const char bad[] = "ERR unknown request\n";
      if (write(client, bad, sizeof bad - 1) < 0) {}
      close(client);
      continue;
    }
    FILE *data = fopen(data_path, "r");
    if (!data) {
      say("cannot read %s: %s", data_path, strerror(errno));
      close(client);
      continue;
    }
    char buf[8192];
    size_t got;
    long entries = 0;
    while ((got = fread(buf, 1, sizeof buf, data)) > 0) {
      for (size_t i = 0; i < got; i++) entries += buf[i] == '\n';
      if (write(client, buf, got) < 0) break;
    }
    fclose(data);
    close(client);
    say("export sent (%ld lines)", entries);
  }
}
