// An HTTP server on 127.0.0.1:PORT that stops the world for seconds at a time: a large live heap
// of small linked objects (slow to mark and compact with the serial collector) and a thread that
// forces a full collection every few seconds. Used by tests/live/server_stall_test.cpp.
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.concurrent.Executors;

public class GcPauseServer {
  static final class Node {
    Node next;
    long a, b;
    Node(Node next) { this.next = next; }
  }
  static volatile Object keep;

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    int millions = Integer.parseInt(args[1]);
    ArrayList<Node> heads = new ArrayList<>();
    for (int m = 0; m < millions; m++) {
      Node head = null;
      for (int i = 0; i < 1_000_000; i++) head = new Node(head);
      heads.add(head);
    }
    keep = heads;
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
    server.createContext("/", exchange -> {
      byte[] body = "ok".getBytes();
      exchange.sendResponseHeaders(200, body.length);
      try (OutputStream out = exchange.getResponseBody()) { out.write(body); }
    });
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.start();
    System.out.println("listening");
    for (;;) {
      Thread.sleep(2000);
      long start = System.nanoTime();
      System.gc();
      System.out.println("full gc " + (System.nanoTime() - start) / 1_000_000 + " ms");
    }
  }
}
