// See iptables.h.
#include "iptables.h"

#include <sstream>

namespace lanes::agent {

std::string chainName(const std::string& agentId)
{
    return kChainPrefix + agentId;
}

namespace {
Result<void> restore(const std::string& batch)
{
    if (const int rc = runTool({"iptables-restore", "-w", "--noflush"}, batch); rc != 0)
        return fail(ErrorCode::Internal, QStringLiteral("iptables-restore exited with %1 for:\n%2")
                                             .arg(rc)
                                             .arg(QString::fromStdString(batch)));
    return {};
}

std::string redirectRule(const std::string& chain, int port, int toPort)
{
    return chain + " -p tcp -m tcp --dport " + std::to_string(port) + " -j REDIRECT --to-ports " +
           std::to_string(toPort);
}
} // namespace

Result<void> createChain(const std::string& agentId)
{
    const std::string chain = chainName(agentId);
    std::ostringstream batch;
    batch << "*nat\n"
          << ":" << chain << " - [0:0]\n"
          << "-A " << chain << " -m mark --mark 0x" << std::hex << kAgentMark << std::dec << " -j RETURN\n"
          << "-I PREROUTING 1 -j " << chain << "\n"
          << "-I OUTPUT 1 -o lo -j " << chain << "\n"
          << "COMMIT\n";
    return restore(batch.str());
}

Result<int> removeChains(const std::string& agentId)
{
    std::string saved;
    if (const int rc = runTool({"iptables-save", "-t", "nat"}, {}, &saved); rc != 0)
        return fail(ErrorCode::Internal, QStringLiteral("iptables-save exited with %1").arg(rc));
    const std::string wanted = agentId.empty() ? std::string(kChainPrefix) : chainName(agentId);
    auto matches = [&](const std::string& chain) {
        return agentId.empty() ? chain.rfind(kChainPrefix, 0) == 0 : chain == wanted;
    };
    std::vector<std::string> chains, jumps;
    std::istringstream lines(saved);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(":", 0) == 0) {
            const std::string chain = line.substr(1, line.find(' ') - 1);
            if (matches(chain))
                chains.push_back(chain);
        } else if (line.rfind("-A ", 0) == 0) {
            const size_t jump = line.find(" -j ");
            const std::string owner = line.substr(3, line.find(' ', 3) - 3);
            if (jump != std::string::npos && !matches(owner) && matches(line.substr(jump + 4)))
                jumps.push_back("-D" + line.substr(2));
        }
    }
    if (chains.empty() && jumps.empty())
        return 0;
    std::string batch = "*nat\n";
    for (const std::string& j : jumps)
        batch += j + "\n";
    for (const std::string& c : chains)
        batch += "-F " + c + "\n";
    for (const std::string& c : chains)
        batch += "-X " + c + "\n";
    batch += "COMMIT\n";
    if (auto done = restore(batch); !done)
        return std::unexpected(done.error());
    return int(chains.size());
}

Result<void> addRedirect(const std::string& agentId, int port, int toPort)
{
    return restore("*nat\n-A " + redirectRule(chainName(agentId), port, toPort) + "\nCOMMIT\n");
}

Result<void> setBypass(const std::string& agentId, int port, bool on)
{
    const std::string chain = chainName(agentId);
    const std::string rule = " -p tcp -m tcp --dport " + std::to_string(port) + " -j RETURN";
    return restore("*nat\n" + (on ? "-I " + chain + " 1" : "-D " + chain) + rule + "\nCOMMIT\n");
}

} // namespace lanes::agent
