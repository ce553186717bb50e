#pragma once

// Tar archives for the Docker engine (build contexts and imported root file systems)
// and the SHA-256 digests that name built images by their content. libarchive and
// OpenSSL stay in archive.cpp. Every function is safe to call from any thread; none
// throws.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "breakfix/error.h"
#include "sha256.h"
#include "breakfix/runtime.h"

namespace breakfix::archive {

// A Docker build context: a tar (restricted pax) of everything under `dir`, paths
// relative to it ("Dockerfile", "app/main.py"), held in memory.
//
// The bytes depend on the tree's content alone (names, data, permission bits, symlink
// targets), never on file times, owners or directory listing order, so that hashing the
// result names the image: entries are sorted by path, mtime is 0, uid/gid are 0 and no
// user or group names are written. Regular files, directories and symlinks (stored as
// symlinks, target unchanged) are archived; hard links become separate regular files.
// A `.dockerignore` is NOT honoured: it is archived like any other file.
//
// Errors: NotFound if `dir` does not exist; Invalid if it is not a readable directory,
// if it holds any other kind of file (fifo, socket, device; the message names it), or if
// the tar would exceed `max_bytes` (the message names the directory and the limit);
// Failed if a file cannot be read. Nothing larger than about `max_bytes` is ever held.
Result<std::string> tar_directory(const std::filesystem::path& dir, std::size_t max_bytes);

// Writes `out_file`, a pax tar of the whole Linux root file system under `root` (a
// debootstrap result, to be imported as a Docker image), keeping everything an image
// needs: numeric uid/gid (no names, which would be looked up on this host), all mode
// bits including setuid/setgid/sticky, hard links as hard links, symlinks (never
// followed), device nodes, fifos, empty directories, extended attributes (including
// security.capability) and ACLs. Paths are relative: "./", "./bin/bash". File systems
// mounted below `root` (a /proc, say) are not entered; their mount point is archived
// as an empty directory. Sockets are skipped, as GNU tar does: tar cannot hold them and
// they are only ever left behind by a process that ran in the tree.
//
// The tar is written beside `out_file` and renamed into place when complete, so
// `out_file` is never a partial archive. `progress` (may be empty) receives a line such
// as "packed 12000 files (312 MiB)" every 2000 entries and once at the end. It runs on
// the calling thread. Needs root to read every file and keep every owner.
//
// Errors: NotFound if `root` does not exist; Invalid if `out_file` lies under `root`;
// Failed, naming the file, if any entry cannot be read completely (a warning from
// libarchive, such as unreadable extended attributes, counts as a failure: the image
// would silently lose something) or the archive cannot be written.
Status tar_root_filesystem(const std::filesystem::path& root, const std::filesystem::path& out_file,
                           const std::function<void(std::string_view)>& progress);

// Reads a tar as it streams in, as the Docker engine's archive of a path in a container
// (its entries named from that path's last component on: "nginx/", "nginx/nginx.conf";
// `base_dir` is the directory they are relative to, "/etc"). `pull` gives the next piece
// of the tar (empty at its end; a piece stays valid until the next pull). Each entry is
// offered to `want` as its header's record; wanted ones go to `visit` as FileRecords (the
// content of regular files hashed, and with ReadWant::Keep its first keep_bytes kept).
// Memory stays bounded whatever the tar holds: contents are never held beyond
// keep_bytes. After options.max_bytes of tar it stops reading; an entry cut there is
// visited without a digest.
//
// Returns true when the tar was read to its end, false when max_bytes or `visit` ended
// it first. Errors:
// the pull's own; Internal when the bytes are not a tar.
using PullFn = std::function<Result<std::string_view>()>;
Result<bool> read_tar_stream(const PullFn& pull, const std::string& base_dir, const TreeReadOptions& options,
                             const WantFn& want, const VisitFn& visit);

// The SHA-256 of a file's content as 64 lowercase hex digits, read in pieces.
// Errors: NotFound if the file does not exist, Failed if it cannot be read.
Result<std::string> sha256_file_hex(const std::filesystem::path& file);

}  // namespace breakfix::archive
