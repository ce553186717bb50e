#include "lxd_build.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "breakfix/base_image.h"
#include "breakfix/percent_encoding.h"
#include "docker_connection.h"
#include "lxd_image.h"
#include "random_hex.h"
#include "scratch_dir.h"

namespace breakfix::lxd {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Streams a container's flattened file system (GET /containers/{id}/export) into `out`.
Status export_container(const std::string& socket, const std::string& id, const fs::path& out) {
  auto connection = docker::Connection::open(socket, std::chrono::seconds(300));
  if (!connection) return connection.error();
  auto body = (*connection)->open_body(docker::Method::Get, "/containers/" + percent_encode(id) + "/export",
                                       "export the built image");
  if (!body) return body.error();
  std::ofstream file(out, std::ios::binary);
  for (;;) {
    auto piece = (*body)->next();
    if (!piece) return piece.error();
    if (piece->empty()) break;
    file.write(piece->data(), static_cast<std::streamsize>(piece->size()));
    if (!file) return make_error(ErrorCode::Failed, "cannot write " + out.string());
  }
  file.close();
  if (!file) return make_error(ErrorCode::Failed, "cannot write " + out.string());
  return {};
}

// Docker has LXD's base as `docker_tag`, imported from LXD's store when it has not.
Status give_docker_the_base(const BuildOnDocker& with, const std::string& docker_tag, const fs::path& scratch,
                            const ProgressFn& progress) {
  auto present = with.docker.image_id(docker_tag);
  if (!present) return present.error();
  if (present->has_value()) return {};
  if (progress) progress("[lxd build] giving Docker LXD's base image as " + docker_tag + " (once)");
  const fs::path tar = scratch / "base.tar";
  if (Status made = rootfs_tar_of_image(with.lxd_image_dir, with.base_fingerprint, tar); !made) return made;
  return with.docker.import_image(tar, docker_tag, {std::string("LABEL ") + kLabelManaged + "=true"}, progress);
}

}  // namespace

std::string rebase_dockerfile(const std::string& dockerfile, const std::string& base_tag,
                              const std::string& replacement, int* replaced) {
  if (replaced) *replaced = 0;
  std::istringstream in(dockerfile);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string instruction, image;
    words >> instruction;
    if (lower(instruction) == "from") {
      // Flags (--platform=...) come before the image.
      while (words >> image && image.rfind("--", 0) == 0) {
      }
      if (image == base_tag) {
        const std::size_t at = line.find(image, line.find_first_not_of(" \t") + instruction.size());
        line.replace(at, image.size(), replacement);
        if (replaced) ++*replaced;
      }
    }
    out += line + "\n";
  }
  return out;
}

Status build_on_docker(const BuildOnDocker& with, const fs::path& context_dir, const std::string& tag,
                       const ProgressFn& progress, const std::function<Status(const fs::path&)>& import) {
  auto scratch = ScratchDir::make(with.work_dir, "breakfix-lxd-build");
  if (!scratch) return scratch.error();
  // The context, copied: its Dockerfile is rebased, the scenario's own is not touched.
  const fs::path context = scratch->path() / "context";
  std::error_code ec;
  fs::copy(context_dir, context, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec) return make_error(ErrorCode::Failed, "cannot copy " + context_dir.string() + ": " + ec.message());
  std::ifstream dockerfile_in(context_dir / "Dockerfile");
  std::stringstream dockerfile;
  dockerfile << dockerfile_in.rdbuf();
  const std::string base_tag = kBaseImageTag;
  const std::string docker_base = "breakfix/base-lxd:" + with.base_fingerprint.substr(0, 12);
  int from_base = 0;
  const std::string rebased = rebase_dockerfile(dockerfile.str(), base_tag, docker_base, &from_base);
  if (from_base > 0) {
    if (with.base_fingerprint.empty()) {
      return make_error(ErrorCode::NotFound, "cannot build " + context_dir.string() + " for LXD: it is FROM " +
                                                 base_tag + ", which LXD does not have (breakfix image base "
                                                 "--backend lxd)");
    }
    if (Status given = give_docker_the_base(with, docker_base, scratch->path(), progress); !given) return given;
    // The copy may be a symlink (copy_symlinks): replaced, never written through.
    fs::remove(context / "Dockerfile", ec);
    std::ofstream rebased_file(context / "Dockerfile", std::ios::trunc);
    rebased_file << rebased;
    rebased_file.close();
    if (!rebased_file) return make_error(ErrorCode::Failed, "cannot write " + (context / "Dockerfile").string());
  }

  // Of this build alone: two builds of one tag at once never remove each other's.
  const std::string docker_tag = "breakfix-lxd-build/" + tag.substr(tag.find('/') + 1) + "-" + random_hex(4);
  if (Status built = with.docker.build_image(context, docker_tag, progress); !built) return built;
  ContainerSpec spec;
  spec.name = "breakfix-lxd-export-" + random_hex(6);
  spec.image = docker_tag;
  spec.command = {"/bin/true"};
  // gc's, should this process die before it is removed: a session of its own that no
  // daemon has, so never another session's (a gc that knows its live ones spares it).
  spec.labels = {{kLabelManaged, "true"}, {kLabelSession, "lxd-build-" + random_hex(4)}};
  auto container = with.docker.create_container(spec);
  Status exported = container ? Status() : Status(container.error());
  const fs::path tar = scratch->path() / "rootfs.tar";
  if (exported) {
    if (progress) progress("[lxd build] exporting the built file system");
    exported = export_container(with.docker_socket, *container, tar);
    (void)with.docker.remove_container(*container);
  }
  (void)with.docker.remove_image(docker_tag);
  if (!exported) return exported;
  if (progress) progress("[lxd build] importing into LXD as " + tag);
  if (Status imported = import(tar); !imported) return imported;
  if (progress) progress("[lxd build] LXD has " + tag);
  return {};
}

}  // namespace breakfix::lxd
