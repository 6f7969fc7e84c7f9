// A UDP echo server for containers (whose busybox has no UDP server): `udp_echo PORT` answers
// each datagram on 0.0.0.0:PORT with "echo:" and the datagram. Static, so it runs when
// bind-mounted into a busybox container.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: udp_echo PORT\n");
    return 2;
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("udp_echo: bind");
    return 1;
  }
  char buf[2048];
  std::memcpy(buf, "echo:", 5);
  for (;;) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    auto n = ::recvfrom(fd, buf + 5, sizeof buf - 5, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) continue;
    ::sendto(fd, buf, static_cast<std::size_t>(n) + 5, 0, reinterpret_cast<sockaddr*>(&from), len);
  }
}
