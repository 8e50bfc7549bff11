#include "ctl/render.hpp"

#include <algorithm>
#include <ctime>

namespace sandnet::ctl {
namespace json = boost::json;

namespace {

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::string or_dash(std::string s) { return s.empty() ? "-" : s; }

// A JSON value as a table cell: strings bare, everything else as JSON.
std::string cell(const json::value& v) {
  if (const auto* s = v.if_string()) return std::string(*s);
  if (v.is_null()) return "-";
  if (const auto* a = v.if_array()) {
    std::vector<std::string> parts;
    for (const auto& x : *a) parts.push_back(cell(x));
    return join(parts, ",");
  }
  return json::serialize(v);
}

std::string format_time(std::int64_t unix_seconds) {
  if (unix_seconds <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (!::gmtime_r(&t, &tm)) return std::to_string(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string ranges(const std::vector<protocol::IdRange>& r) {
  std::vector<std::string> parts;
  for (const auto& x : r) parts.push_back(std::to_string(x.host_id) + "+" + std::to_string(x.size));
  return parts.empty() ? "-" : join(parts, ", ");
}

// A table of JSON objects: the columns are their keys, in first-seen order.
std::string render_objects(const json::array& items) {
  std::vector<std::string> header;
  for (const auto& item : items) {
    if (const auto* o = item.if_object())
      for (const auto& [k, v] : *o)
        if (std::find(header.begin(), header.end(), k) == header.end()) header.emplace_back(k);
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : items) {
    std::vector<std::string> row;
    const auto* o = item.if_object();
    for (const auto& key : header) {
      const auto* v = o ? o->if_contains(key) : nullptr;
      row.push_back(v ? cell(*v) : "-");
    }
    if (!o) row = {cell(item)};
    rows.push_back(std::move(row));
  }
  std::vector<std::string> upper;
  for (auto h : header) {
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    upper.push_back(std::move(h));
  }
  if (upper.empty()) upper.push_back("VALUE");
  return render_table(upper, rows);
}

}  // namespace

std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < width.size(); ++i) {
      const std::string& text = i < row.size() ? row[i] : std::string();
      line += text;
      if (i + 1 < width.size()) line.append(width[i] - text.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  emit(header);
  for (const auto& row : rows) emit(row);
  return out;
}

std::vector<std::string> result_addresses(const json::value& cni_result) {
  std::vector<std::string> out;
  const auto* r = cni_result.if_object();
  if (!r) return out;
  // 0.3.0 and later: "ips":[{"address":"10.1.2.3/24",...}]
  if (const auto* ips = r->if_contains("ips"); ips && ips->is_array()) {
    for (const auto& ip : ips->get_array())
      if (const auto* o = ip.if_object())
        if (const auto* a = o->if_contains("address"); a && a->is_string()) out.emplace_back(a->get_string());
  }
  // 0.1.0/0.2.0: "ip4":{"ip":...}, "ip6":{"ip":...}
  for (const char* family : {"ip4", "ip6"}) {
    if (const auto* f = r->if_contains(family); f && f->is_object())
      if (const auto* a = f->get_object().if_contains("ip"); a && a->is_string()) out.emplace_back(a->get_string());
  }
  return out;
}

std::string render_sandbox(const protocol::SandboxInfo& s) {
  std::vector<std::vector<std::string>> fields = {
      {"ID:", s.id},
      {"State:", or_dash(s.state)},
      {"Netns:", or_dash(s.netns)},
      {"PID:", s.pid ? std::to_string(*s.pid) : "-"},
  };
  if (!s.userns.empty()) fields.push_back({"Userns:", s.userns});
  for (auto& f : std::vector<std::vector<std::string>>{
      {"Owner:", std::to_string(s.owner_uid) + ":" + std::to_string(s.owner_gid)},
      {"Created:", format_time(s.created_unix)},
  })
    fields.push_back(std::move(f));
  std::vector<std::string> labels;
  for (const auto& [k, v] : s.labels) labels.push_back(k + "=" + v);
  if (!labels.empty()) fields.push_back({"Labels:", join(labels, ",")});
  std::string out;
  for (const auto& f : fields) out += f[0] + std::string(10 - f[0].size(), ' ') + f[1] + "\n";
  if (!s.attachments.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : s.attachments)
      rows.push_back({a.network, a.ifname, or_dash(join(result_addresses(a.result), ","))});
    out += "\n" + render_table({"NETWORK", "IFNAME", "ADDRESSES"}, rows);
  }
  return out;
}

std::string render_sandbox_list(const std::vector<protocol::SandboxInfo>& sandboxes) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : sandboxes) {
    std::vector<std::string> addresses, networks;
    for (const auto& a : s.attachments) {
      networks.push_back(a.network);
      for (auto& addr : result_addresses(a.result)) addresses.push_back(std::move(addr));
    }
    rows.push_back({s.id, or_dash(s.state), s.pid ? std::to_string(*s.pid) : "-", std::to_string(s.owner_uid),
                    or_dash(join(networks, ",")), or_dash(join(addresses, ",")), or_dash(s.netns)});
  }
  return render_table({"ID", "STATE", "PID", "OWNER", "NETWORKS", "ADDRESSES", "NETNS"}, rows);
}

std::string render_teardown(const protocol::TeardownResult& result) {
  std::string out = !result.existed ? result.id + ": no such sandbox, nothing to do\n"
                    : result.forced ? "forgot " + result.id + " (forced; see the errors for what was left behind)\n"
                                    : "torn down " + result.id + "\n";
  for (const auto& e : result.errors) out += "  error: " + e + "\n";
  return out;
}

std::string render_inspect(const client::InspectResult& result) {
  std::string out = "LINKS\n" + render_objects(result.links) + "\nADDRESSES\n" + render_objects(result.addresses) +
                    "\nROUTES\n" + render_objects(result.routes);
  if (result.anti_spoofing.empty()) return out;
  // What the host end of each attachment lets through, or why nothing is enforced.
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : result.anti_spoofing) {
    const auto* o = item.if_object();
    if (!o) continue;
    auto field = [o](std::string_view key) { return o->if_contains(key) ? cell(o->at(key)) : std::string("-"); };
    const auto* enforced = o->if_contains("enforced");
    bool on = enforced && enforced->is_bool() && enforced->get_bool();
    rows.push_back({field("network"), field("ifname"), on ? "yes" : "no", field("hostInterface"), field("mac"),
                    on ? field("ips") : field("reason")});
  }
  return out + "\nANTI-SPOOFING\n" +
         render_table({"NETWORK", "IFNAME", "ENFORCED", "HOST-IF", "MAC", "IPS / REASON"}, rows);
}

std::string render_networks(const std::vector<protocol::NetworkInfo>& networks) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : networks)
    rows.push_back({n.name, or_dash(n.cni_version), or_dash(join(n.plugins, ",")), n.is_default ? "yes" : "no",
                    or_dash(n.source)});
  return render_table({"NAME", "CNIVERSION", "PLUGINS", "DEFAULT", "SOURCE"}, rows);
}

std::string render_info(const protocol::RuntimeInfo& info) {
  std::string out;
  out += "Version:        " + or_dash(info.version) + "\n";
  out += "CNI versions:   " + or_dash(join(info.cni_versions, ", ")) + "\n";
  out += "UID mappings:   " + ranges(info.uid_mappings) + "\n";
  out += "GID mappings:   " + ranges(info.gid_mappings) + "\n";
  out += "Netns dir:      " + or_dash(info.netns_dir) + "\n";
  out += "Caller:         " + std::to_string(info.caller_uid) + ":" + std::to_string(info.caller_gid) + "\n";
  return out;
}

std::string render_gc(const client::GcResult& result) {
  std::string out = "removed: " + (result.removed.empty() ? std::string("none") : join(result.removed, ", ")) + "\n";
  for (const auto& e : result.errors) out += "  error: " + e + "\n";
  return out;
}

std::string render_status(const client::StatusResult& status) {
  std::string out;
  out += std::string("Ready:      ") + (status.ready ? "yes" : "no") + "\n";
  out += "Sandboxes:  " + std::to_string(status.sandboxes) + "\n";
  out += "In flight:  " + std::to_string(status.in_flight) + "\n";
  if (!status.networks.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : status.networks) rows.push_back({n.name, n.ok ? "ok" : "failed", or_dash(n.error)});
    out += "\n" + render_table({"NETWORK", "STATUS", "ERROR"}, rows);
  }
  return out;
}

std::string render_explanation(const json::object& e) {
  auto text = [](const json::value* v) -> std::string {
    if (!v) return "-";
    if (v->is_string()) return std::string(v->get_string());
    return json::serialize(*v);
  };
  auto flag = [](const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_bool() && v->get_bool();
  };
  std::string out;
  if (const auto* steps = e.if_contains("steps"); steps && steps->is_array()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& step : steps->get_array()) {
      if (!step.is_object()) continue;
      const auto& o = step.get_object();
      rows.push_back({text(o.if_contains("check")), flag(o, "ok") ? "ok" : "NO",
                      text(o.if_contains("detail"))});
    }
    out += render_table({"CHECK", "OK", "DETAIL"}, rows);
    out += "\nVerdict: " + text(e.if_contains("verdict"));
    if (const auto* reason = e.if_contains("reason")) out += ": " + text(reason);
    return out + "\n";
  }
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("ID:", text(e.if_contains("id")));
  fields.emplace_back("State:", text(e.if_contains("state")));
  if (const auto* pin = e.if_contains("pin"); pin && pin->is_object()) {
    const auto& p = pin->get_object();
    const bool live = flag(p, "live");
    const bool holds = flag(p, "holdsRecordedNetns");
    fields.emplace_back("Pin:", text(p.if_contains("path")) +
                                    (live ? (holds ? " (live, the recorded netns)" : " (live, ANOTHER netns)") : " (gone)"));
  }
  if (const auto* u = e.if_contains("userns"); u && u->is_object()) {
    const auto& p = u->get_object();
    const bool live = flag(p, "live");
    fields.emplace_back("Userns:", text(p.if_contains("path")) + (live ? " (live)" : " (gone)"));
  }
  if (const auto* proc = e.if_contains("process")) {
    if (proc->is_object()) {
      const auto& p = proc->get_object();
      const bool in = flag(p, "inRecordedNetns");
      const bool watched = flag(p, "watched");
      fields.emplace_back("Process:", "pid " + text(p.if_contains("pid")) + (in ? " (in the sandbox's netns" : " (GONE") +
                                          (watched ? ", watched)" : ")"));
    } else {
      fields.emplace_back("Process:", text(proc));
    }
  }
  if (const auto* atts = e.if_contains("attachments"); atts && atts->is_array()) {
    for (const auto& a : atts->get_array()) {
      if (!a.is_object()) continue;
      const auto& o = a.get_object();
      const bool cached = flag(o, "cniCacheEntry");
      fields.emplace_back("Attached:", text(o.if_contains("network")) + " " + text(o.if_contains("ifname")) + " " +
                                           text(o.if_contains("phase")) + (cached ? ", CNI cache entry" : ", NO CNI cache entry"));
    }
  }
  if (const auto* r = e.if_contains("retry"); r && r->is_object())
    fields.emplace_back("Retry:", "attempt " + text(r->get_object().if_contains("attempts")) + ", last error: " +
                                      text(r->get_object().if_contains("lastError")));
  for (const auto& [k, v] : fields) out += k + std::string(k.size() < 10 ? 10 - k.size() : 1, ' ') + v + "\n";
  out += "Verdict:  " + text(e.if_contains("verdict")) + "\n";
  if (const auto* problems = e.if_contains("problems"); problems && problems->is_array())
    for (const auto& p : problems->get_array()) out += "  - " + text(&p) + "\n";
  return out;
}

}  // namespace sandnet::ctl
