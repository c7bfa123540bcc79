# Writes the bytes of INPUT into OUTPUT as a C++ array named NAME (with NAME_size), for a file the build makes
# and a binary carries (the operator's BPF object). Run as: cmake -DINPUT=.. -DOUTPUT=.. -DNAME=.. -P embed.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR size "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by cmake/embed.cmake.\n#include <cstddef>\n\n"
    "extern const unsigned char ${NAME}[] = {\n    ${bytes}\n};\nextern const std::size_t ${NAME}_size = ${size};\n")
