package dev.eventbus.jdbc.internal;

import dev.eventbus.ConfigException;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.time.Duration;
import java.util.Locale;
import java.util.Properties;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A {@link DataSource} that opens a new connection through {@link DriverManager} each time: what
 * {@code eventbus.jdbc.url}/{@code user}/{@code password} build when the application passes no pool. The JDBC
 * components keep their connections open for long, so the lack of pooling costs little.
 *
 * <p>Every connection failure names the keys it came from ({@code eventbus.jdbc.url} with the URL stripped of
 * credentials and parameters, and {@code eventbus.jdbc.connect-timeout}); the password is never printed. The
 * connect timeout is passed to the drivers that take one as a property (PostgreSQL: {@code connectTimeout} and
 * {@code loginTimeout}; MariaDB and MySQL: {@code connectTimeout}), unless the URL sets its own.
 */
public final class DriverManagerDataSource implements DataSource {

    /** The keys named in messages (kept here so that internal code does not depend on the public JdbcConfig). */
    static final String URL_KEY = "eventbus.jdbc.url";
    static final String TIMEOUT_KEY = "eventbus.jdbc.connect-timeout";

    private final String url;
    private final Properties props = new Properties();
    private final Duration connectTimeout;

    /** With a connect timeout of 10 seconds. */
    public DriverManagerDataSource(String url, String user, String password) {
        this(url, user, password, Duration.ofSeconds(10));
    }

    public DriverManagerDataSource(String url, String user, String password, Duration connectTimeout) {
        this.url = url;
        this.connectTimeout = connectTimeout;
        if (user != null) {
            props.setProperty("user", user);
        }
        if (password != null) {
            props.setProperty("password", password);
        }
        long ms = Math.max(1, connectTimeout.toMillis());
        long seconds = Math.max(1, (ms + 999) / 1000);
        String lower = url.toLowerCase(Locale.ROOT);
        switch (scheme(url)) {
            case "postgresql":
                setUnlessInUrl(lower, "connectTimeout", Long.toString(seconds));
                setUnlessInUrl(lower, "loginTimeout", Long.toString(seconds));
                break;
            case "mariadb":
            case "mysql":
                setUnlessInUrl(lower, "connectTimeout", Long.toString(ms));
                break;
            default:
                break;
        }
    }

    private void setUnlessInUrl(String lowerUrl, String name, String value) {
        if (!lowerUrl.contains(name.toLowerCase(Locale.ROOT) + "=")) {
            props.setProperty(name, value);
        }
    }

    /**
     * Fails unless a JDBC driver on the classpath accepts the URL, naming {@code eventbus.jdbc.url} and the
     * artifact that holds the driver for the URL's scheme (drivers are the application's dependency).
     *
     * @param isDefault whether the URL is the built-in default (the message then says so)
     * @throws ConfigException when no driver accepts the URL
     */
    public void checkDriver(boolean isDefault) {
        try {
            DriverManager.getDriver(url);
        } catch (SQLException e) {
            throw new ConfigException(URL_KEY, missingDriver(url, isDefault), e);
        }
    }

    static String missingDriver(String url, boolean isDefault) {
        String scheme = scheme(url);
        String artifact = driverArtifact(scheme);
        return "No JDBC driver for '" + URL_KEY + "' = " + redact(url)
                + (isDefault ? " (the default: an H2 database file in the working directory)" : "")
                + " is on the classpath: add "
                + (artifact != null ? "the dependency " + artifact : "the JDBC driver for jdbc:" + scheme)
                + (isDefault ? ", or set " + URL_KEY + " to the database you use (and add its driver)"
                        : ", or correct " + URL_KEY);
    }

    /** The Maven coordinates of the driver for a URL scheme ({@code h2}, {@code postgresql}, ...), or null. */
    static String driverArtifact(String scheme) {
        switch (scheme) {
            case "h2":
                return "com.h2database:h2";
            case "postgresql":
                return "org.postgresql:postgresql";
            case "mariadb":
                return "org.mariadb.jdbc:mariadb-java-client";
            case "mysql":
                return "com.mysql:mysql-connector-j";
            default:
                return null;
        }
    }

    /** The sub-protocol of a {@code jdbc:<scheme>:...} URL, lower case. */
    static String scheme(String url) {
        String rest = url.startsWith("jdbc:") ? url.substring(5) : url;
        int i = rest.indexOf(':');
        return (i < 0 ? rest : rest.substring(0, i)).toLowerCase(Locale.ROOT);
    }

    /**
     * The URL without what may hold credentials: no parameters ({@code ?...}, {@code ;...}) and no
     * {@code user:password@} before the host.
     */
    public static String redact(String url) {
        String u = url;
        int cut = u.length();
        for (char ch : new char[] {'?', ';', '&'}) {
            int i = u.indexOf(ch);
            if (i >= 0) {
                cut = Math.min(cut, i);
            }
        }
        u = u.substring(0, cut);
        int slashes = u.indexOf("//");
        if (slashes >= 0) {
            int at = u.indexOf('@', slashes);
            int end = u.indexOf('/', slashes + 2);
            if (at >= 0 && (end < 0 || at < end)) {
                u = u.substring(0, slashes + 2) + u.substring(at + 1);
            }
        }
        return u;
    }

    @Override
    public Connection getConnection() throws SQLException {
        try {
            return DriverManager.getConnection(url, props);
        } catch (SQLException e) {
            throw named(e);
        }
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        Properties p = new Properties();
        p.putAll(props);
        p.remove("user");
        p.remove("password");
        if (username != null) {
            p.setProperty("user", username);
        }
        if (password != null) {
            p.setProperty("password", password);
        }
        try {
            return DriverManager.getConnection(url, p);
        } catch (SQLException e) {
            throw named(e);
        }
    }

    /** The driver's exception with where the connection came from; its SQLState (transient or not) is kept. */
    private SQLException named(SQLException e) {
        String msg = String.valueOf(e.getMessage());
        if (msg.startsWith("No suitable driver")) {
            msg = missingDriver(url, false);
        }
        long ms = connectTimeout.toMillis();
        return new SQLException(msg + " [" + URL_KEY + " = " + redact(url) + ", " + TIMEOUT_KEY + " = "
                + (ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms") + "]", e.getSQLState(), e.getErrorCode(), e);
    }

    @Override
    public PrintWriter getLogWriter() {
        return null;
    }

    @Override
    public void setLogWriter(PrintWriter out) {
    }

    @Override
    public void setLoginTimeout(int seconds) {
    }

    @Override
    public int getLoginTimeout() {
        return (int) Math.max(1, connectTimeout.toSeconds());
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        throw new SQLException("not a wrapper for " + iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) {
        return iface.isInstance(this);
    }

    @Override
    public String toString() {
        return "DriverManagerDataSource{" + redact(url) + '}';
    }
}
