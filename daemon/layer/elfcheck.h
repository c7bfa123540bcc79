// Whether LD_PRELOAD can reach a program: a 64-bit ELF without PT_INTERP (statically linked, static-pie
// included) is started by no dynamic loader, so no preload is ever loaded into it. One check for both the
// layer's execve hook and `lanes exec`, which warn about such a program. libc only, like the whole layer
// (it is linked into liblanes-layer.so); any thread.
#pragma once

#pragma GCC visibility push(hidden)

namespace lanes::layer {

// True for a well-formed 64-bit ELF executable (or PIE) of this machine's byte order whose program headers
// name no interpreter. Anything else is false: a script, a file too short or unreadable (exec will say what
// is wrong). `fd` is read with pread only, so its offset stays; the caller closes it.
bool isStaticExecutable(int fd);

} // namespace lanes::layer

#pragma GCC visibility pop
