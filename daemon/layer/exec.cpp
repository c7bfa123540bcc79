// execve: children keep the layer. The environment that a program hands to execve may have dropped
// LD_PRELOAD and the LANES_* variables; they are put back (on the stack: nothing is allocated), and a
// statically linked program, which no preload can hook, gets a warning, as `lanes exec` gives one.
#include "elfcheck.h"
#include "layer.h"

#include <alloca.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace lanes::layer {
namespace {

bool staticallyLinked(const char* path)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false; // execve will say what is wrong
    const bool result = isStaticExecutable(fd);
    g_real.close(fd); // not the hook: this descriptor was never the app's
    return result;
}

} // namespace

int execveKeepingLayer(const char* path, char* const argv[], char* const envp[])
{
    if (staticallyLinked(path))
        warn(
            "lanes: %s is statically linked; the lanes layer cannot hook it, so its connections and DNS stay "
            "on this machine\n",
            path);
    static const char* const kKeep[] = {"LD_PRELOAD", "LANES_LAYER_SOCKET", "LANES_SESSION_TOKEN",
                                        "LANES_OUTGOING"};
    size_t count = 0;
    while (envp && envp[count])
        ++count;
    const size_t keep = sizeof kKeep / sizeof kKeep[0];
    char** merged = static_cast<char**>(alloca((count + keep + 1) * sizeof(char*)));
    size_t n = 0;
    for (size_t i = 0; i < count; ++i)
        merged[n++] = envp[i];
    for (const char* key : kKeep) {
        const size_t keyLength = strlen(key);
        bool present = false;
        for (size_t i = 0; i < count && !present; ++i)
            present = strncmp(envp[i], key, keyLength) == 0 && envp[i][keyLength] == '=';
        const char* value = getenv(key);
        if (present || !value)
            continue;
        char* entry = static_cast<char*>(alloca(keyLength + strlen(value) + 2));
        memcpy(entry, key, keyLength);
        entry[keyLength] = '=';
        strcpy(entry + keyLength + 1, value);
        merged[n++] = entry;
    }
    merged[n] = nullptr;
    return g_real.execve(path, argv, merged);
}

} // namespace lanes::layer
