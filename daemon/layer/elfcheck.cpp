// See elfcheck.h. libc only: no allocation, no exceptions.
#include "elfcheck.h"

#include <elf.h>
#include <string.h>
#include <unistd.h>

namespace lanes::layer {

bool isStaticExecutable(int fd)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    constexpr unsigned char kByteOrder = ELFDATA2LSB;
#else
    constexpr unsigned char kByteOrder = ELFDATA2MSB;
#endif
    Elf64_Ehdr header;
    if (pread(fd, &header, sizeof header, 0) != ssize_t(sizeof header) ||
        memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
        header.e_ident[EI_DATA] != kByteOrder || (header.e_type != ET_EXEC && header.e_type != ET_DYN) ||
        header.e_phentsize < sizeof(Elf64_Phdr))
        return false;
    for (unsigned i = 0; i < header.e_phnum; ++i) {
        Elf64_Phdr program;
        if (pread(fd, &program, sizeof program, off_t(header.e_phoff + uint64_t(i) * header.e_phentsize)) !=
            ssize_t(sizeof program))
            return false;
        if (program.p_type == PT_INTERP) // the loader runs it and honours LD_PRELOAD; static-pie has none
            return false;
    }
    return true;
}

} // namespace lanes::layer
