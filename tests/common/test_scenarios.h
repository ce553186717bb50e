#pragma once

// Small valid scenarios shared by the unit tests (fake runtime) and the integration
// tests (real engine), so both exercise the same labs.

namespace breakfix::testing {

// One host on the base image, with limits that tests can see.
inline constexpr const char* kOneHostScenario = R"(apiVersion: breakfix/v1
id: runtime-test
title: Runtime test
kind: break-fix
description: d
image: breakfix/base:bookworm
resources: {cpus: 0.5, memory: 128Mi, pids: 64}
faults: [{name: f, run: "true"}]
checks: [{name: c, run: "false"}]
solution: [{run: "true"}]
)";

// Two hosts (entry "app", and "db") on the session's internal network.
inline constexpr const char* kTwoHostScenario = R"(apiVersion: breakfix/v1
id: runtime-test-two
title: Runtime test, two hosts
kind: break-fix
description: d
hosts:
  - {name: app, image: breakfix/base:bookworm, entry: true}
  - {name: db, image: breakfix/base:bookworm}
faults: [{name: f, host: db, run: "true"}]
checks: [{name: c, host: app, run: "false"}]
solution: [{host: db, run: "true"}]
)";

}  // namespace breakfix::testing
