// A JVM under thread churn, for the load-split live test: threads are born, spin until preempted,
// sleep, allocate enough to keep the collector busy, and many are still runnable when the process
// is killed. Run with the single-file launcher: java ThreadChurn.java SECONDS
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

public class ThreadChurn {
    static final AtomicLong sink = new AtomicLong();

    public static void main(String[] args) throws Exception {
        long seconds = args.length > 0 ? Long.parseLong(args[0]) : 5;
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        List<Thread> live = new ArrayList<>();
        int born = 0;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 8; i++) {
                final int id = born++;
                Thread t = new Thread(() -> work(id), "churn-" + id);
                t.start();
                live.add(t);
            }
            Thread.sleep(20);
            live.removeIf(t -> !t.isAlive());
        }
        // Exit (or be killed) with threads still running: their spans must not outlive them.
        System.out.println("born " + born + " threads, " + live.size() + " still running");
        System.exit(0);
    }

    static void work(int id) {
        long acc = 0;
        List<byte[]> garbage = new ArrayList<>();
        for (int round = 0; round < 4 + id % 7; round++) {
            long spinUntil = System.nanoTime() + 3_000_000L;  // 3 ms on CPU: long enough to be preempted
            while (System.nanoTime() < spinUntil) acc += round;
            garbage.add(new byte[64 * 1024]);
            if (garbage.size() > 16) garbage.clear();
            try { Thread.sleep(1 + id % 3); } catch (InterruptedException e) { return; }
        }
        sink.addAndGet(acc);
    }
}
