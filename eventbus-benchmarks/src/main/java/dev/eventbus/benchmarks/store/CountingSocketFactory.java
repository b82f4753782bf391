package dev.eventbus.benchmarks.store;

import java.io.FilterInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.SocketFactory;

/**
 * Counts client/server round trips on the PostgreSQL driver's sockets (the benchmark's URL names it with
 * {@code socketFactory=}): one round trip is the client turning from writing to reading, which is exactly one
 * wait for the server, however many statements the driver packed into what it wrote.
 */
public final class CountingSocketFactory extends SocketFactory {

    /** Round trips of every socket this factory made. */
    static final AtomicLong ROUND_TRIPS = new AtomicLong();

    public CountingSocketFactory() {
    }

    @Override
    public Socket createSocket() {
        return new CountingSocket();
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
        return connected(new InetSocketAddress(host, port));
    }

    @Override
    public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
        return connected(new InetSocketAddress(host, port));
    }

    @Override
    public Socket createSocket(InetAddress host, int port) throws IOException {
        return connected(new InetSocketAddress(host, port));
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
            throws IOException {
        return connected(new InetSocketAddress(address, port));
    }

    private static Socket connected(InetSocketAddress address) throws IOException {
        Socket s = new CountingSocket();
        s.connect(address);
        return s;
    }

    private static final class CountingSocket extends Socket {
        private volatile boolean wrote;
        private InputStream in;
        private OutputStream out;

        @Override
        public synchronized InputStream getInputStream() throws IOException {
            if (in == null) {
                in = new FilterInputStream(super.getInputStream()) {
                    @Override
                    public int read() throws IOException {
                        turn();
                        return super.read();
                    }

                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        turn();
                        return super.read(b, off, len);
                    }
                };
            }
            return in;
        }

        @Override
        public synchronized OutputStream getOutputStream() throws IOException {
            if (out == null) {
                out = new FilterOutputStream(super.getOutputStream()) {
                    @Override
                    public void write(int b) throws IOException {
                        wrote = true;
                        super.out.write(b);
                    }

                    @Override
                    public void write(byte[] b, int off, int len) throws IOException {
                        wrote = true;
                        super.out.write(b, off, len);
                    }
                };
            }
            return out;
        }

        private void turn() {
            if (wrote) {
                wrote = false;
                ROUND_TRIPS.incrementAndGet();
            }
        }
    }
}
