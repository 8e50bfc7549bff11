// What a killed sandnetd may leave running: plugins die with it
// (PR_SET_PDEATHSIG), but what they started (host-local under bridge,
// iptables under portmap) runs on and may act after the restarted daemon has
// rolled the same sandbox back (an IP allocated again, DNAT rules to a
// released IP). So the daemon leads a session of its own, every plugin and
// its children stay in it, and the next run kills what is left of the
// previous run's session before recovery acts.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace sandnet::daemon {

struct PreviousRunCleanup {
  pid_t previous_pid = 0;          // 0: no previous run recorded
  std::vector<pid_t> killed;       // leftovers of its session, SIGKILLed
  std::vector<std::string> problems;
};

// Makes this process a session leader if it is not one yet (setsid); a
// process group leader cannot be (started from a job-control shell): then
// the previous run's leftovers cannot be told apart and a warning says so.
// Returns whether this process now leads its session.
bool lead_own_session();

// Kills the processes left in the session of the run recorded in
// <state_dir>/run.json (if that process is gone: a live one is another
// daemon, or its PID was reused by a session leader that owns the session
// now), waits up to wait for them to exit, then records this run if it leads
// its session (else forgets the record: there is nothing to take over next time).
PreviousRunCleanup take_over_from_previous_run(const std::filesystem::path& state_dir, bool leading_session,
                                               std::chrono::milliseconds wait);

}  // namespace sandnet::daemon
