// execve: children keep the layer. The environment that a program hands to execve may have dropped
// LD_PRELOAD and the LANES_* variables; they are put back (on the stack: nothing is allocated), and a
// statically linked program, which no preload can hook, gets a warning, as `lanes exec` gives one.
#include "layer.h"

#include <alloca.h>
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace lanes::layer {
namespace {

bool hasInterpreter(const char* path)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true; // execve will say what is wrong
    Elf64_Ehdr header;
    bool dynamic = true;
    if (read(fd, &header, sizeof header) == ssize_t(sizeof header) &&
        memcmp(header.e_ident, ELFMAG, SELFMAG) == 0 && header.e_ident[EI_CLASS] == ELFCLASS64) {
        dynamic = false;
        for (int i = 0; i < header.e_phnum && !dynamic; ++i) {
            Elf64_Phdr program;
            if (pread(fd, &program, sizeof program,
                      off_t(header.e_phoff + uint64_t(i) * header.e_phentsize)) != ssize_t(sizeof program))
                break;
            dynamic = program.p_type == PT_INTERP; // static-pie has PT_DYNAMIC but no loader
        }
    }
    g_real.close(fd);
    return dynamic;
}

} // namespace

int execveKeepingLayer(const char* path, char* const argv[], char* const envp[])
{
    if (!hasInterpreter(path))
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
