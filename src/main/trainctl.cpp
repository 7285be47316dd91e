#include "trainctl/cli/app.hpp"

int main(int argc, char** argv) { return trainctl::cli::run_cli(argc, argv); }
