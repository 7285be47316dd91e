#include "trainctl/service/daemon.hpp"

int main(int argc, char** argv) { return trainctl::service::run_daemon(argc, argv); }
