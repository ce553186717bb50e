#pragma once

// A container's files read from the host, below the directory that holds its root file
// system: the LXD backend's view of a lab (docs/runtime.md, "LXD"), as the Docker
// engine's archives and change lists are the Docker backend's. Nothing runs in the
// container, and what its root does there cannot lead the reader out of it or lie to it:
// - the host sees the directory, not the container's mounts: a bind mount over a file
//   inside hides nothing;
// - every path is resolved with openat2(RESOLVE_IN_ROOT), so a symlink planted on the way
//   ("/srv -> /") resolves inside the container's root, never the host's; entries are
//   opened with O_NOFOLLOW and only read when fstat says they are regular files (a FIFO
//   swapped in never blocks);
// - a change is told by the inode's ctime, which no one in the container can set back
//   (that needs the host's clock), not by mtime, which `touch -r` sets.
// Needs root, as the unshifted owners of an unprivileged container's files do.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/error.h"
#include "breakfix/runtime.h"

namespace breakfix::lxd {

// How an unprivileged container's ids are stored on the host: its id n is host id
// host_base + n for n < count. count 0: the ids are the host's (a privileged container).
struct IdRange {
  std::int64_t host_base = 0;
  std::int64_t count = 0;
  // The container's id for a stored one; outside the range, the overflow id (65534), as
  // the kernel shows it inside.
  std::int64_t inside(std::int64_t stored) const;
};
struct IdShift {
  IdRange uids, gids;
};
// LXD's volatile.last_state.idmap ("[{"Isuid":true,"Isgid":false,"Hostid":165536,
// "Nsid":0,"Maprange":65536}, ...]"). Invalid when it is not that.
Result<IdShift> parse_idmap(std::string_view text);

// Runtime::read_tree's contract (runtime.h) for `path` of the container whose root file
// system is the host directory `root`. Entries come in the order a tar of the path would
// hold them, each directory's sorted by name; a file with more links than one is a hard
// link to the first path it was seen at; max_bytes counts what a tar would hold (512
// bytes a header, contents rounded up to 512). NotFound if `path` is absent.
Result<bool> read_host_tree(const std::filesystem::path& root, const std::string& path, const IdShift& ids,
                            const TreeReadOptions& options, const WantFn& want, const VisitFn& visit);

// Runtime::container_changes for the container whose root file system is `root`, made
// from an image that held `image_paths` (sorted, absolute), untouched until `since` (ns
// since the epoch, the host's clock): a path the image did not hold is Added, one it held
// whose inode changed after `since` is Modified, and one it held that is gone is Deleted
// (once, at the top of what went). Paths come as the walk finds them; nothing is held but
// the directories still to walk. File systems mounted below `root` are not entered.
Status host_changes(const std::filesystem::path& root, const std::vector<std::string>& image_paths,
                    std::int64_t since, const std::function<void(const FsChange&)>& visit);

// Runtime::writable_layer_bytes for the container whose root file system is `root`: the
// disk taken by what changed after `since` (as host_changes tells it), each entry at
// least 4096 bytes, so that a million empty files count as the inodes they take on the
// host's file system. Hard links count once.
Result<std::uint64_t> host_written_bytes(const std::filesystem::path& root, std::int64_t since);

}  // namespace breakfix::lxd
