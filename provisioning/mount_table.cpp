#include "mount_table.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace breakfix::lxd {

Result<std::unique_ptr<MountTable>> MountTable::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::Failed, "cannot open " + path + ": " + std::strerror(errno));
  return std::unique_ptr<MountTable>(new MountTable(fd));
}

MountTable::~MountTable() { ::close(fd_); }

Result<std::string> MountTable::read() {
  // A proc file is read from where the last read ended: start over for the whole table.
  if (::lseek(fd_, 0, SEEK_SET) < 0) {
    return make_error(ErrorCode::Failed, std::string("cannot read a mount table: ") + std::strerror(errno));
  }
  std::string text;
  char buffer[8192];
  for (;;) {
    const ssize_t got = ::read(fd_, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return make_error(ErrorCode::Failed, std::string("cannot read a mount table: ") + std::strerror(errno));
    if (got == 0) return text;
    text.append(buffer, static_cast<std::size_t>(got));
  }
}

bool MountTable::changed() {
  // The kernel clears the mark when it is polled: once seen, it stays.
  pollfd pfd{fd_, POLLPRI, 0};
  if (::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLPRI | POLLERR)) != 0) changed_ = true;
  return changed_;
}

}  // namespace breakfix::lxd
