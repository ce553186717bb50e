#pragma once

// What the C++ benchmarks share: timing, medians, and giving up loudly.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "breakfix/docker_runtime.h"

namespace breakfix::bench {

using SteadyClock = std::chrono::steady_clock;

// The lab the runtime benchmarks launch: one host of the base image, nothing else.
constexpr const char* kOneHostLab = R"(apiVersion: breakfix/v1
id: bench
title: Bench
kind: break-fix
description: d
image: breakfix/base:bookworm
faults: [{name: f, run: "true"}]
checks: [{name: c, run: "false"}]
solution: [{run: "true"}]
)";

inline double ms_since(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// A benchmark measures only what works: anything else ends it, saying what failed.
inline void require(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "bench: " << what << " failed\n";
    std::exit(1);
  }
}

// RUNS, the first argument of every benchmark (default 10).
inline int runs_argument(int argc, char** argv) { return argc > 1 ? std::max(1, std::atoi(argv[1])) : 10; }

// The engine DOCKER_HOST names, as breakfix itself finds it.
inline std::unique_ptr<Runtime> connect_docker() {
  auto options = docker_options_from_environment();
  require(options.ok(), "reading DOCKER_HOST");
  return make_docker_runtime(*options);
}

}  // namespace breakfix::bench
