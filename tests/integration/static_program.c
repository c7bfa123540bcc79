/* A statically linked program, which LD_PRELOAD cannot reach: `lanes exec` must say so (tst_outgoing). */
#include <stdio.h>

int main(void)
{
    puts("static program ran");
    return 0;
}
