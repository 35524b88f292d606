// TCP connection churn on loopback: a server that accepts and closes, a client that connects,
// sends one byte, reads the close and reconnects, for a fixed time. Prints connections/second.
// The client closes after the server, so TIME_WAIT lands on the server side as it does for HTTP
// servers that close first.
//   tcp_churn [seconds] [port]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

int main(int argc, char **argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
  int port = argc > 2 ? std::atoi(argv[2]) : 0;

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof addr) || listen(listener, 1024)) {
    std::perror("tcp_churn: listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr *>(&addr), &len);

  std::atomic<bool> done{false};
  std::thread server([&] {
    char byte;
    while (!done) {
      int c = accept(listener, nullptr, nullptr);
      if (c < 0) continue;
      if (read(c, &byte, 1) < 0) {
      }
      close(c);  // the server closes first
    }
  });

  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  auto start = std::chrono::steady_clock::now();
  long connections = 0;
  char byte = 'x';
  while (std::chrono::steady_clock::now() < end) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    // Linger 0 is NOT used: the exchange must go through the normal FIN handshake.
    if (connect(s, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0) {
      if (write(s, &byte, 1) == 1 && read(s, &byte, 1) >= 0) connections++;
    }
    close(s);
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  // Wake the accept loop once so the thread can see `done`.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  connect(s, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
  close(s);
  server.join();
  std::printf("%.1f connections/s\n", static_cast<double>(connections) / elapsed);
  return 0;
}
