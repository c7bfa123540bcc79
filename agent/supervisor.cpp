// See supervisor.h.
#include "supervisor.h"

#include "iptables.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lanes::agent {
namespace {
volatile sig_atomic_t g_worker = 0;

void forwardSignal(int sig)
{
    if (g_worker > 0)
        kill(pid_t(g_worker), sig);
}

Result<void> failWithErrno(const std::string& what, int error)
{
    return fail(ErrorCode::Internal, QString::fromStdString(what + ": " + strerror(error)));
}

} // namespace

Result<void> joinNetworkNamespace(const std::string& name)
{
    const std::string path = "/run/netns/" + name;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return failWithErrno("cannot open " + path, errno);
    const int rc = setns(fd, CLONE_NEWNET);
    const int err = errno;
    close(fd);
    if (rc != 0)
        return failWithErrno("cannot enter " + path, err);
    return {};
}

Result<void> enterPodFiles(const std::string& name)
{
    if (unshare(CLONE_NEWNS) != 0)
        return failWithErrno("unshare(CLONE_NEWNS)", errno);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return failWithErrno("cannot make / private", errno);
    const std::string dir = "/etc/netns/" + name;
    DIR* d = opendir(dir.c_str());
    if (!d)
        return {}; // nothing of its own: the pod sees the node's files
    Result<void> outcome;
    while (const dirent* entry = readdir(d)) {
        const std::string file = entry->d_name;
        if (file == "." || file == "..")
            continue;
        const std::string from = dir + "/" + file;
        const std::string onto = "/etc/" + file;
        if (mount(from.c_str(), onto.c_str(), nullptr, MS_BIND, nullptr) != 0 && outcome)
            outcome = failWithErrno("cannot bind " + from + " onto " + onto, errno);
    }
    closedir(d);
    return outcome;
}

int superviseWorker(const std::string& agentId, const std::function<int()>& worker)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM); // the operator died: clean up and go
    if (const auto stale = removeChains({}); !stale)
        fprintf(stderr, "lanes-agent: cannot remove stale chains: %s\n", qPrintable(stale.error().message));
    else if (*stale > 0)
        fprintf(stderr, "lanes-agent: removed %d stale LANES_ chain(s)\n", *stale);
    if (const auto created = createChain(agentId); !created) {
        fprintf(stderr, "lanes-agent: cannot create the chain: %s\n", qPrintable(created.error().message));
        return 3;
    }
    const pid_t supervisor = getpid();
    const pid_t child = fork();
    if (child < 0) {
        (void)removeChains(agentId); // best effort: the operator's cleanup runs too
        return 3;
    }
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != supervisor)
            _exit(4); // the supervisor died before we armed the death signal
        _exit(worker());
    }
    prctl(PR_SET_NAME, "lanes-agent-sup");
    g_worker = child;
    struct sigaction sa = {};
    sa.sa_handler = forwardSignal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP})
        sigaction(sig, &sa, nullptr);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (const auto removed = removeChains(agentId); !removed)
        fprintf(stderr, "lanes-agent: cannot remove the chain: %s\n", qPrintable(removed.error().message));
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "lanes-agent: worker %d died of signal %d; chain %s removed\n", child,
                WTERMSIG(status), chainName(agentId).c_str());
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

} // namespace lanes::agent
