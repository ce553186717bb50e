# Placeholder until the packaging issue (issue 5): it builds the breakfix binary the way
# the README does, from Debian 12 packages only. The final image runs the daemon with the
# Docker socket mounted. BASE is the offline base image that `breakfix image base` builds
# (issue 3); no registry is needed.
ARG BASE=breakfix/base:bookworm
FROM ${BASE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake ninja-build g++ libyaml-cpp-dev nlohmann-json3-dev libcli11-dev doctest-dev \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DBUILD_TESTING=OFF && cmake --build /build --target breakfix

FROM ${BASE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/breakfix /usr/local/bin/breakfix
COPY scenarios /usr/share/breakfix/scenarios
ENTRYPOINT ["breakfix"]
CMD ["scenario", "list"]
