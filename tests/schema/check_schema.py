#!/usr/bin/python3
"""Keeps docs/scenario.schema.json true to the loader.

- The schema is a valid draft-07 schema.
- Every shipped scenario, and every valid example in tests/schema/valid/, passes it.
- Every corpus file whose mistake the schema can see (unknown keys, wrong types and
  enums, missing required keys) fails it: the list below names them.
"""
import pathlib
import sys

import jsonschema
import yaml

root = pathlib.Path(__file__).resolve().parents[2]
schema = yaml.safe_load((root / "docs/scenario.schema.json").read_text())
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)

# Corpus mistakes a JSON schema can express (semantic ones such as unknown host
# references or duplicate names are the loader's alone; so is `entry: yes`, a
# boolean to PyYAML's YAML 1.1 but a string to yaml-cpp and editors, which read YAML 1.2).
SCHEMA_VISIBLE = [
    "wrong-apiversion", "missing-apiversion", "missing-id", "id-upper-case", "id-too-short",
    "id-leading-dash", "missing-title", "title-two-lines", "missing-kind", "kind-unknown",
    "difficulty-unknown", "duration-without-unit", "duration-garbage", "duration-units-out-of-order",
    "unknown-top-level-key", "unknown-check-key", "missing-description", "blank-description",
    "tags-not-a-list", "tags-duplicate", "image-and-build", "host-without-image", "no-hosts-no-image",
    "build-absolute-path", "hosts-and-shorthand", "host-name-invalid",
    "weight-zero", "weight-negative", "weight-quoted", "weight-word", "check-timeout-without-unit",
    "expect-unknown", "serial-not-boolean", "checks-empty", "checks-missing", "run-empty", "run-blank",
    "run-is-a-list", "fault-missing-run", "break-fix-without-faults", "fault-name-missing",
    "solution-missing", "solution-empty", "hint-without-text", "var-name-lower-case",
    "var-name-reserved", "var-choice-and-range", "var-choice-empty", "var-range-not-numbers",
    "network-unknown", "memory-not-a-size", "cpus-zero", "pids-quoted", "resources-unknown-key",
    "user-invalid", "workdir-relative", "image-with-space", "hosts-not-a-list",
    "tmpfs-relative-path", "tmpfs-missing-size", "tmpfs-unknown-key", "tmpfs-mode-not-octal",
    "expected-changes-relative", "expected-changes-double-star-inside", "expected-changes-not-a-list",
    "rubric-one-level", "rubric-bad-name", "customer-without-reply", "reply-on-break-fix", "customer-without-rubric",
    "reply-relative-path", "init-unknown",
]

failures = []
valid_files = sorted(root.glob("scenarios/*/scenario.yaml")) + sorted((root / "tests/schema/valid").glob("*.yaml"))
for path in valid_files:
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
    if errors:
        failures.append(f"{path}: the schema rejects a valid scenario: {errors[0].message}")

corpus = {p.stem.split("-", 1)[1]: p for p in (root / "tests/corpus/invalid").glob("*.yaml")}
for name in SCHEMA_VISIBLE:
    path = corpus.get(name)
    if path is None:
        failures.append(f"no corpus file named *-{name}.yaml")
        continue
    document = yaml.safe_load(path.read_text())
    if validator.is_valid(document):
        failures.append(f"{path}: the schema accepts a scenario the loader rejects")

# Plans have their own schema: every shipped plan passes it, and it refuses what the
# loader refuses of a plan's shape.
plan_schema = yaml.safe_load((root / "docs/plan.schema.json").read_text())
jsonschema.Draft7Validator.check_schema(plan_schema)
plan_validator = jsonschema.Draft7Validator(plan_schema)
plan_files = sorted(root.glob("scenarios/*/plan.yaml"))
if not plan_files:
    failures.append("no shipped plan (scenarios/*/plan.yaml) to check the plan schema against")
for path in plan_files:
    document = yaml.safe_load(path.read_text())
    errors = list(plan_validator.iter_errors(document))
    if errors:
        failures.append(f"{path}: the plan schema rejects a valid plan: {errors[0].message}")
    for broken in ({**document, "parts": document["parts"][:1]}, {**document, "mode": "parallel"},
                   {**document, "kind": "break-fix"}, {k: v for k, v in document.items() if k != "parts"}):
        if plan_validator.is_valid(broken):
            failures.append(f"{path}: the plan schema accepts a broken plan the loader refuses")

for failure in failures:
    print(failure)
checked = len(valid_files) + len(SCHEMA_VISIBLE) + len(plan_files)
print(f"schema: {checked - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
