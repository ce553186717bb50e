#!/usr/bin/env bash
# The daemon packaged (Dockerfile, packaging/README.md): builds the Dockerfile's runtime
# stage with the binary under test in it, runs the daemon in a container with the engine's
# socket mounted and its API socket in a host directory, and drives one session of the
# shipped scenario sudoers-broken from the host CLI, start to report, then stops the daemon
# with SIGTERM. Everything it made (container, volume, temp dir, lab containers of the
# session) is removed on exit; on a failure the daemon's log is printed first. The
# Dockerfile's build stage (a second compile of breakfix) is not run here.
#
#   bash tests/packaging/container_test.sh BREAKFIX_BINARY SOURCE_DIR
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BREAKFIX_BINARY SOURCE_DIR" >&2
  exit 2
fi
BINARY=$(realpath "$1")
SOURCE_DIR=$(realpath "$2")
IMAGE=breakfix/daemon:test
BASE_IMAGE=breakfix/base:bookworm
SCENARIO=sudoers-broken
DOCKER_SOCKET=/var/run/docker.sock
if [[ "${DOCKER_HOST:-}" == unix://* ]]; then DOCKER_SOCKET=${DOCKER_HOST#unix://}; fi
NAME=breakfix-packaging-test-$$
VOLUME=breakfix-packaging-test-$$
RUN_DIR=$(mktemp -d /tmp/breakfix-packaging-test.XXXXXX)
SOCKET=$RUN_DIR/api.sock
SESSION=""
STARTED=$(date +%s)

say() { printf '[packaging %3ds] %s\n' "$(($(date +%s) - STARTED))" "$*"; }
fail() {
  printf '[packaging] FAIL: %s\n' "$*" >&2
  exit 1
}

cleanup() {
  local status=$?
  set +e
  if [ "$status" -ne 0 ] && docker container inspect "$NAME" >/dev/null 2>&1; then
    echo "----- daemon log (docker logs $NAME) -----" >&2
    docker logs --tail 200 "$NAME" >&2 2>&1
    echo "----- end of daemon log -----" >&2
  fi
  docker rm -f "$NAME" >/dev/null 2>&1
  if [ -n "$SESSION" ]; then
    # A failure half-way leaves the session's lab behind: take it down by its label.
    docker ps -aq --filter "label=breakfix.session=$SESSION" | xargs -r docker rm -f >/dev/null 2>&1
    docker network ls -q --filter "label=breakfix.session=$SESSION" | xargs -r docker network rm >/dev/null 2>&1
  fi
  docker volume rm -f "$VOLUME" >/dev/null 2>&1
  rm -rf "$RUN_DIR"
  if [ "$status" -eq 0 ]; then
    say "PASS"
  else
    echo "[packaging] failed (exit $status) after $(($(date +%s) - STARTED)) s" >&2
  fi
  exit "$status"
}
trap cleanup EXIT

breakfix() { "$BINARY" "$@" --socket "$SOCKET"; }
# The lab containers of the session, by the label the provisioner puts on each.
lab_containers() { docker ps -aq --filter "label=breakfix.session=$SESSION"; }

[ -x "$BINARY" ] || fail "$BINARY is not an executable"
[ -f "$SOURCE_DIR/Dockerfile" ] || fail "$SOURCE_DIR has no Dockerfile"
docker version >/dev/null 2>&1 || fail "the Docker engine does not answer (provisioning/setup-host.sh starts it)"
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 ||
  fail "the base image $BASE_IMAGE is missing: build it with '$BINARY image base'"

# --- 1. the image ------------------------------------------------------------------------
# The Dockerfile's runtime stage, as shipped, plus the binary under test: CI compiles breakfix
# once, on the host, rather than a second time inside `docker build` (minutes on 2 cores).
# The sanitizer runtimes that a test build links are copied in beside it.
RUNTIME_IMAGE=breakfix/daemon-runtime:test
build_image() { # LOG TAG DOCKER-BUILD-ARGS...: progress on stdout, the whole log on failure
  local log=$1 tag=$2
  shift 2
  if ! docker build -t "$tag" "$@" 2>&1 | tee "$log" | while IFS= read -r line; do
    case "$line" in
      Step\ *|Successfully\ built*) say "  ${line:0:140}" ;;
    esac
  done; then
    tail -n 40 "$log" >&2
    fail "docker build -t $tag $* failed"
  fi
}
say "building $RUNTIME_IMAGE: the Dockerfile's runtime stage"
build_began=$(date +%s)
build_image "$RUN_DIR/runtime-build.log" "$RUNTIME_IMAGE" --target runtime "$SOURCE_DIR"

context=$RUN_DIR/context
mkdir -p "$context/lib"
cp "$BINARY" "$context/breakfix"
ldd "$BINARY" | awk '$3 ~ /lib(a|ub|t)san/ { print $3 }' | xargs -r cp -t "$context/lib"
cat >"$context/Dockerfile" <<EOF
FROM $RUNTIME_IMAGE
COPY lib/ /usr/local/lib/
COPY breakfix /usr/local/bin/breakfix
# LeakSanitizer stops the world with ptrace, which a container may not allow; the host's
# tests check for leaks.
ENV ASAN_OPTIONS=detect_leaks=0
RUN ldconfig && breakfix serve --check --config /etc/breakfix/config.yaml
EOF
say "building $IMAGE: the runtime stage and $BINARY"
build_image "$RUN_DIR/build.log" "$IMAGE" "$context"
say "images built in $(($(date +%s) - build_began)) s"

# --- 2. the daemon in a container ----------------------------------------------------------
docker volume create "$VOLUME" >/dev/null
say "starting the daemon: container $NAME, volume $VOLUME, API socket dir $RUN_DIR"
docker run -d --name "$NAME" \
  -v "$DOCKER_SOCKET:/var/run/docker.sock" \
  -v "$VOLUME:/var/lib/breakfix" \
  -v "$RUN_DIR:/run/breakfix" \
  -p 127.0.0.1::2222 \
  "$IMAGE" >/dev/null

deadline=$(($(date +%s) + 60))
until breakfix session list >/dev/null 2>&1; do
  [ "$(docker inspect -f '{{.State.Running}}' "$NAME")" = true ] ||
    fail "the daemon's container exited (code $(docker inspect -f '{{.State.ExitCode}}' "$NAME"))"
  [ "$(date +%s)" -lt "$deadline" ] || fail "the API did not answer on $SOCKET within 60 s"
  sleep 0.5
done
say "the API answers on $SOCKET"

# --- 3. one session from the host CLI --------------------------------------------------------
say "breakfix session start $SCENARIO --candidate ci --password"
output=$("$BINARY" session start "$SCENARIO" --candidate ci --password --socket "$SOCKET" 2>&1) ||
  { printf '%s\n' "$output" >&2; fail "session start failed"; }
printf '%s\n' "$output" | sed 's/^/    /'
SESSION=$(printf '%s\n' "$output" | sed -n 's/^Session \([a-z0-9-]*\) is ready.*/\1/p')
[ -n "$SESSION" ] || fail "session start did not print 'Session ID is ready'"
grep -Eq "^  ssh (-p [0-9]+ )?$SESSION@" <<<"$output" || fail "session start printed no ssh command for $SESSION"
grep -q "one-time password" <<<"$output" || fail "session start printed no one-time password"

[ -n "$(docker ps -q --filter "label=breakfix.session=$SESSION")" ] ||
  fail "no running container has the label breakfix.session=$SESSION"
say "session $SESSION is ready; its lab: $(docker ps --filter "label=breakfix.session=$SESSION" --format '{{.Names}}' | tr '\n' ' ')"

state() { breakfix session show "$SESSION" -o json | sed -n 's/^  "state": "\([a-z]*\)".*/\1/p'; }

breakfix session end "$SESSION" >/dev/null || fail "session end failed"
deadline=$(($(date +%s) + 120))
while :; do
  current=$(state) || fail "session show $SESSION failed"
  case "$current" in
    graded|removed) break ;;
    failed) fail "session $SESSION failed while grading: $(breakfix session show "$SESSION" -o json)" ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || fail "session $SESSION is still '$current' 120 s after session end"
  sleep 1
done
say "session $SESSION is $current"

report=$(breakfix session report "$SESSION") || fail "session report failed"
grep -q "Score" <<<"$report" || { printf '%s\n' "$report" >&2; fail "the report has no Score"; }
say "report: $(grep -m1 'Score' <<<"$report")"

breakfix session rm "$SESSION" >/dev/null || fail "session rm failed"
deadline=$(($(date +%s) + 60))
while [ -n "$(lab_containers)" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "session rm left containers labelled breakfix.session=$SESSION after 60 s"
  sleep 1
done
say "session $SESSION removed; no container of it is left"

# --- 4. SIGTERM ---------------------------------------------------------------------------------
say "docker stop $NAME (SIGTERM)"
docker stop -t 40 "$NAME" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || fail "the daemon exited $code after SIGTERM (expected 0)"
docker logs "$NAME" 2>&1 | grep -q "stopped" || fail "the daemon's log does not end with 'stopped'"
[ -z "$(lab_containers)" ] || fail "containers labelled breakfix.session=$SESSION are left after the daemon stopped"
say "the daemon exited 0 on SIGTERM"
