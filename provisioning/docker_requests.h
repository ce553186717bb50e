#pragma once

// The Docker Engine API's JSON in and out: request bodies built from our specs and
// answers parsed into our types. Pure functions, so that unit tests pin down exactly
// what breakfix asks the engine for (isolation lives in these bodies).

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "breakfix/runtime.h"

namespace breakfix::docker {

// The capabilities a lab host keeps (all others are dropped): what an admin repairing
// a box needs. docs/runtime.md says why each is there and why the rest are not.
const std::vector<std::string>& lab_capabilities();

// PID 1 of every lab host: a shell (an init the candidate cannot kill: the kernel drops
// signals to a namespace's init that has no handler) that keeps a child sleeping and
// waits, which also reaps orphaned zombies as they die.
inline constexpr const char* kInitScript = "while :; do sleep 2147483647 & wait; done";


nlohmann::json container_create_body(const ContainerSpec& spec);
nlohmann::json network_create_body(const NetworkSpec& spec);
nlohmann::json exec_create_body(const ExecSpec& spec, const std::string& marker);

// ?filters={"label":["k=v",...]} with the JSON percent-encoded.
std::string label_filter_query(const Labels& match);

ContainerInfo parse_container_summary(const nlohmann::json& summary);  // GET /containers/json
ContainerInfo parse_container_inspect(const nlohmann::json& inspect);  // GET /containers/{id}/json
NetworkInfo parse_network(const nlohmann::json& network);
ImageInfo parse_image_summary(const nlohmann::json& summary);  // GET /images/json
ContainerState parse_container_state(const std::string& state);


}  // namespace breakfix::docker
