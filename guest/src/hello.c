/* hello: the smallest guest. Prints a greeting and its arguments argv[1..], exits 0.
 * Exercises: ELF loading, the initial stack (argc/argv), write(2) via stdio, exit_group. */
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("Hello from a static riscv64 guest!\n");
    printf("argc-1 = %d\n", argc - 1);
    for (int i = 1; i < argc; i++)
        printf("argv[%d] = \"%s\"\n", i, argv[i]);
    return 0;
}
