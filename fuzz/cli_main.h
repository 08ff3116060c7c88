/*
 * Included (-include) into the CLI's sources when fuzz/CMakeLists.txt builds them
 * for fuzz_cli: main.c's main() is compiled as tia_fuzz_cli_main (-Dmain=...), and
 * this prototype keeps -Wmissing-prototypes quiet about it.
 */
#ifndef TIA_FUZZ_CLI_MAIN_H
#define TIA_FUZZ_CLI_MAIN_H
int tia_fuzz_cli_main(int argc, char **argv);
#endif
