# The breakfix daemon as an image (packaging/README.md). Built offline: both stages start
# FROM the local base image that `breakfix image base` builds (no registry is needed);
# apt-get inside the build reaches the Debian mirror.
#
#   docker build -t breakfix/daemon .
#   docker run -d --name breakfix -v /var/run/docker.sock:/var/run/docker.sock \
#     -v breakfix-data:/var/lib/breakfix -v /run/breakfix:/run/breakfix -p 2222:2222 breakfix/daemon
ARG BASE=breakfix/base:bookworm

# --- runtime: everything but the binary: its shared libraries, the scenarios, a config --
# The packaging test builds this stage alone (--target runtime) and adds the binary it has
# already compiled, so CI compiles breakfix once (tests/packaging/container_test.sh).
FROM ${BASE} AS runtime
# The libraries `ldd breakfix` names, by their Debian 12 packages (their own
# dependencies such as libfmt9, libicu72 and libkrb5-3 come with them), and the static
# bash and busybox that `breakfix image base` packs into the grader's toolbox.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libarchive13 libboost-filesystem1.74.0 libcrypt1 libsqlite3-0 libspdlog1.10 \
      libssh-4 libssl3 libyaml-cpp0.7 libprometheus-cpp-core1.0 \
      bash-static busybox-static \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# The defaults suit a container: the API socket in /run/breakfix (bind-mount a host
# directory there to drive sessions from the host), the SSH gateway on every interface,
# state in the /var/lib/breakfix volume. Replace the whole file with
# `-v /etc/breakfix/config.yaml:/etc/breakfix/config.yaml:ro` (docs/config.md); set
# listen.ssh_public_host there, or the ssh commands name the container's hostname.
RUN mkdir -p /etc/breakfix /var/lib/breakfix /run/breakfix /usr/share/breakfix/scenarios \
 && printf '%s\n' \
      '# breakfix daemon configuration (every key: docs/config.md)' \
      'listen:' \
      '  api_socket: /run/breakfix/api.sock' \
      '  api_socket_mode: "0660"' \
      '  ssh: 0.0.0.0:2222' \
      'data_dir: /var/lib/breakfix' \
      'scenario_dirs:' \
      '  - /usr/share/breakfix/scenarios' \
      'runtime:' \
      '  docker_socket: /var/run/docker.sock' \
      'log:' \
      '  format: text' \
      '  level: info' \
      > /etc/breakfix/config.yaml

COPY scenarios/ /usr/share/breakfix/scenarios/

VOLUME /var/lib/breakfix
EXPOSE 2222
# SIGTERM lets work under way finish for up to 30 s: run with --stop-timeout 40.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD curl -fsS --max-time 4 --unix-socket /run/breakfix/api.sock http://localhost/healthz >/dev/null || exit 1
ENTRYPOINT ["breakfix"]
CMD ["serve"]

# --- build: the breakfix binary alone, from Debian 12 packages only -------------------
FROM ${BASE} AS build
# doctest is left out: with BUILD_TESTING=OFF nothing looks for it.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config \
      libssh-dev libboost-dev libboost-filesystem-dev libyaml-cpp-dev libspdlog-dev \
      libsqlite3-dev nlohmann-json3-dev libcli11-dev libarchive-dev libssl-dev libcrypt-dev libdtl-dev \
      prometheus-cpp-dev npm \
 && rm -rf /var/lib/apt/lists/*

# Only what the `breakfix` target compiles (the web console's two npm packages are
# installed by `npm ci` during the build, from orchestrator/web/package-lock.json), so that editing docs, tests, benchmarks or
# scenarios reuses this stage from the cache.
WORKDIR /src
COPY CMakeLists.txt ./
COPY include/ include/
COPY orchestrator/ orchestrator/
COPY provisioning/ provisioning/
ARG JOBS=2
ARG BUILD_TYPE=RelWithDebInfo
# No -g: the binary is stripped of its debug info below, and -g costs a third of the compile.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DBUILD_TESTING=OFF -DBREAKFIX_BENCH=OFF \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
 && cmake --build /build --target breakfix -j ${JOBS} \
 && strip --strip-debug /build/breakfix \
 && /build/breakfix --version

# --- the image: the runtime and the binary built above ---------------------------------
FROM runtime
COPY --from=build /build/breakfix /usr/local/bin/breakfix
# What the LXD backend runs on each member of an LXD cluster; found beside breakfix.
COPY --from=build /build/breakfix-hostview /usr/local/bin/breakfix-hostview
RUN breakfix serve --check --config /etc/breakfix/config.yaml
