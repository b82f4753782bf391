package dev.eventbus.ratelimit;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The Redis servers of the tests: the shared one at {@code EVENTBUS_TEST_REDIS_URI} (default 127.0.0.1:6379), which
 * tests never stop, and private ones a test starts on a free port to stop them mid-run.
 */
final class RedisTestSupport {

    static final String URI = System.getenv().getOrDefault("EVENTBUS_TEST_REDIS_URI", "redis://127.0.0.1:6379");

    private RedisTestSupport() {
    }

    /** Fails (never skips) with how to start Redis when the shared server does not answer PING. */
    static void requireRedis() {
        java.net.URI u = java.net.URI.create(URI);
        if (!ping(u.getHost(), u.getPort() < 0 ? 6379 : u.getPort())) {
            throw new AssertionError("Redis is not reachable at " + URI + ". Start the local server with "
                    + "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no` "
                    + "(Debian package redis-server; .ci/run does this), or point EVENTBUS_TEST_REDIS_URI at one.");
        }
    }

    static boolean ping(String host, int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 1000);
            s.setSoTimeout(1000);
            OutputStream out = s.getOutputStream();
            out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            byte[] b = new byte[7];
            int n = in.readNBytes(b, 0, 7);
            return n == 7 && new String(b, StandardCharsets.US_ASCII).equals("+PONG\r\n");
        } catch (IOException e) {
            return false;
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** A redis-server of this test alone, on its own port, without persistence. */
    static final class PrivateRedis implements AutoCloseable {
        final int port;
        private final Path dir;
        private Process process;

        PrivateRedis(int port) throws IOException {
            this.port = port;
            this.dir = Files.createTempDirectory("eventbus-redis-");
        }

        PrivateRedis start() throws IOException, InterruptedException {
            if (!new File("/usr/bin/redis-server").canExecute() && !onPath("redis-server")) {
                throw new AssertionError("redis-server is not installed: install the Debian package redis-server "
                        + "(apt-get install redis-server; .ci/run does this)");
            }
            process = new ProcessBuilder("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", dir.toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("redis.log").toFile()).start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!ping("127.0.0.1", port)) {
                if (System.nanoTime() > deadline || !process.isAlive()) {
                    throw new AssertionError("private redis-server on port " + port + " did not start: "
                            + Files.readString(dir.resolve("redis.log")));
                }
                Thread.sleep(50);
            }
            return this;
        }

        /** Kills it at once (an outage, not a shutdown). */
        void kill() throws InterruptedException {
            if (process != null) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
                process = null;
            }
        }

        String uri() {
            return "redis://127.0.0.1:" + port;
        }

        @Override
        public void close() throws InterruptedException {
            kill();
        }

        private static boolean onPath(String exe) {
            for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
                if (new File(d, exe).canExecute()) {
                    return true;
                }
            }
            return false;
        }
    }
}
