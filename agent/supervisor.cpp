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
} // namespace

std::string joinNetworkNamespace(const std::string& name)
{
    const std::string path = "/run/netns/" + name;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "cannot open " + path + ": " + strerror(errno);
    const int rc = setns(fd, CLONE_NEWNET);
    const int err = errno;
    close(fd);
    return rc == 0 ? std::string() : "cannot enter " + path + ": " + strerror(err);
}

std::string enterPodFiles(const std::string& name)
{
    if (unshare(CLONE_NEWNS) != 0)
        return std::string("unshare(CLONE_NEWNS): ") + strerror(errno);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return std::string("cannot make / private: ") + strerror(errno);
    const std::string dir = "/etc/netns/" + name;
    DIR* d = opendir(dir.c_str());
    if (!d)
        return {}; // nothing of its own: the pod sees the node's files
    std::string error;
    while (const dirent* entry = readdir(d)) {
        const std::string file = entry->d_name;
        if (file == "." || file == "..")
            continue;
        const std::string from = dir + "/" + file;
        const std::string onto = "/etc/" + file;
        if (mount(from.c_str(), onto.c_str(), nullptr, MS_BIND, nullptr) != 0 && error.empty())
            error = "cannot bind " + from + " onto " + onto + ": " + strerror(errno);
    }
    closedir(d);
    return error;
}

int superviseWorker(const std::string& agentId, const std::function<int()>& worker)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM); // the operator died: clean up and go
    const int stale = removeChains({});
    if (stale > 0)
        fprintf(stderr, "lanes-agent: removed %d stale LANES_ chain(s)\n", stale);
    std::string error;
    if (!createChain(agentId, &error)) {
        fprintf(stderr, "lanes-agent: cannot create the chain: %s\n", error.c_str());
        return 3;
    }
    const pid_t supervisor = getpid();
    const pid_t child = fork();
    if (child < 0) {
        removeChains(agentId);
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
    removeChains(agentId);
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "lanes-agent: worker %d died of signal %d; chain %s removed\n", child,
                WTERMSIG(status), chainName(agentId).c_str());
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

} // namespace lanes::agent
