// sandnetctl's human-readable output: aligned tables and key/value blocks.
#pragma once

#include <string>
#include <vector>

#include "sandnet/client/client.hpp"

namespace sandnet::ctl {

// Columns padded to their widest cell, two spaces apart; no trailing blanks.
std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// The addresses in a CNI result ("10.1.2.3/24"), any spec version.
std::vector<std::string> result_addresses(const boost::json::value& cni_result);

std::string render_sandbox(const protocol::SandboxInfo& sandbox);
std::string render_sandbox_list(const std::vector<protocol::SandboxInfo>& sandboxes);
std::string render_teardown(const protocol::TeardownResult& result);
std::string render_inspect(const client::InspectResult& result);
std::string render_networks(const std::vector<protocol::NetworkInfo>& networks);
std::string render_info(const protocol::RuntimeInfo& info);
std::string render_gc(const client::GcResult& result);
std::string render_status(const client::StatusResult& status);
// sandbox.explain: a setup's checks (steps, verdict) or a sandbox's state.
std::string render_explanation(const boost::json::object& explanation);

}  // namespace sandnet::ctl
