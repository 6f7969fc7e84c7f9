// berthd: the berth container engine daemon.
#include "actors/daemon/daemon.hpp"

int main(int argc, char** argv) {
  return berth::daemon::run(argc, argv);
}
