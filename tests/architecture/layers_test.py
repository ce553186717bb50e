#!/usr/bin/env python3
"""The layers of docs/architecture.md, as the build draws them: each part's sources may
include the headers of the parts below it and no others.

For every part, takes the compile flags of one of its sources from the build's
compile_commands.json and preprocesses a one-line file that includes a header of every
other part (`g++ -E`). A header of a part below must be found; a header of a part above
or beside must not be, so that including it fails the build.

    layers_test.py BUILD_DIR
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

# part -> (a source of it, a header of it or None, the parts whose headers it may include)
PARTS = {
    "scenario": ("orchestrator/scenario/path_glob.cpp", "scenario/path_glob.h", set()),
    "store": ("orchestrator/store/sqlite_store.cpp", None, set()),
    "session": ("orchestrator/session/vars.cpp", "session/vars.h", {"scenario"}),
    "gateway": ("orchestrator/gateway/asciicast.cpp", "gateway/authenticator.h", {"scenario", "session"}),
    "daemon": ("orchestrator/daemon/metrics.cpp", "daemon/credentials.h", {"scenario", "session", "gateway", "store"}),
    "cli": ("orchestrator/cli/table.cpp", "cli/table.h", {"scenario", "session", "gateway", "store", "daemon"}),
}


def include_flags(command):
    """The flags of a compile command that decide where headers are found."""
    words = shlex.split(command)
    flags, keep_next = [], False
    for word in words:
        if keep_next:
            flags.append(word)
            keep_next = False
        elif word in ("-I", "-isystem", "-D", "-std"):
            flags.append(word)
            keep_next = True
        elif word.startswith(("-I", "-isystem", "-D", "-std=")):
            flags.append(word)
    return flags


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    source_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commands = {os.path.relpath(entry["file"], source_root): entry.get("command") or shlex.join(entry["arguments"])
                for entry in json.load(open(os.path.join(build, "compile_commands.json")))}
    failures, checks = [], 0
    with tempfile.TemporaryDirectory() as work:
        probe = os.path.join(work, "probe.cpp")
        for part, (source, _, below) in PARTS.items():
            if source not in commands:
                failures.append(f"{source} ({part}) is not in {build}/compile_commands.json")
                continue
            flags = include_flags(commands[source])
            for other, (_, header, _) in PARTS.items():
                if other == part or header is None:
                    continue
                with open(probe, "w") as f:
                    f.write(f'#include "{header}"\n')
                found = subprocess.run(["g++", "-E", "-o", os.devnull, *flags, probe],
                                       capture_output=True, text=True).returncode == 0
                expected = other in below
                checks += 1
                if found != expected:
                    verb = "cannot include" if expected else "can include"
                    failures.append(f"{part} {verb} {header} ({other} is {'below' if expected else 'not below'} it)")
    for failure in failures:
        print("FAIL:", failure, file=sys.stderr)
    print(f"layers: {checks - len(failures)} of {checks} include checks as docs/architecture.md draws them",
          file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
