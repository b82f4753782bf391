package dev.eventbus.jdbc.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * H2 keeps commits in memory for {@code WRITE_DELAY} ms (500 by default) before writing them to the file, so a
 * killed process loses the last half second of "committed" transactions (a test that kills a publisher with
 * SIGKILL shows it). The JDBC transport promises that a completed send survives a crash, so on an H2 file
 * database it sets the delay to 0 (a persistent database setting); the outbox only warns, because there the
 * caller's own transaction is what must be durable.
 */
public final class H2Durability {

    private static final Logger log = LoggerFactory.getLogger(H2Durability.class);

    private H2Durability() {
    }

    /**
     * Checks (and with {@code enforce}, sets) the write delay on {@code c}. The setting lives in the open database:
     * H2 closes a database when its last connection closes and reopens it with the URL's settings, so whoever
     * enforces must keep {@code c} open for as long as it relies on the setting.
     *
     * @param enforce set WRITE_DELAY to 0 when it is not (else only warn)
     */
    public static void check(Connection c, boolean enforce, String who) {
        try {
            if (c.getMetaData().getURL().contains(":mem:")) {
                return; // nothing survives a crash in memory anyway
            }
            int delay = 0;
            // H2 lists WRITE_DELAY twice (connection setting and database setting): the larger one counts.
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT SETTING_VALUE FROM INFORMATION_SCHEMA.SETTINGS"
                         + " WHERE SETTING_NAME = 'WRITE_DELAY'")) {
                while (rs.next()) {
                    delay = Math.max(delay, Integer.parseInt(rs.getString(1).trim()));
                }
            }
            if (delay <= 0) {
                return;
            }
            if (!enforce) {
                log.warn("{}: this H2 database writes commits to disk only after WRITE_DELAY={} ms, so a crash can"
                        + " lose the last committed transactions (and their events); add ;WRITE_DELAY=0 to the URL"
                        + " or run SET WRITE_DELAY 0", who, delay);
                return;
            }
            try (Statement s = c.createStatement()) {
                s.execute("SET WRITE_DELAY 0");
            }
            log.info("{}: set H2 WRITE_DELAY from {} ms to 0 so that a completed send survives a crash", who, delay);
        } catch (SQLException | NumberFormatException e) {
            log.warn("{}: could not check H2's WRITE_DELAY ({}); commits made in the last {} may be lost on a crash",
                    who, e.toString(), "WRITE_DELAY ms");
        }
    }
}
