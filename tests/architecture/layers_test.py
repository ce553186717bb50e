#!/usr/bin/env python3
"""The layers of docs/architecture.md, as the build draws them: each part's sources may
include the headers of the parts below it and no others.

For every part, takes the compile flags of its target from the build's
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

# part -> (its CMake target, a header of it or None, the parts whose headers it may include)
PARTS = {
    "scenario": ("breakfix_scenario", "scenario/path_glob.h", set()),
    "store": ("breakfix_store", None, set()),
    "session": ("breakfix_session", "session/vars.h", {"scenario"}),
    "gateway": ("breakfix_gateway", "gateway/authenticator.h", {"scenario", "session"}),
    "daemon": ("breakfix_daemon", "daemon/credentials.h", {"scenario", "session", "gateway", "store"}),
    "cli": ("breakfix_cli", "cli/table.h", {"scenario", "session", "gateway", "store", "daemon"}),
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
    # A target's compile commands write into CMakeFiles/<target>.dir/, one a source or,
    # in a unity build, one a batch: any of them has the target's include flags.
    commands = {}
    for entry in json.load(open(os.path.join(build, "compile_commands.json"))):
        command = entry.get("command") or shlex.join(entry["arguments"])
        for target, _, _ in PARTS.values():
            # C++ sources only: the daemon's embedded web files are assembled (.S).
            if f"CMakeFiles/{target}.dir/" in command and not entry["file"].endswith(".S"):
                commands.setdefault(target, command)
    failures, checks, passed = [], 0, 0
    with tempfile.TemporaryDirectory() as work:
        probe = os.path.join(work, "probe.cpp")
        for part, (target, _, below) in PARTS.items():
            if target not in commands:
                failures.append(f"{target} ({part}) has no compile command in {build}/compile_commands.json")
                continue
            flags = include_flags(commands[target])
            for other, (_, header, _) in PARTS.items():
                if other == part or header is None:
                    continue
                with open(probe, "w") as f:
                    f.write(f'#include "{header}"\n')
                found = subprocess.run(["g++", "-E", "-o", os.devnull, *flags, probe],
                                       capture_output=True, text=True).returncode == 0
                expected = other in below
                checks += 1
                if found == expected:
                    passed += 1
                else:
                    verb = "cannot include" if expected else "can include"
                    failures.append(f"{part} {verb} {header} ({other} is {'below' if expected else 'not below'} it)")
    for failure in failures:
        print("FAIL:", failure, file=sys.stderr)
    print(f"layers: {passed} of {checks} include checks as docs/architecture.md draws them",
          file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
