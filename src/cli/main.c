/* Placeholder entry point, replaced by the CLI. */
#include <stdio.h>
int main(void)
{
    puts("tokyoia");
    return 0;
}
