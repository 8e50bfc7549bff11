#include "sandbox_netns.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "sandnet/common/error.hpp"
#include "sandnet/netns/create.hpp"

namespace sandnet::daemon {
namespace {

std::vector<netns::IdMapEntry> to_entries(const std::vector<protocol::IdMapping>& mappings) {
  std::vector<netns::IdMapEntry> entries;
  entries.reserve(mappings.size());
  for (const auto& m : mappings) entries.push_back(netns::IdMapEntry{m.container_id, m.host_id, m.size});
  return entries;
}

OpenedNetns open_netns(protocol::SandboxRef ref, pid_t pid, unique_fd fd) {
  OpenedNetns o{[&] {
                  switch (ref) {
                    case protocol::SandboxRef::pid: return netns::NetnsHandle::from_pid(pid);
                    case protocol::SandboxRef::pidfd: return netns::NetnsHandle::from_pidfd(std::move(fd));
                    case protocol::SandboxRef::netns:
                    case protocol::SandboxRef::create: break;
                  }
                  return netns::NetnsHandle::from_netns_fd(std::move(fd));
                }(),
                {},
                std::nullopt,
                {}};
  o.facts = o.handle.facts();
  o.pid = o.handle.pid();
  return o;
}

}  // namespace

netns::NamespaceFacts planned_facts(const Caller& caller, const protocol::CreateNamespaces& create) {
  netns::NamespaceFacts facts;
  facts.owner_is_initial_userns = false;
  facts.owner_uid = caller.uid;
  facts.uid_map = to_entries(create.uid_mappings);
  facts.gid_map = to_entries(create.gid_mappings);
  return facts;
}

OpenedNetns open_sandbox_netns(const protocol::SetupParams& params, const Caller& caller, unique_fd passed_fd,
                               const std::function<void(const netns::NamespaceFacts&)>& authorize) {
  if (params.ref != protocol::SandboxRef::create) {
    OpenedNetns opened = open_netns(params.ref, params.pid, std::move(passed_fd));
    authorize(opened.facts);
    return opened;
  }
  netns::NamespaceFacts facts = planned_facts(caller, params.create);
  authorize(facts);
  auto created = netns::create_user_and_network_namespaces(facts.uid_map, facts.gid_map, caller.uid, caller.gid);
  struct stat st {};
  if (::fstat(created.netns.get(), &st) != 0) throw_errno("stat the new network namespace");
  facts.inode = st.st_ino;
  facts.device = st.st_dev;
  return OpenedNetns{netns::NetnsHandle::from_netns_fd(std::move(created.netns)), std::move(facts), std::nullopt,
                     std::move(created.userns)};
}

unique_fd dup_cloexec(int fd) {
  unique_fd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!copy) throw_errno("dup pidfd");
  return copy;
}

}  // namespace sandnet::daemon
